// ESM entry point: the same objects as the CommonJS entry (lib/index.cjs).
import cjs from "./index.cjs"

export const version = cjs.version
export const DurableStream = cjs.DurableStream
export const IdempotentProducer = cjs.IdempotentProducer
export const StreamResponse = cjs.StreamResponse
export const DurableStreamServer = cjs.DurableStreamServer
export const DurableStreamTestServer = cjs.DurableStreamTestServer
export const stream = cjs.stream
export const validateRetryOptions = cjs.validateRetryOptions
export const validateProducerOptions = cjs.validateProducerOptions
export const DurableStreamError = cjs.DurableStreamError
export const StreamNotFoundError = cjs.StreamNotFoundError
export const StreamGoneError = cjs.StreamGoneError
export const StreamConflictError = cjs.StreamConflictError
export const StreamClosedError = cjs.StreamClosedError
export const SequenceConflictError = cjs.SequenceConflictError
export const SequenceGapError = cjs.SequenceGapError
export const StaleEpochError = cjs.StaleEpochError
export const BadRequestError = cjs.BadRequestError
export const InvalidOffsetError = cjs.InvalidOffsetError
export const UnauthorizedError = cjs.UnauthorizedError
export const UnexpectedStatusError = cjs.UnexpectedStatusError
export const RetryExhaustedError = cjs.RetryExhaustedError
export const ParseError = cjs.ParseError
export const NetworkError = cjs.NetworkError
export const TimeoutError = cjs.TimeoutError
export const InvalidArgumentError = cjs.InvalidArgumentError
export const BufferFullError = cjs.BufferFullError
export const ProducerClosedError = cjs.ProducerClosedError
export const MissingStreamUrlError = cjs.MissingStreamUrlError
export const StateError = cjs.StateError
export const MaterializedState = cjs.MaterializedState
export const StateFollower = cjs.StateFollower
export const createStateSchema = cjs.createStateSchema
export const isChangeEvent = cjs.isChangeEvent
export const isControlEvent = cjs.isControlEvent
export default cjs

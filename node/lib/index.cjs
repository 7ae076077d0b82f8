// @durastream/client: the Durable Streams client (API of @durable-streams/client) and the
// bundled server, over the native durastream core.
"use strict"
const errors = require("./errors.cjs")
const { DurableStream } = require("./stream.cjs")
const { StreamResponse } = require("./response.cjs")
const { IdempotentProducer } = require("./producer.cjs")
const { DurableStreamServer, DurableStreamTestServer } = require("./server.cjs")
const { native, sync } = require("./call.cjs")
const state = require("./state.cjs")

/** Opens a read session on `options.url` (fetch-like: resolves after the first response). */
async function stream(options) {
  const handle = new DurableStream({ ...options, contentType: undefined })
  return handle.stream({ ...options, headers: undefined, params: undefined })
}

/** Validates retry options (throws `InvalidArgumentError` naming the option). */
function validateRetryOptions(opts) {
  sync(() => native.validateRetryOptions(opts))
}

/** Validates producer options (throws `InvalidArgumentError` naming the option). */
function validateProducerOptions(producerId, opts) {
  sync(() => native.validateProducerOptions(producerId ?? null, opts))
}

module.exports = {
  /** The package version (the workspace version of the Rust crates it was built from). */
  version: require("../package.json").version,
  DurableStream,
  IdempotentProducer,
  StreamResponse,
  DurableStreamServer,
  DurableStreamTestServer,
  stream,
  validateRetryOptions,
  validateProducerOptions,
  DurableStreamError: errors.DurableStreamError,
  StreamNotFoundError: errors.StreamNotFoundError,
  StreamGoneError: errors.StreamGoneError,
  StreamConflictError: errors.StreamConflictError,
  StreamClosedError: errors.StreamClosedError,
  SequenceConflictError: errors.SequenceConflictError,
  SequenceGapError: errors.SequenceGapError,
  StaleEpochError: errors.StaleEpochError,
  BadRequestError: errors.BadRequestError,
  InvalidOffsetError: errors.InvalidOffsetError,
  UnauthorizedError: errors.UnauthorizedError,
  UnexpectedStatusError: errors.UnexpectedStatusError,
  RetryExhaustedError: errors.RetryExhaustedError,
  ParseError: errors.ParseError,
  NetworkError: errors.NetworkError,
  TimeoutError: errors.TimeoutError,
  InvalidArgumentError: errors.InvalidArgumentError,
  BufferFullError: errors.BufferFullError,
  ProducerClosedError: errors.ProducerClosedError,
  MissingStreamUrlError: errors.MissingStreamUrlError,
  StateError: errors.StateError,
  // The State Protocol (also the `@durastream/client/state` entry).
  MaterializedState: state.MaterializedState,
  StateFollower: state.StateFollower,
  createStateSchema: state.createStateSchema,
  isChangeEvent: state.isChangeEvent,
  isControlEvent: state.isControlEvent,
}

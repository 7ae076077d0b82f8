// ESM entry of the State Protocol (`@durastream/client/state`): the objects of lib/state.cjs.
import cjs from "./state.cjs"
import errors from "./errors.cjs"

export const MaterializedState = cjs.MaterializedState
export const StateView = cjs.StateView
export const StateFollower = cjs.StateFollower
export const createStateSchema = cjs.createStateSchema
export const isChangeEvent = cjs.isChangeEvent
export const isControlEvent = cjs.isControlEvent
export const validateEvent = cjs.validateEvent
export const StateError = errors.StateError
export default { ...cjs, StateError: errors.StateError }

//! The State Protocol: core's materialized state (apply a JSON batch, get a value, iterate
//! a type), the event builders (insert, update, upsert, delete, through core's builders)
//! and the live follower, behind opaque handles.
//!
//! Values are handed out as borrowed JSON text (pointer and length, not NUL-terminated),
//! valid until the state is next changed or freed.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use durastream::state::{
    self, FollowerOptions, MalformedPolicy, MaterializedState, Operation, SharedFollower,
};

use crate::client::ds_stream;
use crate::error::{boundary, ds_status, guard, FfiError};
use crate::ffi::{
    bytes_arg, c_string, free_handle, handle, handle_mut, init_out, into_handle, opt_str_arg,
    str_arg,
};
use crate::reader::live_mode;
use crate::runtime::block_on;

/// A materialized state: type → key → JSON value. Use from one thread at a time.
#[allow(non_camel_case_types)]
pub struct ds_state {
    state: Arc<MaterializedState>,
}

/// Called by `ds_state_iter` with each entity of a type, sorted by key: the key and the
/// value's JSON text (neither NUL-terminated), valid during the call. Return `false` to
/// stop.
#[allow(non_camel_case_types)]
pub type ds_entity_callback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        key: *const c_char,
        key_len: usize,
        value: *const c_char,
        value_len: usize,
    ) -> bool,
>;

/// A new, empty state (free with `ds_state_free`). Never `NULL`.
#[no_mangle]
pub extern "C" fn ds_state_new() -> *mut ds_state {
    guard(std::ptr::null_mut(), || {
        into_handle(ds_state { state: Arc::new(MaterializedState::new()) })
    })
}

/// Frees a state. `NULL` is a no-op.
///
/// # Safety
/// `state` must be `NULL` or a state from this library, not freed before and not used
/// after.
#[no_mangle]
pub unsafe extern "C" fn ds_state_free(state: *mut ds_state) {
    // SAFETY: forwarded contract of this function.
    guard((), || unsafe { free_handle(state) })
}

/// Applies a JSON array of State Protocol events (`len` bytes at `data`, a read chunk of a
/// JSON stream). With `skip_malformed`, malformed events are skipped and counted in
/// `*out_malformed`; without, the first one fails the call with `DS_MALFORMED_EVENT`
/// (`ds_last_error_field` names the field) and nothing of the batch is applied.
/// `*out_applied` receives the number of events applied. Either out pointer may be `NULL`.
///
/// # Safety
/// `state` must be a live state; `data` readable for `len` bytes; the out pointers `NULL`
/// or writable.
#[no_mangle]
pub unsafe extern "C" fn ds_state_apply_json(
    state: *mut ds_state,
    data: *const u8,
    len: usize,
    skip_malformed: bool,
    out_applied: *mut usize,
    out_malformed: *mut usize,
) -> ds_status {
    boundary(|| {
        // SAFETY: forwarded contract of this function.
        let state = unsafe { handle_mut(state, "state") }?;
        // SAFETY: forwarded contract of this function.
        let data = unsafe { bytes_arg(data, len, "data") }?;
        let policy = if skip_malformed { MalformedPolicy::Skip } else { MalformedPolicy::Stop };
        let out = Arc::make_mut(&mut state.state).apply_batch_json_quiet(data, policy)?;
        if !out_applied.is_null() {
            // SAFETY: non-null and writable per the contract.
            unsafe { out_applied.write(out.applied) };
        }
        if !out_malformed.is_null() {
            // SAFETY: non-null and writable per the contract.
            unsafe { out_malformed.write(out.malformed.len()) };
        }
        Ok(())
    })
}

/// Looks up `type`/`key`. On `DS_OK`, `*out_found` says whether it is present; if so,
/// `*out_value` / `*out_len` hold its JSON text (borrowed, not NUL-terminated, valid until
/// the state is changed or freed).
///
/// # Safety
/// `state` must be a live state; `entity_type` and `key` NUL-terminated; the out pointers
/// writable.
#[no_mangle]
pub unsafe extern "C" fn ds_state_get(
    state: *const ds_state,
    entity_type: *const c_char,
    key: *const c_char,
    out_value: *mut *const c_char,
    out_len: *mut usize,
    out_found: *mut bool,
) -> ds_status {
    boundary(|| {
        // SAFETY: forwarded contract of this function.
        unsafe { init_out(out_found, false, "out_found") }?;
        // SAFETY: forwarded contract of this function.
        unsafe { init_out(out_value, std::ptr::null(), "out_value") }?;
        // SAFETY: forwarded contract of this function.
        unsafe { init_out(out_len, 0, "out_len") }?;
        // SAFETY: forwarded contract of this function.
        let state = unsafe { handle(state, "state") }?;
        // SAFETY: forwarded contract of this function.
        let (t, k) = unsafe { (str_arg(entity_type, "entity_type")?, str_arg(key, "key")?) };
        if let Some(raw) = state.state.get_raw(t, k) {
            let text = raw.get();
            // SAFETY: the three pointers were checked non-null above; the text lives in the
            // state until it is changed or freed.
            unsafe {
                out_value.write(text.as_ptr().cast());
                out_len.write(text.len());
                out_found.write(true);
            }
        }
        Ok(())
    })
}

/// Calls `callback` with every entity of `type`, sorted by key, until it returns `false`.
///
/// # Safety
/// `state` must be a live state not changed during the call; `entity_type`
/// NUL-terminated; `callback` a valid function that does not unwind.
#[no_mangle]
pub unsafe extern "C" fn ds_state_iter(
    state: *const ds_state,
    entity_type: *const c_char,
    callback: ds_entity_callback,
    user_data: *mut c_void,
) -> ds_status {
    boundary(|| {
        let callback =
            callback.ok_or_else(|| FfiError::argument("callback", "must not be NULL"))?;
        // SAFETY: forwarded contract of this function.
        let state = unsafe { handle(state, "state") }?;
        // SAFETY: forwarded contract of this function.
        let t = unsafe { str_arg(entity_type, "entity_type") }?;
        let mut entries: Vec<_> = state.state.entries(t).collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (k, v) in entries {
            let v = v.get();
            // SAFETY: the caller guarantees `callback` is valid; the key and value live in
            // the state for the whole call.
            let go_on = unsafe {
                callback(user_data, k.as_ptr().cast(), k.len(), v.as_ptr().cast(), v.len())
            };
            if !go_on {
                break;
            }
        }
        Ok(())
    })
}

/// The number of entities of `type` (0 for an unknown type or bad arguments).
///
/// # Safety
/// `state` must be a live state; `entity_type` NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ds_state_size(
    state: *const ds_state,
    entity_type: *const c_char,
) -> usize {
    guard(0, || {
        // SAFETY: forwarded contract of this function.
        let (Ok(s), Ok(t)) =
            (unsafe { handle(state, "state") }, unsafe { str_arg(entity_type, "entity_type") })
        else {
            return 0;
        };
        s.state.len(t)
    })
}

/// True between a `snapshot-start` and its `snapshot-end`.
///
/// # Safety
/// `state` must be `NULL` or a live state.
#[no_mangle]
pub unsafe extern "C" fn ds_state_in_snapshot(state: *const ds_state) -> bool {
    // SAFETY: forwarded contract of this function.
    guard(false, || unsafe { handle(state, "state") }.is_ok_and(|s| s.state.in_snapshot()))
}

/// The whole state as sorted JSON `{type: {key: value}}` in `*out` (free with
/// `ds_string_free`).
///
/// # Safety
/// `state` must be a live state; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn ds_state_to_json(
    state: *const ds_state,
    out: *mut *mut c_char,
) -> ds_status {
    boundary(|| {
        // SAFETY: forwarded contract of this function.
        unsafe { init_out(out, std::ptr::null_mut(), "out") }?;
        // SAFETY: forwarded contract of this function.
        let state = unsafe { handle(state, "state") }?;
        let text = c_string(&state.state.to_json())?;
        // SAFETY: checked non-null and writable above.
        unsafe { out.write(text.into_raw()) };
        Ok(())
    })
}

/// Builds a change event with core's builders into `*out_event` (free with
/// `ds_string_free`).
///
/// # Safety
/// The strings `NULL` or NUL-terminated; `out_event` writable.
unsafe fn build_event(
    operation: Operation,
    entity_type: *const c_char,
    key: *const c_char,
    value: *const c_char,
    old_value: *const c_char,
    headers: *const c_char,
    out_event: *mut *mut c_char,
) -> ds_status {
    boundary(|| {
        // SAFETY: forwarded contract of this function.
        unsafe { init_out(out_event, std::ptr::null_mut(), "out_event") }?;
        // SAFETY: forwarded contract of this function.
        let (t, k, v, old, h) = unsafe {
            (
                str_arg(entity_type, "entity_type")?,
                str_arg(key, "key")?,
                opt_str_arg(value, "value")?,
                opt_str_arg(old_value, "old_value")?,
                opt_str_arg(headers, "headers")?,
            )
        };
        let text = c_string(&state::change_json(operation, t, k, v, old, h)?)?;
        // SAFETY: checked non-null and writable above.
        unsafe { out_event.write(text.into_raw()) };
        Ok(())
    })
}

/// An `insert` event of `value` (JSON text) at `entity_type`/`key`, as JSON text in
/// `*out_event` (free with `ds_string_free`). `headers`: `NULL` or a JSON object of extra
/// headers (`txid` and `timestamp` strings, checked; others kept as given). Fails with
/// `DS_INVALID_ARGUMENT` naming the field (`ds_last_error_field`) for an empty type or
/// key, a value that is not JSON or a bad header.
///
/// # Safety
/// `entity_type`, `key` and `value` NUL-terminated; `headers` `NULL` or NUL-terminated;
/// `out_event` writable.
#[no_mangle]
pub unsafe extern "C" fn ds_state_event_insert(
    entity_type: *const c_char,
    key: *const c_char,
    value: *const c_char,
    headers: *const c_char,
    out_event: *mut *mut c_char,
) -> ds_status {
    let null = std::ptr::null();
    // SAFETY: forwarded contract of this function.
    unsafe { build_event(Operation::Insert, entity_type, key, value, null, headers, out_event) }
}

/// An `update` event, as `ds_state_event_insert`; `old_value` is `NULL` or the previous value
/// as JSON text.
///
/// # Safety
/// As `ds_state_event_insert`; `old_value` `NULL` or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ds_state_event_update(
    entity_type: *const c_char,
    key: *const c_char,
    value: *const c_char,
    old_value: *const c_char,
    headers: *const c_char,
    out_event: *mut *mut c_char,
) -> ds_status {
    // SAFETY: forwarded contract of this function.
    unsafe {
        build_event(Operation::Update, entity_type, key, value, old_value, headers, out_event)
    }
}

/// An `upsert` event (insert or replace, as the npm package's helpers write it), as
/// `ds_state_event_insert`.
///
/// # Safety
/// As `ds_state_event_insert`.
#[no_mangle]
pub unsafe extern "C" fn ds_state_event_upsert(
    entity_type: *const c_char,
    key: *const c_char,
    value: *const c_char,
    headers: *const c_char,
    out_event: *mut *mut c_char,
) -> ds_status {
    let null = std::ptr::null();
    // SAFETY: forwarded contract of this function.
    unsafe { build_event(Operation::Upsert, entity_type, key, value, null, headers, out_event) }
}

/// A `delete` event of `entity_type`/`key` (no value), as `ds_state_event_insert`; `old_value`
/// is `NULL` or the removed value as JSON text.
///
/// # Safety
/// As `ds_state_event_insert`; `old_value` `NULL` or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn ds_state_event_delete(
    entity_type: *const c_char,
    key: *const c_char,
    old_value: *const c_char,
    headers: *const c_char,
    out_event: *mut *mut c_char,
) -> ds_status {
    let null = std::ptr::null();
    // SAFETY: forwarded contract of this function.
    unsafe { build_event(Operation::Delete, entity_type, key, null, old_value, headers, out_event) }
}

/// A live follower of a State Protocol stream. Use from one thread at a time.
#[allow(non_camel_case_types)]
pub struct ds_state_follower {
    inner: SharedFollower,
    offset: std::ffi::CString,
}

/// One batch applied by `ds_state_follower_next`.
#[allow(non_camel_case_types)]
#[repr(C)]
pub struct ds_state_update {
    /// The offset after the batch (NUL-terminated; valid until the next call on the
    /// follower or its free).
    pub offset: *const c_char,
    /// Events applied.
    pub applied: usize,
    /// Malformed events skipped.
    pub malformed: usize,
    /// The follower had every event that existed when the batch was sent.
    pub up_to_date: bool,
    /// Up to date and outside a snapshot: the state is consistent.
    pub consistent: bool,
    /// The stream is closed; this was its last batch.
    pub closed: bool,
}

/// Opens a follower of `stream` from `checkpoint` (JSON from
/// `ds_state_follower_checkpoint`, or `NULL` for the beginning). `live` is a
/// `ds_live_mode`; with `stop_on_malformed` a malformed event fails `next` with
/// `DS_MALFORMED_EVENT` and every later call with `DS_STOPPED`, otherwise it is skipped
/// and counted. Sends nothing until the first `ds_state_follower_next`.
///
/// # Safety
/// `stream` must be a live handle; `checkpoint` `NULL` or NUL-terminated; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn ds_state_follower_open(
    stream: *const ds_stream,
    checkpoint: *const c_char,
    live: i32,
    stop_on_malformed: bool,
    out: *mut *mut ds_state_follower,
) -> ds_status {
    boundary(|| {
        // SAFETY: forwarded contract of this function.
        unsafe { init_out(out, std::ptr::null_mut(), "out") }?;
        // SAFETY: forwarded contract of this function.
        let stream = unsafe { handle(stream, "stream") }?;
        // SAFETY: forwarded contract of this function.
        let checkpoint = unsafe { opt_str_arg(checkpoint, "checkpoint") }?;
        let policy = if stop_on_malformed { MalformedPolicy::Stop } else { MalformedPolicy::Skip };
        let opts = FollowerOptions::default().live(live_mode(live)?).malformed(policy);
        let inner = SharedFollower::new(stream.stream.clone(), checkpoint, opts)?;
        let offset = c_string(&inner.view().offset)?;
        // SAFETY: checked non-null and writable above.
        unsafe { out.write(into_handle(ds_state_follower { inner, offset })) };
        Ok(())
    })
}

/// Waits for the next batch and applies it. On `DS_OK`, `*out_has_update` says whether
/// `*out_update` holds one: `false` means the follower ended (caught up with
/// `DS_LIVE_OFF`, or the stream is closed).
///
/// # Safety
/// `follower` must be a live follower not used concurrently; the out pointers writable.
#[no_mangle]
pub unsafe extern "C" fn ds_state_follower_next(
    follower: *mut ds_state_follower,
    out_update: *mut ds_state_update,
    out_has_update: *mut bool,
) -> ds_status {
    boundary(|| {
        // SAFETY: forwarded contract of this function.
        unsafe { init_out(out_has_update, false, "out_has_update") }?;
        if out_update.is_null() {
            return Err(FfiError::argument("out_update", "must not be NULL"));
        }
        // SAFETY: forwarded contract of this function.
        let f = unsafe { handle_mut(follower, "follower") }?;
        let Some(u) = block_on(f.inner.next())?? else { return Ok(()) };
        f.offset = c_string(&u.offset)?;
        let update = ds_state_update {
            offset: f.offset.as_ptr(),
            applied: u.changes.len(),
            malformed: u.malformed.len(),
            up_to_date: u.up_to_date,
            consistent: u.consistent,
            closed: u.closed,
        };
        // SAFETY: both checked non-null and writable above.
        unsafe {
            out_update.write(update);
            out_has_update.write(true);
        }
        Ok(())
    })
}

/// The follower's state at its last up-to-date batch, as a new state handle (free it with
/// `ds_state_free`; later batches do not change it). `NULL` for a `NULL` follower.
///
/// # Safety
/// `follower` must be `NULL` or a live follower.
#[no_mangle]
pub unsafe extern "C" fn ds_state_follower_state(
    follower: *const ds_state_follower,
) -> *mut ds_state {
    guard(std::ptr::null_mut(), || {
        // SAFETY: forwarded contract of this function.
        match unsafe { handle(follower, "follower") } {
            Ok(f) => into_handle(ds_state { state: f.inner.view().state }),
            Err(_) => std::ptr::null_mut(),
        }
    })
}

/// The follower's last up-to-date state and its offset as a checkpoint (JSON) in `*out`,
/// for `ds_state_follower_open`; free with `ds_string_free`.
///
/// # Safety
/// `follower` must be a live follower; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn ds_state_follower_checkpoint(
    follower: *const ds_state_follower,
    out: *mut *mut c_char,
) -> ds_status {
    boundary(|| {
        // SAFETY: forwarded contract of this function.
        unsafe { init_out(out, std::ptr::null_mut(), "out") }?;
        // SAFETY: forwarded contract of this function.
        let f = unsafe { handle(follower, "follower") }?;
        let text = c_string(&f.inner.view().checkpoint().to_json())?;
        // SAFETY: checked non-null and writable above.
        unsafe { out.write(text.into_raw()) };
        Ok(())
    })
}

/// Frees a follower. `NULL` is a no-op.
///
/// # Safety
/// `follower` must be `NULL` or a follower from `ds_state_follower_open`, not freed before
/// and not used after.
#[no_mangle]
pub unsafe extern "C" fn ds_state_follower_free(follower: *mut ds_state_follower) {
    // SAFETY: forwarded contract of this function.
    guard((), || unsafe { free_handle(follower) })
}

//! Pointer and string conversions shared by the exported functions. Each helper checks
//! `NULL` and UTF-8 and turns a violation into an invalid-argument error naming the C
//! parameter; the remaining obligations (the pointer is valid for the stated length and
//! lifetime) are the caller's, stated in each export's `# Safety` section.

use std::ffi::{c_char, CStr, CString};

use crate::error::FfiError;

/// A required borrowed C string argument.
///
/// # Safety
/// `ptr` is `NULL` or points to a NUL-terminated string that outlives `'a`.
pub(crate) unsafe fn str_arg<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, FfiError> {
    if ptr.is_null() {
        return Err(FfiError::argument(name, "must not be NULL"));
    }
    // SAFETY: non-null, and NUL-terminated and live for 'a per this function's contract.
    let s = unsafe { CStr::from_ptr(ptr) };
    s.to_str().map_err(|_| FfiError::argument(name, "is not valid UTF-8"))
}

/// An optional borrowed C string argument (`NULL` is `None`).
///
/// # Safety
/// As [`str_arg`].
pub(crate) unsafe fn opt_str_arg<'a>(
    ptr: *const c_char,
    name: &str,
) -> Result<Option<&'a str>, FfiError> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded contract of this function.
    unsafe { str_arg(ptr, name) }.map(Some)
}

/// A borrowed byte buffer argument; `NULL` is allowed only with `len == 0`.
///
/// # Safety
/// `ptr` is `NULL` or valid for reads of `len` bytes that outlive `'a`.
pub(crate) unsafe fn bytes_arg<'a>(
    ptr: *const u8,
    len: usize,
    name: &str,
) -> Result<&'a [u8], FfiError> {
    if ptr.is_null() {
        if len == 0 {
            return Ok(&[]);
        }
        return Err(FfiError::argument(name, "is NULL with a non-zero length"));
    }
    if len > isize::MAX as usize {
        return Err(FfiError::argument(name, "length is too large"));
    }
    // SAFETY: non-null, readable for `len` bytes for 'a per this function's contract, and
    // `len` fits in isize.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// A required handle argument, borrowed.
///
/// # Safety
/// `ptr` is `NULL` or a live handle of type `T` created by this library, not freed during
/// `'a`.
pub(crate) unsafe fn handle<'a, T>(ptr: *const T, name: &str) -> Result<&'a T, FfiError> {
    // SAFETY: `as_ref` checks NULL; otherwise the pointer is a live `T` per the contract.
    unsafe { ptr.as_ref() }.ok_or_else(|| FfiError::argument(name, "must not be NULL"))
}

/// A required handle argument, borrowed mutably.
///
/// # Safety
/// As [`handle`], and no other reference to the handle exists during `'a`.
pub(crate) unsafe fn handle_mut<'a, T>(ptr: *mut T, name: &str) -> Result<&'a mut T, FfiError> {
    // SAFETY: `as_mut` checks NULL; otherwise the pointer is a live, unaliased `T` per the
    // contract.
    unsafe { ptr.as_mut() }.ok_or_else(|| FfiError::argument(name, "must not be NULL"))
}

/// Stores `value` through an optional out-parameter (`NULL` means "not wanted").
///
/// # Safety
/// `out` is `NULL` or valid for a write of `T` (it may be uninitialized).
pub(crate) unsafe fn write_opt<T>(out: *mut T, value: T) {
    if !out.is_null() {
        // SAFETY: non-null and writable per the contract; `write` does not read or drop
        // the old (possibly uninitialized) value.
        unsafe { out.write(value) };
    }
}

/// Hands an owned string to the caller through an optional out-parameter (free with
/// `ds_string_free`); when `out` is `NULL` the string is dropped here instead.
///
/// # Safety
/// As [`write_opt`].
pub(crate) unsafe fn write_opt_string(out: *mut *mut c_char, s: CString) {
    if !out.is_null() {
        // SAFETY: non-null and writable per the contract; ownership of the string passes to
        // the caller.
        unsafe { out.write(s.into_raw()) };
    }
}

/// Checks a required out-parameter and stores `initial` in it, so that it holds a defined
/// value (such as `NULL`) even if the call then fails.
///
/// # Safety
/// As [`write_opt`].
pub(crate) unsafe fn init_out<T>(out: *mut T, initial: T, name: &str) -> Result<(), FfiError> {
    if out.is_null() {
        return Err(FfiError::argument(name, "must not be NULL"));
    }
    // SAFETY: forwarded contract of this function.
    unsafe { write_opt(out, initial) };
    Ok(())
}

/// Moves a Rust value to the heap and hands ownership to C.
pub(crate) fn into_handle<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Takes back ownership of a handle and drops it; `NULL` is a no-op.
///
/// # Safety
/// `ptr` is `NULL` or a pointer from [`into_handle`] for the same `T`, not freed before and
/// not used after.
pub(crate) unsafe fn free_handle<T>(ptr: *mut T) {
    if !ptr.is_null() {
        // SAFETY: the pointer came from `Box::into_raw` for this `T` and is freed once.
        drop(unsafe { Box::from_raw(ptr) });
    }
}

/// Text from the server as an owned C string.
pub(crate) fn c_string(s: &str) -> Result<CString, FfiError> {
    CString::new(s).map_err(|_| FfiError::Text(format!("text contains a NUL byte: {s:?}")))
}

//! The idempotent producer: queued appends, flush, close.

use std::ffi::c_char;

use durastream::client::{Producer, ProducerOptions};

use crate::client::ds_stream;
use crate::error::{boundary, ds_status, guard};
use crate::ffi::{
    bytes_arg, c_string, free_handle, handle, init_out, into_handle, str_arg, write_opt,
    write_opt_string,
};
use crate::runtime::{block_on, runtime};

/// An idempotent producer: batched, pipelined, exactly-once appends to one stream under a
/// producer id. Thread-safe. Free with `ds_producer_free`.
#[allow(non_camel_case_types)]
pub struct ds_producer {
    producer: Producer,
}

/// Starts a producer writing to `stream` as `producer_id` (non-empty) from `epoch`
/// (usually 0). With `auto_claim`, a producer fenced by a newer epoch takes the id over at
/// the server's epoch + 1 instead of failing with `DS_STALE_EPOCH`.
///
/// The producer sends in the background (batches close after 5 ms, 1 MiB or 10 000
/// items). On success `*out` holds it; on failure `*out` is set to `NULL`.
///
/// # Safety
/// `stream` must be a live handle; `producer_id` NUL-terminated; `out` valid for writing a
/// pointer.
#[no_mangle]
pub unsafe extern "C" fn ds_producer_new(
    stream: *const ds_stream,
    producer_id: *const c_char,
    epoch: u64,
    auto_claim: bool,
    out: *mut *mut ds_producer,
) -> ds_status {
    boundary(|| {
        // SAFETY: `out` is writable per this function's contract.
        unsafe { init_out(out, std::ptr::null_mut(), "out") }?;
        // SAFETY: `stream` is NULL or live per this function's contract.
        let stream = unsafe { handle(stream, "stream") }?;
        // SAFETY: `producer_id` is NULL or NUL-terminated per this function's contract.
        let id = unsafe { str_arg(producer_id, "producer_id") }?;
        let opts = ProducerOptions { epoch, auto_claim, ..ProducerOptions::default() };
        // The producer spawns its background task on the current runtime.
        let _entered = runtime()?.enter();
        let producer = stream.stream.producer(id, opts)?;
        // SAFETY: checked non-null and writable above.
        unsafe { out.write(into_handle(ds_producer { producer })) };
        Ok(())
    })
}

/// Queues `len` bytes. Never waits on the network. On a byte stream items are
/// concatenated; on a JSON stream each item must be one JSON value (`DS_PARSE_ERROR`
/// otherwise). Fails with `DS_BUFFER_FULL` while too much data is unacknowledged (flush,
/// then retry), and with the producer's fatal error once it has one (also returned by the
/// next `ds_producer_flush`). `data` may be `NULL` when `len` is 0.
///
/// # Safety
/// `producer` must be a live producer; `data` valid for reading `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn ds_producer_append(
    producer: *const ds_producer,
    data: *const u8,
    len: usize,
) -> ds_status {
    boundary(|| {
        // SAFETY: `producer` is NULL or live per this function's contract.
        let producer = unsafe { handle(producer, "producer") }?;
        // SAFETY: `data` is readable for `len` bytes per this function's contract.
        let data = unsafe { bytes_arg(data, len, "data") }?;
        producer.producer.append(data)?;
        Ok(())
    })
}

/// Sends everything queued so far and waits until the server has acknowledged it. Returns
/// the producer's fatal error, if it has one (`DS_STALE_EPOCH`, `DS_SEQUENCE_GAP`,
/// `DS_STREAM_CLOSED`, ...).
///
/// # Safety
/// `producer` must be a live producer.
#[no_mangle]
pub unsafe extern "C" fn ds_producer_flush(producer: *const ds_producer) -> ds_status {
    boundary(|| {
        // SAFETY: `producer` is NULL or live per this function's contract.
        let producer = unsafe { handle(producer, "producer") }?;
        block_on(producer.producer.flush())??;
        Ok(())
    })
}

/// Flushes, then closes the stream through the producer (deduplicated like its appends),
/// appending `final_data` atomically when `final_len` is not 0. Calling it again returns the
/// same result; after it the producer accepts no more data (`DS_PRODUCER_CLOSED`). The
/// handle must still be freed with `ds_producer_free`.
///
/// If `out_final_offset` is not `NULL` it receives the stream's final offset (free with
/// `ds_string_free`), or `NULL` on failure. `final_data` may be `NULL` when `final_len` is 0.
///
/// # Safety
/// `producer` must be a live producer; `final_data` valid for reading `final_len` bytes;
/// `out_final_offset` `NULL` or valid for writing a pointer.
#[no_mangle]
pub unsafe extern "C" fn ds_producer_close(
    producer: *const ds_producer,
    final_data: *const u8,
    final_len: usize,
    out_final_offset: *mut *mut c_char,
) -> ds_status {
    boundary(|| {
        // SAFETY: `out_final_offset` is NULL or writable per this function's contract.
        unsafe { write_opt(out_final_offset, std::ptr::null_mut()) };
        // SAFETY: `producer` is NULL or live per this function's contract.
        let producer = unsafe { handle(producer, "producer") }?;
        // SAFETY: `final_data` is readable for `final_len` bytes per the contract.
        let final_data = unsafe { bytes_arg(final_data, final_len, "final_data") }?;
        let final_message = (!final_data.is_empty()).then_some(final_data);
        let result = block_on(producer.producer.close(final_message))??;
        let offset = c_string(&result.final_offset)?;
        // SAFETY: `out_final_offset` is NULL or writable per this function's contract.
        unsafe { write_opt_string(out_final_offset, offset) };
        Ok(())
    })
}

/// Frees a producer. Data queued but not flushed is still sent in the background, best
/// effort; call `ds_producer_flush` or `ds_producer_close` first to know it arrived. `NULL`
/// is a no-op.
///
/// # Safety
/// `producer` must be `NULL` or a producer from `ds_producer_new`, not freed before and not
/// used after.
#[no_mangle]
pub unsafe extern "C" fn ds_producer_free(producer: *mut ds_producer) {
    // SAFETY: forwarded contract of this function.
    guard((), || unsafe { free_handle(producer) })
}

//! `durastream._durastream`: the compiled half of the `durastream` Python package.
//!
//! A thin adapter over the `durastream` core client and the `durastream-server` library:
//! it converts arguments, owns the one tokio runtime ([`runtime`]), and maps errors once
//! ([`error`]). The idiomatic Python layer (exception classes, dataclasses, iterators,
//! sync and asyncio facades) lives in the package's Python files.

mod client;
mod error;
mod json_load;
mod producer;
mod reader;
mod runtime;
#[cfg(feature = "server")]
mod server;
mod state;

use pyo3::prelude::*;

/// Re-serialises JSON text compactly, keeping numbers and strings as written (the core's
/// JSON minifier).
#[pyfunction]
fn json_minify(text: &str) -> String {
    durastream::json::minify(text)
}

/// True when a content type is JSON (`application/json`, any parameters): such streams
/// hold JSON messages.
#[pyfunction]
fn is_json_content_type(content_type: &str) -> bool {
    durastream::json::is_json(content_type)
}

/// The append body that stores one JSON value (given as JSON text) as one message on a
/// JSON stream (the core's `json::wrap_message`).
#[pyfunction]
fn json_message(value: &[u8]) -> std::borrow::Cow<'static, [u8]> {
    durastream::json::wrap_message(value).into()
}

/// The compiled module.
#[pymodule]
fn _durastream(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<client::PyClient>()?;
    m.add_class::<client::PyStream>()?;
    m.add_class::<reader::PyReader>()?;
    m.add_class::<reader::PyChunk>()?;
    m.add_class::<producer::PyProducer>()?;
    #[cfg(feature = "server")]
    m.add_class::<server::PyServer>()?;
    #[cfg(feature = "server")]
    m.add_function(wrap_pyfunction!(server::run_cli, m)?)?;
    m.add_class::<runtime::Pending>()?;
    m.add_function(wrap_pyfunction!(client::validate_retry_options, m)?)?;
    m.add_function(wrap_pyfunction!(client::validate_producer_options, m)?)?;
    m.add_function(wrap_pyfunction!(error::error_classes, m)?)?;
    m.add_function(wrap_pyfunction!(json_minify, m)?)?;
    m.add_function(wrap_pyfunction!(json_message, m)?)?;
    m.add_function(wrap_pyfunction!(is_json_content_type, m)?)?;
    m.add_class::<state::PyState>()?;
    m.add_class::<state::PyStateFollower>()?;
    m.add_function(wrap_pyfunction!(state::validate_state_event, m)?)?;
    m.add_function(wrap_pyfunction!(state::build_change_event, m)?)?;
    Ok(())
}

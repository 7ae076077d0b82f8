//! Errors of the protocol layer, mapped to HTTP in one place (`http::response`).

use std::io;

/// Why a store operation was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("stream not found")]
    NotFound,
    #[error("stream was deleted and is kept only for its forks")]
    Gone,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    /// Appending to a closed stream; `tail` is its final offset.
    #[error("stream is closed")]
    Closed { tail: u64 },
    #[error("producer epoch is stale; current epoch is {current}")]
    StaleEpoch { current: u64 },
    #[error("producer sequence gap: expected {expected}, received {received}")]
    SequenceGap { expected: u64, received: u64 },
    #[error("storage failed earlier; the server refuses writes until restarted")]
    Unavailable,
    /// Storage cannot take more bytes right now (e.g. a full disk); retrying later may work.
    #[error("{0}")]
    Busy(String),
    #[error("storage error: {0}")]
    Io(#[from] io::Error),
    /// A read before the earliest retained position (the stream was trimmed there).
    #[error("offset is before the earliest retained position {}", durastream::Offset(*earliest))]
    Trimmed { earliest: u64 },
}

impl StoreError {
    pub fn bad(msg: impl Into<String>) -> StoreError {
        StoreError::BadRequest(msg.into())
    }

    pub fn conflict(msg: impl Into<String>) -> StoreError {
        StoreError::Conflict(msg.into())
    }

    /// Maps an error from writing stream data: back-pressure becomes [`StoreError::Busy`].
    pub fn from_data(e: io::Error) -> StoreError {
        if e.kind() == io::ErrorKind::WouldBlock {
            StoreError::Busy(e.to_string())
        } else {
            StoreError::Io(e)
        }
    }
}

//! Errors of the subscription APIs. Each carries its wire `code`; the HTTP status is decided
//! in one place, `http::response::subscription_error`.

use std::io;

/// Why a subscription request was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum SubError {
    /// Malformed or invalid request (`400 INVALID_REQUEST`).
    #[error("{0}")]
    Invalid(String),
    /// The webhook URL failed SSRF validation (`400 WEBHOOK_URL_REJECTED`).
    #[error("{0}")]
    WebhookUrlRejected(String),
    /// Webhook subscriptions are disabled on this server (`400 WEBHOOKS_DISABLED`).
    #[error("webhook subscriptions are disabled on this server (start it with --webhooks)")]
    WebhooksDisabled,
    /// No such subscription, or it was deleted (`404 SUBSCRIPTION_NOT_FOUND`).
    #[error("subscription not found")]
    NotFound,
    /// Same id, different configuration (`409 SUBSCRIPTION_ALREADY_EXISTS`).
    #[error("a subscription with this id exists with a different configuration")]
    AlreadyExists,
    /// Bad, foreign or misused token (`401 TOKEN_INVALID`).
    #[error("{0}")]
    TokenInvalid(String),
    /// The token's expiry passed (`401 TOKEN_EXPIRED`).
    #[error("token expired")]
    TokenExpired,
    /// Stale generation or wake id, or the lease expired (`409 FENCED`).
    #[error("the wake generation is stale or its lease expired")]
    Fenced,
    /// Another worker holds the lease (`409 ALREADY_CLAIMED`).
    #[error("another worker holds the subscription lease")]
    AlreadyClaimed { holder: String, generation: u64 },
    /// Nothing to claim (`409 NO_PENDING_WORK`).
    #[error("subscription has no pending work")]
    NoPendingWork,
    /// An ack names an unlinked stream, regresses, or passes the tail (`409 INVALID_OFFSET`).
    #[error("{0}")]
    InvalidOffset(String),
    /// A server bound would be passed (`409 LIMIT_EXCEEDED`): too many subscriptions, or
    /// too many links in one subscription. Delete some, or raise the flag named.
    #[error("{what}: this server allows at most {limit} (raise it with --{flag})")]
    LimitExceeded { what: &'static str, limit: usize, flag: &'static str },
    /// Subscription state could not be persisted earlier; writes are refused (`503`).
    #[error("subscription storage failed earlier; the server refuses changes until restarted")]
    Unavailable,
    /// Persisting subscription state failed (`500`).
    #[error("subscription storage error: {0}")]
    Io(#[from] io::Error),
}

impl SubError {
    /// The `error.code` of the JSON error body.
    pub fn code(&self) -> &'static str {
        match self {
            SubError::Invalid(_) => "INVALID_REQUEST",
            SubError::WebhookUrlRejected(_) => "WEBHOOK_URL_REJECTED",
            SubError::WebhooksDisabled => "WEBHOOKS_DISABLED",
            SubError::NotFound => "SUBSCRIPTION_NOT_FOUND",
            SubError::AlreadyExists => "SUBSCRIPTION_ALREADY_EXISTS",
            SubError::TokenInvalid(_) => "TOKEN_INVALID",
            SubError::TokenExpired => "TOKEN_EXPIRED",
            SubError::Fenced => "FENCED",
            SubError::AlreadyClaimed { .. } => "ALREADY_CLAIMED",
            SubError::NoPendingWork => "NO_PENDING_WORK",
            SubError::InvalidOffset(_) => "INVALID_OFFSET",
            SubError::LimitExceeded { .. } => "LIMIT_EXCEEDED",
            SubError::Unavailable => "UNAVAILABLE",
            SubError::Io(_) => "INTERNAL_ERROR",
        }
    }

    pub fn invalid(msg: impl Into<String>) -> SubError {
        SubError::Invalid(msg.into())
    }
}

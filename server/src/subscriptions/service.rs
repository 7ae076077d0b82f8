//! The subscription service the HTTP routes call: the in-process registry (file and memory
//! engines) or the one kept in a shared database (PostgreSQL). Both apply the same rules.

use std::sync::Arc;

use super::shared::Shared;
use super::{SubError, Subscriptions};

/// Where subscriptions live. Cheap to clone.
#[derive(Clone)]
pub enum Service {
    /// In this process, beside the local stream store.
    Local(Arc<Subscriptions>),
    /// In the shared database; any node answers.
    Shared(Arc<Shared>),
}

impl Service {
    /// The JWK Set of the webhook signing key.
    pub fn jwks(&self) -> serde_json::Value {
        match self {
            Service::Local(s) => s.jwks(),
            Service::Shared(s) => s.jwks(),
        }
    }

    /// `PUT`: creates or re-confirms; returns the JSON and whether it was created.
    pub async fn put(
        &self,
        id: &str,
        body: &[u8],
        host: Option<&str>,
    ) -> Result<(serde_json::Value, bool), SubError> {
        match self {
            Service::Local(s) => s.put(id, body, host).await,
            Service::Shared(s) => s.put(id, body, host).await,
        }
    }

    /// `GET`.
    pub async fn get(&self, id: &str, host: Option<&str>) -> Result<serde_json::Value, SubError> {
        match self {
            Service::Local(s) => s.get(id, host),
            Service::Shared(s) => s.get(id, host).await,
        }
    }

    /// Every subscription as JSON, in id order.
    pub async fn list(&self) -> Result<Vec<serde_json::Value>, SubError> {
        match self {
            Service::Local(s) => Ok(s.list()),
            Service::Shared(s) => s.list().await,
        }
    }

    /// `DELETE`.
    pub async fn delete(&self, id: &str) -> Result<(), SubError> {
        match self {
            Service::Local(s) => s.delete(id).await,
            Service::Shared(s) => s.delete(id).await,
        }
    }

    /// `POST …/streams`.
    pub async fn add_streams(&self, id: &str, body: &[u8]) -> Result<(), SubError> {
        match self {
            Service::Local(s) => s.add_streams(id, body).await,
            Service::Shared(s) => s.add_streams(id, body).await,
        }
    }

    /// `DELETE …/streams/:path`.
    pub async fn remove_stream(&self, id: &str, path: &str) -> Result<(), SubError> {
        match self {
            Service::Local(s) => s.remove_stream(id, path).await,
            Service::Shared(s) => s.remove_stream(id, path).await,
        }
    }

    /// `POST …/callback`.
    pub async fn callback(
        &self,
        id: &str,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<bool, SubError> {
        match self {
            Service::Local(s) => s.callback(id, headers, body).await,
            Service::Shared(s) => s.callback(id, headers, body).await,
        }
    }

    /// `POST …/claim`.
    pub async fn claim(&self, id: &str, body: &[u8]) -> Result<serde_json::Value, SubError> {
        match self {
            Service::Local(s) => s.claim(id, body).await,
            Service::Shared(s) => s.claim(id, body).await,
        }
    }

    /// `POST …/ack`.
    pub async fn ack(
        &self,
        id: &str,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<bool, SubError> {
        match self {
            Service::Local(s) => s.ack(id, headers, body).await,
            Service::Shared(s) => s.ack(id, headers, body).await,
        }
    }

    /// `POST …/release`.
    pub async fn release(
        &self,
        id: &str,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<(), SubError> {
        match self {
            Service::Local(s) => s.release(id, headers, body).await,
            Service::Shared(s) => s.release(id, headers, body).await,
        }
    }

    /// Starts the delivery worker; abort the handle to stop it.
    pub fn spawn_worker(&self) -> tokio::task::JoinHandle<()> {
        match self {
            Service::Local(s) => s.spawn_worker(),
            Service::Shared(s) => s.spawn_worker(),
        }
    }
}

//! Headers and query parameters that may change between requests.
//!
//! A [`Value`] is either fixed text or a function (sync or async) evaluated on **every**
//! request: first attempts, retries, reader reconnects and producer batches alike. That is
//! what keeps a long-lived reader working while its token is refreshed.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use super::error::{Error, ErrorKind, Result};

/// A boxed future producing a header or parameter value.
pub type ValueFuture = Pin<Box<dyn Future<Output = Result<String>> + Send>>;

type AsyncFn = dyn Fn() -> ValueFuture + Send + Sync;

/// A header or query parameter value: fixed, or computed for each request.
#[derive(Clone)]
pub enum Value {
    /// The same text on every request.
    Static(String),
    /// Computed on every request; an error fails that request (it is not retried).
    Dynamic(Arc<AsyncFn>),
}

impl Value {
    /// A fixed value.
    pub fn fixed(v: impl Into<String>) -> Self {
        Value::Static(v.into())
    }

    /// A value computed by a synchronous function on every request.
    pub fn from_fn<F>(f: F) -> Self
    where
        F: Fn() -> String + Send + Sync + 'static,
    {
        Value::Dynamic(Arc::new(move || {
            let v = f();
            Box::pin(async move { Ok(v) })
        }))
    }

    /// A value computed by an async function on every request (for example a token
    /// refresh).
    pub fn from_async<F, Fut>(f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String>> + Send + 'static,
    {
        Value::Dynamic(Arc::new(move || Box::pin(f())))
    }

    async fn resolve(&self) -> Result<String> {
        match self {
            Value::Static(s) => Ok(s.clone()),
            Value::Dynamic(f) => f().await,
        }
    }
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Static(s) => f.debug_tuple("Static").field(s).finish(),
            Value::Dynamic(_) => f.write_str("Dynamic(..)"),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Static(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Static(s)
    }
}

/// A shared, mutable set of named values (the client's headers or its query parameters).
#[derive(Clone, Default, Debug)]
pub(crate) struct ValueSet {
    inner: Arc<RwLock<BTreeMap<String, Value>>>,
}

impl ValueSet {
    pub(crate) fn set(&self, name: &str, value: Value) {
        if let Ok(mut m) = self.inner.write() {
            m.insert(name.to_string(), value);
        }
    }

    pub(crate) fn remove(&self, name: &str) {
        if let Ok(mut m) = self.inner.write() {
            m.remove(name);
        }
    }

    pub(crate) fn clear(&self) {
        if let Ok(mut m) = self.inner.write() {
            m.clear();
        }
    }

    /// Evaluates every value, in name order.
    pub(crate) async fn resolve(&self) -> Result<Vec<(String, String)>> {
        let snapshot: Vec<(String, Value)> = match self.inner.read() {
            Ok(m) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            Err(_) => return Err(Error::new(ErrorKind::InvalidArgument, "header set poisoned")),
        };
        let mut out = Vec::with_capacity(snapshot.len());
        for (k, v) in snapshot {
            out.push((k, v.resolve().await?));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn dynamic_values_are_evaluated_each_time() {
        let set = ValueSet::default();
        let n = Arc::new(AtomicU32::new(0));
        let n2 = n.clone();
        set.set(
            "x-count",
            Value::from_fn(move || (n2.fetch_add(1, Ordering::SeqCst) + 1).to_string()),
        );
        set.set("authorization", Value::from_async(|| async { Ok("Bearer t".to_string()) }));
        assert_eq!(set.resolve().await.ok().map(|v| v[1].1.clone()), Some("1".into()));
        assert_eq!(set.resolve().await.ok().map(|v| v[1].1.clone()), Some("2".into()));
        set.set("x-count", Value::fixed("z"));
        assert_eq!(set.resolve().await.ok().map(|v| v[1].1.clone()), Some("z".into()));
        set.remove("x-count");
        set.clear();
        assert!(set.resolve().await.map(|v| v.is_empty()).unwrap_or(false));
    }
}

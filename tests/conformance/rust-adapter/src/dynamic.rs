//! `set-dynamic-header` / `set-dynamic-param`: definitions installed on the client as
//! functions evaluated per request, plus a record of the values they produced, reported
//! as `headersSent` / `paramsSent`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use durastream::client::{Client, Value as HeaderValue};
use serde_json::{Map, Value};

/// Last values produced, by the name the test used.
#[derive(Default, Clone)]
pub struct Dynamic {
    headers: Arc<Mutex<BTreeMap<String, String>>>,
    params: Arc<Mutex<BTreeMap<String, String>>>,
}

impl Dynamic {
    /// Installs a header definition (replacing one of the same name, counter restarted).
    pub fn set_header(
        &self,
        client: &Client,
        name: &str,
        kind: &str,
        initial: Option<&str>,
    ) -> Result<(), String> {
        let value = make(kind, initial, name, self.headers.clone())?;
        client.set_header(name, value);
        Ok(())
    }

    /// Installs a query parameter definition.
    pub fn set_param(&self, client: &Client, name: &str, kind: &str) -> Result<(), String> {
        let value = make(kind, None, name, self.params.clone())?;
        client.set_param(name, value);
        Ok(())
    }

    /// Forgets every definition.
    pub fn clear(&self, client: &Client) {
        client.clear_dynamic();
        lock(&self.headers).clear();
        lock(&self.params).clear();
    }

    /// Adds `headersSent` / `paramsSent` to a result when definitions exist.
    pub fn report(&self, result: &mut Value) {
        for (key, map) in [("headersSent", &self.headers), ("paramsSent", &self.params)] {
            let m = lock(map);
            if !m.is_empty() {
                let obj: Map<String, Value> =
                    m.iter().map(|(k, v)| (k.clone(), Value::from(v.clone()))).collect();
                result[key] = Value::Object(obj);
            }
        }
    }
}

fn lock(
    m: &Mutex<BTreeMap<String, String>>,
) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn make(
    kind: &str,
    initial: Option<&str>,
    name: &str,
    record: Arc<Mutex<BTreeMap<String, String>>>,
) -> Result<HeaderValue, String> {
    let name = name.to_string();
    lock(&record).remove(&name);
    let produce: Box<dyn Fn() -> String + Send + Sync> = match kind {
        "counter" => {
            let n = AtomicU64::new(0);
            Box::new(move || (n.fetch_add(1, Ordering::SeqCst) + 1).to_string())
        }
        "timestamp" => Box::new(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0)
                .to_string()
        }),
        "token" => {
            let v = initial.unwrap_or("").to_string();
            Box::new(move || v.clone())
        }
        other => return Err(format!("unknown valueType {other:?}")),
    };
    Ok(HeaderValue::from_fn(move || {
        let v = produce();
        lock(&record).insert(name.clone(), v.clone());
        v
    }))
}

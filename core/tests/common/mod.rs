//! Shared helpers: an in-process server and fault injection.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use durastream::client::{Client, DurableStream};
use durastream_server::{Config, Server};

pub struct TestServer {
    pub server: Server,
    pub client: Client,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl TestServer {
    pub async fn start() -> TestServer {
        Self::with(|_| {}).await
    }

    pub async fn with(adjust: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = Config::memory();
        config.long_poll_timeout = Duration::from_millis(500);
        config.test_faults = true;
        adjust(&mut config);
        let server = Server::start(config).await.expect("server starts");
        TestServer { server, client: Client::new() }
    }

    /// A fresh stream URL.
    pub fn url(&self, name: &str) -> String {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        format!("{}/v1/stream/{name}-{n}-{}", self.server.url(), std::process::id())
    }

    pub fn stream(&self, name: &str) -> DurableStream {
        self.client.stream(&self.url(name)).expect("valid url")
    }

    /// Installs a fault (ADAPTER_PROTOCOL.md §7) for the stream's path.
    pub async fn inject(&self, stream: &DurableStream, fault: serde_json::Value) {
        let mut body = fault;
        body["path"] = serde_json::Value::from(stream.path());
        let resp = reqwest::Client::new()
            .post(format!("{}/_test/inject-error", self.server.url()))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("fault endpoint");
        assert!(resp.status().is_success(), "inject: {}", resp.status());
    }
}

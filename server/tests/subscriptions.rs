//! Subscriptions end to end against the real binary: a webhook receiver on loopback that
//! verifies signatures against the server's JWKS and acks asynchronously, a retry schedule
//! that survives `kill -9`, and a pull-wake lease that survives it too.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// One webhook request as the receiver saw it.
struct Hook {
    at: Instant,
    at_ms: i64,
    signature: String,
    raw: Bytes,
    body: Value,
}

/// A webhook receiver answering 500 to the first `fail` requests and `{}` afterwards.
async fn receiver(fail: usize) -> (String, mpsc::UnboundedReceiver<Hook>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind receiver");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let (tx, rx) = mpsc::unbounded_channel();
    let failures = Arc::new(AtomicUsize::new(fail));
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let (tx, failures) = (tx.clone(), failures.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (tx, failures) = (tx.clone(), failures.clone());
                    async move {
                        let signature = req
                            .headers()
                            .get("webhook-signature")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string();
                        let raw = req.into_body().collect().await.expect("body").to_bytes();
                        let body = serde_json::from_slice(&raw).expect("JSON body");
                        let at_ms = durastream_server::store::now_ms();
                        let _ = tx.send(Hook { at: Instant::now(), at_ms, signature, raw, body });
                        let fail = failures
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                            .is_ok();
                        let status = if fail { 500 } else { 200 };
                        let resp = hyper::Response::builder()
                            .status(status)
                            .header("content-type", "application/json")
                            .body(Full::new(Bytes::from_static(b"{}")))
                            .expect("response");
                        Ok::<_, Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .await;
            });
        }
    });
    (url, rx)
}

/// The server binary on `addr` with `dir`, webhooks and the localhost exception on.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    async fn start(addr: SocketAddr, dir: &Path) -> Server {
        let child = Command::new(env!("CARGO_BIN_EXE_durastream"))
            .args(["serve", "--bind", &addr.to_string(), "--data-dir"])
            .arg(dir)
            .args(["--webhooks", "--allow-localhost-webhooks"])
            .env("DURASTREAM_LOG", "error")
            .stdout(Stdio::null())
            .spawn()
            .expect("start the server binary");
        // Owned by `Server` at once so its `Drop` reaps it on every path.
        let server = Server { child, base: format!("http://{addr}/v1/stream") };
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client.get(format!("{}/__ds/jwks.json", server.base)).send().await.is_ok() {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("server did not come up on {addr}");
    }

    /// `kill -9`.
    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reap");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr")
}

async fn next_hook(rx: &mut mpsc::UnboundedReceiver<Hook>, within: Duration) -> Hook {
    tokio::time::timeout(within, rx.recv()).await.expect("webhook in time").expect("receiver open")
}

async fn json_of(r: reqwest::Response) -> Value {
    let bytes = r.bytes().await.expect("answer body");
    serde_json::from_slice(&bytes).expect("JSON answer")
}

/// JSON request bodies (the workspace builds reqwest without its `json` feature).
trait JsonBody {
    fn js(self, v: &Value) -> Self;
}

impl JsonBody for reqwest::RequestBuilder {
    fn js(self, v: &Value) -> Self {
        let body = serde_json::to_vec(v).expect("serializes");
        self.header("content-type", "application/json").body(body)
    }
}

fn millis(rfc3339: &str) -> i64 {
    let t = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .expect("RFC 3339");
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).expect("fits")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_retry_schedule_survives_kill_9_and_async_ack_verifies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = free_addr();
    let (hook_url, mut hooks) = receiver(3).await;
    let http = reqwest::Client::new();
    let server = Server::start(addr, dir.path()).await;
    let base = server.base.clone();
    let sub = format!("{base}/__ds/subscriptions/retry-sub");

    let jwks =
        json_of(http.get(format!("{base}/__ds/jwks.json")).send().await.expect("jwks")).await;
    let created = http
        .put(&sub)
        .js(&json!({
            "type": "webhook", "pattern": "jobs/*", "webhook": { "url": hook_url },
            "lease_ttl_ms": 10_000,
        }))
        .send()
        .await
        .expect("create subscription");
    assert_eq!(created.status(), 201);
    let created = json_of(created).await;
    assert_eq!(created["webhook"]["signing"]["kid"], jwks["keys"][0]["kid"]);

    let put = http
        .put(format!("{base}/jobs/a"))
        .header("content-type", "application/json")
        .body(r#"{"n":1}"#)
        .send()
        .await
        .expect("create stream");
    assert_eq!(put.status(), 201);

    // Three failing deliveries: ~0 s, +1 s, +2 s. Each is a new, signed wake generation.
    let mut last = None;
    for attempt in 1..=3u64 {
        let h = next_hook(&mut hooks, Duration::from_secs(10)).await;
        let now = durastream_server::store::now_ms() / 1000;
        assert!(
            durastream_server::subscriptions::verify_webhook_signature(
                &h.signature,
                &h.raw,
                &jwks,
                now,
                300
            ),
            "signature verifies against the JWKS"
        );
        assert_eq!(h.body["generation"], attempt);
        last = Some(h);
    }
    let third = last.expect("three deliveries");
    // Wait until the third failure is recorded: the retry is ~4 s (3.2 to 4.8 s) away.
    let mut scheduled = None;
    for _ in 0..100 {
        let s = json_of(http.get(&sub).send().await.expect("get")).await;
        if let Some(at) = s["next_attempt_at"].as_str().map(millis) {
            if at >= third.at_ms + 3_000 {
                assert_eq!(s["status"], "failed");
                scheduled = Some(at);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let scheduled = scheduled.expect("the third retry is scheduled");

    server.kill();
    let killed_at = Instant::now();
    let server = Server::start(addr, dir.path()).await;
    assert!(killed_at.elapsed() < Duration::from_secs(3), "restart well before the retry");
    let after = json_of(http.get(&sub).send().await.expect("get")).await;
    assert_eq!(after["status"], "failed");
    assert_eq!(after["next_attempt_at"].as_str().map(millis), Some(scheduled));
    let jwks2 =
        json_of(http.get(format!("{base}/__ds/jwks.json")).send().await.expect("jwks")).await;
    assert_eq!(jwks2, jwks, "the signing key persists");

    // The fourth attempt honors the schedule written before the crash, and succeeds.
    let h = next_hook(&mut hooks, Duration::from_secs(10)).await;
    assert!(
        h.at_ms >= scheduled - 50,
        "redelivered {} ms before next_attempt_at",
        scheduled - h.at_ms
    );
    assert!(h.at.duration_since(third.at) >= Duration::from_millis(3_100));
    let now = durastream_server::store::now_ms() / 1000;
    assert!(durastream_server::subscriptions::verify_webhook_signature(
        &h.signature,
        &h.raw,
        &jwks2,
        now,
        300
    ));
    assert_eq!(h.body["generation"], 4, "generations stay monotonic across the restart");
    assert_eq!(h.body["subscription_id"], "retry-sub");
    let stream = &h.body["streams"][0];
    assert_eq!(
        (stream["path"].as_str(), stream["has_pending"].as_bool()),
        (Some("jobs/a"), Some(true))
    );
    let tail = stream["tail_offset"].as_str().expect("tail").to_string();

    // Asynchronous processing: heartbeat, then done, through the callback URL.
    let cb = h.body["callback_url"].as_str().expect("callback_url").to_string();
    assert_eq!(cb, format!("{base}/__ds/subscriptions/retry-sub/callback"));
    let token = h.body["callback_token"].as_str().expect("token").to_string();
    let wake = json!({ "wake_id": h.body["wake_id"], "generation": 4 });
    let ack = tokio::spawn({
        let (http, cb, token, tail) = (http.clone(), cb.clone(), token.clone(), tail.clone());
        let wake = wake.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let beat = http.post(&cb).bearer_auth(&token).js(&wake).send().await.expect("beat");
            assert_eq!(json_of(beat).await, json!({ "ok": true, "next_wake": false }));
            let mut done = wake.clone();
            done["acks"] = json!([{ "stream": "jobs/a", "offset": tail }]);
            done["done"] = json!(true);
            let r = http.post(&cb).bearer_auth(&token).js(&done).send().await.expect("done");
            assert_eq!(r.status(), 200);
            assert_eq!(json_of(r).await, json!({ "ok": true, "next_wake": false }));
            done
        }
    });
    let done = ack.await.expect("ack task");
    let stale = http.post(&cb).bearer_auth(&token).js(&done).send().await.expect("stale");
    assert_eq!(stale.status(), 409);
    assert_eq!(json_of(stale).await["error"]["code"], "FENCED");
    let forged = http.post(&cb).bearer_auth("e30.AAAA").js(&done).send().await.expect("forged");
    assert_eq!(forged.status(), 401);

    let s = json_of(http.get(&sub).send().await.expect("get")).await;
    assert_eq!(s["status"], "active");
    assert_eq!(s["streams"][0]["acked_offset"], tail.as_str());
    assert!(s["next_attempt_at"].is_null());
    drop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_wake_lease_and_cursor_survive_kill_9() {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = free_addr();
    let http = reqwest::Client::new();
    let server = Server::start(addr, dir.path()).await;
    let base = server.base.clone();
    let sub = format!("{base}/__ds/subscriptions/pull-sub");
    let json_put = |url: String, body: &'static str| {
        http.put(url).header("content-type", "application/json").body(body).send()
    };
    assert_eq!(json_put(format!("{base}/wake/pool"), "[]").await.expect("wake").status(), 201);
    let created = http
        .put(&sub)
        .js(&json!({
            "type": "pull-wake", "pattern": "work/**", "wake_stream": "wake/pool",
            "lease_ttl_ms": 60_000,
        }))
        .send()
        .await
        .expect("create");
    assert_eq!(created.status(), 201);
    assert_eq!(
        json_put(format!("{base}/work/x/1"), r#"{"a":1}"#).await.expect("put").status(),
        201
    );

    let mut events = Value::Null;
    for _ in 0..100 {
        events =
            json_of(http.get(format!("{base}/wake/pool?offset=-1")).send().await.expect("read"))
                .await;
        if events.as_array().is_some_and(|e| !e.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(events[0]["type"], "wake");
    assert_eq!(events[0]["subscription_id"], "pull-sub");
    assert_eq!(events[0]["stream"], "work/x/1");

    let claim = http.post(format!("{sub}/claim")).js(&json!({ "worker": "w1" })).send().await;
    let claimed = json_of(claim.expect("claim")).await;
    let token = claimed["token"].as_str().expect("token").to_string();
    let tail = claimed["streams"][0]["tail_offset"].as_str().expect("tail").to_string();

    server.kill();
    let server = Server::start(addr, dir.path()).await;

    // The lease survived: another worker is refused, the holder's token still works.
    let busy = http.post(format!("{sub}/claim")).js(&json!({ "worker": "w2" })).send().await;
    let busy = busy.expect("claim");
    assert_eq!(busy.status(), 409);
    let busy = json_of(busy).await;
    assert_eq!(busy["error"]["code"], "ALREADY_CLAIMED");
    assert_eq!(busy["error"]["current_holder"], "w1");
    let body = json!({
        "wake_id": claimed["wake_id"], "generation": claimed["generation"],
        "acks": [{ "stream": "work/x/1", "offset": tail }], "done": true,
    });
    let ack = http.post(format!("{sub}/ack")).bearer_auth(&token).js(&body).send().await;
    assert_eq!(json_of(ack.expect("ack")).await, json!({ "ok": true, "next_wake": false }));
    let release = http.post(format!("{sub}/release")).bearer_auth(&token).js(&body).send().await;
    assert_eq!(release.expect("release").status(), 409, "stale release is fenced");
    drop(server);

    // The cursor survives a second crash.
    let server = Server::start(addr, dir.path()).await;
    let s = json_of(http.get(&sub).send().await.expect("get")).await;
    assert_eq!(s["streams"][0]["acked_offset"], tail.as_str());
    let none = http.post(format!("{sub}/claim")).js(&json!({ "worker": "w2" })).send().await;
    assert_eq!(json_of(none.expect("claim")).await["error"]["code"], "NO_PENDING_WORK");
    drop(server);
}

//! State compaction end to end (`docs/state-compaction.md`) against in-process servers: the
//! compaction endpoint, the snapshot stream and the headers naming it, incremental snapshots
//! that agree with replaying everything, errors, restart, trimming with 410, clean-up of
//! snapshots of deleted streams, and the automatic policy.

use std::time::Duration;

use durastream::state::{MalformedPolicy, MaterializedState};
use durastream::Offset;
use durastream_server::compact::CompactConfig;
use durastream_server::{Config, Server};
use reqwest::{Response, StatusCode};
use serde_json::{json, Value};

struct Srv {
    server: Server,
    base: String,
    http: reqwest::Client,
}

impl Srv {
    async fn start(config: Config) -> Srv {
        let server = Server::start(config).await.expect("server starts");
        let base = format!("{}/v1/stream", server.url());
        Srv { server, base, http: reqwest::Client::new() }
    }

    async fn create(&self, path: &str, content_type: &str) {
        let r = self
            .http
            .put(format!("{}/{path}", self.base))
            .header("content-type", content_type)
            .send()
            .await
            .expect("create");
        assert_eq!(r.status(), StatusCode::CREATED, "create {path}");
    }

    async fn append(&self, path: &str, body: &Value) {
        let r = self
            .http
            .post(format!("{}/{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("append");
        assert!(r.status().is_success(), "append to {path}: {}", r.status());
    }

    async fn compact(&self, path: &str) -> Response {
        self.http.post(format!("{}/__ds/compact/{path}", self.base)).send().await.expect("post")
    }

    async fn head(&self, path: &str) -> Response {
        self.http.head(format!("{}/{path}", self.base)).send().await.expect("head")
    }

    /// GET of a server path (starting with `/`).
    async fn get(&self, path: &str) -> Response {
        self.http.get(format!("{}{path}", self.server.url())).send().await.expect("get")
    }

    /// Every message of the stream at the server path `path` from `offset`.
    async fn read_all(&self, path: &str, offset: &str) -> (Vec<Value>, String) {
        let mut out = Vec::new();
        let mut offset = offset.to_string();
        loop {
            let r = self.get(&format!("{path}?offset={offset}")).await;
            assert_eq!(r.status(), StatusCode::OK, "read {path} at {offset}");
            let next = header(&r, "stream-next-offset").expect("next offset");
            let done = header(&r, "stream-up-to-date").is_some();
            let items: Vec<Value> = json_of(r).await.expect("JSON array");
            out.extend(items);
            offset = next;
            if done {
                return (out, offset);
            }
        }
    }
}

async fn json_of<T: serde::de::DeserializeOwned>(r: Response) -> serde_json::Result<T> {
    serde_json::from_slice(&r.bytes().await.expect("body"))
}

fn header(r: &Response, name: &str) -> Option<String> {
    r.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

fn with_compaction(config: Config, c: CompactConfig) -> Config {
    Config { state_compaction: Some(c), ..config }
}

fn set(t: &str, k: &str, v: Value, op: &str) -> Value {
    json!({"type": t, "key": k, "value": v, "headers": {"operation": op}})
}

fn del(t: &str, k: &str) -> Value {
    json!({"type": t, "key": k, "headers": {"operation": "delete"}})
}

/// The state the spec's rules give for `events`, as sorted JSON.
fn materialize(events: &[Value]) -> String {
    let mut s = MaterializedState::new();
    let body = serde_json::to_vec(events).expect("encode");
    s.apply_batch_json(&body, MalformedPolicy::Skip).expect("array");
    s.to_json()
}

#[tokio::test]
async fn compaction_is_off_by_default() {
    let srv = Srv::start(Config::memory()).await;
    srv.create("room", "application/json").await;
    srv.append("room", &set("user", "1", json!(1), "insert")).await;
    let r = srv.compact("room").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.text().await.expect("body").contains("--state-compaction"));
    assert!(header(&srv.head("room").await, "stream-snapshot").is_none());
    let r = srv.get(&format!("/v1/stream/__ds/snapshots/room/{}", Offset(0))).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn snapshot_holds_the_latest_state_and_the_stream_names_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = with_compaction(Config::file(dir.path()), CompactConfig::default());
    let srv = Srv::start(config.clone()).await;
    srv.create("rooms/a b", "application/json").await;
    let first = vec![
        set("user", "1", json!({"name": "Ann"}), "insert"),
        set("user", "2", json!({"name": "Bob"}), "insert"),
        json!({"not": "a state event"}),
        set("user", "1", json!({"name": "Ann Smith"}), "update"),
        del("user", "2"),
        del("user", "missing"),
        set("flag", "dark", json!(true), "upsert"),
    ];
    srv.append("rooms/a%20b", &json!(first)).await;

    let r = srv.compact("rooms/a%20b").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = header(&r, "location").expect("Location");
    let offset = header(&r, "stream-snapshot-offset").expect("offset");
    let body: Value = json_of(r).await.expect("JSON");
    assert_eq!(body["snapshot"], json!(location));
    assert_eq!((body["events"].clone(), body["malformed"].clone()), (json!(6), json!(1)));
    assert_eq!(body["entities"], json!(2));

    // The source names its snapshot; the snapshot is a closed stream of its own.
    let h = srv.head("rooms/a%20b").await;
    let path = header(&h, "stream-snapshot").expect("Stream-Snapshot");
    assert_eq!(header(&h, "stream-snapshot-offset").as_deref(), Some(offset.as_str()));
    assert_eq!(header(&h, "stream-next-offset").as_deref(), Some(offset.as_str()));
    assert!(location.ends_with(&path), "{location} ends with {path}");
    assert!(path.contains("/__ds/snapshots/rooms/a%20b/"), "{path}");
    let sh = srv.http.head(&location).send().await.expect("head snapshot");
    assert_eq!(sh.status(), StatusCode::OK);
    assert_eq!(header(&sh, "stream-closed").as_deref(), Some("true"));
    assert_eq!(header(&sh, "stream-snapshot-offset").as_deref(), Some(offset.as_str()));
    let (snap, _) = srv.read_all(&path, "-1").await;
    assert_eq!(
        snap,
        vec![
            json!({"headers": {"control": "snapshot-start", "offset": offset}}),
            set("flag", "dark", json!(true), "insert"),
            set("user", "1", json!({"name": "Ann Smith"}), "insert"),
            json!({"headers": {"control": "snapshot-end", "offset": offset}}),
        ]
    );
    assert_eq!(materialize(&snap), materialize(&first));

    // Nothing new: the same snapshot.
    let again = srv.compact("rooms/a%20b").await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(header(&again, "location"), Some(location.clone()));

    // More events, including a reset: the next snapshot starts from the previous one.
    let second = vec![
        set("user", "3", json!({"name": "Cy"}), "insert"),
        json!({"headers": {"control": "reset"}}),
        set("user", "4", json!({"name": "Di"}), "insert"),
        set("flag", "dark", json!(false), "update"),
    ];
    srv.append("rooms/a%20b", &json!(second)).await;
    let r = srv.compact("rooms/a%20b").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let body: Value = json_of(r).await.expect("JSON");
    assert_eq!(body["events"], json!(4), "only the new events are read");
    let path2 = header(&srv.head("rooms/a%20b").await, "stream-snapshot").expect("header");
    assert_ne!(path2, path);
    let (snap2, _) = srv.read_all(&path2, "-1").await;
    let everything: Vec<Value> = first.iter().chain(&second).cloned().collect();
    assert_eq!(materialize(&snap2), materialize(&everything));
    // Only the newest snapshot is kept.
    assert_eq!(srv.get(&path).await.status(), StatusCode::NOT_FOUND);

    // A restart finds the snapshot again.
    srv.server.shutdown().await.expect("shutdown");
    let srv = Srv::start(config).await;
    let h = srv.head("rooms/a%20b").await;
    assert_eq!(header(&h, "stream-snapshot").as_deref(), Some(path2.as_str()));
    let (again, _) = srv.read_all(&path2, "-1").await;
    assert_eq!(again, snap2);
    srv.server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn compaction_refuses_what_it_cannot_snapshot() {
    let config = CompactConfig { max_bytes: 300, ..CompactConfig::default() };
    let srv = Srv::start(with_compaction(Config::memory(), config)).await;
    let code = |r: Response| async move {
        let status = r.status();
        let body: Value = json_of(r).await.expect("JSON error");
        (status, body["error"]["code"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(
        code(srv.compact("missing").await).await,
        (StatusCode::NOT_FOUND, "NOT_FOUND".into())
    );
    srv.create("bytes", "application/octet-stream").await;
    assert_eq!(code(srv.compact("bytes").await).await, (StatusCode::CONFLICT, "NOT_JSON".into()));
    srv.create("plain", "application/json").await;
    srv.append("plain", &json!([{"a": 1}, {"b": 2}])).await;
    assert_eq!(
        code(srv.compact("plain").await).await,
        (StatusCode::CONFLICT, "NOT_STATE_PROTOCOL".into())
    );
    srv.create("open", "application/json").await;
    srv.append("open", &json!({"headers": {"control": "snapshot-start"}})).await;
    srv.append("open", &set("user", "1", json!(1), "insert")).await;
    assert_eq!(
        code(srv.compact("open").await).await,
        (StatusCode::CONFLICT, "OPEN_SNAPSHOT".into())
    );
    srv.append("open", &json!({"headers": {"control": "snapshot-end"}})).await;
    assert_eq!(srv.compact("open").await.status(), StatusCode::CREATED);
    srv.create("big", "application/json").await;
    let many: Vec<Value> =
        (0..20).map(|i| set("user", &i.to_string(), json!(i), "insert")).collect();
    srv.append("big", &json!(many)).await;
    assert_eq!(
        code(srv.compact("big").await).await,
        (StatusCode::CONFLICT, "STATE_TOO_LARGE".into())
    );
    let r = srv.http.get(format!("{}/__ds/compact/open", srv.base)).send().await.expect("get");
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    let r = srv.get("/v1/stream/__ds/snapshots/open/not-an-offset").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    srv.server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn trimming_answers_410_before_the_snapshot_and_survives_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let compaction = CompactConfig { trim: true, ..CompactConfig::default() };
    let config = with_compaction(Config::file(dir.path()), compaction);
    let srv = Srv::start(config.clone()).await;
    srv.create("room", "application/json").await;
    let events: Vec<Value> =
        (0..50).map(|i| set("user", &(i % 7).to_string(), json!({"v": i}), "upsert")).collect();
    srv.append("room", &json!(events[..25])).await;
    let (_, middle) = srv.read_all("/v1/stream/room", "-1").await;
    srv.append("room", &json!(events[25..])).await;
    let r = srv.compact("room").await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let offset = header(&r, "stream-snapshot-offset").expect("offset");
    srv.append("room", &set("user", "late", json!(1), "insert")).await;

    let check = |srv: &Srv| {
        let (offset, middle) = (offset.clone(), middle.clone());
        let url = format!("{}/room", srv.base);
        let http = srv.http.clone();
        async move {
            for from in ["-1".to_string(), middle, Offset(0).to_string()] {
                let r = http.get(format!("{url}?offset={from}")).send().await.expect("get");
                assert_eq!(r.status(), StatusCode::GONE, "read at {from}");
                assert!(header(&r, "stream-snapshot").is_some(), "410 names the snapshot");
            }
            let r = http.get(format!("{url}?offset={offset}")).send().await.expect("get");
            assert_eq!(r.status(), StatusCode::OK);
            let tail: Vec<Value> = json_of(r).await.expect("array");
            assert_eq!(tail, vec![set("user", "late", json!(1), "insert")]);
            let r = http.get(format!("{url}?offset=now")).send().await.expect("get");
            assert_eq!(r.status(), StatusCode::OK);
        }
    };
    check(&srv).await;
    srv.server.shutdown().await.expect("shutdown");
    let srv = Srv::start(config).await;
    check(&srv).await;
    // A fork at the snapshot's offset works; its history before the fork point is gone too.
    let fork = |name: &'static str, at: String| {
        let (http, url, source) =
            (srv.http.clone(), srv.base.clone(), format!("{}/room", srv.base));
        async move {
            http.put(format!("{url}/{name}"))
                .header("content-type", "application/json")
                .header("stream-forked-from", source)
                .header("stream-fork-offset", at)
                .send()
                .await
                .expect("fork")
                .status()
        }
    };
    assert_eq!(fork("early", middle.clone()).await, StatusCode::GONE);
    assert_eq!(fork("branch", offset.clone()).await, StatusCode::CREATED);
    let r = srv.get("/v1/stream/branch?offset=-1").await;
    assert_eq!(r.status(), StatusCode::GONE);
    let (branch, _) = srv.read_all("/v1/stream/branch", &offset).await;
    assert!(branch.is_empty());
    // Snapshot plus tail is the whole state.
    let path = header(&srv.head("room").await, "stream-snapshot").expect("header");
    let (mut all, _) = srv.read_all(&path, "-1").await;
    let (tail, _) = srv.read_all("/v1/stream/room", &offset).await;
    all.extend(tail);
    let mut expected = events.clone();
    expected.push(set("user", "late", json!(1), "insert"));
    assert_eq!(materialize(&all), materialize(&expected));
    srv.server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn snapshots_of_deleted_streams_go_and_the_policy_compacts_by_itself() {
    let compaction = CompactConfig { auto_bytes: Some(200), ..CompactConfig::default() };
    let srv = Srv::start(with_compaction(Config::memory(), compaction)).await;
    srv.create("auto", "application/json").await;
    srv.append("auto", &set("user", "1", json!("x"), "insert")).await;
    let wait_for = |path: &'static str, present: bool| {
        let url = format!("{}/{path}", srv.base);
        let http = srv.http.clone();
        async move {
            for _ in 0..100 {
                let r = http.head(&url).send().await.expect("head");
                if header(&r, "stream-snapshot").is_some() == present {
                    return header(&r, "stream-snapshot");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("{path}: snapshot present = {present} never happened");
        }
    };
    // Below the threshold: not compacted.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(header(&srv.head("auto").await, "stream-snapshot").is_none());
    let many: Vec<Value> =
        (0..10).map(|i| set("user", &i.to_string(), json!(i), "insert")).collect();
    srv.append("auto", &json!(many)).await;
    let path = wait_for("auto", true).await.expect("compacted");
    assert_eq!(srv.get(&path).await.status(), StatusCode::OK);

    // Deleted and re-created: the old snapshot is not offered, then deleted.
    let r = srv.http.delete(format!("{}/auto", srv.base)).send().await.expect("delete");
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    srv.create("auto", "application/json").await;
    assert!(header(&srv.head("auto").await, "stream-snapshot").is_none());
    for _ in 0..50 {
        if srv.get(&path).await.status() == StatusCode::NOT_FOUND {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(srv.get(&path).await.status(), StatusCode::NOT_FOUND);
    srv.server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn compaction_needs_write_on_the_stream_and_snapshots_need_read() {
    use durastream_server::auth::AuthConfig;
    const TOKENS: &str = "read-token-0123456789 read /room\n\
                          write-token-012345678 write /room\n\
                          other-token-012345678 read /other\n\
                          admin-token-012345678 admin /\n";
    let auth = || AuthConfig::new().with_token_lines(TOKENS).expect("tokens");
    for trim in [false, true] {
        let compaction = CompactConfig { trim, ..CompactConfig::default() };
        let srv = Srv::start(with_compaction(Config::memory().with_auth(auth()), compaction)).await;
        let call = |method: reqwest::Method, path: String, token: Option<&'static str>| {
            let mut req = srv.http.request(method, format!("{}{path}", srv.base));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            async move { req.send().await.expect("request") }
        };
        let r = srv
            .http
            .put(format!("{}/room", srv.base))
            .bearer_auth("admin-token-012345678")
            .header("content-type", "application/json")
            .body(set("user", "1", json!(1), "insert").to_string())
            .send()
            .await
            .expect("create");
        assert!(r.status().is_success(), "{}", r.status());
        let post = reqwest::Method::POST;
        let compact = "/__ds/compact/room".to_string();
        assert_eq!(
            call(post.clone(), compact.clone(), None).await.status(),
            StatusCode::UNAUTHORIZED
        );
        let r = call(post.clone(), compact.clone(), Some("read-token-0123456789")).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let writer = call(post.clone(), compact.clone(), Some("write-token-012345678")).await;
        let r = if trim {
            assert_eq!(writer.status(), StatusCode::FORBIDDEN, "trimming drops history: admin");
            call(post.clone(), compact.clone(), Some("admin-token-012345678")).await
        } else {
            writer
        };
        assert_eq!(r.status(), StatusCode::CREATED);
        let path = header(&r, "stream-snapshot").expect("header");
        let snap = path.strip_prefix("/v1/stream").expect("prefix").to_string();
        let get = reqwest::Method::GET;
        let r = call(get.clone(), snap.clone(), Some("read-token-0123456789")).await;
        assert_eq!(r.status(), StatusCode::OK);
        let r = call(get.clone(), snap.clone(), Some("other-token-012345678")).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        let r = call(reqwest::Method::DELETE, snap.clone(), Some("write-token-012345678")).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "only admin reaches other methods");
        srv.server.shutdown().await.expect("shutdown");
    }
}

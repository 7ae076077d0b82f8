//! Request bounds and path rules over real HTTP against an in-process server: JSON offsets
//! must start a message, the reserved `__ds` namespace cannot be reached encoded, `Location`
//! is built safely, slow bodies get 408, the in-flight body budget answers 503, and the
//! connection cap makes new clients wait while open ones are served.

use std::time::Duration;

use durastream::Offset;
use durastream_server::{Config, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start(config: Config) -> (Server, String) {
    let server = Server::start(config).await.expect("server starts");
    let base = format!("{}/v1/stream", server.url());
    (server, base)
}

/// Sends raw request bytes on a new connection and returns the connection.
async fn send(server: &Server, raw: &str) -> TcpStream {
    let mut tcp = TcpStream::connect(server.addr()).await.expect("connect");
    tcp.write_all(raw.as_bytes()).await.expect("send");
    tcp
}

/// Reads one response head (and whatever body bytes came with it).
async fn response(tcp: &mut TcpStream) -> String {
    let mut buf = vec![0; 4096];
    let n = tcp.read(&mut buf).await.expect("read");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn status(head: &str) -> u16 {
    head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test]
async fn json_offsets_inside_a_message_are_refused() {
    let (server, base) = start(Config::memory()).await;
    let http = reqwest::Client::new();
    let url = format!("{base}/j");
    let json = [("content-type", "application/json")];
    let put = http.put(&url).header(json[0].0, json[0].1).send().await.expect("put");
    assert_eq!(put.status(), 201);
    let body = r#"[{"a":1},{"b":2}]"#;
    let post = http.post(&url).header(json[0].0, json[0].1).body(body).send().await.expect("post");
    assert_eq!(post.status(), 204);
    // Stored as `{"a":1},\n{"b":2},\n`: 9 starts the second message, 3 is inside the first.
    let inside = Offset(3).to_string();
    let boundary = Offset(9).to_string();
    let r = http.get(format!("{url}?offset={inside}")).send().await.expect("get");
    assert_eq!(r.status(), 400);
    assert!(r.text().await.expect("text").contains("inside a message"));
    let r = http.get(format!("{url}?offset={boundary}")).send().await.expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.expect("text"), r#"[{"b":2}]"#);
    let r = http.get(format!("{url}?offset={inside}&live=sse")).send().await.expect("sse");
    assert_eq!(r.status(), 400);

    let fork = |name: &str, offset: &str| {
        http.put(format!("{base}/{name}"))
            .header("stream-forked-from", "/v1/stream/j")
            .header("stream-fork-offset", offset)
            .send()
    };
    assert_eq!(fork("f1", &inside).await.expect("fork").status(), 400);
    let ok = fork("f2", &boundary).await.expect("fork");
    assert_eq!(ok.status(), 201);
    let r = http.get(format!("{base}/f2")).send().await.expect("read fork");
    assert_eq!(r.text().await.expect("text"), r#"[{"a":1}]"#, "the source's first message");
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn the_reserved_namespace_cannot_be_reached_encoded() {
    let (server, base) = start(Config::memory()).await;
    let http = reqwest::Client::new();
    for path in ["%5F%5Fds/x", "%5f%5fds/subscriptions/a", "__%64s/x", "%5F%5Fds"] {
        let r = http.put(format!("{base}/{path}")).send().await.expect("put");
        assert_eq!(r.status(), 400, "{path}");
        assert!(r.text().await.expect("text").contains("reserved"), "{path}");
    }
    let r = http.put(format!("{base}/x%5F%5Fds")).send().await.expect("put");
    assert_eq!(r.status(), 201, "only the __ds segment right under the prefix is reserved");
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn location_is_encoded_and_never_echoes_an_unsafe_host() {
    let (server, _) = start(Config::memory()).await;
    let put = |path: &str, host: &str| {
        format!("PUT /v1/stream/{path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n")
    };
    let mut c = send(&server, &put("a%20b%3Cc%3E%22", "streams.example:8080")).await;
    let head = response(&mut c).await;
    assert_eq!(status(&head), 201, "{head}");
    assert_eq!(
        header(&head, "location"),
        Some("http://streams.example:8080/v1/stream/a%20b%3Cc%3E%22")
    );
    let mut c = send(&server, &put("b", "evil.example/phish?x=")).await;
    let head = response(&mut c).await;
    let bound = format!("http://{}/v1/stream/b", server.addr());
    assert_eq!(header(&head, "location"), Some(bound.as_str()), "{head}");
    server.shutdown().await.expect("shutdown");

    let config =
        Config { public_url: Some("https://streams.example.com/".into()), ..Config::memory() };
    let (server, _) = start(config).await;
    let mut c = send(&server, &put("c%C3%A9", "whatever.example")).await;
    let head = response(&mut c).await;
    assert_eq!(header(&head, "location"), Some("https://streams.example.com/v1/stream/c%C3%A9"));
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_gets_408_and_the_connection_closes() {
    let config = Config { body_read_timeout: Duration::from_millis(300), ..Config::memory() };
    let (server, base) = start(config).await;
    reqwest::Client::new().put(format!("{base}/s")).send().await.expect("put");
    let mut c = send(
        &server,
        "POST /v1/stream/s HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\n\
         Content-Length: 100\r\n\r\nonly ten b",
    )
    .await;
    let head = response(&mut c).await;
    assert_eq!(status(&head), 408, "{head}");
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).await.expect("the server closes the connection");
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn bodies_past_the_inflight_budget_get_503_with_retry_after() {
    let config = Config { max_body_bytes: 1000, max_inflight_body_bytes: 1000, ..Config::memory() };
    let (server, base) = start(config).await;
    let put = reqwest::Client::new().put(format!("{base}/s")).header("content-type", "text/plain");
    assert_eq!(put.send().await.expect("put").status(), 201);
    let head = |len: usize| {
        format!(
            "POST /v1/stream/s HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n\
             Content-Length: {len}\r\n\r\n"
        )
    };
    // A request holding 800 bytes of the budget while its body trickles in.
    let mut slow = send(&server, &(head(800) + "x")).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut other = send(&server, &(head(500) + &"y".repeat(500))).await;
    let answer = response(&mut other).await;
    assert_eq!(status(&answer), 503, "{answer}");
    assert_eq!(header(&answer, "retry-after"), Some("1"));
    // The refused body was read and dropped: the connection stays usable.
    other.write_all(b"HEAD /v1/stream/s HTTP/1.1\r\nHost: t\r\n\r\n").await.expect("reuse");
    assert_eq!(status(&response(&mut other).await), 200);
    // Chunked bodies are counted as they arrive.
    let chunked = "POST /v1/stream/s HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n\
                   Transfer-Encoding: chunked\r\n\r\n12c\r\n"
        .to_string()
        + &"z".repeat(300)
        + "\r\n0\r\n\r\n";
    let mut c = send(&server, &chunked).await;
    assert_eq!(status(&response(&mut c).await), 503);
    slow.write_all("x".repeat(799).as_bytes()).await.expect("rest of the body");
    assert_eq!(status(&response(&mut slow).await), 204);
    let mut again = send(&server, &(head(500) + &"y".repeat(500))).await;
    assert_eq!(status(&response(&mut again).await), 204, "the budget was given back");
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn past_the_connection_cap_new_clients_wait_and_open_ones_are_served() {
    let config = Config { max_connections: 2, ..Config::memory() };
    let (server, _) = start(config).await;
    let head = "HEAD /v1/stream/none HTTP/1.1\r\nHost: t\r\n\r\n";
    let mut first = send(&server, head).await;
    assert_eq!(status(&response(&mut first).await), 404);
    let mut second = send(&server, head).await;
    assert_eq!(status(&response(&mut second).await), 404);
    let mut third = send(&server, head).await;
    let mut buf = [0u8; 64];
    let waited = tokio::time::timeout(Duration::from_millis(300), third.read(&mut buf)).await;
    assert!(waited.is_err(), "a third connection is not served past a cap of two");
    first.write_all(head.as_bytes()).await.expect("reuse");
    assert_eq!(status(&response(&mut first).await), 404, "open connections keep working");
    drop(second);
    assert_eq!(status(&response(&mut third).await), 404, "served once a slot frees");
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn slow_headers_do_not_hold_a_connection_slot() {
    let config = Config {
        max_connections: 1,
        header_read_timeout: Duration::from_millis(300),
        ..Config::memory()
    };
    let (server, _) = start(config).await;
    let mut slow = send(&server, "HEAD /v1/stream/none HTTP/1.1\r\nHo").await;
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the server drops a client whose headers do not arrive");
    let mut next = send(&server, "HEAD /v1/stream/none HTTP/1.1\r\nHost: t\r\n\r\n").await;
    assert_eq!(status(&response(&mut next).await), 404, "the slot is free again");
    server.shutdown().await.expect("shutdown");
}

//! Stream handle operations against the in-process server.

mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use common::TestServer;
use durastream::client::{
    AppendOptions, CreateOptions, ErrorKind, ForkOptions, ReadOptions, Value,
};

async fn read_all(s: &durastream::client::DurableStream, from: &str) -> Vec<u8> {
    let mut r = s.read(ReadOptions::new().offset(from));
    let mut out = Vec::new();
    while let Some(c) = r.next_chunk().await.expect("read") {
        out.extend_from_slice(&c.data);
    }
    out
}

#[tokio::test]
async fn create_append_head_close_delete() {
    let t = TestServer::start().await;
    let s = t.stream("life");
    let r = s.create(CreateOptions::new().content_type("text/plain")).await.expect("create");
    assert!(r.created);
    assert_eq!(r.status, 201);
    // Idempotent re-create; a different config conflicts.
    let again = s.create(CreateOptions::new().content_type("text/plain")).await.expect("again");
    assert!(!again.created);
    let e = s
        .create(CreateOptions::new().content_type("application/json"))
        .await
        .expect_err("must fail");
    assert_eq!(e.kind(), ErrorKind::Conflict);
    assert_eq!(e.status(), Some(409));

    let a = s.append_text("hello ").await.expect("append");
    s.append(&b"world"[..]).await.expect("append");
    let info = s.head().await.expect("head");
    assert_eq!(info.content_type.as_deref(), Some("text/plain"));
    assert!(!info.closed);
    assert!(info.next_offset > a.next_offset);
    assert_eq!(read_all(&s, "-1").await, b"hello world");
    assert_eq!(read_all(&s, &a.next_offset).await, b"world");

    let c = s.close_with(&b"!"[..]).await.expect("close");
    assert_eq!(c.final_offset, s.head().await.expect("head").next_offset);
    assert!(s.head().await.expect("head").closed);
    // Close again is idempotent; appending fails with the final offset.
    assert_eq!(s.close().await.expect("close again").final_offset, c.final_offset);
    let e = s.append_text("late").await.expect_err("must fail");
    assert_eq!(e.kind(), ErrorKind::StreamClosed);
    assert_eq!(e.final_offset(), Some(c.final_offset.as_str()));
    assert!(!e.is_retryable());

    s.delete().await.expect("delete");
    let e = s.head().await.expect_err("must fail");
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(e.status(), Some(404));
    assert!(e.message().contains(s.path()), "{}", e.message());
    assert_eq!(e.stream_path(), Some(s.path()));
}

#[tokio::test]
async fn content_type_is_learned_with_a_head() {
    let t = TestServer::start().await;
    let url = t.url("ct");
    t.client
        .stream(&url)
        .expect("url")
        .create(CreateOptions::new().content_type("text/plain"))
        .await
        .expect("create");
    // A fresh handle does not know the type: the append learns it first.
    let fresh = t.client.stream(&url).expect("url");
    assert_eq!(fresh.content_type(), None);
    fresh.append_text("x").await.expect("append");
    assert_eq!(fresh.content_type().as_deref(), Some("text/plain"));
    // Missing stream: the error names the path.
    let missing = t.stream("missing");
    let e = missing.append_text("x").await.expect_err("must fail");
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.message().contains(missing.path()));
}

#[tokio::test]
async fn json_messages_and_stream_seq() {
    let t = TestServer::start().await;
    let s = t.stream("json");
    s.create(CreateOptions::new().content_type("application/json")).await.expect("create");
    s.append_json(&serde_json::json!([1, 2])).await.expect("one array message");
    s.append_json_batch(&[serde_json::json!({"a": 1}), serde_json::json!("b")])
        .await
        .expect("batch");
    let mut r = s.read(ReadOptions::new()).json::<serde_json::Value>();
    let mut items = Vec::new();
    while let Some(item) = r.next_item().await.expect("item") {
        items.push(item);
    }
    assert_eq!(
        items,
        vec![serde_json::json!([1, 2]), serde_json::json!({"a": 1}), serde_json::json!("b")]
    );

    let seq = |v: &str| AppendOptions { seq: Some(v.to_string()), content_type: None };
    s.append_with(&b"1"[..], seq("a")).await.expect("seq a");
    s.append_with(&b"2"[..], seq("b")).await.expect("seq b");
    let e = s.append_with(&b"3"[..], seq("a")).await.expect_err("must fail");
    assert_eq!(e.kind(), ErrorKind::SequenceConflict);
    assert_eq!(e.attempts(), 1);
    let e = s.append(&b"{"[..]).await.expect_err("must fail");
    assert_eq!(e.kind(), ErrorKind::BadRequest);
}

#[tokio::test]
async fn create_closed_with_ttl_and_body() {
    let t = TestServer::start().await;
    let s = t.stream("closed");
    let r = s
        .create(
            CreateOptions::new()
                .content_type("text/plain")
                .closed(true)
                .body(&b"all"[..])
                .ttl(std::time::Duration::from_secs(60)),
        )
        .await
        .expect("create");
    assert!(r.closed);
    let info = s.head().await.expect("head");
    assert!(info.closed);
    assert_eq!(info.ttl_seconds, Some(60));
    let mut reader = s.read(ReadOptions::new());
    let c = reader.next_chunk().await.expect("read").expect("chunk");
    assert_eq!(&c.data[..], b"all");
    assert!(c.closed && c.up_to_date);
    assert!(reader.next_chunk().await.expect("end").is_none());
}

#[tokio::test]
async fn fork_at_offset_and_sub_offset() {
    let t = TestServer::start().await;
    let src = t.stream("src");
    src.create(CreateOptions::new().content_type("text/plain")).await.expect("create");
    let mid = src.append_text("abc").await.expect("append").next_offset;
    src.append_text("def").await.expect("append");

    let fork = t.stream("fork");
    fork.create_fork(ForkOptions::from(src.path()).at(mid.clone()), CreateOptions::new())
        .await
        .expect("fork");
    fork.append_text("XYZ").await.expect("append to fork");
    assert_eq!(read_all(&fork, "-1").await, b"abcXYZ");

    let sub = t.stream("fork-sub");
    sub.create_fork(ForkOptions::from(src.url()).at(mid).sub_offset(2), CreateOptions::new())
        .await
        .expect("fork");
    assert_eq!(read_all(&sub, "-1").await, b"abcde");
    assert_eq!(read_all(&src, "-1").await, b"abcdef");

    let e = t
        .stream("fork-missing")
        .create_fork(ForkOptions::from("/v1/stream/nope"), CreateOptions::new())
        .await
        .expect_err("must fail");
    assert_eq!(e.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn retries_follow_the_documented_policy() {
    let t = TestServer::start().await;
    let s = t.stream("retry");
    s.create(CreateOptions::new().content_type("text/plain")).await.expect("create");
    // A refused plain append (503, 500) is retried once the server stops refusing.
    t.inject(&s, serde_json::json!({"status": 503, "method": "POST", "count": 2})).await;
    s.append_text("a").await.expect("retried append");
    t.inject(&s, serde_json::json!({"status": 500, "method": "POST", "retryAfter": 1})).await;
    let started = std::time::Instant::now();
    s.append_text("b").await.expect("retried append");
    assert!(started.elapsed() >= std::time::Duration::from_millis(900), "Retry-After honoured");
    // A 502 may hide an applied append: not retried.
    t.inject(&s, serde_json::json!({"status": 502, "method": "POST"})).await;
    let e = s.append_text("c").await.expect_err("must fail");
    assert_eq!(e.status(), Some(502));
    assert_eq!(e.kind(), ErrorKind::UnexpectedStatus);
    assert!(e.is_retryable());
    // With Stream-Seq the same 502 is retried.
    t.inject(&s, serde_json::json!({"status": 502, "method": "POST"})).await;
    s.append_with(&b"d"[..], AppendOptions { seq: Some("1".into()), content_type: None })
        .await
        .expect("seq retry");
    // A dropped connection on a read is retried.
    t.inject(&s, serde_json::json!({"dropConnection": true, "method": "GET"})).await;
    assert_eq!(read_all(&s, "-1").await, b"abd");
    // Persistent failure ends in RetryExhausted with the last status.
    let quick = durastream::client::Client::builder()
        .retry(
            durastream::client::RetryOptions::from_raw(Some(2), Some(1.0), Some(5.0), None)
                .expect("valid"),
        )
        .build()
        .expect("client");
    let s2 = quick.stream(s.url()).expect("url");
    t.inject(&s2, serde_json::json!({"status": 500, "method": "GET", "count": 10})).await;
    let e = s2.read(ReadOptions::new()).next_chunk().await.expect_err("must fail");
    assert_eq!(e.kind(), ErrorKind::RetryExhausted);
    assert_eq!(e.status(), Some(500));
    assert_eq!(e.attempts(), 3);
}

#[tokio::test]
async fn dynamic_headers_are_evaluated_per_request() {
    let t = TestServer::start().await;
    let calls = Arc::new(AtomicU32::new(0));
    let c2 = calls.clone();
    let client = durastream::client::Client::builder()
        .header(
            "Authorization",
            Value::from_async(move || {
                let n = c2.fetch_add(1, Ordering::SeqCst) + 1;
                async move { Ok(format!("Bearer token-{n}")) }
            }),
        )
        .param("tenant", "t1")
        .build()
        .expect("client");
    let s = client.stream(&t.url("dyn")).expect("url");
    s.create(CreateOptions::new().content_type("text/plain")).await.expect("create");
    s.append_text("x").await.expect("append");
    // Retries and reconnects evaluate the value again.
    t.inject(&s, serde_json::json!({"status": 503, "method": "GET"})).await;
    let mut r = s.read(ReadOptions::new());
    while r.next_chunk().await.expect("read").is_some() {}
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    client.remove_header("authorization");
    s.append_text("y").await.expect("append");
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

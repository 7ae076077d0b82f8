//! The idempotent producer against the in-process server.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::TestServer;
use durastream::client::{CreateOptions, ErrorKind, ProducerOptions, ReadOptions};

async fn text_of(s: &durastream::client::DurableStream) -> String {
    let mut r = s.read(ReadOptions::new()).text();
    let mut out = String::new();
    while let Some(c) = r.next_text().await.expect("read") {
        out.push_str(&c.text);
    }
    out
}

async fn new_stream(t: &TestServer, ct: &str) -> durastream::client::DurableStream {
    let s = t.stream("p");
    s.create(CreateOptions::new().content_type(ct)).await.expect("create");
    s
}

#[tokio::test]
async fn appends_are_batched_and_exactly_once() {
    let t = TestServer::start().await;
    let s = new_stream(&t, "text/plain").await;
    let p = s.producer("batcher", ProducerOptions::default()).expect("producer");
    let mut expected = String::new();
    for i in 0..2000 {
        let item = format!("{i},");
        p.append(item.as_bytes()).expect("append never waits");
        expected.push_str(&item);
    }
    p.flush().await.expect("flush");
    assert!(p.next_seq() < 100, "2000 items went out in {} batches", p.next_seq());
    assert_eq!(p.buffered_bytes(), 0);
    assert!(p.last_offset().is_some());
    assert_eq!(text_of(&s).await, expected);
    // A new producer with the same id and epoch re-sends seq 0: deduplicated.
    let again = s.producer("batcher", ProducerOptions::default()).expect("producer");
    again.append(&b"0,"[..]).expect("append");
    again.flush().await.expect("flush");
    assert_eq!(text_of(&s).await, expected);
}

#[tokio::test]
async fn pipelined_tiny_batches_arrive_in_order() {
    let t = TestServer::start().await;
    let s = new_stream(&t, "text/plain").await;
    let opts = ProducerOptions {
        max_in_flight: 5,
        max_batch_bytes: 1,
        linger: Duration::ZERO,
        ..ProducerOptions::default()
    };
    let p = s.producer("pipe", opts).expect("producer");
    let mut expected = String::new();
    for i in 0..200 {
        let item = format!("<{i}>");
        p.append(item.as_bytes()).expect("append");
        expected.push_str(&item);
    }
    p.flush().await.expect("flush");
    assert_eq!(p.next_seq(), 200);
    assert_eq!(text_of(&s).await, expected);
}

#[tokio::test]
async fn json_items_close_and_detach() {
    let t = TestServer::start().await;
    let s = new_stream(&t, "application/json").await;
    let p = s.producer("json", ProducerOptions::default()).expect("producer");
    p.append_json(&serde_json::json!([1, 2, 3])).expect("array stays one message");
    p.append_json_text("{\"a\": 1}").expect("text");
    assert_eq!(p.append_json_text("{oops").expect_err("must fail").kind(), ErrorKind::Parse);
    assert_eq!(p.append(&b"nope"[..]).expect_err("must fail").kind(), ErrorKind::Parse);
    let closed = p.close(Some(b"\"bye\"")).await.expect("close");
    // Closing again returns the same result; appends are refused.
    assert_eq!(p.close(None).await.expect("again"), closed);
    assert_eq!(p.append_json(&1).expect_err("must fail").kind(), ErrorKind::ProducerClosed);
    let info = s.head().await.expect("head");
    assert!(info.closed);
    assert_eq!(info.next_offset, closed.final_offset);
    let mut r = s.read(ReadOptions::new()).json::<serde_json::Value>();
    let mut items = Vec::new();
    while let Some(i) = r.next_item().await.expect("item") {
        items.push(i);
    }
    assert_eq!(
        items,
        vec![serde_json::json!([1, 2, 3]), serde_json::json!({"a": 1}), serde_json::json!("bye")]
    );

    // Another producer closing the closed stream: StreamClosed.
    let other = s.producer("other", ProducerOptions::default()).expect("producer");
    assert_eq!(other.close(None).await.expect_err("must fail").kind(), ErrorKind::StreamClosed);

    // Detach leaves the stream open.
    let s2 = new_stream(&t, "text/plain").await;
    let d = s2.producer("d", ProducerOptions::default()).expect("producer");
    d.append(&b"x"[..]).expect("append");
    d.detach().await.expect("detach");
    assert_eq!(d.append(&b"y"[..]).expect_err("must fail").kind(), ErrorKind::ProducerClosed);
    assert!(!s2.head().await.expect("head").closed);
    assert_eq!(text_of(&s2).await, "x");
}

#[tokio::test]
async fn stale_epoch_is_reported_then_restart_recovers() {
    let t = TestServer::start().await;
    let s = new_stream(&t, "text/plain").await;
    let seen: Arc<Mutex<Vec<ErrorKind>>> = Arc::default();
    let seen2 = seen.clone();
    let opts = ProducerOptions {
        on_error: Some(Arc::new(move |e| seen2.lock().expect("lock").push(e.kind()))),
        ..ProducerOptions::default()
    };
    let zombie = s.producer("svc", opts).expect("producer");
    zombie.append(&b"a"[..]).expect("append");
    zombie.flush().await.expect("flush");
    let fresh = s
        .producer("svc", ProducerOptions { epoch: 3, ..ProducerOptions::default() })
        .expect("producer");
    fresh.append(&b"b"[..]).expect("append");
    fresh.flush().await.expect("flush");

    zombie.append(&b"lost"[..]).expect("append is accepted locally");
    let e = zombie.flush().await.expect_err("must fail");
    assert_eq!(e.kind(), ErrorKind::StaleEpoch);
    assert_eq!(e.current_epoch(), Some(3));
    assert_eq!(zombie.append(&b"c"[..]).expect_err("must fail").kind(), ErrorKind::StaleEpoch);
    assert_eq!(seen.lock().expect("lock").as_slice(), &[ErrorKind::StaleEpoch]);

    assert_eq!(zombie.restart().await.expect("restart"), 4);
    zombie.append(&b"c"[..]).expect("append");
    zombie.flush().await.expect("flush");
    assert_eq!(text_of(&s).await, "abc");
}

#[tokio::test]
async fn auto_claim_takes_over_the_id() {
    let t = TestServer::start().await;
    let s = new_stream(&t, "text/plain").await;
    let first = s
        .producer("eph", ProducerOptions { epoch: 5, ..ProducerOptions::default() })
        .expect("producer");
    first.append(&b"1"[..]).expect("append");
    first.flush().await.expect("flush");
    let opts = ProducerOptions {
        auto_claim: true,
        max_in_flight: 4,
        max_batch_bytes: 1,
        linger: Duration::ZERO,
        ..ProducerOptions::default()
    };
    let p = s.producer("eph", opts).expect("producer");
    for i in 2..=9 {
        p.append(i.to_string().as_bytes()).expect("append");
    }
    p.flush().await.expect("flush");
    assert_eq!(p.epoch(), 6);
    assert_eq!(text_of(&s).await, "123456789");
}

#[tokio::test]
async fn transient_failures_are_retried_with_the_same_seq() {
    let t = TestServer::start().await;
    let s = new_stream(&t, "text/plain").await;
    let p = s.producer("retry", ProducerOptions::default()).expect("producer");
    t.inject(&s, serde_json::json!({"status": 500, "method": "POST", "count": 2})).await;
    p.append(&b"once"[..]).expect("append");
    p.flush().await.expect("flush");
    t.inject(&s, serde_json::json!({"dropConnection": true, "method": "POST"})).await;
    p.append(&b"-twice"[..]).expect("append");
    p.flush().await.expect("flush");
    assert_eq!(text_of(&s).await, "once-twice");
    assert_eq!(p.next_seq(), 2);
}

#[tokio::test]
async fn buffer_limit_applies_back_pressure() {
    let t = TestServer::start().await;
    let s = new_stream(&t, "text/plain").await;
    let opts = ProducerOptions {
        max_buffered_bytes: 10,
        linger: Duration::ZERO,
        ..ProducerOptions::default()
    };
    let p = s.producer("bp", opts).expect("producer");
    t.inject(&s, serde_json::json!({"delayMs": 300, "method": "POST"})).await;
    p.append(&b"0123456789"[..]).expect("first fits");
    let e = p.append(&b"x"[..]).expect_err("must fail");
    assert_eq!(e.kind(), ErrorKind::BufferFull);
    assert!(e.is_retryable());
    let started = std::time::Instant::now();
    p.append_wait(&b"x"[..]).await.expect("waits for room");
    assert!(started.elapsed() >= Duration::from_millis(200));
    p.flush().await.expect("flush");
    assert_eq!(text_of(&s).await, "0123456789x");
}

#[tokio::test]
async fn dropping_the_producer_still_delivers() {
    let t = TestServer::start().await;
    let s = new_stream(&t, "text/plain").await;
    {
        let p = s
            .producer(
                "drop",
                ProducerOptions { linger: Duration::from_secs(60), ..ProducerOptions::default() },
            )
            .expect("producer");
        p.append(&b"kept"[..]).expect("append");
    }
    for _ in 0..50 {
        if text_of(&s).await == "kept" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("data appended before the drop was not delivered");
}

#[tokio::test]
async fn options_are_validated() {
    let t = TestServer::start().await;
    let s = t.stream("v");
    let arg = |r: durastream::client::Result<ProducerOptions>| r.err().and_then(|e| e.argument());
    assert_eq!(
        arg(ProducerOptions::from_raw(Some(""), None, None, None, None, None)),
        Some("producerId")
    );
    assert_eq!(
        arg(ProducerOptions::from_raw(None, Some(-1), None, None, None, None)),
        Some("epoch")
    );
    assert_eq!(
        arg(ProducerOptions::from_raw(None, None, Some(0), None, None, None)),
        Some("maxBatchBytes")
    );
    assert_eq!(
        arg(ProducerOptions::from_raw(None, None, Some(-1), None, None, None)),
        Some("maxBatchBytes")
    );
    assert_eq!(
        arg(ProducerOptions::from_raw(None, None, None, Some(0), None, None)),
        Some("maxBatchItems")
    );
    assert!(ProducerOptions::from_raw(
        Some("p"),
        Some(0),
        Some(1_048_576),
        Some(10),
        Some(2),
        Some(5.0)
    )
    .is_ok());
    assert_eq!(
        s.producer("", ProducerOptions::default()).expect_err("must fail").kind(),
        ErrorKind::InvalidArgument
    );
}

#[tokio::test]
async fn pending_and_in_flight_counts() {
    let t = TestServer::start().await;
    let s = new_stream(&t, "text/plain").await;
    // A linger far beyond the test: nothing is sent before flush().
    let opts = ProducerOptions { linger: Duration::from_secs(600), ..ProducerOptions::default() };
    let p = s.producer("counter", opts).expect("producer");
    assert_eq!((p.pending_items(), p.in_flight_batches()), (0, 0));
    for item in ["a", "b", "c"] {
        p.append(item.as_bytes()).expect("append");
    }
    assert_eq!((p.pending_items(), p.in_flight_batches()), (3, 0));
    p.flush().await.expect("flush");
    assert_eq!((p.pending_items(), p.in_flight_batches()), (0, 0));
    assert_eq!(text_of(&s).await, "abc");
}

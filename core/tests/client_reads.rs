//! Readers in every mode against the in-process server.

mod common;

use std::time::Duration;

use common::TestServer;
use durastream::client::{CreateOptions, ErrorKind, LiveMode, ReadOptions, StartOffset, Transport};
use futures_util::StreamExt;

async fn stream_with(
    t: &TestServer,
    ct: &str,
    parts: &[&[u8]],
) -> durastream::client::DurableStream {
    let s = t.stream("r");
    s.create(CreateOptions::new().content_type(ct)).await.expect("create");
    for p in parts {
        s.append(p.to_vec()).await.expect("append");
    }
    s
}

#[tokio::test]
async fn catch_up_follows_offsets_across_responses() {
    let t = TestServer::with(|c| c.max_read_bytes = 4).await;
    let s = stream_with(&t, "text/plain", &[b"aaaa", b"bbbb", b"cc"]).await;
    let mut r = s.read(ReadOptions::new());
    let mut chunks = Vec::new();
    while let Some(c) = r.next_chunk().await.expect("read") {
        assert_eq!(c.transport, Transport::CatchUp);
        chunks.push(c);
    }
    assert!(chunks.len() >= 3, "{chunks:?}");
    assert!(!chunks[0].up_to_date);
    assert!(chunks.last().is_some_and(|c| c.up_to_date && !c.closed));
    let all: Vec<u8> = chunks.iter().flat_map(|c| c.data.to_vec()).collect();
    assert_eq!(all, b"aaaabbbbcc");
    assert!(r.is_done());
}

#[tokio::test]
async fn long_poll_waits_echoes_cursor_and_stops_at_close() {
    let t = TestServer::start().await;
    let s = stream_with(&t, "text/plain", &[b"old"]).await;
    let mut r = s.read(ReadOptions::new().offset(StartOffset::Now).live(LiveMode::LongPoll));
    // Nothing new: a 204 after the server's 500 ms, with a cursor.
    let c = r.next_chunk().await.expect("poll").expect("chunk");
    assert_eq!(c.status, 204);
    assert!(c.up_to_date && c.data.is_empty() && c.cursor.is_some());
    assert_ne!(r.offset(), "now");
    let writer = s.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        writer.append_text("new").await.expect("append");
        writer.close().await.expect("close");
    });
    let mut data = Vec::new();
    let mut closed = false;
    while let Some(c) = r.next_chunk().await.expect("poll") {
        data.extend_from_slice(&c.data);
        closed |= c.closed;
    }
    assert_eq!(data, b"new");
    assert!(closed);
    assert!(r.is_done());
}

#[tokio::test]
async fn sse_text_binary_and_json() {
    let t = TestServer::start().await;
    // Text, with characters that must survive: U+2028, U+0085, CR, CRLF.
    let text = "a\u{2028}b\u{85}c\r\nd\re";
    let s = stream_with(&t, "text/plain", &[text.as_bytes()]).await;
    let mut r = s.read(ReadOptions::new().live(LiveMode::Sse)).text();
    let c = r.next_text().await.expect("sse").expect("chunk");
    // SSE line ends are normalised to LF by the SSE framing itself.
    assert_eq!(c.text, "a\u{2028}b\u{85}c\nd\ne");
    assert!(c.up_to_date);

    // Binary: base64 on the wire, bytes out.
    let bin: Vec<u8> = (0..=255u8).collect();
    let s = stream_with(&t, "application/octet-stream", &[&bin]).await;
    let mut r = s.read(ReadOptions::new().live(LiveMode::Sse));
    let c = r.next_chunk().await.expect("sse").expect("chunk");
    assert_eq!(c.data.to_vec(), bin);
    assert_eq!(c.transport, Transport::Sse);

    // JSON, with a live append after the catch-up and then closure.
    let s = stream_with(&t, "application/json", &[b"{\"n\":1}"]).await;
    let writer = s.clone();
    let mut items =
        s.read(ReadOptions::new().live(LiveMode::Sse)).json::<serde_json::Value>().into_stream();
    assert_eq!(items.next().await.and_then(Result::ok), Some(serde_json::json!({"n": 1})));
    writer.append(&b"[{\"n\":2},{\"n\":3}]"[..]).await.expect("append");
    writer.close().await.expect("close");
    let rest: Vec<_> = items.map(|r| r.expect("item")).collect().await;
    assert_eq!(rest, vec![serde_json::json!({"n": 2}), serde_json::json!({"n": 3})]);
}

#[tokio::test]
async fn auto_catches_up_then_goes_live() {
    let t = TestServer::start().await;
    let s = stream_with(&t, "text/plain", &[b"one", b"two"]).await;
    let mut r = s.read(ReadOptions::new().live(LiveMode::Auto));
    let c = r.next_chunk().await.expect("auto").expect("chunk");
    assert_eq!(c.transport, Transport::CatchUp);
    assert_eq!(&c.data[..], b"onetwo");
    assert!(c.up_to_date);
    assert_eq!(r.transport(), Transport::Sse);
    let writer = s.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        writer.close_with(&b"three"[..]).await.expect("close");
    });
    let mut data = Vec::new();
    while let Some(c) = r.next_chunk().await.expect("auto") {
        data.extend_from_slice(&c.data);
    }
    assert_eq!(data, b"three");
}

#[tokio::test]
async fn auto_falls_back_to_long_poll_when_sse_is_refused() {
    let t = TestServer::start().await;
    let s = stream_with(&t, "text/plain", &[b"x"]).await;
    let mut r = s.read(ReadOptions::new().live(LiveMode::Auto));
    r.next_chunk().await.expect("catch-up").expect("chunk");
    // The SSE request gets a 501, as from a proxy that does not support it.
    t.inject(&s, serde_json::json!({"status": 501, "method": "GET"})).await;
    let writer = s.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        writer.append_text("y").await.expect("append");
    });
    let c = loop {
        let c = r.next_chunk().await.expect("live").expect("chunk");
        if !c.data.is_empty() {
            break c;
        }
    };
    assert_eq!(&c.data[..], b"y");
    assert_eq!(c.transport, Transport::LongPoll);
}

#[tokio::test]
async fn sse_parse_errors_and_unknown_events() {
    let t = TestServer::start().await;
    let s = stream_with(&t, "text/plain", &[b"data"]).await;
    t.inject(&s, serde_json::json!({"injectSseEvent": {"eventType": "future", "data": "{}"}}))
        .await;
    let c = s
        .read(ReadOptions::new().live(LiveMode::Sse))
        .next_chunk()
        .await
        .expect("sse")
        .expect("chunk");
    assert_eq!(&c.data[..], b"data");
    for bad in ["{invalid", ""] {
        t.inject(&s, serde_json::json!({"injectSseEvent": {"eventType": "control", "data": bad}}))
            .await;
        let e = s
            .read(ReadOptions::new().live(LiveMode::Sse))
            .next_chunk()
            .await
            .expect_err("must fail");
        assert_eq!(e.kind(), ErrorKind::Parse, "{bad:?}: {e}");
    }
}

#[tokio::test]
async fn errors_of_reads() {
    let t = TestServer::start().await;
    let missing = t.stream("nope");
    for live in [LiveMode::Off, LiveMode::LongPoll, LiveMode::Sse, LiveMode::Auto] {
        let e =
            missing.read(ReadOptions::new().live(live)).next_chunk().await.expect_err("must fail");
        assert_eq!(e.kind(), ErrorKind::NotFound, "{live:?}");
        assert!(e.message().contains(missing.path()));
    }
    let s = stream_with(&t, "application/json", &[b"{\"key\":\"a long enough value\"}"]).await;
    let e = s.read(ReadOptions::new().offset("bogus")).next_chunk().await.expect_err("must fail");
    assert_eq!(e.kind(), ErrorKind::InvalidOffset);
    assert_eq!(e.status(), Some(400));
    t.inject(&s, serde_json::json!({"truncateBodyBytes": 10, "method": "GET"})).await;
    let e = s.read(ReadOptions::new()).next_chunk().await.expect_err("must fail");
    assert_eq!(e.kind(), ErrorKind::Parse);
    // The next read succeeds.
    assert!(s.read(ReadOptions::new()).next_chunk().await.expect("read").is_some());
}

#[tokio::test]
async fn reader_resumes_after_a_dropped_sse_connection() {
    let t = TestServer::start().await;
    let s = stream_with(&t, "text/plain", &[b"a"]).await;
    let mut r = s.read(ReadOptions::new().live(LiveMode::Sse));
    assert_eq!(&r.next_chunk().await.expect("sse").expect("chunk").data[..], b"a");
    // The next connection attempt is dropped; the reader reconnects from its offset.
    t.inject(&s, serde_json::json!({"dropConnection": true, "method": "GET"})).await;
    let writer = s.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        writer.append_text("b").await.expect("append");
    });
    let c = loop {
        let c = r.next_chunk().await.expect("sse").expect("chunk");
        if !c.data.is_empty() {
            break c;
        }
    };
    assert_eq!(&c.data[..], b"b");
}

#[tokio::test]
async fn next_batch_takes_catch_up_chunks_up_to_max() {
    let t = TestServer::with(|c| c.max_read_bytes = 4).await;
    let s = stream_with(&t, "text/plain", &[b"aaaa", b"bbbb", b"cc"]).await;
    let mut r = s.read(ReadOptions::new());
    let first = r.next_batch(2).await.expect("read");
    assert_eq!(first.len(), 2, "{first:?}");
    assert!(first.iter().all(|c| !c.up_to_date));
    let rest = r.next_batch(100).await.expect("read");
    assert!(rest.last().is_some_and(|c| c.up_to_date), "{rest:?}");
    let all: Vec<u8> = first.iter().chain(&rest).flat_map(|c| c.data.to_vec()).collect();
    assert_eq!(all, b"aaaabbbbcc");
    assert!(r.next_batch(5).await.expect("ended").is_empty());
}

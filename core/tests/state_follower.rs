//! The state follower and the exactly-once state writer against the in-process server.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::TestServer;
use durastream::client::{CreateOptions, DurableStream, LiveMode, ProducerOptions, ReadOptions};
use durastream::state::{
    Change, Checkpoint, ControlEvent, ErrorKind, FollowerOptions, MalformedPolicy, StateFollower,
    StateWriter,
};
use serde_json::{json, Value};

async fn json_stream(t: &TestServer) -> DurableStream {
    let s = t.stream("state");
    s.create(CreateOptions::new().content_type("application/json")).await.expect("create");
    s
}

fn writer(s: &DurableStream, id: &str) -> StateWriter {
    StateWriter::new(s.producer(id, ProducerOptions::default()).expect("producer"))
}

fn catch_up() -> FollowerOptions {
    FollowerOptions::default().live(LiveMode::Off)
}

async fn all_messages(s: &DurableStream) -> Vec<Value> {
    let mut r = s.read(ReadOptions::new()).json::<Value>();
    let mut out = Vec::new();
    while let Some(v) = r.next_item().await.expect("read") {
        out.push(v);
    }
    out
}

#[tokio::test]
async fn follower_catches_up_then_follows_live() {
    let t = TestServer::start().await;
    let s = json_stream(&t).await;
    let w = writer(&s, "w");
    for i in 0..50 {
        w.insert("user", &format!("u{i}"), &json!({"n": i})).expect("queued");
    }
    w.flush().await.expect("flush");

    let mut f = StateFollower::new(s.clone(), FollowerOptions::default());
    assert!(f.wait_consistent().await.expect("catch up"));
    assert!(f.is_consistent());
    assert_eq!(f.state().len("user"), 50);

    let w2 = w.clone();
    let live = tokio::spawn(async move {
        w2.update("user", "u7", &json!({"n": "live"})).expect("queued");
        w2.delete("user", "u8").expect("queued");
        w2.flush().await.expect("flush");
    });
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let update = f.next().await.expect("live read").expect("stream open");
        seen.extend(update.changes);
    }
    live.await.expect("writer task");
    assert!(matches!(&seen[0], Change::Set { key, previous: Some(_), .. } if key == "u7"));
    assert!(matches!(&seen[1], Change::Deleted { key, previous: Some(_), .. } if key == "u8"));
    assert_eq!(f.state().get::<Value>("user", "u7").expect("json"), Some(json!({"n": "live"})));
    assert_eq!(f.state().len("user"), 49);
}

#[tokio::test]
async fn resume_from_a_saved_checkpoint_does_not_replay() {
    let t = TestServer::start().await;
    let s = json_stream(&t).await;
    let w = writer(&s, "w");
    for i in 0..20 {
        w.insert("item", &format!("k{i}"), &i).expect("queued");
    }
    w.flush().await.expect("flush");
    let mut first = StateFollower::new(s.clone(), catch_up());
    while first.next().await.expect("read").is_some() {}
    let saved = first.checkpoint().to_json();
    drop(first);

    w.update("item", "k0", &100).expect("queued");
    w.insert("item", "k20", &20).expect("queued");
    w.flush().await.expect("flush");

    let checkpoint = Checkpoint::from_json(&saved).expect("checkpoint");
    let mut resumed = StateFollower::resume(s.clone(), checkpoint, catch_up());
    let mut changes = Vec::new();
    while let Some(u) = resumed.next().await.expect("read") {
        changes.extend(u.changes);
    }
    assert_eq!(changes.len(), 2, "only the events after the checkpoint: {changes:?}");
    assert_eq!(resumed.state().len("item"), 21);
    assert_eq!(resumed.state().get::<i64>("item", "k0").expect("int"), Some(100));
    assert!(resumed.is_consistent());
}

#[tokio::test]
async fn an_open_snapshot_is_not_consistent() {
    let t = TestServer::start().await;
    let s = json_stream(&t).await;
    let w = writer(&s, "w");
    w.control(ControlEvent::snapshot_start()).expect("queued");
    w.insert("user", "a", &1).expect("queued");
    w.flush().await.expect("flush");

    let mut f = StateFollower::new(s.clone(), FollowerOptions::default());
    let u = f.next().await.expect("read").expect("batch");
    assert!(u.up_to_date);
    assert!(!u.consistent, "up to date but inside a snapshot");
    assert!(f.state().contains("user", "a"));

    let w2 = w.clone();
    let end = tokio::spawn(async move {
        w2.control(ControlEvent::snapshot_end()).expect("queued");
        w2.flush().await.expect("flush");
    });
    assert!(f.wait_consistent().await.expect("live"));
    end.await.expect("task");
    assert!(!f.state().in_snapshot());
}

async fn append_raw(s: &DurableStream, events: &str) {
    s.append_with(events.as_bytes().to_vec(), Default::default()).await.expect("append");
}

const MIXED: &str = r#"[
    {"type":"user","key":"1","value":{"v":1},"headers":{"operation":"insert"}},
    {"type":"user","key":"2","value":{"v":2},"headers":{"operation":"upsertt"}},
    {"type":"user","key":"3","value":{"v":3},"headers":{"operation":"insert"}}
]"#;

#[tokio::test]
async fn malformed_events_are_skipped_and_reported() {
    let t = TestServer::start().await;
    let s = json_stream(&t).await;
    append_raw(&s, MIXED).await;
    let reported = Arc::new(AtomicUsize::new(0));
    let r = reported.clone();
    let opts = catch_up().on_malformed(move |e| {
        assert_eq!(e.field(), Some("headers.operation"));
        r.fetch_add(1, Ordering::SeqCst);
    });
    let mut f = StateFollower::new(s.clone(), opts);
    let u = f.next().await.expect("skips").expect("batch");
    assert_eq!(u.malformed.len(), 1);
    assert_eq!(u.malformed[0].index(), Some(1));
    assert_eq!(u.malformed[0].offset(), Some("-1"), "the offset the batch started at");
    assert_eq!(reported.load(Ordering::SeqCst), 1);
    assert_eq!(f.state().len("user"), 2);
    // The follower keeps going after a malformed event.
    assert!(f.next().await.expect("ends").is_none());
}

#[tokio::test]
async fn policy_stop_halts_before_the_batch() {
    let t = TestServer::start().await;
    let s = json_stream(&t).await;
    append_raw(&s, MIXED).await;
    let mut f = StateFollower::new(s.clone(), catch_up().malformed(MalformedPolicy::Stop));
    let e = f.next().await.expect_err("stops");
    assert_eq!(e.kind(), ErrorKind::Malformed);
    assert_eq!(e.field(), Some("headers.operation"));
    assert!(f.state().is_empty(), "nothing of the batch was applied");
    assert_eq!(f.offset(), "-1");
    assert_eq!(f.next().await.expect_err("stays stopped").kind(), ErrorKind::Stopped);
}

#[tokio::test]
async fn state_writes_are_exactly_once_through_retries() {
    let t = TestServer::start().await;
    let s = json_stream(&t).await;
    let w = writer(&s, "exact");
    // Two 500s, then a dropped connection: the producer retries with the same sequence.
    t.inject(&s, json!({"status": 500, "method": "POST", "count": 2})).await;
    for i in 0..10 {
        w.insert("row", &format!("r{i}"), &json!({"i": i})).expect("queued");
    }
    w.flush().await.expect("flush despite faults");
    t.inject(&s, json!({"dropConnection": true, "method": "POST"})).await;
    w.delete("row", "r0").expect("queued");
    w.flush().await.expect("flush despite a dropped connection");

    // A writer whose acknowledgement was lost re-sends the same (id, epoch, seq): the
    // server keeps the first copy only.
    let again = writer(&s, "exact");
    for i in 0..10 {
        again.insert("row", &format!("r{i}"), &json!({"i": i})).expect("queued");
    }
    again.flush().await.expect("deduplicated");

    let messages = all_messages(&s).await;
    assert_eq!(messages.len(), 11, "each event exactly once: {messages:?}");
    let keys: Vec<&str> = messages.iter().filter_map(|m| m["key"].as_str()).collect();
    assert_eq!(keys.iter().filter(|k| **k == "r0").count(), 2, "one insert and one delete");

    let mut f = StateFollower::new(s.clone(), catch_up());
    assert!(f.wait_consistent().await.expect("read"));
    assert_eq!(f.state().len("row"), 9);
    assert!(!f.state().contains("row", "r0"));
}

#[tokio::test]
async fn writer_refuses_invalid_events_before_sending() {
    let t = TestServer::start().await;
    let s = json_stream(&t).await;
    let w = writer(&s, "w");
    assert_eq!(w.insert("", "k", &1).expect_err("empty type").field(), Some("type"));
    let bad = durastream::state::delete("t", "k").expect("ok").timestamp("later");
    assert_eq!(w.change(bad).expect_err("bad ts").field(), Some("headers.timestamp"));
    w.flush().await.expect("flush");
    assert!(all_messages(&s).await.is_empty());
}

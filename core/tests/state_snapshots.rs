//! The state follower with a server that compacts (`docs/state-compaction.md`): a new
//! follower starts from the newest snapshot and continues with the tail; a follower resuming
//! from an offset the server trimmed falls back to the snapshot.

mod common;

use std::collections::BTreeMap;

use common::TestServer;
use durastream::client::{CreateOptions, DurableStream, LiveMode, ProducerOptions};
use durastream::state::{Change, FollowerOptions, StateFollower, StateWriter};
use durastream_server::compact::CompactConfig;
use serde_json::{json, Value};

async fn server(trim: bool) -> TestServer {
    TestServer::with(|c| {
        c.state_compaction = Some(CompactConfig { trim, ..CompactConfig::default() });
    })
    .await
}

async fn json_stream(t: &TestServer) -> DurableStream {
    let s = t.stream("room");
    s.create(CreateOptions::new().content_type("application/json")).await.expect("create");
    s
}

/// Writes `n` upserts over `keys` keys (deleting every 9th) and mirrors them in `expected`.
async fn write(
    s: &DurableStream,
    from: u32,
    n: u32,
    keys: u32,
    expected: &mut BTreeMap<String, Value>,
) {
    let w = StateWriter::new(
        s.producer(&format!("w{from}"), ProducerOptions::default()).expect("producer"),
    );
    for i in from..from + n {
        let key = format!("k{}", i % keys);
        if i % 9 == 8 {
            w.delete("item", &key).expect("queued");
            expected.remove(&key);
        } else {
            let v = json!({"i": i});
            w.upsert("item", &key, &v).expect("queued");
            expected.insert(key, v);
        }
    }
    w.flush().await.expect("flush");
}

async fn compact(t: &TestServer, s: &DurableStream) -> String {
    let rel = s.path().strip_prefix("/v1/stream/").expect("under the prefix");
    let r = reqwest::Client::new()
        .post(format!("{}/v1/stream/__ds/compact/{rel}", t.server.url()))
        .send()
        .await
        .expect("compact");
    assert_eq!(r.status(), 201);
    let offset = r.headers().get("stream-snapshot-offset").expect("offset header");
    offset.to_str().expect("ASCII").to_string()
}

fn items(f: &StateFollower) -> BTreeMap<String, Value> {
    f.state().get_all::<Value>("item").expect("decode")
}

fn catch_up() -> FollowerOptions {
    FollowerOptions::default().live(LiveMode::Off)
}

#[tokio::test]
async fn new_follower_starts_from_the_snapshot_and_reads_the_tail() {
    let t = server(false).await;
    let s = json_stream(&t).await;
    let mut expected = BTreeMap::new();
    write(&s, 0, 400, 20, &mut expected).await;
    let offset = compact(&t, &s).await;
    write(&s, 400, 7, 20, &mut expected).await;

    let mut f = StateFollower::new(s.clone(), catch_up());
    let first = f.next().await.expect("read").expect("an update");
    assert_eq!(first.offset, offset, "the snapshot's update ends at its offset");
    assert!(matches!(first.changes.first(), Some(Change::SnapshotStart { .. })));
    assert!(first.changes.len() <= 22, "one change per live key, not the history");
    assert!(!first.consistent, "the tail is not read yet");
    assert!(f.wait_consistent().await.expect("tail"));
    assert_eq!(items(&f), expected);

    // Replaying everything gives the same state.
    let mut replay = StateFollower::new(s.clone(), catch_up().snapshots(false));
    assert!(replay.wait_consistent().await.expect("replay"));
    assert_eq!(items(&replay), expected);

    // A live follower from the snapshot sees later writes.
    let mut live = StateFollower::new(s.clone(), FollowerOptions::default());
    assert!(live.wait_consistent().await.expect("live"));
    write(&s, 500, 1, 20, &mut expected).await;
    while items(&live) != expected {
        live.next().await.expect("live read").expect("open stream");
    }
}

#[tokio::test]
async fn resuming_before_a_trim_falls_back_to_the_snapshot() {
    let t = server(true).await;
    let s = json_stream(&t).await;
    let mut expected = BTreeMap::new();
    write(&s, 0, 100, 10, &mut expected).await;
    let mut f = StateFollower::new(s.clone(), catch_up());
    assert!(f.wait_consistent().await.expect("catch up"));
    let saved = f.checkpoint();

    write(&s, 100, 50, 10, &mut expected).await;
    compact(&t, &s).await;
    write(&s, 150, 5, 10, &mut expected).await;

    // Without snapshots the saved offset is simply gone.
    let mut plain = StateFollower::resume(s.clone(), saved.clone(), catch_up().snapshots(false));
    let e = plain.next().await.expect_err("trimmed");
    assert_eq!(e.client_error().map(|c| c.kind()), Some(durastream::client::ErrorKind::Gone));

    let mut resumed = StateFollower::resume(s.clone(), saved, catch_up());
    let first = resumed.next().await.expect("fallback").expect("an update");
    assert!(matches!(first.changes.first(), Some(Change::Reset { .. })), "state replaced");
    assert!(resumed.wait_consistent().await.expect("tail"));
    assert_eq!(items(&resumed), expected);

    // A new follower cannot replay a trimmed stream, but starts from the snapshot.
    let mut fresh = StateFollower::new(s.clone(), catch_up());
    assert!(fresh.wait_consistent().await.expect("from snapshot"));
    assert_eq!(items(&fresh), expected);
}

//! Storage engine tests: restarts, torn writes, producer state and deletes across crashes.
//!
//! A "crash" here stops the log writer and drops everything without a checkpoint, so the
//! next open must recover from the write-ahead log alone. Some tests also damage files on
//! purpose (torn log tails, stale data past the log, half-written catalogs).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use super::file::{wal, FileEngine, FileOptions};
use super::*;

fn open(dir: &Path) -> Arc<Store> {
    let (engine, rec) = FileEngine::open(dir, FileOptions::default()).expect("open engine");
    Arc::new(Store::open(Arc::new(engine), rec.streams, rec.next_id))
}

/// Stops the log writer without a checkpoint and drops the store.
async fn crash(store: Arc<Store>) {
    let s = store.clone();
    tokio::task::spawn_blocking(move || s.engine().shutdown()).await.expect("join").expect("stop");
    drop(store);
}

async fn checkpoint(store: &Arc<Store>) {
    let s = store.clone();
    tokio::task::spawn_blocking(move || s.checkpoint()).await.expect("join").expect("checkpoint");
}

fn create_req(path: &str, ct: &str) -> CreateRequest {
    CreateRequest { path: path.into(), content_type: Some(ct.into()), ..CreateRequest::default() }
}

fn text(body: &'static str) -> AppendRequest {
    AppendRequest {
        content_type: Some("text/plain".into()),
        body: Bytes::from_static(body.as_bytes()),
        ..AppendRequest::default()
    }
}

fn produced(body: &'static str, epoch: u64, seq: u64) -> AppendRequest {
    AppendRequest { producer: Some(ProducerStamp { id: "p".into(), epoch, seq }), ..text(body) }
}

fn contents(store: &Store, path: &str) -> Vec<u8> {
    let s = store.get(path).expect("stream");
    s.read(0, s.visible().tail).expect("read").to_vec()
}

fn last_segment(dir: &Path) -> std::path::PathBuf {
    let wal_dir = dir.join("wal");
    let n = *wal::list_segments(&wal_dir).expect("list").last().expect("a segment");
    wal::segment_path(&wal_dir, n)
}

#[tokio::test]
async fn restart_keeps_data_closure_and_producers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let (s, created) = store.create(create_req("/a", "text/plain")).await.expect("create");
    assert!(created);
    store.append(&s, produced("one ", 0, 0)).await.expect("append 0");
    store.append(&s, produced("two", 0, 1)).await.expect("append 1");
    store
        .append(&s, AppendRequest { close: true, ..AppendRequest::default() })
        .await
        .expect("close");
    crash(store).await;

    let store = open(dir.path());
    assert_eq!(contents(&store, "/a"), b"one two");
    let s = store.get("/a").expect("stream");
    assert!(s.visible().closed);
    // A retry of the last producer request is recognised after the restart.
    let dup = store.append(&s, produced("two", 0, 1)).await.expect("duplicate");
    assert!(!dup.new_data);
    assert_eq!(dup.producer, Some((0, 1)));
}

#[tokio::test]
async fn producer_state_survives_restart_without_false_gaps() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let (s, _) = store.create(create_req("/p", "text/plain")).await.expect("create");
    for seq in 0..5 {
        store.append(&s, produced("x", 3, seq)).await.expect("append");
    }
    crash(store).await;
    let store = open(dir.path());
    let s = store.get("/p").expect("stream");
    // The next sequence is accepted (no false 409), an old one deduplicates, an old epoch is fenced.
    assert!(store.append(&s, produced("y", 3, 5)).await.expect("next").new_data);
    assert!(!store.append(&s, produced("x", 3, 4)).await.expect("dup").new_data);
    assert!(matches!(
        store.append(&s, produced("z", 2, 0)).await,
        Err(StoreError::StaleEpoch { current: 3 })
    ));
    assert_eq!(contents(&store, "/p"), b"xxxxxy");
}

#[tokio::test]
async fn torn_log_tail_is_cut_back_to_last_complete_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let (s, _) = store.create(create_req("/t", "text/plain")).await.expect("create");
    store.append(&s, text("kept")).await.expect("append");
    store.append(&s, text("-torn")).await.expect("append");
    crash(store).await;

    // Cut the last record in half, as a power loss mid-write would.
    let seg = last_segment(dir.path());
    let len = fs::metadata(&seg).expect("meta").len();
    OpenOptions::new().write(true).open(&seg).expect("open").set_len(len - 3).expect("truncate");
    let store = open(dir.path());
    assert_eq!(contents(&store, "/t"), b"kept");
    let s = store.get("/t").expect("stream");
    store.append(&s, text("+more")).await.expect("append after recovery");
    crash(store).await;
    let store = open(dir.path());
    assert_eq!(contents(&store, "/t"), b"kept+more");
}

#[tokio::test]
async fn garbage_after_the_log_and_data_past_the_log_are_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let (s, _) = store.create(create_req("/g", "text/plain")).await.expect("create");
    store.append(&s, text("acked")).await.expect("append");
    let id = s.id;
    crash(store).await;

    let mut f = OpenOptions::new().append(true).open(last_segment(dir.path())).expect("open");
    f.write_all(&[0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7]).expect("garbage");
    // Bytes written to the data file whose log record never made it.
    let data = dir.path().join("data").join(format!("{id:016x}.dat"));
    let mut d = OpenOptions::new().append(true).open(&data).expect("data");
    d.write_all(b"unacknowledged").expect("extra");
    let store = open(dir.path());
    assert_eq!(contents(&store, "/g"), b"acked");
    assert_eq!(fs::metadata(&data).expect("meta").len(), 5);
}

#[tokio::test]
async fn lost_data_file_pages_are_replayed_from_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let (s, _) = store.create(create_req("/r", "application/json")).await.expect("create");
    let json = |b: &'static str| AppendRequest {
        content_type: Some("application/json".into()),
        body: Bytes::from_static(b.as_bytes()),
        ..AppendRequest::default()
    };
    store.append(&s, json("[1,2]")).await.expect("append");
    store.append(&s, json("{\"a\":3}")).await.expect("append");
    let id = s.id;
    crash(store).await;
    // The data file was never synced: pretend the power cut lost it entirely.
    fs::write(dir.path().join("data").join(format!("{id:016x}.dat")), b"").expect("wipe");
    let store = open(dir.path());
    assert_eq!(durastream::json::to_array(&contents(&store, "/r")), b"[1,\n2,\n{\"a\":3}]");
}

#[tokio::test]
async fn checkpoint_then_more_writes_then_crash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let (s, _) = store.create(create_req("/c", "text/plain")).await.expect("create");
    store.append(&s, produced("a", 0, 0)).await.expect("append");
    checkpoint(&store).await;
    store.append(&s, produced("b", 0, 1)).await.expect("append");
    let (doomed, _) = store.create(create_req("/doomed", "text/plain")).await.expect("create");
    store.append(&doomed, text("bye")).await.expect("append");
    store.delete("/doomed").await.expect("delete");
    crash(store).await;

    let store = open(dir.path());
    assert_eq!(contents(&store, "/c"), b"ab");
    assert!(matches!(store.get("/doomed"), Err(StoreError::NotFound)));
    let s = store.get("/c").expect("stream");
    assert!(!store.append(&s, produced("b", 0, 1)).await.expect("dup").new_data);
    // Recovery left exactly one data file per live stream.
    assert_eq!(fs::read_dir(dir.path().join("data")).expect("ls").count(), 1);
}

#[tokio::test]
async fn half_written_catalog_is_ignored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let (s, _) = store.create(create_req("/k", "text/plain")).await.expect("create");
    store.append(&s, text("safe")).await.expect("append");
    checkpoint(&store).await;
    crash(store).await;
    // A crash while a new catalog was being written leaves only its temporary file.
    fs::write(dir.path().join("catalog.json.tmp"), b"{\"version\":1,\"str").expect("tmp");
    let store = open(dir.path());
    assert_eq!(contents(&store, "/k"), b"safe");
}

#[tokio::test]
async fn forks_and_soft_deletes_survive_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let (src, _) = store.create(create_req("/src", "text/plain")).await.expect("create");
    store.append(&src, text("hello")).await.expect("append");
    let fork = CreateRequest {
        fork: Some(ForkRequest { source_path: "/src".into(), offset: Some(2), sub_offset: 1 }),
        ..create_req("/fork", "text/plain")
    };
    let (f, _) = store.create(fork).await.expect("fork");
    store.append(&f, text("!")).await.expect("append fork");
    store.delete("/src").await.expect("soft delete");
    crash(store).await;

    let store = open(dir.path());
    assert!(matches!(store.get("/src"), Err(StoreError::Gone)));
    assert_eq!(contents(&store, "/fork"), b"hel!");
    store.delete("/fork").await.expect("delete fork");
    crash(store).await;
    let store = open(dir.path());
    assert!(matches!(store.get("/src"), Err(StoreError::NotFound)));
    assert!(matches!(store.get("/fork"), Err(StoreError::NotFound)));
}

#[tokio::test]
async fn expiry_survives_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let req =
        CreateRequest { expires_at_ms: Some(now_ms() + 300), ..create_req("/e", "text/plain") };
    store.create(req).await.expect("create");
    crash(store).await;
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let store = open(dir.path());
    assert!(matches!(store.get("/e"), Err(StoreError::NotFound)));
}

#[tokio::test]
async fn second_process_cannot_open_the_same_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _store = open(dir.path());
    let err = FileEngine::open(dir.path(), FileOptions::default()).err().expect("must refuse");
    assert!(err.to_string().contains("in use"), "{err}");
}

/// Foreign clients (the TypeScript one) classify a 409 as a sequence conflict only when
/// its body mentions "sequence".
#[tokio::test]
async fn stream_seq_regression_says_sequence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let (s, _) = store.create(create_req("/q", "text/plain")).await.expect("create");
    let seq = |v: &str| AppendRequest { stream_seq: Some(v.into()), ..text("x") };
    store.append(&s, seq("b")).await.expect("first");
    match store.append(&s, seq("a")).await {
        Err(StoreError::Conflict(msg)) => assert!(msg.contains("sequence"), "{msg}"),
        other => panic!("expected a conflict, got {:?}", other.map(|a| a.new_data)),
    }
}

/// State compaction's trim: durable through the log alone and through a checkpoint; the
/// bytes after the trim point stay readable, whatever happened to the space before it.
#[tokio::test]
async fn trim_survives_a_crash_and_a_checkpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let (s, _) = store.create(create_req("/r", "text/plain")).await.expect("create");
    let big = AppendRequest { body: Bytes::from(vec![b'x'; 100_000]), ..text("") };
    store.append(&s, big).await.expect("append");
    store.append(&s, text("tail")).await.expect("append");
    assert!(matches!(store.trim(&s, 200_000).await, Err(StoreError::BadRequest(_))));
    store.trim(&s, 100_000).await.expect("trim");
    store.trim(&s, 10).await.expect("an earlier trim changes nothing");
    assert_eq!(s.trimmed_before(), 100_000);
    assert_eq!(s.read(100_000, 100_004).expect("read").as_ref(), b"tail");
    crash(store).await;

    let store = open(dir.path());
    let s = store.get("/r").expect("stream");
    assert_eq!(s.trimmed_before(), 100_000, "recovered from the log");
    assert_eq!(s.read(100_000, 100_004).expect("read").as_ref(), b"tail");
    checkpoint(&store).await;
    crash(store).await;

    let store = open(dir.path());
    let s = store.get("/r").expect("stream");
    assert_eq!(s.trimmed_before(), 100_000, "recovered from the checkpoint");
    assert_eq!(s.read(100_000, 100_004).expect("read").as_ref(), b"tail");
}

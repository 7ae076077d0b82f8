//! Storage faults: failing data writes, failed logs, torn segments, kills that lose buffers.
//! Each test is named after the failure it reproduces; after it, every acknowledged byte is
//! there exactly once and nothing else.

use std::fs::{self, OpenOptions};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use super::file::{wal, FileEngine, FileOptions};
use super::*;

fn open_with(dir: &Path, opts: FileOptions) -> Arc<Store> {
    let (engine, rec) = FileEngine::open(dir, opts).expect("open engine");
    Arc::new(Store::open(Arc::new(engine), rec.streams, rec.next_id))
}

fn open(dir: &Path) -> Arc<Store> {
    open_with(dir, FileOptions::default())
}

/// Stops like `kill -9`: buffered stream bytes are lost, only the log and files remain.
async fn kill(store: Arc<Store>) {
    tokio::task::spawn_blocking(move || store.engine().halt()).await.expect("join");
}

fn text(body: String) -> AppendRequest {
    AppendRequest {
        content_type: Some("text/plain".into()),
        body: Bytes::from(body),
        ..AppendRequest::default()
    }
}

fn create(path: &str) -> CreateRequest {
    CreateRequest {
        path: path.into(),
        content_type: Some("text/plain".into()),
        ..CreateRequest::default()
    }
}

fn contents(store: &Store, path: &str) -> Vec<u8> {
    let s = store.get(path).expect("stream");
    s.read(0, s.visible().tail).expect("read").to_vec()
}

async fn checkpoint(store: &Arc<Store>) -> std::io::Result<()> {
    let s = store.clone();
    tokio::task::spawn_blocking(move || s.checkpoint()).await.expect("join")
}

#[tokio::test]
async fn failed_data_flush_then_checkpoint_and_restart_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let mut want = Vec::new();
    for i in 0..50 {
        let (s, _) = store.create(create(&format!("/s{i}"))).await.expect("create");
        store.append(&s, text(format!("acked {i}"))).await.expect("append");
        want.push(format!("acked {i}"));
    }
    // Data files cannot be written (as with a full disk or no descriptors left): the
    // checkpoint must fail and keep the log, however often it is tried.
    let data = dir.path().join("data");
    fs::rename(&data, dir.path().join("data-away")).expect("hide data dir");
    assert!(checkpoint(&store).await.is_err());
    assert!(checkpoint(&store).await.is_err());
    fs::rename(dir.path().join("data-away"), &data).expect("restore");
    kill(store).await;
    let store = open(dir.path());
    for (i, w) in want.iter().enumerate() {
        assert_eq!(contents(&store, &format!("/s{i}")), w.as_bytes());
    }
}

#[tokio::test]
async fn data_writes_resume_after_the_fault_and_checkpoint_trims() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let (s, _) = store.create(create("/x")).await.expect("create");
    let data = dir.path().join("data");
    fs::rename(&data, dir.path().join("data-away")).expect("hide data dir");
    store.append(&s, text("during the fault".into())).await.expect("append is logged");
    fs::rename(dir.path().join("data-away"), &data).expect("restore");
    checkpoint(&store).await.expect("checkpoint after the fault");
    kill(store).await;
    let store = open(dir.path());
    assert_eq!(contents(&store, "/x"), b"during the fault");
}

#[tokio::test]
async fn failed_log_refuses_writes_keeps_reads_and_restarts_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let (s, _) = store.create(create("/w")).await.expect("create");
    store.append(&s, text("before".into())).await.expect("append");
    // The log directory vanishes: the next segment cannot be created, the log fails.
    let wal_dir = dir.path().join("wal");
    fs::rename(&wal_dir, dir.path().join("wal-away")).expect("hide wal");
    assert!(checkpoint(&store).await.is_err(), "rotation must fail");
    fs::rename(dir.path().join("wal-away"), &wal_dir).expect("restore");
    let err = store.append(&s, text("after".into())).await.expect_err("log failed");
    assert!(matches!(err, StoreError::Io(_) | StoreError::Unavailable), "{err:?}");
    assert!(matches!(store.append(&s, text("again".into())).await, Err(StoreError::Unavailable)));
    assert_eq!(contents(&store, "/w"), b"before", "reads keep working");
    // A graceful shutdown after the failure must not leave anything that blocks a start.
    assert!(checkpoint(&store).await.is_err());
    let s = store.clone();
    let _ = tokio::task::spawn_blocking(move || s.engine().shutdown()).await.expect("join");
    drop(store);
    let store = open(dir.path());
    assert_eq!(contents(&store, "/w"), b"before");
    let s = store.get("/w").expect("stream");
    store.append(&s, text("+resumed".into())).await.expect("writes work after restart");
    kill(store).await;
    assert_eq!(contents(&open(dir.path()), "/w"), b"before+resumed");
}

#[tokio::test]
async fn torn_segment_followed_by_empty_ones_is_a_torn_tail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let (s, _) = store.create(create("/t")).await.expect("create");
    store.append(&s, text("kept".into())).await.expect("append");
    store.append(&s, text("-torn".into())).await.expect("append");
    kill(store).await;
    let wal_dir = dir.path().join("wal");
    let segs = wal::list_segments(&wal_dir).expect("list");
    let last = *segs.last().expect("segment");
    let seg = wal::segment_path(&wal_dir, last);
    let len = fs::metadata(&seg).expect("meta").len();
    OpenOptions::new().write(true).open(&seg).expect("open").set_len(len - 2).expect("cut");
    // Empty segments after the torn one, as a log that rotated after failing left them.
    fs::write(wal::segment_path(&wal_dir, last + 1), b"").expect("empty");
    fs::write(wal::segment_path(&wal_dir, last + 2), b"").expect("empty");
    let store = open(dir.path());
    assert_eq!(contents(&store, "/t"), b"kept");
}

#[tokio::test]
async fn killed_process_loses_buffers_but_not_acknowledged_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let (s, _) = store.create(create("/k")).await.expect("create");
    let mut want = String::new();
    for i in 0..200 {
        let chunk = format!("<{i}>");
        store.append(&s, text(chunk.clone())).await.expect("append");
        want.push_str(&chunk);
        if i == 100 {
            checkpoint(&store).await.expect("checkpoint");
        }
    }
    kill(store).await;
    assert_eq!(contents(&open(dir.path()), "/k"), want.as_bytes());
}

#[tokio::test]
async fn small_segments_checkpoint_often_without_loss() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = FileOptions { segment_bytes: 4096, ..FileOptions::default() };
    let store = open_with(dir.path(), opts);
    let (s, _) = store.create(create("/seg")).await.expect("create");
    let mut want = String::new();
    for i in 0..400 {
        let chunk = format!("[{i:04}]");
        store.append(&s, text(chunk.clone())).await.expect("append");
        want.push_str(&chunk);
        if store.engine().checkpoint_due() {
            checkpoint(&store).await.expect("checkpoint");
        }
    }
    let segments = wal::list_segments(&dir.path().join("wal")).expect("list");
    assert!(segments.len() <= 3, "checkpoints trim the log: {segments:?}");
    kill(store).await;
    assert_eq!(contents(&open_with(dir.path(), opts), "/seg"), want.as_bytes());
}

#[tokio::test]
async fn deleted_stream_leaves_no_data_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let (s, _) = store.create(create("/d")).await.expect("create");
    store.append(&s, text("bytes".into())).await.expect("append");
    let path = dir.path().join("data").join(format!("{:016x}.dat", s.id));
    checkpoint(&store).await.expect("checkpoint");
    assert!(path.exists());
    store.append(&s, text("more".into())).await.expect("append");
    store.delete("/d").await.expect("delete");
    // A flush or a reader after the delete must not bring the file back.
    checkpoint(&store).await.expect("checkpoint");
    let _ = s.read(0, 5);
    assert!(!path.exists(), "data file of a deleted stream remains");
}

//! The embedded file engine (the default).
//!
//! Layout of the data directory:
//! - `wal/NNNNNNNNNNNNNNNN.wal`: the write-ahead log. Every change (create, append with its
//!   producer state, close, delete) is one checksummed record; an append is acknowledged
//!   once its record is durable under the fsync policy. Group commit shares one sync among
//!   all records waiting at that moment.
//! - `data/<id>.dat`: one file per stream holding exactly the bytes readers receive, written
//!   before the log record and synced at checkpoints. Catch-up reads are plain file reads.
//! - `catalog.json`: every stream's state at the last checkpoint, replaced atomically.
//!
//! Recovery loads the catalog, replays the log after it into the data files, cuts torn
//! tails, and writes a new checkpoint. See `recover.rs`.

mod catalog;
pub mod codec;
mod data;
mod recover;
pub mod wal;

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::engine::{Commit, Data, Engine, Record, StreamImage};
use crate::config::FsyncPolicy;
use catalog::Catalog;
use data::Files;
pub use recover::Recovery;
use wal::Wal;

/// Paths inside a data directory.
#[derive(Clone, Debug)]
pub struct Layout {
    pub root: PathBuf,
    pub wal: PathBuf,
    pub data: PathBuf,
}

impl Layout {
    pub fn new(root: &Path) -> Layout {
        Layout { root: root.to_path_buf(), wal: root.join("wal"), data: root.join("data") }
    }

    pub fn data_path(&self, id: u64) -> PathBuf {
        self.data.join(format!("{id:016x}.dat"))
    }
}

/// Parses a data file name back to its stream id.
pub fn parse_data_name(name: &str) -> Option<u64> {
    let hex = name.strip_suffix(".dat")?;
    (hex.len() == 16).then(|| u64::from_str_radix(hex, 16).ok()).flatten()
}

/// The file engine.
pub struct FileEngine {
    files: Arc<Files>,
    flusher: Flusher,
    wal: Wal,
    policy: FsyncPolicy,
    _lock: File,
}

impl FileEngine {
    /// Opens (creating if needed) the data directory, recovers it, and starts the log.
    pub fn open(root: &Path, policy: FsyncPolicy) -> io::Result<(FileEngine, Recovery)> {
        let layout = Layout::new(root);
        fs::create_dir_all(&layout.wal)?;
        fs::create_dir_all(&layout.data)?;
        wal::sync_dir(&layout.root)?;
        let lock = File::create(root.join("LOCK"))?;
        lock.try_lock().map_err(|_| {
            io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("data directory {} is in use by another process", root.display()),
            )
        })?;
        let recovery = recover::recover(&layout)?;
        let wal = Wal::start(layout.wal.clone(), recovery.next_segment, policy)?;
        let files = Arc::new(Files::new(layout));
        let flusher = Flusher::start(files.clone())?;
        Ok((FileEngine { files, wal, flusher, policy, _lock: lock }, recovery))
    }
}

fn commit_of(rx: tokio::sync::oneshot::Receiver<io::Result<()>>) -> Commit {
    Box::pin(
        async move { rx.await.unwrap_or_else(|_| Err(io::Error::other("log writer stopped"))) },
    )
}

impl Engine for FileEngine {
    fn data(&self, id: u64) -> io::Result<Box<dyn Data>> {
        let len = fs::metadata(self.files.layout().data_path(id)).map_or(0, |m| m.len());
        Ok(Box::new(self.files.data(id, len)))
    }

    fn submit(&self, record: Record) -> Commit {
        let mut buf = Vec::new();
        codec::encode(&record, &mut buf);
        commit_of(self.wal.write(buf))
    }

    fn barrier(&self) -> Commit {
        commit_of(self.wal.barrier())
    }

    fn remove(&self, id: u64) {
        self.files.remove(id);
    }

    fn checkpoint_due(&self) -> bool {
        self.wal.shared().checkpoint_due.load(Ordering::SeqCst)
    }

    fn begin_checkpoint(&self) -> io::Result<u64> {
        self.wal.shared().checkpoint_due.store(false, Ordering::SeqCst);
        self.wal
            .rotate()
            .blocking_recv()
            .unwrap_or_else(|_| Err(io::Error::other("log writer stopped")))
    }

    fn finish_checkpoint(
        &self,
        token: u64,
        next_id: u64,
        streams: Vec<StreamImage>,
    ) -> io::Result<()> {
        self.wal
            .barrier()
            .blocking_recv()
            .unwrap_or_else(|_| Err(io::Error::other("log writer stopped")))?;
        self.files.sync_all()?;
        let layout = self.files.layout();
        wal::sync_dir(&layout.data)?;
        catalog::store(&layout.root, &Catalog { version: 1, next_id, wal_from: token, streams })?;
        for n in wal::list_segments(&layout.wal)? {
            if n < token {
                fs::remove_file(wal::segment_path(&layout.wal, n))?;
            }
        }
        wal::sync_dir(&layout.wal)
    }

    fn shutdown(&self) -> io::Result<()> {
        self.flusher.stop();
        let flushed = self.files.flush_all();
        self.wal.stop()?;
        flushed
    }

    fn describe(&self) -> String {
        format!("file engine in {} (fsync: {})", self.files.layout().root.display(), self.policy)
    }
}

/// Writes buffered stream bytes to their files every few milliseconds.
struct Flusher {
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Pause between background flushes.
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_millis(20);

impl Flusher {
    fn start(files: Arc<Files>) -> io::Result<Flusher> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread =
            std::thread::Builder::new().name("durastream-flush".into()).spawn(move || {
                while !flag.load(Ordering::SeqCst) {
                    std::thread::park_timeout(FLUSH_EVERY);
                    if let Err(e) = files.flush_all() {
                        tracing::error!("writing stream data failed: {e}");
                    }
                }
            })?;
        Ok(Flusher { stop, thread: Mutex::new(Some(thread)) })
    }

    fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.lock().take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

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
pub mod faults;
mod recover;
pub mod wal;

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::engine::{Commit, Data, Engine, OnDurable, Record, StreamImage};
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

/// Tuning of the file engine.
#[derive(Clone, Copy, Debug)]
pub struct FileOptions {
    /// When the log is synced.
    pub fsync: FsyncPolicy,
    /// The log starts a new segment (and a checkpoint becomes due) past this size.
    pub segment_bytes: u64,
    /// Most stream data files kept open at once.
    pub open_files: usize,
}

impl Default for FileOptions {
    fn default() -> FileOptions {
        FileOptions {
            fsync: FsyncPolicy::Always,
            segment_bytes: wal::SEGMENT_BYTES,
            open_files: open_files_for(crate::limits::nofile()),
        }
    }
}

/// How many data files to keep open under a descriptor limit of `nofile`: an eighth of
/// it, so connections, log segments and subscription files keep the rest.
pub fn open_files_for(nofile: u64) -> usize {
    usize::try_from(nofile / 8).unwrap_or(usize::MAX).clamp(16, 4096)
}

/// The file engine.
pub struct FileEngine {
    files: Arc<Files>,
    flusher: Flusher,
    wal: Wal,
    policy: FsyncPolicy,
    /// Set when a data file failed to sync: its bytes may be gone from the page cache, so
    /// the log must keep them. Writes stop; a restart replays the log into the files.
    poisoned: AtomicBool,
    _lock: File,
}

/// Creates `dir` (and parents) readable by the server's user only.
fn private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

impl FileEngine {
    /// Opens (creating if needed) the data directory, recovers it, and starts the log.
    pub fn open(root: &Path, opts: FileOptions) -> io::Result<(FileEngine, Recovery)> {
        let layout = Layout::new(root);
        private_dir(&layout.wal)?;
        private_dir(&layout.data)?;
        wal::sync_dir(&layout.root)?;
        let lock = {
            use std::os::unix::fs::OpenOptionsExt;
            fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .mode(data::FILE_MODE)
                .open(root.join("LOCK"))?
        };
        lock.try_lock().map_err(|_| {
            io::Error::new(
                io::ErrorKind::WouldBlock,
                format!("data directory {} is in use by another process", root.display()),
            )
        })?;
        let recovery = recover::recover(&layout)?;
        let wal =
            Wal::start(layout.wal.clone(), recovery.next_segment, opts.fsync, opts.segment_bytes)?;
        let files = Arc::new(Files::new(layout, opts.open_files));
        let flusher = Flusher::start(files.clone())?;
        let engine = FileEngine {
            files,
            wal,
            flusher,
            policy: opts.fsync,
            poisoned: AtomicBool::new(false),
            _lock: lock,
        };
        Ok((engine, recovery))
    }

    fn poison(&self, e: &io::Error) {
        tracing::error!(
            "syncing stream data failed ({e}); refusing writes until a restart replays the log"
        );
        self.poisoned.store(true, Ordering::SeqCst);
    }

    fn write_checkpoint(
        &self,
        token: u64,
        next_id: u64,
        streams: Vec<StreamImage>,
    ) -> io::Result<()> {
        self.check_poisoned()?;
        // Every record the images reflect was submitted before this barrier.
        self.wal.barrier_blocking()?;
        // A failed write keeps its bytes buffered: the checkpoint waits for the next try.
        self.files.flush_all()?;
        if let Err(e) =
            self.files.sync_files().and_then(|()| wal::sync_dir(&self.files.layout().data))
        {
            self.poison(&e);
            return Err(e);
        }
        // Only now, with every byte of the images durable in its file, may the log go.
        let layout = self.files.layout();
        faults::crash("checkpoint-before-catalog");
        catalog::store(&layout.root, &Catalog { version: 1, next_id, wal_from: token, streams })?;
        faults::crash("checkpoint-after-catalog");
        for n in wal::list_segments(&layout.wal)? {
            if n < token {
                fs::remove_file(wal::segment_path(&layout.wal, n))?;
            }
        }
        wal::sync_dir(&layout.wal)?;
        faults::crash("checkpoint-after-trim");
        Ok(())
    }

    fn check_poisoned(&self) -> io::Result<()> {
        if self.poisoned.load(Ordering::SeqCst) {
            Err(io::Error::other("a stream data file failed to sync; restart the server"))
        } else {
            Ok(())
        }
    }
}

/// The commit of a record or barrier queued on the log (or the error that refused it).
fn commit_of(queued: io::Result<wal::Durable>) -> Commit {
    match queued {
        Ok(durable) => Box::pin(durable),
        Err(e) => Box::pin(std::future::ready(Err(e))),
    }
}

impl Engine for FileEngine {
    fn data(&self, id: u64) -> io::Result<Box<dyn Data>> {
        let len = fs::metadata(self.files.layout().data_path(id)).map_or(0, |m| m.len());
        Ok(Box::new(self.files.data(id, len)))
    }

    fn submit(&self, record: Record) -> Commit {
        if let Err(e) = self.check_poisoned() {
            return Box::pin(std::future::ready(Err(e)));
        }
        commit_of(self.wal.write(&record, None))
    }

    fn submit_then(&self, record: Record, then: OnDurable) -> Commit {
        if let Err(e) = self.check_poisoned() {
            return Box::pin(std::future::ready(Err(e)));
        }
        commit_of(self.wal.write(&record, Some(then)))
    }

    fn barrier(&self) -> Commit {
        if let Err(e) = self.check_poisoned() {
            return Box::pin(std::future::ready(Err(e)));
        }
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
        let res = self.write_checkpoint(token, next_id, streams);
        if res.is_err() {
            // The log keeps everything; try again later.
            self.wal.shared().checkpoint_due.store(true, Ordering::SeqCst);
        }
        res
    }

    fn shutdown(&self) -> io::Result<()> {
        self.flusher.stop();
        let flushed = self.files.flush_all();
        self.wal.stop()?;
        flushed
    }

    #[cfg(test)]
    fn halt(&self) {
        self.flusher.stop();
        self.files.drop_buffers();
        let _ = self.wal.stop();
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
const FLUSH_EVERY: Duration = Duration::from_millis(20);
/// Longest pause between retries while flushes fail.
const MAX_FLUSH_PAUSE: Duration = Duration::from_secs(1);
/// A failing flush is logged at most this often.
const LOG_EVERY: Duration = Duration::from_secs(10);

impl Flusher {
    fn start(files: Arc<Files>) -> io::Result<Flusher> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread =
            std::thread::Builder::new().name("durastream-flush".into()).spawn(move || {
                let mut pause = FLUSH_EVERY;
                let mut failures = 0u64;
                let mut logged: Option<Instant> = None;
                while !flag.load(Ordering::SeqCst) {
                    std::thread::park_timeout(pause);
                    match files.flush_all() {
                        Ok(()) => {
                            if failures > 0 {
                                tracing::info!("stream data is being written again");
                            }
                            (pause, failures, logged) = (FLUSH_EVERY, 0, None);
                        }
                        Err(e) => {
                            // The bytes stay buffered (and in the log); try again, slower.
                            failures += 1;
                            pause = (pause * 2).min(MAX_FLUSH_PAUSE);
                            if logged.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
                                tracing::error!(
                                    failures,
                                    buffered = files.buffered_bytes(),
                                    "writing stream data failed, will retry: {e}"
                                );
                                logged = Some(Instant::now());
                            }
                        }
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

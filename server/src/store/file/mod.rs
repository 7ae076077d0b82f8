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
mod recover;
pub mod wal;

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use super::engine::{Commit, Data, Engine, Record, StreamImage};
use crate::config::FsyncPolicy;
use catalog::Catalog;
pub use recover::Recovery;
use wal::Wal;

/// Open data files kept at once; older ones are closed and reopened on demand.
const OPEN_FILES: usize = 2048;

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

struct Files {
    layout: Layout,
    open: Mutex<HashMap<u64, Arc<File>>>,
    /// Streams written since the last checkpoint (their data files need a sync).
    dirty: Mutex<HashSet<u64>>,
}

impl Files {
    fn get(&self, id: u64) -> io::Result<Arc<File>> {
        if let Some(f) = self.open.lock().get(&id) {
            return Ok(f.clone());
        }
        let f = Arc::new(
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(self.layout.data_path(id))?,
        );
        let mut open = self.open.lock();
        if open.len() >= OPEN_FILES {
            let victims: Vec<u64> = open.keys().take(OPEN_FILES / 4).copied().collect();
            for v in victims {
                open.remove(&v);
            }
        }
        open.insert(id, f.clone());
        Ok(f)
    }
}

struct FileData {
    id: u64,
    files: Arc<Files>,
}

impl Data for FileData {
    fn write_at(&self, at: u64, buf: &[u8]) -> io::Result<()> {
        self.files.get(self.id)?.write_all_at(buf, at)?;
        self.files.dirty.lock().insert(self.id);
        Ok(())
    }

    fn read_at(&self, at: u64, len: usize) -> io::Result<Bytes> {
        let mut buf = vec![0; len];
        self.files.get(self.id)?.read_exact_at(&mut buf, at)?;
        Ok(Bytes::from(buf))
    }
}

/// The file engine.
pub struct FileEngine {
    files: Arc<Files>,
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
        let files = Arc::new(Files {
            layout,
            open: Mutex::new(HashMap::new()),
            dirty: Mutex::new(HashSet::new()),
        });
        Ok((FileEngine { files, wal, policy, _lock: lock }, recovery))
    }
}

fn commit_of(rx: tokio::sync::oneshot::Receiver<io::Result<()>>) -> Commit {
    Box::pin(
        async move { rx.await.unwrap_or_else(|_| Err(io::Error::other("log writer stopped"))) },
    )
}

impl Engine for FileEngine {
    fn data(&self, id: u64) -> io::Result<Box<dyn Data>> {
        Ok(Box::new(FileData { id, files: self.files.clone() }))
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
        self.files.open.lock().remove(&id);
        self.files.dirty.lock().remove(&id);
        if let Err(e) = fs::remove_file(self.files.layout.data_path(id)) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(id, "cannot remove stream data: {e}");
            }
        }
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
        let dirty: Vec<u64> = std::mem::take(&mut *self.files.dirty.lock()).into_iter().collect();
        for id in dirty {
            if let Ok(f) = self.files.get(id) {
                f.sync_data()?;
            }
        }
        let layout = &self.files.layout;
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
        self.wal.stop()
    }

    fn describe(&self) -> String {
        format!("file engine in {} (fsync: {})", self.files.layout.root.display(), self.policy)
    }
}

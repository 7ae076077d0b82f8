//! Stream data files, with a small write buffer per stream.
//!
//! Appends land in the stream's in-memory tail buffer and reach the file in batches: when
//! the buffer fills, when a background flush runs (every few milliseconds), or before a
//! checkpoint syncs the files. Readers see buffered bytes too. The buffer never holds the
//! only copy of acknowledged data: the write-ahead log does, and recovery replays it.
//! Buffered bytes are bounded per stream and in total.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use super::Layout;
use crate::store::engine::Data;

/// Open data files kept at once; older ones are closed and reopened on demand.
const OPEN_FILES: usize = 2048;
/// A stream's buffer is written out once it holds this much.
const STREAM_BUFFER: usize = 64 * 1024;
/// Past this many buffered bytes in total, writers flush their own buffer at once.
const TOTAL_BUFFER: usize = 32 * 1024 * 1024;

/// Bytes of one stream not yet written to its file.
#[derive(Default)]
struct Tail {
    /// File length already written.
    flushed: u64,
    buf: Vec<u8>,
}

/// The data files of all streams.
pub struct Files {
    layout: Layout,
    open: Mutex<HashMap<u64, Arc<File>>>,
    /// Streams with buffered bytes.
    buffered: Mutex<HashMap<u64, Arc<Mutex<Tail>>>>,
    buffered_bytes: AtomicUsize,
    /// Streams whose files were written since the last checkpoint (they need a sync).
    unsynced: Mutex<HashSet<u64>>,
}

impl Files {
    pub fn new(layout: Layout) -> Files {
        Files {
            layout,
            open: Mutex::new(HashMap::new()),
            buffered: Mutex::new(HashMap::new()),
            buffered_bytes: AtomicUsize::new(0),
            unsynced: Mutex::new(HashSet::new()),
        }
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    fn file(&self, id: u64) -> io::Result<Arc<File>> {
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

    /// Opens the data of stream `id`; `len` is the file's current length.
    pub fn data(self: &Arc<Self>, id: u64, len: u64) -> FileData {
        let tail = Tail { flushed: len, buf: Vec::new() };
        FileData { id, files: self.clone(), tail: Arc::new(Mutex::new(tail)) }
    }

    fn write_tail(&self, id: u64, tail: &mut Tail) -> io::Result<()> {
        if tail.buf.is_empty() {
            return Ok(());
        }
        self.file(id)?.write_all_at(&tail.buf, tail.flushed)?;
        self.unsynced.lock().insert(id);
        tail.flushed += tail.buf.len() as u64;
        self.buffered_bytes.fetch_sub(tail.buf.len(), Ordering::Relaxed);
        tail.buf.clear();
        if tail.buf.capacity() > STREAM_BUFFER {
            tail.buf.shrink_to(STREAM_BUFFER);
        }
        Ok(())
    }

    /// Writes every buffered byte to its file.
    pub fn flush_all(&self) -> io::Result<()> {
        let pending: Vec<(u64, Arc<Mutex<Tail>>)> = self.buffered.lock().drain().collect();
        for (id, tail) in pending {
            self.write_tail(id, &mut tail.lock())?;
        }
        Ok(())
    }

    /// Flushes and syncs every file written since the last call (for checkpoints).
    pub fn sync_all(&self) -> io::Result<()> {
        self.flush_all()?;
        let ids: Vec<u64> = std::mem::take(&mut *self.unsynced.lock()).into_iter().collect();
        for id in ids {
            self.file(id)?.sync_data()?;
        }
        Ok(())
    }

    /// Forgets a removed stream and deletes its file.
    pub fn remove(&self, id: u64) {
        if let Some(t) = self.buffered.lock().remove(&id) {
            let mut t = t.lock();
            self.buffered_bytes.fetch_sub(t.buf.len(), Ordering::Relaxed);
            t.buf.clear();
        }
        self.open.lock().remove(&id);
        self.unsynced.lock().remove(&id);
        if let Err(e) = std::fs::remove_file(self.layout.data_path(id)) {
            if e.kind() != io::ErrorKind::NotFound {
                tracing::warn!(id, "cannot remove stream data: {e}");
            }
        }
    }
}

/// One stream's data: its file plus its buffered tail.
pub struct FileData {
    id: u64,
    files: Arc<Files>,
    tail: Arc<Mutex<Tail>>,
}

impl Data for FileData {
    fn write_at(&self, at: u64, data: &[u8]) -> io::Result<()> {
        let mut tail = self.tail.lock();
        let end = tail.flushed + tail.buf.len() as u64;
        if at != end {
            // Not a plain append (never expected): write through.
            self.files.write_tail(self.id, &mut tail)?;
            self.files.file(self.id)?.write_all_at(data, at)?;
            self.files.unsynced.lock().insert(self.id);
            tail.flushed = tail.flushed.max(at + data.len() as u64);
            return Ok(());
        }
        let was_empty = tail.buf.is_empty();
        tail.buf.extend_from_slice(data);
        let total = self.files.buffered_bytes.fetch_add(data.len(), Ordering::Relaxed) + data.len();
        if tail.buf.len() >= STREAM_BUFFER || total >= TOTAL_BUFFER {
            self.files.write_tail(self.id, &mut tail)?;
            self.files.buffered.lock().remove(&self.id);
        } else if was_empty {
            self.files.buffered.lock().insert(self.id, self.tail.clone());
        }
        Ok(())
    }

    fn read_at(&self, at: u64, len: usize) -> io::Result<Bytes> {
        let (flushed, from_buf) = {
            let tail = self.tail.lock();
            let end = tail.flushed + tail.buf.len() as u64;
            if at + len as u64 > end {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "read past end"));
            }
            if at >= tail.flushed {
                let start = (at - tail.flushed) as usize;
                return Ok(Bytes::copy_from_slice(&tail.buf[start..start + len]));
            }
            let in_buf = (at + len as u64).saturating_sub(tail.flushed) as usize;
            (tail.flushed, tail.buf[..in_buf].to_vec())
        };
        let from_file = ((flushed - at) as usize).min(len);
        let mut out = vec![0; from_file];
        self.files.file(self.id)?.read_exact_at(&mut out, at)?;
        out.extend_from_slice(&from_buf);
        Ok(Bytes::from(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_span_file_and_buffer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let layout = Layout::new(dir.path());
        std::fs::create_dir_all(&layout.data).expect("mkdir");
        let files = Arc::new(Files::new(layout));
        let d = files.data(1, 0);
        d.write_at(0, b"hello ").expect("write");
        files.flush_all().expect("flush");
        d.write_at(6, b"world").expect("write");
        assert_eq!(&d.read_at(0, 3).expect("file only")[..], b"hel");
        assert_eq!(&d.read_at(4, 4).expect("both")[..], b"o wo");
        assert_eq!(&d.read_at(7, 4).expect("buffer only")[..], b"orld");
        assert!(d.read_at(8, 4).is_err());
        files.sync_all().expect("sync");
        let reopened = files.data(1, 11);
        assert_eq!(&reopened.read_at(0, 11).expect("reopened")[..], b"hello world");
    }
}

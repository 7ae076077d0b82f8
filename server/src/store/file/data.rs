//! Stream data files, with a small write buffer per stream.
//!
//! Appends land in the stream's in-memory tail buffer and reach the file in batches: when
//! the buffer fills, when a background flush runs (every few milliseconds), or before a
//! checkpoint syncs the files. Readers see buffered bytes too. The buffer never holds the
//! only copy of acknowledged data: the write-ahead log does until a checkpoint has synced
//! the file, and recovery replays it.
//!
//! A write that fails (full disk, I/O error, no file descriptor) keeps its bytes buffered
//! and is retried by the next flush; nothing is dropped. Buffered bytes are bounded: past
//! [`HARD_BUFFER`] (files that cannot be written for a while) new writes are refused with
//! [`io::ErrorKind::WouldBlock`], which the store answers with `503`.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use super::{faults, Layout};
use crate::store::engine::{Data, Piece};

/// A stream's buffer is written out once it holds this much; larger writes go straight
/// to the file.
const STREAM_BUFFER: usize = 64 * 1024;
/// Past this many buffered bytes in total, writers flush their own buffer at once.
const TOTAL_BUFFER: usize = 32 * 1024 * 1024;
/// Past this many buffered bytes (files failing to take them), new writes are refused.
pub const HARD_BUFFER: usize = 256 * 1024 * 1024;
/// Mode of data files: only the server's user reads stream contents.
pub const FILE_MODE: u32 = 0o600;

/// Bytes of one stream not yet written to its file.
#[derive(Default)]
struct Tail {
    /// File length already written.
    flushed: u64,
    buf: Vec<u8>,
    /// The stream was removed: nothing more is written, its file is gone.
    gone: bool,
}

/// The data files of all streams.
pub struct Files {
    layout: Layout,
    open: Mutex<HashMap<u64, Arc<File>>>,
    /// Most files kept open at once (sized from the descriptor limit).
    open_cap: usize,
    /// Streams with buffered bytes.
    buffered: Mutex<HashMap<u64, Arc<Mutex<Tail>>>>,
    buffered_bytes: AtomicUsize,
    /// Streams whose files were written since the last checkpoint (they need a sync).
    unsynced: Mutex<HashSet<u64>>,
}

fn is_fd_exhaustion(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

impl Files {
    /// `open_cap` bounds the data files kept open at once.
    pub fn new(layout: Layout, open_cap: usize) -> Files {
        Files {
            layout,
            open: Mutex::new(HashMap::new()),
            open_cap: open_cap.max(4),
            buffered: Mutex::new(HashMap::new()),
            buffered_bytes: AtomicUsize::new(0),
            unsynced: Mutex::new(HashSet::new()),
        }
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Bytes waiting in buffers.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered_bytes.load(Ordering::Relaxed)
    }

    /// Closes up to `n` cached files (readers holding one keep it until they finish).
    fn evict(&self, n: usize) {
        let mut open = self.open.lock();
        let victims: Vec<u64> = open.keys().take(n).copied().collect();
        for v in victims {
            open.remove(&v);
        }
    }

    /// The open file of stream `id`; `create` for writers (readers never create one).
    /// Out of descriptors, it closes cached files and tries once more.
    fn file(&self, id: u64, create: bool) -> io::Result<Arc<File>> {
        if let Some(f) = self.open.lock().get(&id) {
            return Ok(f.clone());
        }
        let open = || {
            faults::io("data-open")?;
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(create)
                .truncate(false)
                .mode(FILE_MODE)
                .open(self.layout.data_path(id))
        };
        let f = match open() {
            Err(e) if is_fd_exhaustion(&e) => {
                tracing::warn!("out of file descriptors; closing cached stream files");
                self.evict(self.open_cap / 2 + 1);
                open()?
            }
            other => other?,
        };
        let f = Arc::new(f);
        let mut open = self.open.lock();
        if open.len() >= self.open_cap {
            let victims: Vec<u64> = open.keys().take(self.open_cap / 4 + 1).copied().collect();
            for v in victims {
                open.remove(&v);
            }
        }
        open.insert(id, f.clone());
        Ok(f)
    }

    /// Opens the data of stream `id`; `len` is the file's current length.
    pub fn data(self: &Arc<Self>, id: u64, len: u64) -> FileData {
        let tail = Tail { flushed: len, ..Tail::default() };
        FileData { id, files: self.clone(), tail: Arc::new(Mutex::new(tail)) }
    }

    /// Writes `buf` at `at` in stream `id`'s file.
    fn write_file(&self, id: u64, at: u64, buf: &[u8]) -> io::Result<()> {
        faults::io("data-write")?;
        self.file(id, true)?.write_all_at(buf, at)?;
        self.unsynced.lock().insert(id);
        Ok(())
    }

    /// Writes a stream's buffered bytes to its file; on failure they stay buffered.
    fn write_tail(&self, id: u64, tail: &mut Tail) -> io::Result<()> {
        if tail.buf.is_empty() || tail.gone {
            return Ok(());
        }
        self.write_file(id, tail.flushed, &tail.buf)?;
        tail.flushed += tail.buf.len() as u64;
        self.buffered_bytes.fetch_sub(tail.buf.len(), Ordering::Relaxed);
        tail.buf.clear();
        if tail.buf.capacity() > STREAM_BUFFER {
            tail.buf.shrink_to(STREAM_BUFFER);
        }
        Ok(())
    }

    /// Forgets a stream whose buffer is empty (caller holds its tail lock).
    fn unbuffer(&self, id: u64, tail: &Arc<Mutex<Tail>>) {
        let mut b = self.buffered.lock();
        if b.get(&id).is_some_and(|t| Arc::ptr_eq(t, tail)) {
            b.remove(&id);
        }
    }

    /// Writes every buffered byte to its file. A stream whose write fails keeps its bytes
    /// buffered for the next try; the others are still written. Returns the first error.
    pub fn flush_all(&self) -> io::Result<()> {
        let pending: Vec<(u64, Arc<Mutex<Tail>>)> =
            self.buffered.lock().iter().map(|(id, t)| (*id, t.clone())).collect();
        let mut first = None;
        for (id, tail) in pending {
            let mut t = tail.lock();
            match self.write_tail(id, &mut t) {
                Ok(()) => self.unbuffer(id, &tail),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Flushes and syncs every file written since the last sync.
    #[cfg(test)]
    pub fn sync_all(&self) -> io::Result<()> {
        self.flush_all()?;
        self.sync_files()
    }

    /// Syncs every file written since the last sync. A file that fails to sync stays on
    /// the list.
    pub fn sync_files(&self) -> io::Result<()> {
        let ids: Vec<u64> = self.unsynced.lock().iter().copied().collect();
        for id in ids {
            faults::io("data-sync")?;
            match self.file(id, false) {
                Ok(f) => f.sync_data()?,
                // Removed meanwhile: nothing to keep.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            self.unsynced.lock().remove(&id);
        }
        Ok(())
    }

    /// Drops every buffered byte, as a killed process loses them.
    #[cfg(test)]
    pub fn drop_buffers(&self) {
        for (_, t) in self.buffered.lock().drain() {
            let mut t = t.lock();
            self.buffered_bytes.fetch_sub(t.buf.len(), Ordering::Relaxed);
            t.buf.clear();
            t.gone = true;
        }
    }

    /// Deletes a removed stream's file (its data was discarded first).
    pub fn remove(&self, id: u64) {
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
        let files = &self.files;
        let mut tail = self.tail.lock();
        if tail.gone {
            return Err(io::Error::new(io::ErrorKind::NotFound, "stream data was removed"));
        }
        let end = tail.flushed + tail.buf.len() as u64;
        if at != end {
            return Err(io::Error::other(format!(
                "stream {} written at {at} but its data ends at {end}",
                self.id
            )));
        }
        if tail.buf.is_empty() && data.len() >= STREAM_BUFFER {
            // Large writes skip the buffer; if the file refuses them they are buffered.
            if files.write_file(self.id, tail.flushed, data).is_ok() {
                tail.flushed += data.len() as u64;
                return Ok(());
            }
        }
        if files.buffered_bytes() + data.len() > HARD_BUFFER {
            let _ = files.write_tail(self.id, &mut tail);
            if files.buffered_bytes() + data.len() > HARD_BUFFER {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "stream data files are not accepting writes (disk full or failing); \
                     buffered bytes are at their limit",
                ));
            }
        }
        let was_empty = tail.buf.is_empty();
        tail.buf.extend_from_slice(data);
        let total = files.buffered_bytes.fetch_add(data.len(), Ordering::Relaxed) + data.len();
        if was_empty {
            files.buffered.lock().insert(self.id, self.tail.clone());
        }
        if (tail.buf.len() >= STREAM_BUFFER || total >= TOTAL_BUFFER)
            && files.write_tail(self.id, &mut tail).is_ok()
        {
            files.unbuffer(self.id, &self.tail);
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
        self.files.file(self.id, false)?.read_exact_at(&mut out, at)?;
        out.extend_from_slice(&from_buf);
        Ok(Bytes::from(out))
    }

    /// The written part as a range of the file (sent from the page cache, no copy here);
    /// the buffered part, copied, as bytes.
    fn read_pieces(&self, at: u64, len: usize, out: &mut Vec<Piece>) -> io::Result<bool> {
        let (flushed, from_buf) = {
            let tail = self.tail.lock();
            let end = tail.flushed + tail.buf.len() as u64;
            if at + len as u64 > end {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "read past end"));
            }
            let start = at.saturating_sub(tail.flushed) as usize;
            let stop = (at + len as u64).saturating_sub(tail.flushed) as usize;
            (tail.flushed, Bytes::copy_from_slice(&tail.buf[start..stop]))
        };
        if at < flushed {
            let len = ((flushed - at) as usize).min(len);
            out.push(Piece::File { file: self.files.file(self.id, false)?, at, len });
        }
        if !from_buf.is_empty() {
            out.push(Piece::Mem(from_buf));
        }
        Ok(true)
    }

    /// Punches a hole over the file's bytes before `at` (Linux `fallocate`); the file keeps
    /// its size, so positions do not move. Buffered bytes are left alone.
    fn release_before(&self, at: u64) -> io::Result<()> {
        let end = at.min(self.tail.lock().flushed);
        if end == 0 || !cfg!(target_os = "linux") {
            return Ok(());
        }
        let file = self.files.file(self.id, false)?;
        #[cfg(target_os = "linux")]
        {
            use rustix::fs::FallocateFlags;
            let mode = FallocateFlags::PUNCH_HOLE | FallocateFlags::KEEP_SIZE;
            rustix::fs::fallocate(&*file, mode, 0, end)?;
        }
        let _ = file;
        Ok(())
    }

    fn discard(&self) {
        let mut tail = self.tail.lock();
        tail.gone = true;
        self.files.buffered_bytes.fetch_sub(tail.buf.len(), Ordering::Relaxed);
        tail.buf = Vec::new();
        self.files.unbuffer(self.id, &self.tail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &std::path::Path) -> Arc<Files> {
        let layout = Layout::new(dir);
        std::fs::create_dir_all(&layout.data).expect("mkdir");
        Arc::new(Files::new(layout, 16))
    }

    #[test]
    fn reads_span_file_and_buffer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = files(dir.path());
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

    #[test]
    fn failed_flush_keeps_bytes_for_the_next_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = files(dir.path());
        let (a, b) = (files.data(1, 0), files.data(2, 0));
        a.write_at(0, b"first").expect("write");
        b.write_at(0, b"second").expect("write");
        // The data directory disappears: every flush fails, nothing may be dropped.
        std::fs::remove_dir(&files.layout().data).expect("rmdir");
        assert!(files.flush_all().is_err());
        assert!(files.sync_all().is_err());
        assert_eq!(files.buffered_bytes(), 11);
        assert_eq!(&a.read_at(0, 5).expect("still readable")[..], b"first");
        std::fs::create_dir(&files.layout().data).expect("mkdir");
        files.sync_all().expect("sync after the fault");
        assert_eq!(files.buffered_bytes(), 0);
        let path = files.layout().data_path(2);
        assert_eq!(std::fs::read(path).expect("file"), b"second");
    }

    #[test]
    fn large_write_that_fails_is_buffered() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = files(dir.path());
        let d = files.data(1, 0);
        std::fs::remove_dir(&files.layout().data).expect("rmdir");
        let big = vec![7u8; STREAM_BUFFER * 2];
        d.write_at(0, &big).expect("buffered");
        assert_eq!(files.buffered_bytes(), big.len());
        std::fs::create_dir(&files.layout().data).expect("mkdir");
        files.flush_all().expect("flush");
        assert_eq!(std::fs::read(files.layout().data_path(1)).expect("file"), big);
    }

    #[test]
    fn discarded_stream_is_not_written_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = files(dir.path());
        let d = files.data(1, 0);
        d.write_at(0, b"abc").expect("write");
        files.flush_all().expect("flush");
        d.write_at(3, b"def").expect("write");
        d.discard();
        files.remove(1);
        files.sync_all().expect("sync");
        assert!(!files.layout().data_path(1).exists());
        assert!(d.write_at(6, b"x").is_err());
        assert_eq!(files.buffered_bytes(), 0);
    }

    #[test]
    fn data_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let files = files(dir.path());
        files.data(1, 0).write_at(0, b"secret").expect("write");
        files.flush_all().expect("flush");
        let mode = std::fs::metadata(files.layout().data_path(1)).expect("meta").permissions();
        assert_eq!(mode.mode() & 0o777, FILE_MODE);
    }

    #[test]
    fn many_streams_with_few_open_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let files = files(dir.path());
        let all: Vec<FileData> = (0..100).map(|i| files.data(i, 0)).collect();
        for (i, d) in all.iter().enumerate() {
            d.write_at(0, format!("stream {i}").as_bytes()).expect("write");
        }
        files.sync_all().expect("sync");
        assert!(files.open.lock().len() <= 16);
        for (i, d) in all.iter().enumerate() {
            let want = format!("stream {i}");
            assert_eq!(&d.read_at(0, want.len()).expect("read")[..], want.as_bytes());
        }
    }
}

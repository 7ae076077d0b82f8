//! The write-ahead log: one writer thread, group commit.
//!
//! Requests encode their records and hand them to the writer thread. It writes every
//! record waiting at that moment with one `write`, syncs once (under the `always` policy)
//! and then answers all of them: concurrent appends to any number of streams share one
//! `fdatasync`, and no lock is held while it runs.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::data::FILE_MODE;
use super::faults;
use crate::config::FsyncPolicy;
use crate::store::OnDurable;

/// By default a new segment starts past this size.
pub const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// Most bytes written in one group.
const GROUP_BYTES: usize = 8 * 1024 * 1024;
/// A record this large that starts a group becomes the group's buffer (no copy).
const LARGE_RECORD: usize = 1024 * 1024;

type Reply<T> = oneshot::Sender<io::Result<T>>;

enum Job {
    Write(Vec<u8>, Reply<()>, Option<OnDurable>),
    Barrier(Reply<()>),
    Rotate(Reply<u64>),
    Stop(Reply<()>),
}

/// Handle to the writer thread.
pub struct Wal {
    tx: Mutex<Option<mpsc::Sender<Job>>>,
    shared: Arc<Shared>,
    thread: Mutex<Option<thread::JoinHandle<()>>>,
}

/// Facts the writer publishes.
pub struct Shared {
    /// A segment filled up; a checkpoint would let old segments go.
    pub checkpoint_due: AtomicBool,
    /// Bytes written since start (for stats).
    pub bytes: AtomicU64,
}

/// Path of segment `n` in `dir`.
pub fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:016}.wal"))
}

/// Syncs a directory so that entries created, renamed or removed in it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Wal {
    /// Starts the writer on a new segment `first` in `dir`; it rotates to a new segment
    /// once one holds `segment_bytes`.
    pub fn start(
        dir: PathBuf,
        first: u64,
        policy: FsyncPolicy,
        segment_bytes: u64,
    ) -> io::Result<Wal> {
        let file = create_segment(&dir, first)?;
        let shared =
            Arc::new(Shared { checkpoint_due: AtomicBool::new(false), bytes: AtomicU64::new(0) });
        let (tx, rx) = mpsc::channel();
        let writer = Writer {
            dir,
            seg: first,
            file,
            seg_bytes: 0,
            segment_bytes,
            policy,
            shared: shared.clone(),
            failed: None,
        };
        let thread =
            thread::Builder::new().name("durastream-wal".into()).spawn(move || writer.run(rx))?;
        Ok(Wal { tx: Mutex::new(Some(tx)), shared, thread: Mutex::new(Some(thread)) })
    }

    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    fn send(&self, job: Job) {
        if let Some(tx) = self.tx.lock().as_ref() {
            let _ = tx.send(job);
        }
    }

    /// Queues encoded records; `then` runs on the writer thread once they are durable,
    /// before the receiver resolves.
    pub fn write(
        &self,
        bytes: Vec<u8>,
        then: Option<OnDurable>,
    ) -> oneshot::Receiver<io::Result<()>> {
        let (tx, rx) = oneshot::channel();
        self.send(Job::Write(bytes, tx, then));
        rx
    }

    /// Resolves once everything queued before it is durable.
    pub fn barrier(&self) -> oneshot::Receiver<io::Result<()>> {
        let (tx, rx) = oneshot::channel();
        self.send(Job::Barrier(tx));
        rx
    }

    /// Closes the current segment and starts the next; answers the new segment's number.
    pub fn rotate(&self) -> oneshot::Receiver<io::Result<u64>> {
        let (tx, rx) = oneshot::channel();
        self.send(Job::Rotate(tx));
        rx
    }

    /// Flushes, syncs and stops the writer thread.
    pub fn stop(&self) -> io::Result<()> {
        let (tx, rx) = oneshot::channel();
        self.send(Job::Stop(tx));
        self.tx.lock().take();
        let result = rx.blocking_recv().unwrap_or(Ok(()));
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
        result
    }
}

fn create_segment(dir: &Path, n: u64) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file =
        OpenOptions::new().create(true).append(true).mode(FILE_MODE).open(segment_path(dir, n))?;
    sync_dir(dir)?;
    Ok(file)
}

struct Writer {
    dir: PathBuf,
    seg: u64,
    file: File,
    /// Bytes of whole groups in the current segment (everything before is intact).
    seg_bytes: u64,
    segment_bytes: u64,
    policy: FsyncPolicy,
    shared: Arc<Shared>,
    failed: Option<(io::ErrorKind, String)>,
}

fn copy_err(e: &(io::ErrorKind, String)) -> io::Error {
    io::Error::new(e.0, e.1.clone())
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Job>) {
        let mut buf: Vec<u8> = Vec::with_capacity(GROUP_BYTES);
        let mut waiters: Vec<Reply<()>> = Vec::new();
        let mut after: Vec<OnDurable> = Vec::new();
        let mut last_sync = Instant::now();
        let mut dirty = false;
        loop {
            let job = match self.policy {
                FsyncPolicy::Interval(d) if dirty => {
                    let wait = d.saturating_sub(last_sync.elapsed());
                    match rx.recv_timeout(wait) {
                        Ok(j) => Some(j),
                        Err(mpsc::RecvTimeoutError::Timeout) => None,
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    }
                }
                _ => match rx.recv() {
                    Ok(j) => Some(j),
                    Err(_) => break,
                },
            };
            let mut control = None;
            let group_start = Instant::now();
            if let Some(job) = job {
                let mut next = Some(job);
                while let Some(job) = next.take() {
                    match job {
                        Job::Write(b, w, then) => {
                            if buf.is_empty() && b.len() >= LARGE_RECORD {
                                buf = b; // a large record is written without a copy
                            } else {
                                buf.extend_from_slice(&b);
                            }
                            waiters.push(w);
                            after.extend(then);
                        }
                        Job::Barrier(w) => waiters.push(w),
                        other => {
                            control = Some(other);
                            break;
                        }
                    }
                    if buf.len() < GROUP_BYTES {
                        next = rx.try_recv().ok();
                    }
                }
            }
            let sync_now = match self.policy {
                FsyncPolicy::Always => true,
                FsyncPolicy::Interval(d) => last_sync.elapsed() >= d || control.is_some(),
                FsyncPolicy::Never => control.is_some(),
            };
            let result = self.flush(&buf, sync_now && (dirty || !buf.is_empty()));
            if sync_now {
                last_sync = Instant::now();
                dirty = false;
            } else if !buf.is_empty() {
                dirty = true;
            }
            crate::metrics::group_committed(waiters.len(), buf.len(), group_start.elapsed());
            buf.clear();
            if buf.capacity() > GROUP_BYTES {
                buf = Vec::with_capacity(GROUP_BYTES); // give a huge record's memory back
            }
            // Readers first: they wake straight from the commit, not from its writers.
            if result.is_ok() {
                after.drain(..).for_each(|then| then());
            } else {
                after.clear();
            }
            for w in waiters.drain(..) {
                let _ = w.send(match &result {
                    Ok(()) => Ok(()),
                    Err(e) => Err(copy_err(e)),
                });
            }
            if self.seg_bytes >= self.segment_bytes && self.failed.is_none() {
                if let Err(e) = self.next_segment() {
                    self.fail(&e);
                }
                self.shared.checkpoint_due.store(true, Ordering::SeqCst);
            }
            match control {
                Some(Job::Rotate(r)) => {
                    // A failed log never rotates: the segment after a torn one would
                    // look like corruption in the middle of the log.
                    let res = match &self.failed {
                        Some(e) => Err(copy_err(e)),
                        None => {
                            let res = self.next_segment().map(|()| self.seg);
                            if let Err(e) = &res {
                                self.fail(e);
                            }
                            res
                        }
                    };
                    let _ = r.send(res);
                }
                Some(Job::Stop(r)) => {
                    let _ = r.send(self.failed.as_ref().map_or(Ok(()), |e| Err(copy_err(e))));
                    return;
                }
                _ => {}
            }
        }
        let _ = self.file.sync_data();
    }

    fn fail(&mut self, e: &io::Error) {
        tracing::error!("write-ahead log failed: {e}");
        self.failed = Some((e.kind(), e.to_string()));
    }

    fn flush(&mut self, buf: &[u8], sync: bool) -> Result<(), (io::ErrorKind, String)> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let res = (|| {
            if !buf.is_empty() {
                faults::io("wal-write")?;
                self.file.write_all(buf)?;
            }
            if sync {
                faults::io("wal-sync")?;
                let started = Instant::now();
                self.file.sync_data()?;
                crate::metrics::fsync_done(started.elapsed());
            }
            Ok::<(), io::Error>(())
        })();
        match res {
            Ok(()) => {
                self.seg_bytes += buf.len() as u64;
                self.shared.bytes.fetch_add(buf.len() as u64, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                // None of this group is acknowledged: cut it off so that a restart does not
                // bring back records that were answered with an error.
                if let Err(cut) = self.file.set_len(self.seg_bytes) {
                    tracing::error!("cannot cut the failed group off the log: {cut}");
                }
                self.fail(&e);
                Err((e.kind(), e.to_string()))
            }
        }
    }

    fn next_segment(&mut self) -> io::Result<()> {
        faults::io("wal-sync")?;
        self.file.sync_data()?;
        faults::crash("rotate-before-create");
        self.file = create_segment(&self.dir, self.seg + 1)?;
        faults::crash("rotate-after-create");
        self.seg += 1;
        self.seg_bytes = 0;
        Ok(())
    }
}

/// Lists segment numbers in `dir`, ascending.
pub fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(n) = name.strip_suffix(".wal").and_then(|s| s.parse::<u64>().ok()) {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// How long the `interval` policy waits between syncs by default.
pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(100);

//! The write-ahead log: one writer thread, group commit.
//!
//! A request encodes its record straight into the group being filled, under one short
//! lock, and gets a [`Durable`] future for that group (no per-record buffer, channel
//! message or reply channel). The writer thread takes the whole group at once, writes it
//! with one `write`, syncs once (under the `always` policy), runs the records' `then`
//! work and wakes every waiting request: concurrent appends to any number of streams share
//! one `fdatasync`, and no lock is held while it runs. The writer is woken only when it is
//! idle, so a busy log costs no cross-thread wake-up per record.

use std::fs::{self, File, OpenOptions};
use std::future::Future;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
// The queue and its signal use std's futex-based pair: waking an idle writer is then one
// atomic add and a `futex` call, where parking_lot's condvar went through its global
// parking table (about 600 instructions per append).
use std::sync::{Condvar, Mutex as QueueLock, MutexGuard, PoisonError};
use tokio::sync::oneshot;

use super::codec;
use super::data::FILE_MODE;
use super::faults;
use crate::config::FsyncPolicy;
use crate::store::{OnDurable, Record};

/// By default a new segment starts past this size.
pub const SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// A group's buffer keeps at most this much memory between groups.
const GROUP_BYTES: usize = 8 * 1024 * 1024;
/// A record this large is encoded outside the queue's lock (and becomes the group's buffer
/// when it starts one).
const LARGE_RECORD: usize = 1024 * 1024;
/// `Shared::failed_from` when no group has failed.
const NONE_FAILED: u64 = u64::MAX;

type Reply<T> = oneshot::Sender<io::Result<T>>;

/// Work for the writer besides records; each runs after the group taken with it.
enum Control {
    Barrier(Reply<()>),
    Rotate(Reply<u64>),
    /// Stop after a final group (with a reply when a caller waits for it).
    Stop(Option<Reply<()>>),
}

/// The group being filled.
struct Queue {
    /// Encoded records, in submission order.
    buf: Vec<u8>,
    /// Requests waiting on this group (records and barriers).
    waiting: usize,
    after: Vec<OnDurable>,
    controls: Vec<Control>,
    /// This group's number; its requests resolve once `Shared::done` reaches it.
    group: u64,
    /// The writer is waiting for work (a submitter wakes it and clears this).
    idle: bool,
    /// The writer has stopped: nothing more is accepted.
    stopped: bool,
}

impl Queue {
    fn has_work(&self) -> bool {
        self.waiting > 0 || !self.buf.is_empty() || !self.controls.is_empty()
    }
}

/// Handle to the writer thread.
pub struct Wal {
    shared: Arc<Shared>,
    thread: Mutex<Option<thread::JoinHandle<()>>>,
}

/// State shared by the writer and the requests.
pub struct Shared {
    /// A segment filled up; a checkpoint would let old segments go.
    pub checkpoint_due: AtomicBool,
    /// Bytes written since start (for stats).
    pub bytes: AtomicU64,
    queue: QueueLock<Queue>,
    /// Signalled when an idle writer has work.
    ready: Condvar,
    /// The last group answered.
    done: AtomicU64,
    /// The first group that failed (`NONE_FAILED` if none): it and every later group fail,
    /// as the log's failure is sticky.
    failed_from: AtomicU64,
    failure: Mutex<Option<(io::ErrorKind, String)>>,
    /// Requests waiting on a group not yet answered.
    wakers: Mutex<Vec<(u64, Waker)>>,
}

impl Shared {
    /// The queue (a panic elsewhere while it was held leaves it consistent: every change to
    /// it is a single push or swap).
    fn lock_queue(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The result of group `g`, once answered.
    fn outcome(&self, g: u64) -> Option<io::Result<()>> {
        if self.done.load(Ordering::Acquire) < g {
            return None;
        }
        if g < self.failed_from.load(Ordering::Acquire) {
            return Some(Ok(()));
        }
        Some(Err(match &*self.failure.lock() {
            Some(e) => copy_err(e),
            None => io::Error::other("write-ahead log failed"),
        }))
    }
}

/// Resolves once the group a record (or barrier) joined is durable.
pub struct Durable {
    shared: Arc<Shared>,
    group: u64,
}

impl Future for Durable {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(r) = self.shared.outcome(self.group) {
            return Poll::Ready(r);
        }
        let mut wakers = self.shared.wakers.lock();
        // Checked again under the lock the writer takes after answering a group.
        if let Some(r) = self.shared.outcome(self.group) {
            return Poll::Ready(r);
        }
        wakers.push((self.group, cx.waker().clone()));
        Poll::Pending
    }
}

/// Path of segment `n` in `dir`.
pub fn segment_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("{n:016}.wal"))
}

/// Syncs a directory so that entries created, renamed or removed in it are durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn stopped() -> io::Error {
    io::Error::other("log writer stopped")
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
        let queue = Queue {
            buf: Vec::new(),
            waiting: 0,
            after: Vec::new(),
            controls: Vec::new(),
            group: 1,
            idle: false,
            stopped: false,
        };
        let shared = Arc::new(Shared {
            checkpoint_due: AtomicBool::new(false),
            bytes: AtomicU64::new(0),
            queue: QueueLock::new(queue),
            ready: Condvar::new(),
            done: AtomicU64::new(0),
            failed_from: AtomicU64::new(NONE_FAILED),
            failure: Mutex::new(None),
            wakers: Mutex::new(Vec::new()),
        });
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
            thread::Builder::new().name("durastream-wal".into()).spawn(move || writer.run())?;
        Ok(Wal { shared, thread: Mutex::new(Some(thread)) })
    }

    pub fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Adds a record to the group being filled; `then` runs on the writer thread once it is
    /// durable, before the returned future resolves.
    pub fn write(&self, record: &Record, then: Option<OnDurable>) -> io::Result<Durable> {
        let len = codec::encoded_len(record);
        // A large record is encoded before the lock, so other requests do not wait on it.
        let large = (len >= LARGE_RECORD).then(|| {
            let mut b = Vec::with_capacity(len);
            codec::encode(record, &mut b);
            b
        });
        let mut q = self.shared.lock_queue();
        if q.stopped {
            return Err(stopped());
        }
        match large {
            Some(b) if q.buf.is_empty() => q.buf = b,
            Some(b) => q.buf.extend_from_slice(&b),
            None => {
                q.buf.reserve(len);
                codec::encode(record, &mut q.buf);
            }
        }
        q.after.extend(then);
        Ok(self.join(q))
    }

    /// Resolves once everything submitted before it is durable.
    pub fn barrier(&self) -> io::Result<Durable> {
        let q = self.shared.lock_queue();
        if q.stopped {
            return Err(stopped());
        }
        Ok(self.join(q))
    }

    /// Counts one more request on the group being filled and wakes an idle writer.
    fn join(&self, mut q: MutexGuard<'_, Queue>) -> Durable {
        q.waiting += 1;
        let group = q.group;
        let wake = std::mem::take(&mut q.idle);
        drop(q);
        if wake {
            self.shared.ready.notify_one();
        }
        Durable { shared: self.shared.clone(), group }
    }

    fn control(&self, c: Control) -> bool {
        let mut q = self.shared.lock_queue();
        if q.stopped {
            return false;
        }
        q.controls.push(c);
        let wake = std::mem::take(&mut q.idle);
        drop(q);
        if wake {
            self.shared.ready.notify_one();
        }
        true
    }

    /// Like [`Wal::barrier`], for blocking callers (checkpoints).
    pub fn barrier_blocking(&self) -> io::Result<()> {
        let (tx, rx) = oneshot::channel();
        if !self.control(Control::Barrier(tx)) {
            return Err(stopped());
        }
        rx.blocking_recv().unwrap_or_else(|_| Err(stopped()))
    }

    /// Closes the current segment and starts the next; answers the new segment's number.
    pub fn rotate(&self) -> oneshot::Receiver<io::Result<u64>> {
        let (tx, rx) = oneshot::channel();
        self.control(Control::Rotate(tx));
        rx
    }

    /// Flushes, syncs and stops the writer thread.
    pub fn stop(&self) -> io::Result<()> {
        let (tx, rx) = oneshot::channel();
        let result = if self.control(Control::Stop(Some(tx))) {
            rx.blocking_recv().unwrap_or(Ok(()))
        } else {
            Ok(())
        };
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
        result
    }
}

impl Drop for Wal {
    /// A log dropped without [`Wal::stop`] still ends its thread (after a final group),
    /// without blocking the dropping thread.
    fn drop(&mut self) {
        self.control(Control::Stop(None));
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

/// A group taken from the queue.
struct Group {
    number: u64,
    buf: Vec<u8>,
    waiting: usize,
    after: Vec<OnDurable>,
    controls: Vec<Control>,
}

impl Group {
    /// Moves the queue's group out (the buffers swap, so both keep their capacity).
    fn take(&mut self, q: &mut Queue) {
        std::mem::swap(&mut self.buf, &mut q.buf);
        std::mem::swap(&mut self.after, &mut q.after);
        std::mem::swap(&mut self.controls, &mut q.controls);
        self.waiting = std::mem::take(&mut q.waiting);
        self.number = q.group;
        q.group += 1;
    }
}

impl Writer {
    fn run(mut self) {
        let mut group = Group {
            number: 0,
            buf: Vec::with_capacity(GROUP_BYTES.min(1 << 20)),
            waiting: 0,
            after: Vec::new(),
            controls: Vec::new(),
        };
        let mut woken: Vec<Waker> = Vec::new();
        let mut last_sync = Instant::now();
        let mut dirty = false;
        let mut stopping = false;
        let mut stop_replies = Vec::new();
        loop {
            {
                let mut q = self.shared.lock_queue();
                if stopping {
                    // Nothing is accepted from now on; what got in is written below.
                    q.stopped = true;
                } else {
                    while !q.has_work() {
                        let deadline = match self.policy {
                            FsyncPolicy::Interval(d) if dirty => Some(last_sync + d),
                            _ => None,
                        };
                        q.idle = true;
                        match deadline {
                            Some(at) => {
                                let wait = at.saturating_duration_since(Instant::now());
                                let (guard, waited) = self
                                    .shared
                                    .ready
                                    .wait_timeout(q, wait)
                                    .unwrap_or_else(PoisonError::into_inner);
                                q = guard;
                                if waited.timed_out() {
                                    q.idle = false;
                                    break;
                                }
                            }
                            None => {
                                q = self
                                    .shared
                                    .ready
                                    .wait(q)
                                    .unwrap_or_else(PoisonError::into_inner)
                            }
                        }
                        q.idle = false;
                    }
                }
                group.take(&mut q);
            }
            let control = !group.controls.is_empty() || stopping;
            let group_start = Instant::now();
            let sync_now = match self.policy {
                FsyncPolicy::Always => true,
                FsyncPolicy::Interval(d) => last_sync.elapsed() >= d || control,
                FsyncPolicy::Never => control,
            };
            let result = self.flush(&group.buf, sync_now && (dirty || !group.buf.is_empty()));
            if sync_now {
                if matches!(self.policy, FsyncPolicy::Interval(_)) {
                    last_sync = Instant::now();
                }
                dirty = false;
            } else if !group.buf.is_empty() {
                dirty = true;
            }
            crate::metrics::group_committed(group.waiting, group.buf.len(), group_start.elapsed());
            group.buf.clear();
            if group.buf.capacity() > GROUP_BYTES {
                group.buf = Vec::with_capacity(GROUP_BYTES); // give a huge group's memory back
            }
            // Readers first: they wake straight from the commit, not from its writers.
            if result.is_ok() {
                group.after.drain(..).for_each(|then| then());
            } else {
                group.after.clear();
                let _ = self.shared.failed_from.compare_exchange(
                    NONE_FAILED,
                    group.number,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                );
                let mut failure = self.shared.failure.lock();
                if failure.is_none() {
                    *failure = result.as_ref().err().cloned();
                }
            }
            self.answer(group.number, &mut woken);
            if self.seg_bytes >= self.segment_bytes && self.failed.is_none() {
                if let Err(e) = self.next_segment() {
                    self.fail(&e);
                }
                self.shared.checkpoint_due.store(true, Ordering::SeqCst);
            }
            if stopping {
                break;
            }
            for c in group.controls.drain(..) {
                match c {
                    Control::Barrier(r) => {
                        let _ = r.send(result.as_ref().map_err(copy_err).copied());
                    }
                    Control::Rotate(r) => {
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
                    Control::Stop(r) => {
                        stopping = true;
                        if let Some(r) = r {
                            stop_replies.push(r);
                        }
                    }
                }
            }
        }
        let _ = self.file.sync_data();
        for r in stop_replies {
            let _ = r.send(self.failed.as_ref().map_or(Ok(()), |e| Err(copy_err(e))));
        }
    }

    /// Marks group `g` answered and wakes the requests waiting on it.
    fn answer(&self, g: u64, woken: &mut Vec<Waker>) {
        self.shared.done.store(g, Ordering::Release);
        {
            let mut wakers = self.shared.wakers.lock();
            woken.extend(wakers.extract_if(.., |(w, _)| *w <= g).map(|(_, waker)| waker));
        }
        // Woken outside the lock: a woken request may poll (and lock) at once.
        woken.drain(..).for_each(Waker::wake);
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

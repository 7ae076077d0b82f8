//! Parking idle SSE readers outside hyper.
//!
//! A hyper HTTP/1.1 connection keeps an 8 KiB read buffer, an 8 KiB header buffer and a box
//! the size of the request future for as long as it lives: each idle SSE reader cost 5–14 KB.
//! On a plain-TCP HTTP/1.1 connection the SSE handler parks its reader in the connection's
//! [`Handoff`] instead and gives hyper an empty streaming body. The socket wrapper
//! [`ConnIo`] keeps what hyper writes from then on (the response head and the chunked
//! terminator) instead of sending it, then reports end of input, so hyper finishes and frees
//! its state. The connection task takes the socket back and [`stream`] sends the head and
//! the events, chunk-encoded; when the SSE response ends the connection goes back to hyper.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use tokio::time::Instant;

use super::sse::{Next, Reader, Wake};

/// Largest response head kept for a parked reader; a larger one is not parked.
const MAX_HEAD: usize = 16 * 1024;
/// The end of a chunked body: hyper's last write for an empty streaming body.
pub(super) const TERMINATOR: &[u8] = b"0\r\n\r\n";

/// An SSE reader waiting to be served outside hyper.
pub struct Parked {
    pub(super) reader: Reader,
    /// An event to send before the reader's own (fault injection).
    pub(super) prefix: Option<Bytes>,
}

/// What a connection hands over to be served outside hyper: an SSE reader, or a
/// catch-up body sent from its data file (see `sendfile`).
pub enum Job {
    Sse(Parked),
    File(super::sendfile::FileBody),
}

/// One connection's slot for a parked reader, shared by its socket wrapper and handlers.
#[derive(Default)]
pub struct Handoff {
    requested: AtomicBool,
    /// What hyper read since its last write is exactly one request head, so its buffer
    /// holds no pipelined request that parking would lose (see `Window`).
    alone: AtomicBool,
    slot: Mutex<Slot>,
}

#[derive(Default)]
struct Slot {
    parked: Option<Job>,
    /// What hyper wrote after the reader was parked.
    written: Vec<u8>,
    /// The socket, put back here when hyper drops its wrapper.
    tcp: Option<TcpStream>,
    /// Wakes hyper's read once the response is complete, so it sees end of input.
    read_waker: Option<Waker>,
}

tokio::task_local! {
    static CURRENT: Arc<Handoff>;
}

/// Runs a connection's future with `handoff` reachable by its request handlers. HTTP/2
/// handlers run in tasks of their own and never see it.
pub fn scope<F: Future>(handoff: Arc<Handoff>, f: F) -> impl Future<Output = F::Output> {
    CURRENT.scope(handoff, f)
}

/// The handoff of the connection serving the current request, if it can park a reader.
pub(super) fn current() -> Option<Arc<Handoff>> {
    CURRENT.try_with(Arc::clone).ok()
}

/// The body hyper sends for a parked response: empty and chunked, so hyper writes only
/// the head and the terminator, and the parked job sends the real body.
pub(super) fn placeholder() -> super::response::Body {
    use http_body_util::BodyExt;
    let empty = futures_util::stream::empty::<Result<hyper::body::Frame<Bytes>, io::Error>>();
    http_body_util::StreamBody::new(empty).boxed_unsync()
}

/// True when the current request's reader was parked: its response body is a placeholder.
pub fn parked_here() -> bool {
    CURRENT.try_with(|h| h.requested.load(Ordering::Acquire)).unwrap_or(false)
}

/// Where the response head ends in `written`, just after its blank line.
fn head_end(written: &[u8]) -> Option<usize> {
    memchr::memmem::find(written, b"\r\n\r\n").map(|i| i + 4)
}

fn complete(written: &[u8]) -> bool {
    head_end(written).is_some_and(|i| written.len() >= i + TERMINATOR.len())
}

impl Handoff {
    pub fn new() -> Arc<Handoff> {
        Arc::new(Handoff::default())
    }

    /// Parks `p`, or gives it back when a reader is parked here already.
    pub(super) fn try_park(&self, p: Parked) -> Option<Parked> {
        let mut slot = self.slot.lock();
        if slot.parked.is_some() || !self.alone.load(Ordering::Acquire) {
            return Some(p);
        }
        slot.parked = Some(Job::Sse(p));
        self.requested.store(true, Ordering::Release);
        None
    }

    /// Hands over a catch-up body, or gives it back when something is parked here already.
    pub(super) fn try_park_file(
        &self,
        body: super::sendfile::FileBody,
    ) -> Option<super::sendfile::FileBody> {
        let mut slot = self.slot.lock();
        if slot.parked.is_some() || !self.alone.load(Ordering::Acquire) {
            return Some(body);
        }
        slot.parked = Some(Job::File(body));
        self.requested.store(true, Ordering::Release);
        None
    }

    /// Sets the event sent before the parked reader's own.
    pub(super) fn set_prefix(&self, event: Bytes) {
        if let Some(Job::Sse(p)) = self.slot.lock().parked.as_mut() {
            p.prefix = Some(event);
        }
    }

    fn requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }

    /// After hyper ended the connection: the socket, the response head, and the job.
    /// `None` when nothing was parked, or hyper wrote anything but one head with a chunked
    /// empty body (the connection is then dropped).
    pub fn take(&self) -> Option<(TcpStream, Vec<u8>, Job)> {
        let mut slot = self.slot.lock();
        let parked = slot.parked.take()?;
        let tcp = slot.tcp.take()?;
        let mut written = std::mem::take(&mut slot.written);
        let end = head_end(&written)?;
        let head = std::str::from_utf8(&written[..end]).ok()?.to_ascii_lowercase();
        if !head.contains("\r\ntransfer-encoding: chunked\r\n") || &written[end..] != TERMINATOR {
            tracing::debug!("unexpected response bytes for a parked response; closing");
            return None;
        }
        written.truncate(end);
        Some((tcp, written, parked))
    }
}

/// The socket of a plain-TCP connection as hyper sees it (see the module comment).
pub struct ConnIo {
    tcp: Option<TcpStream>,
    handoff: Arc<Handoff>,
    window: Window,
}

/// The bytes hyper read since its last write, as far as parking needs them: how many
/// request-head ends (`\r\n\r\n`) they hold and their last four bytes (for an end split
/// across reads). A client that waits for each response (every HTTP client but a
/// pipelining one) leaves exactly one head, ending the window, when its request is
/// handled. Anything else (a pipelined request, a body) and the request is not parked:
/// hyper's buffer may hold bytes that a parked connection would drop. Only `GET` requests
/// park, so a window that starts otherwise (an append) is not scanned at all.
#[derive(Default)]
struct Window {
    ends: u32,
    last: [u8; 4],
    len: u8,
    started: bool,
    not_get: bool,
}

const HEAD_END: &[u8; 4] = b"\r\n\r\n";

impl Window {
    /// Takes in `bytes` just read; true when the window is now one head, ending it.
    fn read(&mut self, bytes: &[u8]) -> bool {
        if !self.started && !bytes.is_empty() {
            self.started = true;
            self.not_get = !bytes.starts_with(b"GET ");
        }
        if self.not_get {
            return false;
        }
        let prev = &self.last[..self.len as usize];
        for k in 1..=prev.len().min(3) {
            if prev.ends_with(&HEAD_END[..k]) && bytes.starts_with(&HEAD_END[k..]) {
                self.ends += 1;
            }
        }
        self.ends += memchr::memmem::find_iter(bytes, HEAD_END).count() as u32;
        let mut cat = [0u8; 8];
        let recent = &bytes[bytes.len().saturating_sub(4)..];
        cat[..prev.len()].copy_from_slice(prev);
        cat[prev.len()..prev.len() + recent.len()].copy_from_slice(recent);
        let total = prev.len() + recent.len();
        let keep = total.min(4);
        self.last[..keep].copy_from_slice(&cat[total - keep..total]);
        self.len = keep as u8;
        self.ends == 1 && self.last[..keep] == HEAD_END[..]
    }

    fn clear(&mut self) {
        *self = Window::default();
    }
}

impl ConnIo {
    pub fn new(tcp: TcpStream, handoff: Arc<Handoff>) -> ConnIo {
        ConnIo { tcp: Some(tcp), handoff, window: Window::default() }
    }

    /// hyper wrote: a new window starts.
    fn wrote(&mut self) {
        self.window.clear();
        self.handoff.alone.store(false, Ordering::Release);
    }

    fn tcp(&mut self) -> Pin<&mut TcpStream> {
        Pin::new(self.tcp.as_mut().expect("the socket leaves only when the wrapper drops"))
    }

    /// Keeps `bufs` instead of sending them.
    fn keep(&self, bufs: &[&[u8]]) -> io::Result<usize> {
        let mut slot = self.handoff.slot.lock();
        let n: usize = bufs.iter().map(|b| b.len()).sum();
        if slot.written.len() + n > MAX_HEAD {
            return Err(io::Error::other("response head too large for a parked SSE reader"));
        }
        for b in bufs {
            slot.written.extend_from_slice(b);
        }
        if complete(&slot.written) {
            if let Some(w) = slot.read_waker.take() {
                w.wake();
            }
        }
        Ok(n)
    }
}

impl Drop for ConnIo {
    fn drop(&mut self) {
        if self.handoff.requested() {
            self.handoff.slot.lock().tcp = self.tcp.take();
        }
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.handoff.requested() {
            let mut slot = self.handoff.slot.lock();
            if complete(&slot.written) {
                // End of input: hyper finishes the connection.
                return Poll::Ready(Ok(()));
            }
            slot.read_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let before = buf.filled().len();
        let r = self.tcp().poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            let alone = self.window.read(&buf.filled()[before..]);
            self.handoff.alone.store(alone, Ordering::Release);
        }
        r
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.handoff.requested() {
            return Poll::Ready(self.keep(&[buf]));
        }
        self.wrote();
        self.tcp().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.handoff.requested() {
            let parts: Vec<&[u8]> = bufs.iter().map(|b| &b[..]).collect();
            return Poll::Ready(self.keep(&parts));
        }
        self.wrote();
        self.tcp().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.as_ref().is_some_and(|t| t.is_write_vectored())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.handoff.requested() {
            return Poll::Ready(Ok(()));
        }
        self.tcp().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.handoff.requested() {
            return Poll::Ready(Ok(()));
        }
        self.tcp().poll_shutdown(cx)
    }
}

/// Serves a parked job on the socket; the socket comes back when the response ended
/// cleanly. `send_buffer`: see `sendfile::send`.
pub async fn serve(
    tcp: TcpStream,
    head: Vec<u8>,
    job: Job,
    send_buffer: usize,
) -> Option<TcpStream> {
    match job {
        Job::Sse(parked) => stream(tcp, head, parked).await,
        Job::File(body) => super::sendfile::send(tcp, head, body, send_buffer).await,
    }
}

/// Serves a parked reader: sends `head` and the events, chunk-encoded. Returns the socket
/// when the response ended cleanly (the connection can serve more requests), `None` when
/// the peer left or a write failed.
///
/// This task is what an idle reader costs, so its waiting state is kept small: the wait
/// is polled in place, and the rarer steps that need room (a read of the stream, a write
/// that would block) run boxed, allocated only while they run.
///
/// An `async fn` would copy its arguments into its state a second time (the reader, twice
/// per idle connection); this block uses them where they were captured.
#[allow(clippy::manual_async_fn)]
pub fn stream(
    tcp: TcpStream,
    head: Vec<u8>,
    mut parked: Parked,
) -> impl Future<Output = Option<TcpStream>> {
    async move {
        let _live = crate::metrics::LiveReader::start("sse");
        send(&tcp, &[&head]).await.ok()?;
        drop(head);
        if let Some(event) = parked.prefix.take() {
            write_chunk(&tcp, &event, &[]).await.ok()?;
        }
        let reader = &mut parked.reader;
        let mut idle_deadline = reader.idle_deadline();
        loop {
            let event = match reader.next_now() {
                Next::Event(e) => Some(e),
                Next::Read(v) => Box::pin(reader.read_event(v)).await,
                Next::End => None,
                Next::Wait => match wait_or_closed(reader, &tcp, idle_deadline).await? {
                    Wake::Changed => continue,
                    Wake::KeepAlive => Some(reader.keep_alive()),
                    Wake::End => None,
                },
            };
            let Some(event) = event else {
                send(&tcp, &[TERMINATOR]).await.ok()?;
                return Some(tcp);
            };
            let data = event.data.as_deref().unwrap_or_default();
            write_chunk(&tcp, data, &event.control).await.ok()?;
            crate::metrics::sse_bytes(data.len() + event.control.len());
            idle_deadline = reader.idle_deadline();
        }
    }
}

/// Waits for the reader's stream to change or its keep-alive; `None` once the peer has left.
async fn wait_or_closed(reader: &mut Reader, tcp: &TcpStream, until: Instant) -> Option<Wake> {
    tokio::select! {
        w = reader.wait(until) => Some(w),
        () = std::future::poll_fn(|cx| poll_peer_closed(tcp, cx)) => None,
    }
}

/// Ready when the peer closed its side or the socket failed. Bytes a client sends while
/// reading SSE are discarded.
fn poll_peer_closed(tcp: &TcpStream, cx: &mut Context<'_>) -> Poll<()> {
    loop {
        match tcp.poll_read_ready(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(_)) => return Poll::Ready(()),
            Poll::Ready(Ok(())) => {}
        }
        let mut buf = [0u8; 64];
        match tcp.try_read(&mut buf) {
            Ok(0) => return Poll::Ready(()),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return Poll::Ready(()),
        }
    }
}

/// Writes `data` then `control` as one chunk of a chunked body, without copying them.
async fn write_chunk(tcp: &TcpStream, data: &[u8], control: &[u8]) -> io::Result<()> {
    let mut line = [0u8; 18];
    let n = size_line(data.len() + control.len(), &mut line);
    send(tcp, &[&line[..n], data, control, b"\r\n"]).await
}

/// Writes `parts` (at most four) in order: one vectored write when the socket takes it
/// all (the usual case), else the rest boxed, waiting for room as needed.
pub(super) async fn send(tcp: &TcpStream, parts: &[&[u8]]) -> io::Result<()> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let done = match try_write_from(tcp, parts, 0) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => 0,
        Err(e) => return Err(e),
    };
    if done == total {
        return Ok(());
    }
    Box::pin(write_all(tcp, parts, done)).await
}

/// Writes `parts` from byte `done` on, waiting for room as needed.
async fn write_all(tcp: &TcpStream, parts: &[&[u8]], mut done: usize) -> io::Result<()> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    while done < total {
        match try_write_from(tcp, parts, done) {
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::future::poll_fn(|cx| tcp.poll_write_ready(cx)).await?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One vectored write of `parts` (at most four) from byte `skip` on.
fn try_write_from(tcp: &TcpStream, parts: &[&[u8]], mut skip: usize) -> io::Result<usize> {
    let mut slices = [io::IoSlice::new(&[]); 4];
    for (slot, p) in slices.iter_mut().zip(parts) {
        let s = skip.min(p.len());
        skip -= s;
        *slot = io::IoSlice::new(&p[s..]);
    }
    match tcp.try_write_vectored(&slices) {
        Ok(0) => Err(io::ErrorKind::WriteZero.into()),
        r => r,
    }
}

/// Writes a chunk's size line (`{len:x}\r\n`) into `out`; returns its length.
pub(super) fn size_line(len: usize, out: &mut [u8; 18]) -> usize {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digits = (usize::BITS - len.leading_zeros()).div_ceil(4).max(1) as usize;
    for i in 0..digits {
        out[digits - 1 - i] = HEX[(len >> (4 * i)) & 0xf];
    }
    out[digits] = b'\r';
    out[digits + 1] = b'\n';
    digits + 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn future_size<A, B, C, R>(_: &impl Fn(A, B, C) -> R) -> usize {
        std::mem::size_of::<R>()
    }

    #[test]
    fn an_idle_reader_task_stays_small() {
        // What an idle parked reader's task holds: this future, with the reader inside.
        // (Debug builds lay futures out larger than release builds.)
        // 1,120 bytes (debug build) when `stream` was an `async fn` holding the reader twice
        // and reads and blocked writes inline; 744 since.
        let n = future_size(&stream);
        assert!(n <= 800, "the parked reader's future grew to {n} bytes");
    }

    #[test]
    fn only_a_lone_request_head_may_park() {
        let lone = |reads: &[&[u8]]| {
            let mut w = Window::default();
            reads.iter().map(|r| w.read(r)).last().unwrap_or(false)
        };
        assert!(lone(&[b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"]));
        // The end split across reads, at every point past the method.
        let head = b"GET /a HTTP/1.1\r\n\r\n";
        for cut in 4..head.len() {
            assert!(lone(&[&head[..cut], &head[cut..]]), "cut at {cut}");
        }
        assert!(lone(&[b"GET /a HTTP/1.1\r", b"\n", b"\r", b"\n"]));
        // A pipelined request, whole or in part, behind the first.
        assert!(!lone(&[b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"]));
        assert!(!lone(&[b"GET /a HTTP/1.1\r\n\r\n", b"GET /b HTTP/1.1\r\n\r\n"]));
        assert!(!lone(&[b"GET /a HTTP/1.1\r\n\r\nGET /b"]));
        // A head not yet complete.
        assert!(!lone(&[b"GET /a HTTP/1.1\r\n"]));
        // Anything but GET (appends are not scanned at all).
        assert!(!lone(&[b"POST /a HTTP/1.1\r\n\r\n"]));
        assert!(!lone(&[b"GE", b"T /a HTTP/1.1\r\n\r\n"]));
    }

    #[test]
    fn size_lines_are_lowercase_hex() {
        let mut b = [0u8; 18];
        for (len, want) in [(0, "0\r\n"), (9, "9\r\n"), (255, "ff\r\n"), (4096, "1000\r\n")] {
            let n = size_line(len, &mut b);
            assert_eq!(std::str::from_utf8(&b[..n]).expect("ascii"), want);
        }
        let n = size_line(usize::MAX, &mut b);
        assert_eq!(n, 18);
    }

    #[test]
    fn a_response_is_complete_after_head_and_terminator() {
        assert!(!complete(b"HTTP/1.1 200 OK\r\n"));
        assert!(!complete(b"HTTP/1.1 200 OK\r\n\r\n0\r\n"));
        assert!(complete(b"HTTP/1.1 200 OK\r\n\r\n0\r\n\r\n"));
    }
}

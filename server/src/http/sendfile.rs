//! Catch-up bodies sent from the page cache.
//!
//! A large catch-up read of bytes already written to a stream's data file is sent with
//! `sendfile`: the kernel moves the file's pages to the socket, and no copy of the bytes
//! is made in the server (through hyper a body is read into a buffer, then copied into the
//! socket). It uses the connection handoff of `park`: the handler gives hyper an empty
//! chunked body, takes the socket once hyper has written the head, and sends the bytes as
//! one chunk. The file descriptor stays open while it is sent, so a stream deleted
//! meanwhile still sends what it held; a trim that frees the range meanwhile ends the
//! connection before the chunked terminator, so the client never takes zeros for data.

use std::fs::File;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use tokio::io::Interest;
use tokio::net::TcpStream;

use super::park::{self, TERMINATOR};
use crate::store::{Piece, Stream};

/// A catch-up body waiting to be sent outside hyper.
pub struct FileBody {
    pub stream: Arc<Stream>,
    /// Stream position of the first byte.
    pub pos: u64,
    pub pieces: Vec<Piece>,
}

impl FileBody {
    fn len(&self) -> usize {
        self.pieces.iter().map(Piece::len).sum()
    }
}

/// How long a blocking thread waits for room in the socket before it hands the wait back
/// to the async runtime (a client that stops reading holds no thread).
const STALL: Duration = Duration::from_millis(200);

/// Sends `head` and the body as one chunk. Returns the socket when the response ended
/// cleanly (the connection can serve more requests), `None` when it could not be sent.
/// `send_buffer` bytes (0: the kernel's autotuning) are asked for the socket's send buffer.
pub async fn send(
    mut tcp: TcpStream,
    head: Vec<u8>,
    body: FileBody,
    send_buffer: usize,
) -> Option<TcpStream> {
    if send_buffer > 0 {
        let _ = rustix::net::sockopt::set_socket_send_buffer_size(&tcp, send_buffer);
    }
    let len = body.len();
    let mut line = [0u8; 18];
    let n = park::size_line(len, &mut line);
    park::send(&tcp, &[&head, &line[..n]]).await.ok()?;
    drop(head);
    for piece in &body.pieces {
        let sent = match piece {
            Piece::Mem(b) => park::send(&tcp, &[b]).await,
            Piece::File { file, at, len } => {
                let (back, sent) = send_range(tcp, file.clone(), *at, *len).await?;
                tcp = back;
                sent
            }
        };
        if let Err(e) = sent {
            tracing::debug!("catch-up body not sent: {e}");
            return None;
        }
    }
    if body.stream.trimmed_before() > body.pos {
        tracing::debug!(pos = body.pos, "range trimmed while it was sent; closing");
        return None;
    }
    park::send(&tcp, &[b"\r\n", TERMINATOR]).await.ok()?;
    crate::metrics::catch_up_bytes(len);
    Some(tcp)
}

/// Sends `len` bytes of `file` at `at` to the socket. `sendfile` runs on a blocking
/// thread that waits for room in the socket itself and sends again at once (the kernel's
/// work of moving the pages then stays in the server; driven from the async runtime, most
/// of it fell to the reading client and catch-up ran at half the rate). After [`STALL`]
/// without room the wait goes back to the runtime. `None`: the thread was lost.
async fn send_range(
    mut tcp: TcpStream,
    file: Arc<File>,
    at: u64,
    len: usize,
) -> Option<(TcpStream, io::Result<()>)> {
    let mut offset = at;
    let end = at + len as u64;
    loop {
        let file = file.clone();
        let (back, at, sent) = tokio::task::spawn_blocking(move || {
            let sent = send_while_writable(&tcp, &file, &mut offset, end);
            (tcp, offset, sent)
        })
        .await
        .ok()?;
        (tcp, offset) = (back, at);
        match sent {
            Ok(true) => return Some((tcp, Ok(()))),
            Ok(false) => {
                if let Err(e) = writable(&tcp).await {
                    return Some((tcp, Err(e)));
                }
            }
            Err(e) => return Some((tcp, Err(e))),
        }
    }
}

/// `sendfile` until `end` (`true`), or until the socket had no room for [`STALL`].
fn send_while_writable(
    tcp: &TcpStream,
    file: &File,
    offset: &mut u64,
    end: u64,
) -> io::Result<bool> {
    while *offset < end {
        let want = usize::try_from(end - *offset).unwrap_or(usize::MAX).min(1 << 30);
        match rustix::fs::sendfile(tcp, file, Some(&mut *offset), want) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "data file ended")),
            Ok(_) => {}
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN) if !room(tcp, STALL)? => return Ok(false),
            Err(Errno::AGAIN) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

/// Waits up to `wait` for room in the socket's send buffer (or an error to report).
fn room(tcp: &TcpStream, wait: Duration) -> io::Result<bool> {
    let mut fds = [PollFd::new(tcp, PollFlags::OUT)];
    let timeout = Timespec::try_from(wait).map_err(io::Error::other)?;
    Ok(poll(&mut fds, Some(&timeout))? > 0)
}

/// Waits in the runtime until the socket has room. The check runs inside `try_io`, so the
/// runtime's readiness is cleared only when the socket really is full.
async fn writable(tcp: &TcpStream) -> io::Result<()> {
    loop {
        tcp.writable().await?;
        let ready = tcp.try_io(Interest::WRITABLE, || {
            if room(tcp, Duration::ZERO)? {
                Ok(())
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            }
        });
        match ready {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
}

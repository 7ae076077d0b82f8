//! Reading request bodies within the server's bounds: the per-request size limit (413), the
//! body-read deadline (408, then the connection closes) and the cap on body bytes held
//! across all requests at once (503 with `Retry-After`). A body refused by the budget is
//! still read (and dropped, never held) so that a client that is sending it reads the 503
//! instead of a reset connection.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body as _, Incoming};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::response::{error, Reply};

/// Seconds a client is asked to wait when the in-flight cap is reached.
const RETRY_AFTER_SECS: &str = "1";

/// The budget of request-body bytes held at once across all requests.
pub struct BodyBudget {
    bytes: Arc<Semaphore>,
    cap: usize,
}

/// A read body and its share of the budget; the share is returned when this is dropped,
/// after the request that read it is done with it.
pub struct ReadBody {
    pub bytes: Bytes,
    share: Share,
}

/// A share of the in-flight budget, returned when dropped.
pub struct Share {
    _permit: Option<OwnedSemaphorePermit>,
}

impl ReadBody {
    /// Splits the bytes from their budget share, so that the bytes can be handed on (and
    /// freed by whoever owns them last) while the caller keeps the share until it is done.
    pub fn into_parts(self) -> (Bytes, Share) {
        (self.bytes, self.share)
    }
}

impl BodyBudget {
    /// A budget of `cap` bytes (the semaphore's maximum at most).
    pub fn new(cap: usize) -> BodyBudget {
        let cap = cap.clamp(1, Semaphore::MAX_PERMITS);
        BodyBudget { bytes: Arc::new(Semaphore::new(cap)), cap }
    }

    /// Bytes held by requests right now.
    pub fn in_use(&self) -> usize {
        self.cap - self.bytes.available_permits()
    }

    /// Takes `n` more bytes into `held`, or fails at once when the budget has no room.
    fn take(&self, held: &mut Option<OwnedSemaphorePermit>, n: usize) -> Result<(), Reply> {
        if n == 0 {
            return Ok(());
        }
        let permit = u32::try_from(n)
            .ok()
            .and_then(|n| self.bytes.clone().try_acquire_many_owned(n).ok())
            .ok_or_else(|| self.busy())?;
        match held {
            Some(h) => h.merge(permit),
            None => *held = Some(permit),
        }
        Ok(())
    }

    fn busy(&self) -> Reply {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the server holds {} bytes of request bodies already \
                 (--max-inflight-body-bytes); retry shortly",
                self.cap
            ),
        )
        .header("retry-after", RETRY_AFTER_SECS)
    }
}

/// The limits a body is read under.
pub struct Limits<'a> {
    pub max_bytes: usize,
    pub timeout: Duration,
    pub budget: &'a BodyBudget,
}

/// Reads a whole request body within `limits`.
pub async fn read(
    mut body: Incoming,
    headers: &HeaderMap,
    limits: Limits<'_>,
) -> Result<ReadBody, Reply> {
    let deadline = Instant::now() + limits.timeout;
    let timed_out = || {
        error(
            StatusCode::REQUEST_TIMEOUT,
            format!("the request body did not arrive within {} ms", limits.timeout.as_millis()),
        )
        .header("connection", "close")
    };
    match read_within(&mut body, headers, &limits, deadline).await {
        Ok(r) => r,
        Err(Elapsed) => Err(timed_out()),
    }
}

/// The body-read deadline passed.
struct Elapsed;

async fn next_frame(
    body: &mut Incoming,
    deadline: Instant,
) -> Result<Option<Result<Bytes, Reply>>, Elapsed> {
    let mut next = body.frame();
    // A frame that has already arrived (most bodies come with their head) is taken without
    // arming the deadline's timer; only a frame still on its way is waited for under it.
    let frame = match std::future::poll_fn(|cx| Poll::Ready(Pin::new(&mut next).poll(cx))).await {
        Poll::Ready(f) => f,
        Poll::Pending => tokio::time::timeout_at(deadline, next).await.map_err(|_| Elapsed)?,
    };
    Ok(frame.map(|f| match f {
        Ok(f) => Ok(f.into_data().unwrap_or_default()),
        Err(e) => Err(error(StatusCode::BAD_REQUEST, format!("cannot read request body: {e}"))
            .header("connection", "close")),
    }))
}

/// Reads and drops the rest of a refused body, so the client (still sending) reliably reads
/// the answer; the connection closes instead when that takes too long or too much.
async fn refuse(
    body: &mut Incoming,
    mut seen: usize,
    limit: usize,
    deadline: Instant,
    reply: Reply,
) -> Reply {
    loop {
        match next_frame(body, deadline).await {
            Ok(Some(Ok(data))) => {
                seen += data.len();
                if seen > limit {
                    break;
                }
            }
            Ok(None) => return reply,
            Ok(Some(Err(_))) | Err(Elapsed) => break,
        }
    }
    reply.header("connection", "close")
}

async fn read_within(
    body: &mut Incoming,
    headers: &HeaderMap,
    limits: &Limits<'_>,
    deadline: Instant,
) -> Result<Result<ReadBody, Reply>, Elapsed> {
    let limit = limits.max_bytes;
    let too_large = || {
        error(StatusCode::PAYLOAD_TOO_LARGE, format!("request body exceeds {limit} bytes"))
            .header("connection", "close")
    };
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Ok(Err(too_large()));
    }
    if body.is_end_stream() {
        return Ok(Ok(ReadBody { bytes: Bytes::new(), share: Share { _permit: None } }));
    }
    let mut held = None;
    // A declared length is taken from the budget before any byte is read; a chunked body
    // takes its share chunk by chunk.
    let declared = declared.map(|n| n as usize);
    if let Some(n) = declared {
        if let Err(busy) = limits.budget.take(&mut held, n) {
            return Ok(Err(refuse(body, 0, limit, deadline, busy).await));
        }
    }
    // Sized only once a second frame arrives: most bodies come in one frame, kept as is.
    let mut buf = BytesMut::new();
    let mut first: Option<Bytes> = None;
    while let Some(data) = next_frame(body, deadline).await? {
        let data = match data {
            Ok(d) => d,
            Err(r) => return Ok(Err(r)),
        };
        let total = buf.len() + first.as_ref().map_or(0, Bytes::len) + data.len();
        if total > limit {
            return Ok(Err(too_large()));
        }
        if declared.is_none() {
            if let Err(busy) = limits.budget.take(&mut held, data.len()) {
                drop((buf, first, held));
                return Ok(Err(refuse(body, total, limit, deadline, busy).await));
            }
        }
        // A body that arrives in one frame is kept as it is, without a copy.
        if buf.is_empty() && first.is_none() {
            first = Some(data);
        } else {
            if let Some(f) = first.take() {
                buf.reserve(declared.unwrap_or(0).max(total));
                buf.extend_from_slice(&f);
            }
            buf.extend_from_slice(&data);
        }
        // All the declared bytes are in: no need to poll once more for the end.
        if body.is_end_stream() {
            break;
        }
    }
    let bytes = first.unwrap_or_else(|| buf.freeze());
    Ok(Ok(ReadBody { bytes, share: Share { _permit: held } }))
}

//! A handle on one stream: create (and fork), append, close, inspect, delete, read.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use serde::Serialize;

use super::error::{Error, ErrorKind, Result};
use super::http::{header_str, is_success, status_error, Op, Req, Safety};
use super::producer::{Producer, ProducerOptions};
use super::read::{ReadOptions, Reader};
use super::Client;
use crate::headers as h;

/// A handle on the stream at one URL. Cheap to clone; clones share the learned content
/// type.
#[derive(Clone)]
pub struct DurableStream {
    pub(crate) client: Client,
    pub(crate) url: Url,
    pub(crate) extra: HeaderMap,
    content_type: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for DurableStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurableStream").field("url", &self.url.as_str()).finish_non_exhaustive()
    }
}

/// Options of [`DurableStream::create`].
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// The stream's content type. Without it the server picks (usually
    /// `application/octet-stream`); a fork inherits its source's.
    pub content_type: Option<String>,
    /// Sliding time-to-live in seconds (`Stream-TTL`).
    pub ttl_seconds: Option<u64>,
    /// Absolute expiry, RFC 3339 (`Stream-Expires-At`).
    pub expires_at: Option<String>,
    /// Create the stream already closed; `body` is then its whole content.
    pub closed: bool,
    /// Initial content.
    pub body: Option<Bytes>,
    /// Create a fork of another stream instead of an empty stream.
    pub fork: Option<ForkOptions>,
}

impl CreateOptions {
    /// Default options.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the content type.
    pub fn content_type(mut self, ct: impl Into<String>) -> Self {
        self.content_type = Some(ct.into());
        self
    }
    /// Sets a sliding TTL.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl_seconds = Some(ttl.as_secs());
        self
    }
    /// Sets an absolute expiry (RFC 3339).
    pub fn expires_at(mut self, at: impl Into<String>) -> Self {
        self.expires_at = Some(at.into());
        self
    }
    /// Creates the stream closed.
    pub fn closed(mut self, closed: bool) -> Self {
        self.closed = closed;
        self
    }
    /// Sets the initial content.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Some(body.into());
        self
    }
    /// Makes this creation a fork.
    pub fn fork(mut self, fork: ForkOptions) -> Self {
        self.fork = Some(fork);
        self
    }
}

/// Where a fork branches off its source (`Stream-Forked-From` and friends).
#[derive(Debug, Clone, Default)]
pub struct ForkOptions {
    /// The source stream: its path on the same server, or its full URL (the path is used).
    pub source: String,
    /// Divergence offset: the fork inherits data before it. Default: the source's tail.
    pub offset: Option<String>,
    /// Messages (JSON streams) or bytes (other types) inherited past `offset`.
    pub sub_offset: Option<u64>,
}

impl ForkOptions {
    /// A fork of `source` at its current tail.
    pub fn from(source: impl Into<String>) -> Self {
        ForkOptions { source: source.into(), offset: None, sub_offset: None }
    }
    /// Branch at this offset (one the server returned).
    pub fn at(mut self, offset: impl Into<String>) -> Self {
        self.offset = Some(offset.into());
        self
    }
    /// Refine the branch point past `offset`.
    pub fn sub_offset(mut self, n: u64) -> Self {
        self.sub_offset = Some(n);
        self
    }
}

/// Outcome of a create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateResult {
    /// True for `201 Created`; false when an identical stream already existed (`200`).
    pub created: bool,
    /// The HTTP status (201 or 200).
    pub status: u16,
    /// The tail offset after any initial content.
    pub next_offset: Option<String>,
    /// The stream's content type, as the server reports it.
    pub content_type: Option<String>,
    /// The stream is closed.
    pub closed: bool,
}

/// Options of [`DurableStream::append_with`].
#[derive(Debug, Clone, Default)]
pub struct AppendOptions {
    /// `Stream-Seq`: a writer sequence that must increase (byte-wise). Makes the append
    /// safe to retry.
    pub seq: Option<String>,
    /// Content type to send; default: the stream's (learned with a HEAD if unknown).
    pub content_type: Option<String>,
}

/// Outcome of an append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendResult {
    /// The tail offset after the append.
    pub next_offset: String,
    /// The stream is now closed.
    pub closed: bool,
}

/// Outcome of a close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseResult {
    /// The stream's final offset.
    pub final_offset: String,
}

/// Stream metadata from `HEAD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    /// The stream's content type.
    pub content_type: Option<String>,
    /// The tail offset.
    pub next_offset: String,
    /// Sliding TTL in seconds, if set.
    pub ttl_seconds: Option<u64>,
    /// Absolute expiry (RFC 3339), if set.
    pub expires_at: Option<String>,
    /// The stream is closed.
    pub closed: bool,
    /// With state compaction on the server: the absolute URL of the stream's newest
    /// snapshot (`Stream-Snapshot`, resolved against the stream URL).
    pub snapshot: Option<String>,
    /// The stream offset that snapshot covers (`Stream-Snapshot-Offset`).
    pub snapshot_offset: Option<String>,
}

impl DurableStream {
    pub(crate) fn new(client: Client, url: &str) -> Result<Self> {
        let url = Url::parse(url).map_err(|e| {
            Error::invalid_argument("url", format!("invalid stream URL {url:?}: {e}"))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::invalid_argument(
                "url",
                format!("stream URL must be http(s): {url}"),
            ));
        }
        Ok(DurableStream { client, url, extra: HeaderMap::new(), content_type: Arc::default() })
    }

    /// The stream URL.
    pub fn url(&self) -> &str {
        self.url.as_str()
    }

    /// The path component of the URL (what `Stream-Forked-From` names).
    pub fn path(&self) -> &str {
        self.url.path()
    }

    /// The client this handle uses.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The content type, if known (from create, head, a read, or
    /// [`DurableStream::set_content_type`]).
    pub fn content_type(&self) -> Option<String> {
        self.content_type.lock().ok().and_then(|g| g.clone())
    }

    /// Tells the handle the stream's content type, sparing a HEAD before appends.
    pub fn set_content_type(&self, ct: impl Into<String>) {
        if let Ok(mut g) = self.content_type.lock() {
            *g = Some(ct.into());
        }
    }

    pub(crate) fn learn_content_type(&self, headers: &HeaderMap) {
        if let Some(ct) = header_str(headers, "content-type") {
            if !ct.starts_with("text/event-stream") {
                self.set_content_type(ct);
            }
        }
    }

    /// A handle that also sends this fixed header on every request it makes.
    pub fn with_header(&self, name: &str, value: &str) -> Result<Self> {
        let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            Error::invalid_argument("headers", format!("invalid header name {name:?}"))
        })?;
        let v = HeaderValue::from_str(value).map_err(|_| {
            Error::invalid_argument("headers", format!("invalid value for header {name}"))
        })?;
        let mut s = self.clone();
        s.extra.insert(n, v);
        Ok(s)
    }

    pub(crate) fn req(&self, method: Method, op: Op) -> Req {
        let mut r = Req::new(method, self.url.clone(), op, &self.extra);
        r.timeout = Some(self.client.inner.timeouts.request);
        r
    }

    /// Creates the stream (`PUT`), or confirms an identical one exists. Idempotent, so
    /// transient failures are retried.
    pub async fn create(&self, opts: CreateOptions) -> Result<CreateResult> {
        let mut req = self.req(Method::PUT, Op::Create);
        if let Some(ct) = &opts.content_type {
            req = req.header("content-type", ct.clone());
        }
        if let Some(ttl) = opts.ttl_seconds {
            req = req.header(h::STREAM_TTL, ttl.to_string());
        }
        if let Some(at) = &opts.expires_at {
            req = req.header(h::STREAM_EXPIRES_AT, at.clone());
        }
        if opts.closed {
            req = req.header(h::STREAM_CLOSED, "true");
        }
        if let Some(fork) = &opts.fork {
            let source = match Url::parse(&fork.source) {
                Ok(u) => u.path().to_string(),
                Err(_) => fork.source.clone(),
            };
            req = req.header(h::STREAM_FORKED_FROM, source);
            if let Some(o) = &fork.offset {
                req = req.header(h::STREAM_FORK_OFFSET, o.clone());
            }
            if let Some(n) = fork.sub_offset {
                req = req.header(h::STREAM_FORK_SUB_OFFSET, n.to_string());
            }
        }
        req.body = opts.body.clone();
        let resp = self.client.send(&req).await?;
        let status = resp.status();
        if !is_success(status) {
            return Err(status_error(resp, &self.url, Op::Create).await);
        }
        let headers = resp.headers();
        self.learn_content_type(headers);
        if self.content_type().is_none() {
            if let Some(ct) = &opts.content_type {
                self.set_content_type(ct.clone());
            }
        }
        Ok(CreateResult {
            created: status.as_u16() == 201,
            status: status.as_u16(),
            next_offset: header_str(headers, h::STREAM_NEXT_OFFSET).map(str::to_string),
            content_type: header_str(headers, "content-type").map(str::to_string),
            closed: h::is_true(header_str(headers, h::STREAM_CLOSED)),
        })
    }

    /// Creates this stream as a fork of `fork.source` (first-class form of
    /// [`CreateOptions::fork`]). `opts` may add a TTL, expiry or content type.
    pub async fn create_fork(
        &self,
        fork: ForkOptions,
        opts: CreateOptions,
    ) -> Result<CreateResult> {
        self.create(CreateOptions { fork: Some(fork), ..opts }).await
    }

    /// Stream metadata (`HEAD`).
    pub async fn head(&self) -> Result<StreamInfo> {
        let req = self.req(Method::HEAD, Op::Head);
        let resp = self.client.send(&req).await?;
        if !is_success(resp.status()) {
            return Err(status_error(resp, &self.url, Op::Head).await);
        }
        let headers = resp.headers();
        self.learn_content_type(headers);
        Ok(StreamInfo {
            content_type: header_str(headers, "content-type").map(str::to_string),
            next_offset: required_offset(headers, &self.url)?,
            ttl_seconds: header_str(headers, h::STREAM_TTL).and_then(crate::values::strict_uint),
            expires_at: header_str(headers, h::STREAM_EXPIRES_AT).map(str::to_string),
            closed: h::is_true(header_str(headers, h::STREAM_CLOSED)),
            snapshot: header_str(headers, h::STREAM_SNAPSHOT)
                .and_then(|p| self.url.join(p).ok())
                .map(String::from),
            snapshot_offset: header_str(headers, h::STREAM_SNAPSHOT_OFFSET).map(str::to_string),
        })
    }

    /// A handle on another stream URL of the same server, with this handle's client and
    /// extra headers (e.g. a snapshot named by [`StreamInfo::snapshot`]).
    pub fn sibling(&self, url: &str) -> Result<DurableStream> {
        let mut s = DurableStream::new(self.client.clone(), url)?;
        s.extra = self.extra.clone();
        Ok(s)
    }

    /// Deletes the stream. Retried on transient failures; a retry that finds the stream
    /// already gone reports [`ErrorKind::NotFound`].
    pub async fn delete(&self) -> Result<()> {
        let req = self.req(Method::DELETE, Op::Delete);
        let resp = self.client.send(&req).await?;
        if !is_success(resp.status()) {
            return Err(status_error(resp, &self.url, Op::Delete).await);
        }
        Ok(())
    }

    /// The content type to send with a body: known, or learned with one HEAD.
    pub(crate) async fn resolve_content_type(&self) -> Result<String> {
        if let Some(ct) = self.content_type() {
            return Ok(ct);
        }
        let info = self.head().await?;
        Ok(info.content_type.unwrap_or_else(|| "application/octet-stream".to_string()))
    }

    /// Appends raw bytes with the stream's content type. For JSON streams the bytes must be
    /// one JSON value; a top-level array is flattened one level by the server. See
    /// [`super::retry`] for when a plain append is retried.
    pub async fn append(&self, body: impl Into<Bytes>) -> Result<AppendResult> {
        self.append_with(body, AppendOptions::default()).await
    }

    /// Appends UTF-8 text.
    pub async fn append_text(&self, text: &str) -> Result<AppendResult> {
        self.append(Bytes::copy_from_slice(text.as_bytes())).await
    }

    /// Appends one JSON message (to a JSON stream). The value is wrapped in an array so an
    /// array value stays one message.
    pub async fn append_json<T: Serialize + ?Sized>(&self, value: &T) -> Result<AppendResult> {
        let mut body = b"[".to_vec();
        serde_json::to_writer(&mut body, value).map_err(json_arg_error)?;
        body.push(b']');
        self.append(body).await
    }

    /// Appends several JSON messages in one request (a non-empty slice).
    pub async fn append_json_batch<T: Serialize>(&self, values: &[T]) -> Result<AppendResult> {
        if values.is_empty() {
            return Err(Error::invalid_argument(
                "values",
                "a JSON batch needs at least one message",
            ));
        }
        let body = serde_json::to_vec(values).map_err(json_arg_error)?;
        self.append(body).await
    }

    /// Appends with options (`Stream-Seq`, content type).
    pub async fn append_with(
        &self,
        body: impl Into<Bytes>,
        opts: AppendOptions,
    ) -> Result<AppendResult> {
        let body = body.into();
        let ct = match opts.content_type {
            Some(ct) => ct,
            None => self.resolve_content_type().await?,
        };
        let seq = opts.seq.is_some();
        let mut req = self.req(Method::POST, Op::Append { seq }).header("content-type", ct);
        if let Some(s) = opts.seq {
            req = req.header(h::STREAM_SEQ, s);
        }
        req.safety = if seq { Safety::Idempotent } else { Safety::PlainAppend };
        req.body = Some(body);
        let resp = self.client.send(&req).await?;
        if !is_success(resp.status()) {
            return Err(status_error(resp, &self.url, Op::Append { seq }).await);
        }
        let headers = resp.headers();
        Ok(AppendResult {
            next_offset: required_offset(headers, &self.url)?,
            closed: h::is_true(header_str(headers, h::STREAM_CLOSED)),
        })
    }

    /// Closes the stream. Idempotent: closing a closed stream succeeds.
    pub async fn close(&self) -> Result<CloseResult> {
        self.close_inner(None).await
    }

    /// Appends a final message and closes the stream atomically. Fails with
    /// [`ErrorKind::StreamClosed`] if the stream was already closed. Retried only like a
    /// plain append.
    pub async fn close_with(&self, final_message: impl Into<Bytes>) -> Result<CloseResult> {
        self.close_inner(Some(final_message.into())).await
    }

    async fn close_inner(&self, body: Option<Bytes>) -> Result<CloseResult> {
        let mut req = self.req(Method::POST, Op::Close).header(h::STREAM_CLOSED, "true");
        if let Some(b) = body.filter(|b| !b.is_empty()) {
            let ct = self.resolve_content_type().await?;
            req = req.header("content-type", ct);
            req.body = Some(b);
            req.safety = Safety::PlainAppend;
        }
        let resp = self.client.send(&req).await?;
        if !is_success(resp.status()) {
            return Err(status_error(resp, &self.url, Op::Close).await);
        }
        Ok(CloseResult { final_offset: required_offset(resp.headers(), &self.url)? })
    }

    /// A reader from the given offset in the given mode. Nothing is sent until the first
    /// `next_chunk`.
    pub fn read(&self, opts: ReadOptions) -> Reader {
        Reader::new(self.clone(), opts)
    }

    /// An idempotent producer writing to this stream. Must be called inside a tokio
    /// runtime (it spawns its background task).
    pub fn producer(&self, producer_id: &str, opts: ProducerOptions) -> Result<Producer> {
        Producer::new(self.clone(), producer_id, opts)
    }
}

pub(crate) fn required_offset(headers: &HeaderMap, url: &Url) -> Result<String> {
    header_str(headers, h::STREAM_NEXT_OFFSET).map(str::to_string).ok_or_else(|| {
        Error::builder(ErrorKind::Parse, format!("response from {url} lacks Stream-Next-Offset"))
            .url(url.as_str())
            .build()
    })
}

fn json_arg_error(e: serde_json::Error) -> Error {
    Error::builder(ErrorKind::InvalidArgument, format!("cannot serialize JSON message: {e}"))
        .argument("value")
        .source(e)
        .build()
}

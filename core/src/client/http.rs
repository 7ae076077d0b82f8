//! Sending one protocol request, with retries, and turning statuses into [`Error`]s.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Response, StatusCode, Url};

use super::error::{Error, ErrorKind, Result};
use super::retry::{is_refusal_status, is_transient_status, parse_retry_after};
use super::Client;
use crate::headers as h;

/// Which failures a request may be retried on (see [`super::retry`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Safety {
    /// Reads and idempotent writes: every transient failure.
    Idempotent,
    /// Plain appends: only failures after which nothing can have been applied.
    PlainAppend,
}

/// What a request does, for error messages and status mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Create,
    Append { seq: bool },
    Close,
    Head,
    Delete,
    Read,
    Produce,
}

impl Op {
    fn verb(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Append { .. } => "append to",
            Op::Close => "close",
            Op::Head => "inspect",
            Op::Delete => "delete",
            Op::Read => "read",
            Op::Produce => "produce to",
        }
    }
}

/// One request, re-buildable for each attempt.
pub(crate) struct Req {
    pub method: Method,
    pub url: Url,
    pub query: Vec<(&'static str, String)>,
    pub headers: Vec<(&'static str, String)>,
    pub extra: HeaderMap,
    pub body: Option<Bytes>,
    pub timeout: Option<Duration>,
    pub safety: Safety,
    pub op: Op,
}

impl Req {
    pub(crate) fn new(method: Method, url: Url, op: Op, extra: &HeaderMap) -> Req {
        Req {
            method,
            url,
            query: Vec::new(),
            headers: Vec::new(),
            extra: extra.clone(),
            body: None,
            timeout: None,
            safety: Safety::Idempotent,
            op,
        }
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Req {
        self.headers.push((name, value.into()));
        self
    }
}

/// Response header text, if present and valid.
pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A response header parsed as a producer number.
pub(crate) fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    header_str(headers, name).and_then(|v| v.trim().parse().ok())
}

/// Maps a reqwest failure to an error kind.
pub(crate) fn transport_error(e: reqwest::Error, url: &Url, op: Op) -> Error {
    let kind = if e.is_timeout() { ErrorKind::Timeout } else { ErrorKind::Network };
    let what = if e.is_timeout() { "timed out" } else { "failed" };
    Error::builder(kind, format!("could not {} stream {url}: request {what}: {e}", op.verb()))
        .url(url.as_str())
        .source(e)
        .build()
}

impl Client {
    /// Builds and sends one attempt, evaluating dynamic headers and parameters now.
    pub(crate) async fn send_once(&self, req: &Req) -> Result<Response> {
        let inner = &self.inner;
        let mut url = req.url.clone();
        let mut query: Vec<(String, String)> =
            req.query.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        query.extend(inner.params.resolve().await?);
        if !query.is_empty() {
            // Lexicographic key order, as the protocol recommends for cache hits.
            query.sort_by(|a, b| a.0.cmp(&b.0));
            let mut pairs = url.query_pairs_mut();
            for (k, v) in &query {
                pairs.append_pair(k, v);
            }
        }
        let mut builder = inner.http.request(req.method.clone(), url);
        let mut headers = HeaderMap::new();
        for (k, v) in inner.headers.resolve().await? {
            insert_header(&mut headers, &k, &v)?;
        }
        for (k, v) in &req.extra {
            headers.insert(k.clone(), v.clone());
        }
        for (k, v) in &req.headers {
            insert_header(&mut headers, k, v)?;
        }
        builder = builder.headers(headers);
        if let Some(t) = req.timeout {
            builder = builder.timeout(t);
        }
        if let Some(body) = &req.body {
            builder = builder.body(body.clone());
        }
        builder.send().await.map_err(|e| transport_error(e, &req.url, req.op))
    }

    /// Sends a request, retrying what [`Safety`] allows. Any final HTTP status comes back
    /// as `Ok`; transport failures and exhausted retries come back as `Err`.
    pub(crate) async fn send(&self, req: &Req) -> Result<Response> {
        let retry = &self.inner.retry;
        let mut retries = 0u32;
        loop {
            let attempt = self.send_once(req).await;
            let (retryable, retry_after, failure) = match attempt {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let ok = match req.safety {
                        Safety::Idempotent => is_transient_status(status),
                        Safety::PlainAppend => {
                            retry.retry_plain_appends && is_refusal_status(status)
                        }
                    };
                    if !ok {
                        return Ok(resp);
                    }
                    let ra = header_str(resp.headers(), "retry-after").and_then(parse_retry_after);
                    (true, ra, Err(resp))
                }
                Err(e) => {
                    let connect_failed = e.source_reqwest().is_some_and(|r| r.is_connect());
                    // Only transport failures are retried; a failing header or parameter
                    // function (or any other local error) is returned at once.
                    let transport = matches!(e.kind(), ErrorKind::Network | ErrorKind::Timeout);
                    let ok = match req.safety {
                        Safety::Idempotent => transport,
                        Safety::PlainAppend => retry.retry_plain_appends && connect_failed,
                    };
                    (ok, None, Ok(e))
                }
            };
            if !retryable || retries >= retry.max_retries {
                return match failure {
                    Err(resp) if retries == 0 => Ok(resp),
                    Err(resp) => {
                        let status = resp.status().as_u16();
                        let body = error_body(resp).await;
                        Err(Error::builder(
                            ErrorKind::RetryExhausted,
                            format!(
                                "could not {} stream {}: HTTP {status} after {} attempts{body}",
                                req.op.verb(),
                                req.url,
                                retries + 1
                            ),
                        )
                        .status(status)
                        .url(req.url.as_str())
                        .retry_after(retry_after)
                        .attempts(retries + 1)
                        .build())
                    }
                    Ok(e) if retries == 0 => Err(e),
                    Ok(e) => Err(Error::builder(
                        ErrorKind::RetryExhausted,
                        format!("{} (after {} attempts)", e.message(), retries + 1),
                    )
                    .url(req.url.as_str())
                    .attempts(retries + 1)
                    .source(e)
                    .build()),
                };
            }
            tokio::time::sleep(retry.delay(retries, retry_after)).await;
            retries += 1;
        }
    }
}

fn insert_header(headers: &mut HeaderMap, name: &str, value: &str) -> Result<()> {
    let n = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| Error::invalid_argument("headers", format!("invalid header name {name:?}")))?;
    let v = HeaderValue::from_str(value).map_err(|_| {
        Error::invalid_argument("headers", format!("invalid value for header {name}"))
    })?;
    headers.insert(n, v);
    Ok(())
}

/// A short excerpt of an error response body, for messages (`": body"` or empty).
pub(crate) async fn error_body(resp: Response) -> String {
    match resp.bytes().await {
        Ok(b) if !b.is_empty() => {
            let text = String::from_utf8_lossy(&b[..b.len().min(200)]);
            format!(": {}", text.trim())
        }
        _ => String::new(),
    }
}

/// Turns a non-success response into an error with every fact the protocol carries.
pub(crate) async fn status_error(resp: Response, url: &Url, op: Op) -> Error {
    let status = resp.status();
    let code = status.as_u16();
    let headers = resp.headers().clone();
    let closed = h::is_true(header_str(&headers, h::STREAM_CLOSED));
    let next_offset = header_str(&headers, h::STREAM_NEXT_OFFSET).map(str::to_string);
    let expected = header_u64(&headers, h::PRODUCER_EXPECTED_SEQ);
    let received = header_u64(&headers, h::PRODUCER_RECEIVED_SEQ);
    let epoch = header_u64(&headers, h::PRODUCER_EPOCH);
    let retry_after = header_str(&headers, "retry-after").and_then(parse_retry_after);
    let body = error_body(resp).await;
    let verb = op.verb();
    let (kind, message) = match code {
        404 => (ErrorKind::NotFound, format!("Stream not found: {url}")),
        410 => (ErrorKind::Gone, format!("could not {verb} stream {url}: gone (410){body}")),
        409 if closed => (ErrorKind::StreamClosed, format!("stream {url} is closed (409)")),
        409 if expected.is_some() || received.is_some() => (
            ErrorKind::SequenceGap,
            format!(
                "producer sequence gap on stream {url}: expected {}, received {}",
                expected.map_or("?".to_string(), |v| v.to_string()),
                received.map_or("?".to_string(), |v| v.to_string())
            ),
        ),
        409 if op == (Op::Append { seq: true }) => (
            ErrorKind::SequenceConflict,
            format!("Stream-Seq conflict on stream {url}: the sequence must increase (409){body}"),
        ),
        409 => {
            (ErrorKind::Conflict, format!("could not {verb} stream {url}: conflict (409){body}"))
        }
        403 if op == Op::Produce && epoch.is_some() => (
            ErrorKind::StaleEpoch,
            format!(
                "producer epoch is stale on stream {url}: the server is at epoch {}",
                epoch.unwrap_or_default()
            ),
        ),
        401 | 403 => (
            ErrorKind::Unauthorized,
            format!("could not {verb} stream {url}: not authorized ({code}){body}"),
        ),
        400 if op == Op::Read => (
            ErrorKind::InvalidOffset,
            format!("could not read stream {url}: the server refused the offset (400){body}"),
        ),
        400..=499 if code != 408 && code != 429 => (
            ErrorKind::BadRequest,
            format!("could not {verb} stream {url}: bad request ({code}){body}"),
        ),
        _ => (
            ErrorKind::UnexpectedStatus,
            format!(
                "could not {verb} stream {url}: HTTP {code} {}{body}",
                status.canonical_reason().unwrap_or("")
            ),
        ),
    };
    Error::builder(kind, message)
        .status(code)
        .url(url.as_str())
        .seqs(expected, received)
        .epoch(epoch)
        .final_offset(if closed { next_offset } else { None })
        .retry_after(retry_after)
        .build()
}

/// `true` for 2xx.
pub(crate) fn is_success(status: StatusCode) -> bool {
    status.is_success()
}

impl Error {
    /// The underlying reqwest error, when this error wraps one.
    fn source_reqwest(&self) -> Option<&reqwest::Error> {
        std::error::Error::source(self).and_then(|s| s.downcast_ref::<reqwest::Error>())
    }
}

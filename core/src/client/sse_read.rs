//! One open SSE connection: body pieces → [`crate::sse::parse::Parser`] → chunks.
//!
//! `data` events are buffered (base64-decoded when the server said so) until the next
//! `control` event, which carries the offset; the pair becomes one [`Chunk`]. Data not
//! followed by a control event before the connection ends is dropped: the reader resumes
//! from the last control offset, so nothing is lost or repeated. Unknown event types are
//! ignored.

use std::pin::Pin;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::error::{Error, ErrorKind};
use super::read::{count_json_messages, Chunk, Transport};
use crate::sse::parse::{Event, Parser};
use crate::sse::{EVENT_CONTROL, EVENT_DATA};

type Body = Pin<Box<dyn Stream<Item = reqwest::Result<Bytes>> + Send>>;

pub(crate) struct SseConn {
    body: Body,
    parser: Parser,
    base64: bool,
    json: bool,
    validate_json: bool,
    pending: Vec<Vec<u8>>,
    got_event: bool,
}

pub(crate) enum SseOutcome {
    /// A control event (with the data before it).
    Chunk(Chunk),
    /// The server ended the connection.
    Ended { got_event: bool },
    /// Nothing arrived within the allowed silence.
    Stalled { got_event: bool },
    /// The connection failed.
    Transport(reqwest::Error),
    /// A malformed event.
    Parse(Error),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ControlJson {
    stream_next_offset: String,
    #[serde(default)]
    stream_cursor: Option<String>,
    #[serde(default)]
    up_to_date: Option<bool>,
    #[serde(default)]
    stream_closed: Option<bool>,
}

impl SseConn {
    pub(crate) fn new(
        resp: reqwest::Response,
        base64: bool,
        json: bool,
        validate_json: bool,
    ) -> SseConn {
        SseConn {
            body: Box::pin(resp.bytes_stream()),
            parser: Parser::new(),
            base64,
            json,
            validate_json,
            pending: Vec::new(),
            got_event: false,
        }
    }

    pub(crate) fn got_event(&self) -> bool {
        self.got_event
    }

    /// Runs until the next control event, the end of the connection, or silence longer
    /// than `first_wait` (before any event) / `idle` (after one).
    pub(crate) async fn next(&mut self, first_wait: Duration, idle: Duration) -> SseOutcome {
        loop {
            while let Some(event) = self.parser.next_event() {
                self.got_event = true;
                match self.on_event(event) {
                    Ok(Some(chunk)) => return SseOutcome::Chunk(chunk),
                    Ok(None) => {}
                    Err(e) => return SseOutcome::Parse(e),
                }
            }
            let wait = if self.got_event { idle } else { first_wait };
            match tokio::time::timeout(wait, self.body.next()).await {
                Err(_) => return SseOutcome::Stalled { got_event: self.got_event },
                Ok(None) => return SseOutcome::Ended { got_event: self.got_event },
                Ok(Some(Err(e))) => return SseOutcome::Transport(e),
                Ok(Some(Ok(piece))) => self.parser.push(&piece),
            }
        }
    }

    fn on_event(&mut self, event: Event) -> Result<Option<Chunk>, Error> {
        match event.event.as_str() {
            EVENT_DATA => {
                let payload = if self.base64 { decode_base64(&event.data)? } else { event.data };
                self.pending.push(payload);
                Ok(None)
            }
            EVENT_CONTROL => self.on_control(&event.data).map(Some),
            _ => Ok(None),
        }
    }

    fn on_control(&mut self, data: &[u8]) -> Result<Chunk, Error> {
        let control: ControlJson = serde_json::from_slice(data).map_err(|e| {
            Error::builder(
                ErrorKind::Parse,
                format!(
                    "malformed SSE control event {:?}: {e}",
                    String::from_utf8_lossy(&data[..data.len().min(100)])
                ),
            )
            .source(e)
            .build()
        })?;
        let pending = std::mem::take(&mut self.pending);
        let (data, message_count) = if self.json {
            merge_json(pending, self.validate_json)?
        } else {
            (Bytes::from(pending.concat()), None)
        };
        let closed = control.stream_closed.unwrap_or(false);
        Ok(Chunk {
            data,
            next_offset: control.stream_next_offset,
            up_to_date: closed || control.up_to_date.unwrap_or(false),
            closed,
            cursor: control.stream_cursor,
            status: 200,
            json: self.json,
            message_count,
            transport: Transport::Sse,
        })
    }
}

/// Decodes a base64 data event: line breaks between `data:` lines are removed first.
fn decode_base64(text: &[u8]) -> Result<Vec<u8>, Error> {
    let clean: Vec<u8> = text.iter().copied().filter(|b| *b != b'\n' && *b != b'\r').collect();
    base64::engine::general_purpose::STANDARD.decode(&clean).map_err(|e| {
        Error::builder(ErrorKind::Parse, format!("invalid base64 in SSE data event: {e}"))
            .source(e)
            .build()
    })
}

/// Joins the JSON arrays of several data events into one array.
fn merge_json(pending: Vec<Vec<u8>>, validate: bool) -> Result<(Bytes, Option<usize>), Error> {
    match pending.len() {
        0 => Ok((Bytes::new(), Some(0))),
        1 => {
            let data = pending.into_iter().next().unwrap_or_default();
            let count = if validate { Some(count_json_messages(&data)?) } else { None };
            Ok((Bytes::from(data), count))
        }
        _ => {
            let mut out = Vec::with_capacity(pending.iter().map(Vec::len).sum::<usize>() + 2);
            out.push(b'[');
            let mut count = 0usize;
            for part in &pending {
                let items: Vec<&RawValue> = serde_json::from_slice(part).map_err(|e| {
                    Error::builder(ErrorKind::Parse, format!("invalid JSON in SSE data event: {e}"))
                        .build()
                })?;
                for item in items {
                    if count > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(item.get().as_bytes());
                    count += 1;
                }
            }
            out.push(b']');
            Ok((Bytes::from(out), Some(count)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_lines_are_joined() {
        assert_eq!(decode_base64(b"AQID\nBA==").ok(), Some(vec![1, 2, 3, 4]));
        assert_eq!(decode_base64(b"").ok(), Some(vec![]));
        assert!(decode_base64(b"!!").is_err());
    }

    #[test]
    fn json_parts_merge() {
        let (data, n) =
            merge_json(vec![b"[1,2]".to_vec(), b"[\n{\"a\":3}\n]".to_vec()], true).expect("valid");
        assert_eq!(&data[..], b"[1,2,{\"a\":3}]");
        assert_eq!(n, Some(3));
        assert!(merge_json(vec![b"[1".to_vec()], true).is_err());
        assert_eq!(merge_json(vec![], true).ok().and_then(|r| r.1), Some(0));
    }
}

//! Write-ahead log record encoding.
//!
//! Frame: `len: u32 LE | crc32: u32 LE | payload[len]`. The checksum covers the payload, so
//! recovery recognises a torn or partly written tail and cuts the log back to the last
//! complete record.

use bytes::{Buf, BufMut, Bytes};

use crate::store::engine::{ProducerStamp, Record, StreamMeta};

/// Bytes before each payload.
pub const HEADER: usize = 8;
/// Largest payload accepted when decoding (guards against garbage lengths).
pub const MAX_PAYLOAD: usize = 1 << 30;

const CREATE: u8 = 1;
const APPEND: u8 = 2;
const SOFT_DELETE: u8 = 3;
const DELETE: u8 = 4;
const TRIM: u8 = 5;

/// Bytes [`encode`] writes for `record` (exact for appends, a lower bound for creates), so
/// that a buffer sized by it does not grow while encoding.
pub fn encoded_len(record: &Record) -> usize {
    HEADER
        + match record {
            Record::Create { data, .. } => 1 + 8 + 4 + 256 + 1 + 4 + data.len(),
            Record::Append { data, producer, stream_seq, .. } => {
                1 + 8
                    + 8
                    + 1
                    + 8
                    + producer.as_ref().map_or(1, |p| 1 + 4 + p.id.len() + 8 + 8)
                    + stream_seq.as_ref().map_or(1, |s| 1 + 4 + s.len())
                    + 4
                    + data.len()
            }
            Record::SoftDelete { .. } | Record::Delete { .. } => 1 + 8,
            Record::Trim { .. } => 1 + 8 + 8,
        }
}

/// Appends the framed encoding of `record` to `out`.
pub fn encode(record: &Record, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER]);
    match record {
        Record::Create { id, meta, data, closed } => {
            out.put_u8(CREATE);
            out.put_u64_le(*id);
            let meta = serde_json::to_vec(meta).unwrap_or_default();
            put_bytes(out, &meta);
            out.put_u8(u8::from(*closed));
            put_bytes(out, data);
        }
        Record::Append { id, pos, data, closed, producer, stream_seq, at_ms } => {
            out.put_u8(APPEND);
            out.put_u64_le(*id);
            out.put_u64_le(*pos);
            out.put_u8(u8::from(*closed));
            out.put_i64_le(*at_ms);
            match producer {
                Some(p) => {
                    out.put_u8(1);
                    put_bytes(out, p.id.as_bytes());
                    out.put_u64_le(p.epoch);
                    out.put_u64_le(p.seq);
                }
                None => out.put_u8(0),
            }
            match stream_seq {
                Some(s) => {
                    out.put_u8(1);
                    put_bytes(out, s.as_bytes());
                }
                None => out.put_u8(0),
            }
            put_bytes(out, data);
        }
        Record::SoftDelete { id } => {
            out.put_u8(SOFT_DELETE);
            out.put_u64_le(*id);
        }
        Record::Delete { id } => {
            out.put_u8(DELETE);
            out.put_u64_le(*id);
        }
        Record::Trim { id, before } => {
            out.put_u8(TRIM);
            out.put_u64_le(*id);
            out.put_u64_le(*before);
        }
    }
    let len = u32::try_from(out.len() - start - HEADER).unwrap_or(u32::MAX);
    let crc = crc32fast::hash(&out[start + HEADER..]);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.put_u32_le(u32::try_from(b.len()).unwrap_or(u32::MAX));
    out.extend_from_slice(b);
}

/// Result of decoding one frame from a buffer.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // short-lived, never stored
pub enum Decoded {
    /// A record and the number of bytes its frame used.
    Record(Record, usize),
    /// The buffer ends inside a frame (a torn tail, or more bytes are needed).
    Incomplete,
    /// The frame's checksum or contents are wrong.
    Corrupt(String),
}

/// Decodes the frame at the start of `buf`.
pub fn decode(buf: &[u8]) -> Decoded {
    if buf.len() < HEADER {
        return Decoded::Incomplete;
    }
    let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    let crc = u32::from_le_bytes([buf[4], buf[5], buf[6], buf[7]]);
    if len > MAX_PAYLOAD {
        return Decoded::Corrupt(format!("frame length {len} is implausible"));
    }
    if buf.len() < HEADER + len {
        return Decoded::Incomplete;
    }
    let payload = &buf[HEADER..HEADER + len];
    if crc32fast::hash(payload) != crc {
        return Decoded::Corrupt("checksum mismatch".into());
    }
    match parse(payload) {
        Some(r) => Decoded::Record(r, HEADER + len),
        None => Decoded::Corrupt("malformed record".into()),
    }
}

fn parse(mut p: &[u8]) -> Option<Record> {
    let kind = take_u8(&mut p)?;
    let id = take_u64(&mut p)?;
    let record = match kind {
        CREATE => {
            let meta: StreamMeta = serde_json::from_slice(&take_bytes(&mut p)?).ok()?;
            let closed = take_flag(&mut p)?;
            let data = take_bytes(&mut p)?;
            Record::Create { id, meta, data, closed }
        }
        APPEND => {
            let pos = take_u64(&mut p)?;
            let closed = take_flag(&mut p)?;
            let at_ms = i64::from_le_bytes(take_array(&mut p)?);
            let producer = if take_flag(&mut p)? {
                let pid = String::from_utf8(take_bytes(&mut p)?.to_vec()).ok()?;
                let epoch = take_u64(&mut p)?;
                let seq = take_u64(&mut p)?;
                Some(ProducerStamp { id: pid, epoch, seq })
            } else {
                None
            };
            let stream_seq = if take_flag(&mut p)? {
                Some(String::from_utf8(take_bytes(&mut p)?.to_vec()).ok()?)
            } else {
                None
            };
            let data = take_bytes(&mut p)?;
            Record::Append { id, pos, data, closed, producer, stream_seq, at_ms }
        }
        SOFT_DELETE => Record::SoftDelete { id },
        DELETE => Record::Delete { id },
        TRIM => Record::Trim { id, before: take_u64(&mut p)? },
        _ => return None,
    };
    p.is_empty().then_some(record)
}

fn take_u8(p: &mut &[u8]) -> Option<u8> {
    (p.remaining() >= 1).then(|| p.get_u8())
}

/// A flag byte: exactly 0 or 1, as `encode` writes, so every record has one encoding.
fn take_flag(p: &mut &[u8]) -> Option<bool> {
    match take_u8(p)? {
        0 => Some(false),
        1 => Some(true),
        _ => None,
    }
}

fn take_u64(p: &mut &[u8]) -> Option<u64> {
    take_array(p).map(u64::from_le_bytes)
}

fn take_array<const N: usize>(p: &mut &[u8]) -> Option<[u8; N]> {
    let (head, rest) = p.split_first_chunk::<N>()?;
    *p = rest;
    Some(*head)
}

fn take_bytes(p: &mut &[u8]) -> Option<Bytes> {
    let len = u32::from_le_bytes(take_array(p)?) as usize;
    if p.len() < len {
        return None;
    }
    let (head, rest) = p.split_at(len);
    *p = rest;
    Some(Bytes::copy_from_slice(head))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(id: u64, data: &'static [u8]) -> Record {
        Record::Append {
            id,
            pos: 7,
            data: Bytes::from_static(data),
            closed: true,
            producer: Some(ProducerStamp { id: "p1".into(), epoch: 2, seq: 9 }),
            stream_seq: Some("s".into()),
            at_ms: 42,
        }
    }

    #[test]
    fn encoded_len_is_exact_for_appends_and_small_records() {
        let plain = Record::Append {
            id: 1,
            pos: 0,
            data: Bytes::from_static(&[b'x'; 256]),
            closed: false,
            producer: None,
            stream_seq: None,
            at_ms: 1,
        };
        for r in [
            append(3, b"hello"),
            plain,
            Record::Delete { id: 3 },
            Record::Trim { id: 5, before: 9 },
        ] {
            let mut buf = Vec::new();
            encode(&r, &mut buf);
            assert_eq!(encoded_len(&r), buf.len(), "{r:?}");
        }
    }

    #[test]
    fn trim_round_trips() {
        let mut buf = Vec::new();
        encode(&Record::Trim { id: 5, before: 1234 }, &mut buf);
        let Decoded::Record(Record::Trim { id: 5, before: 1234 }, used) = decode(&buf) else {
            panic!("trim record")
        };
        assert_eq!(used, buf.len());
    }

    #[test]
    fn round_trip_and_torn_tail() {
        let mut buf = Vec::new();
        encode(&append(3, b"hello"), &mut buf);
        encode(&Record::Delete { id: 3 }, &mut buf);
        let Decoded::Record(r, used) = decode(&buf) else { panic!("first record") };
        assert!(matches!(r, Record::Append { id: 3, pos: 7, closed: true, .. }));
        let Decoded::Record(Record::Delete { id: 3 }, used2) = decode(&buf[used..]) else {
            panic!("second record")
        };
        assert_eq!(used + used2, buf.len());
        assert!(matches!(decode(&buf[..used - 1]), Decoded::Incomplete));
        let mut bad = buf.clone();
        bad[HEADER + 3] ^= 0xff;
        assert!(matches!(decode(&bad), Decoded::Corrupt(_)));
    }

    /// Re-frames `frame`'s payload after `edit`, with a correct length and checksum.
    fn reframe(frame: &[u8], edit: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut payload = frame[HEADER..].to_vec();
        edit(&mut payload);
        let mut out = (payload.len() as u32).to_le_bytes().to_vec();
        out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
        out
    }

    #[test]
    fn flag_bytes_other_than_zero_or_one_are_corrupt() {
        // Found by the `wal_record` fuzz target: a `closed` byte of 0xe5 decoded as true and
        // re-encoded as 1, so one record had many encodings.
        let mut frame = Vec::new();
        encode(&append(3, b"x"), &mut frame);
        // Payload: kind, id (8), pos (8), closed, at_ms (8), producer flag.
        for at in [1 + 8 + 8, 1 + 8 + 8 + 1 + 8] {
            let bad = reframe(&frame, |p| p[at] = 0xe5);
            assert!(matches!(decode(&bad), Decoded::Corrupt(_)), "flag at {at}");
            let ok = reframe(&frame, |_| {});
            assert!(matches!(decode(&ok), Decoded::Record(..)));
        }
    }
}

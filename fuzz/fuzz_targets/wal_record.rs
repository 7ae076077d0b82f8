//! The log-record decoder: arbitrary bytes never panic and never yield a record whose
//! checksum fails; a decoded record re-encodes to the bytes it came from; and any record
//! encodes and decodes back to itself.
#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use durastream_server::store::file::codec::{self, Decoded, HEADER};
use durastream_server::store::{ForkMeta, ProducerStamp, Record, StreamMeta};
use libfuzzer_sys::fuzz_target;

/// Input layout: one mode byte, then (mode 0) bytes as found in a log file, (mode 1) a
/// payload that gets a correct length and checksum so the record parser sees it, or (any
/// other mode) the parts of a record to encode and decode.
#[derive(Arbitrary, Debug)]
enum Built<'a> {
    Create {
        id: u64,
        meta: Meta<'a>,
        data: &'a [u8],
        closed: bool,
    },
    Append {
        id: u64,
        pos: u64,
        data: &'a [u8],
        closed: bool,
        producer: Option<(&'a str, u64, u64)>,
        stream_seq: Option<&'a str>,
        at_ms: i64,
    },
    SoftDelete(u64),
    Delete(u64),
}

#[derive(Arbitrary, Debug)]
struct Meta<'a> {
    path: &'a str,
    content_type: &'a str,
    ttl_secs: Option<u64>,
    expires_at_ms: Option<i64>,
    requested_ttl_secs: Option<u64>,
    requested_expires_at_ms: Option<i64>,
    base: u64,
    fork: Option<(u64, &'a str, Option<u64>, u64)>,
    created_ms: i64,
}

fn build(b: Built) -> Record {
    match b {
        Built::Create { id, meta: m, data, closed } => Record::Create {
            id,
            meta: StreamMeta {
                path: m.path.into(),
                content_type: m.content_type.into(),
                ttl_secs: m.ttl_secs,
                expires_at_ms: m.expires_at_ms,
                requested_ttl_secs: m.requested_ttl_secs,
                requested_expires_at_ms: m.requested_expires_at_ms,
                base: m.base,
                fork: m.fork.map(|(source_id, path, requested_offset, sub_offset)| ForkMeta {
                    source_id,
                    source_path: path.into(),
                    requested_offset,
                    sub_offset,
                }),
                created_ms: m.created_ms,
            },
            data: Bytes::copy_from_slice(data),
            closed,
        },
        Built::Append { id, pos, data, closed, producer, stream_seq, at_ms } => Record::Append {
            id,
            pos,
            data: Bytes::copy_from_slice(data),
            closed,
            producer: producer.map(|(id, epoch, seq)| ProducerStamp { id: id.into(), epoch, seq }),
            stream_seq: stream_seq.map(str::to_string),
            at_ms,
        },
        Built::SoftDelete(id) => Record::SoftDelete { id },
        Built::Delete(id) => Record::Delete { id },
    }
}

fn encode(record: &Record) -> Vec<u8> {
    let mut out = Vec::new();
    codec::encode(record, &mut out);
    out
}

/// Decodes `buf` and checks what any decoded record must satisfy.
fn check_decode(buf: &[u8]) -> Option<Record> {
    let (record, used) = match codec::decode(buf) {
        Decoded::Record(r, used) => (r, used),
        Decoded::Incomplete => {
            let len = buf.first_chunk::<4>().map(|l| u32::from_le_bytes(*l) as usize);
            assert!(len.is_none_or(|l| buf.len() < HEADER + l), "whole frame called incomplete");
            return None;
        }
        Decoded::Corrupt(why) => {
            assert!(!why.is_empty());
            return None;
        }
    };
    assert!(used >= HEADER && used <= buf.len());
    let len = u32::from_le_bytes(buf[..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(buf[4..8].try_into().expect("4 bytes"));
    assert_eq!(used, HEADER + len);
    assert_eq!(crc32fast::hash(&buf[HEADER..used]), crc, "a record whose checksum fails");

    // Re-encoding gives back the frame. A create's metadata is JSON, so only its meaning
    // (not its spelling) must survive.
    let again = encode(&record);
    match &record {
        Record::Create { meta, .. } => {
            let Decoded::Record(Record::Create { meta: meta2, .. }, n) = codec::decode(&again)
            else {
                panic!("a re-encoded create does not decode")
            };
            assert_eq!(n, again.len());
            assert_eq!(&meta2, meta);
        }
        _ => assert_eq!(again, &buf[..used], "re-encoding changed the frame"),
    }
    Some(record)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    match mode {
        0 => {
            check_decode(rest);
        }
        1 => {
            let mut frame = Vec::with_capacity(HEADER + rest.len());
            frame.extend_from_slice(&(rest.len() as u32).to_le_bytes());
            frame.extend_from_slice(&crc32fast::hash(rest).to_le_bytes());
            frame.extend_from_slice(rest);
            check_decode(&frame);
        }
        _ => {
            let Ok(built) = Built::arbitrary_take_rest(Unstructured::new(rest)) else { return };
            let record = build(built);
            let frame = encode(&record);
            let decoded = check_decode(&frame).expect("an encoded record decodes");
            assert_eq!(encode(&decoded), frame);
            assert_eq!(format!("{decoded:?}"), format!("{record:?}"));
        }
    }
});

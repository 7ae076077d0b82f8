//! Start-up recovery: load the last checkpoint, replay the log after it, cut torn tails.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};

use super::catalog::{self, Catalog};
use super::codec::{self, Decoded};
use super::wal;
use super::Layout;
use crate::store::engine::{ProducerStamp, Record, StreamImage};

/// What recovery found.
pub struct Recovery {
    pub streams: Vec<StreamImage>,
    pub next_id: u64,
    /// The first log segment the new writer may use.
    pub next_segment: u64,
}

/// Rebuilds the durable state from `layout` and leaves a fresh checkpoint behind.
pub fn recover(layout: &Layout) -> io::Result<Recovery> {
    let catalog = catalog::load(&layout.root)?.unwrap_or_default();
    let mut next_id = catalog.next_id.max(1);
    let mut streams: HashMap<u64, StreamImage> =
        catalog.streams.into_iter().map(|s| (s.id, s)).collect();
    let segments = wal::list_segments(&layout.wal)?;
    let last = segments.last().copied();
    let mut touched = Vec::new();
    let mut files = DataFiles::new(layout);
    'replay: for (i, &n) in segments.iter().enumerate() {
        let path = wal::segment_path(&layout.wal, n);
        if n < catalog.wal_from {
            continue;
        }
        let buf = fs::read(&path)?;
        let mut at = 0;
        while at < buf.len() {
            match codec::decode(&buf[at..]) {
                Decoded::Record(r, used) => {
                    apply(&mut files, &mut streams, &mut next_id, r, &mut touched)?;
                    at += used;
                }
                Decoded::Incomplete | Decoded::Corrupt(_) => {
                    // A torn tail: the log ends here when no later segment holds a record
                    // (a writer that failed leaves nothing after its torn group).
                    if !later_records(layout, &segments[i + 1..])? {
                        tracing::warn!(segment = n, at, len = buf.len(), "cutting torn log tail");
                        let f = OpenOptions::new().write(true).open(&path)?;
                        f.set_len(at as u64)?;
                        f.sync_all()?;
                        break 'replay;
                    }
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "log segment {} is corrupt at byte {at} and records follow it",
                            path.display()
                        ),
                    ));
                }
            }
        }
    }
    drop(files);
    // Cut every data file back to its stream's durable tail: bytes past it were never
    // acknowledged. Files of streams that no longer exist go.
    for s in streams.values_mut() {
        let path = layout.data_path(s.id);
        let want = s.tail - s.meta.base;
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(super::data::FILE_MODE)
            .open(&path)?;
        let have = f.metadata()?.len();
        if have > want {
            f.set_len(want)?;
            touched.push(s.id);
        } else if have < want {
            // Every byte the log still held was written back above; a shorter file means
            // the disk lost bytes that a checkpoint had synced. Keep what exists.
            tracing::error!(
                id = s.id,
                have,
                want,
                "stream data is shorter than its checkpoint; the disk lost synced bytes"
            );
            s.tail = s.meta.base + have;
        }
    }
    for entry in fs::read_dir(&layout.data)? {
        let entry = entry?;
        let keep = super::parse_data_name(&entry.file_name().to_string_lossy())
            .is_some_and(|id| streams.contains_key(&id));
        if !keep {
            fs::remove_file(entry.path())?;
        }
    }
    touched.sort_unstable();
    touched.dedup();
    for id in touched {
        if streams.contains_key(&id) {
            OpenOptions::new().write(true).open(layout.data_path(id))?.sync_all()?;
        }
    }
    wal::sync_dir(&layout.data)?;
    let next_segment = last.map_or(1, |n| n + 1).max(catalog.wal_from);
    let mut list: Vec<StreamImage> = streams.into_values().collect();
    list.sort_by_key(|s| s.id);
    catalog::store(
        &layout.root,
        &Catalog { version: 1, next_id, wal_from: next_segment, streams: list.clone() },
    )?;
    for n in segments {
        fs::remove_file(wal::segment_path(&layout.wal, n))?;
    }
    wal::sync_dir(&layout.wal)?;
    Ok(Recovery { streams: list, next_id, next_segment })
}

/// True when any of `segments` starts with a whole record.
fn later_records(layout: &Layout, segments: &[u64]) -> io::Result<bool> {
    for &n in segments {
        let buf = fs::read(wal::segment_path(&layout.wal, n))?;
        if matches!(codec::decode(&buf), Decoded::Record(..)) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Data files written during replay, each opened once (a few at a time).
struct DataFiles<'a> {
    layout: &'a Layout,
    open: HashMap<u64, File>,
}

/// Most data files replay keeps open.
const REPLAY_OPEN: usize = 64;

impl<'a> DataFiles<'a> {
    fn new(layout: &'a Layout) -> DataFiles<'a> {
        DataFiles { layout, open: HashMap::new() }
    }

    fn write(&mut self, id: u64, at: u64, data: &[u8]) -> io::Result<()> {
        if !self.open.contains_key(&id) {
            if self.open.len() >= REPLAY_OPEN {
                self.open.clear();
            }
            let f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(super::data::FILE_MODE)
                .open(self.layout.data_path(id))?;
            self.open.insert(id, f);
        }
        if !data.is_empty() {
            if let Some(f) = self.open.get(&id) {
                f.write_all_at(data, at)?;
            }
        }
        Ok(())
    }

    fn remove(&mut self, id: u64) -> io::Result<()> {
        self.open.remove(&id);
        match fs::remove_file(self.layout.data_path(id)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// Applies one logged record. Bytes are written back even when the checkpoint already
/// counts them: the log holds them until their file was synced, so replay never trusts
/// a data file for bytes the log still has.
fn apply(
    files: &mut DataFiles,
    streams: &mut HashMap<u64, StreamImage>,
    next_id: &mut u64,
    record: Record,
    touched: &mut Vec<u64>,
) -> io::Result<()> {
    match record {
        Record::Create { id, meta, data, closed } => {
            *next_id = (*next_id).max(id + 1);
            if streams.contains_key(&id) {
                files.write(id, 0, &data)?;
                touched.push(id);
                return Ok(());
            }
            files.write(id, 0, &data)?;
            touched.push(id);
            let img = StreamImage {
                id,
                tail: meta.base + data.len() as u64,
                last_access_ms: meta.created_ms,
                meta,
                closed,
                closed_by: None,
                stream_seq: None,
                producers: Vec::new(),
                soft_deleted: false,
                trimmed_before: 0,
            };
            streams.insert(id, img);
        }
        Record::Append { id, pos, data, closed, producer, stream_seq, at_ms } => {
            let Some(s) = streams.get_mut(&id) else { return Ok(()) };
            if pos < s.tail {
                // Already counted by the checkpoint: make sure the file has the bytes.
                if pos + data.len() as u64 <= s.tail {
                    files.write(id, pos - s.meta.base, &data)?;
                    touched.push(id);
                }
                return Ok(());
            }
            if s.closed {
                return Ok(());
            }
            if pos > s.tail {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("log leaves a hole in stream {id}: record at {pos}, tail {}", s.tail),
                ));
            }
            files.write(id, pos - s.meta.base, &data)?;
            touched.push(id);
            s.tail += data.len() as u64;
            s.last_access_ms = s.last_access_ms.max(at_ms);
            if closed {
                s.closed = true;
                s.closed_by = producer.clone();
            }
            if let Some(p) = producer {
                set_producer(&mut s.producers, p);
            }
            if stream_seq.is_some() {
                s.stream_seq = stream_seq;
            }
        }
        Record::SoftDelete { id } => {
            if let Some(s) = streams.get_mut(&id) {
                s.soft_deleted = true;
            }
        }
        Record::Delete { id } => {
            streams.remove(&id);
            files.remove(id)?;
        }
        Record::Trim { id, before } => {
            if let Some(s) = streams.get_mut(&id) {
                s.trimmed_before = s.trimmed_before.max(before.min(s.tail));
            }
        }
    }
    Ok(())
}

fn set_producer(list: &mut Vec<ProducerStamp>, p: ProducerStamp) {
    match list.iter_mut().find(|q| q.id == p.id) {
        Some(q) => *q = p,
        None => list.push(p),
    }
}

//! The in-memory engine: nothing touches disk, every commit is immediate.

use std::io;

use bytes::Bytes;
use parking_lot::RwLock;

use super::engine::{Commit, Data, Engine, Record, StreamImage};

/// Keeps every stream in memory. Data is lost when the process exits.
#[derive(Default)]
pub struct MemoryEngine;

struct MemData(RwLock<Vec<u8>>);

impl Data for MemData {
    fn write_at(&self, at: u64, buf: &[u8]) -> io::Result<()> {
        let mut v = self.0.write();
        let at = usize::try_from(at).map_err(io::Error::other)?;
        v.truncate(at);
        v.extend_from_slice(buf);
        Ok(())
    }

    fn read_at(&self, at: u64, len: usize) -> io::Result<Bytes> {
        let v = self.0.read();
        let at = usize::try_from(at).map_err(io::Error::other)?;
        v.get(at..at + len)
            .map(Bytes::copy_from_slice)
            .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "read past end"))
    }
}

impl Engine for MemoryEngine {
    fn data(&self, _id: u64) -> io::Result<Box<dyn Data>> {
        Ok(Box::new(MemData(RwLock::new(Vec::new()))))
    }

    fn submit(&self, _record: Record) -> Commit {
        Box::pin(std::future::ready(Ok(())))
    }

    fn barrier(&self) -> Commit {
        Box::pin(std::future::ready(Ok(())))
    }

    fn remove(&self, _id: u64) {}

    fn checkpoint_due(&self) -> bool {
        false
    }

    fn begin_checkpoint(&self) -> io::Result<u64> {
        Ok(0)
    }

    fn finish_checkpoint(&self, _: u64, _: u64, _: Vec<StreamImage>) -> io::Result<()> {
        Ok(())
    }

    fn shutdown(&self) -> io::Result<()> {
        Ok(())
    }

    fn describe(&self) -> String {
        "memory (nothing survives a restart)".to_string()
    }
}

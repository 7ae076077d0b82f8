//! The checkpoint catalog: every stream's state at a checkpoint, replaced atomically.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::wal::sync_dir;
use crate::store::engine::StreamImage;

const NAME: &str = "catalog.json";
const TMP: &str = "catalog.json.tmp";

/// Contents of the catalog file.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Catalog {
    pub version: u32,
    pub next_id: u64,
    /// The first log segment to replay on top of this catalog.
    pub wal_from: u64,
    pub streams: Vec<StreamImage>,
}

/// Reads the catalog, if one was ever written.
pub fn load(root: &Path) -> io::Result<Option<Catalog>> {
    match fs::read(root.join(NAME)) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("catalog {} is unreadable: {e}", root.join(NAME).display()),
            )
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Replaces the catalog durably: temporary file, fsync, rename, fsync of the directory.
pub fn store(root: &Path, catalog: &Catalog) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = root.join(TMP);
    let bytes = serde_json::to_vec(catalog).map_err(io::Error::other)?;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(super::data::FILE_MODE)
        .open(&tmp)?;
    super::faults::io("catalog-write")?;
    f.write_all(&bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, root.join(NAME))?;
    sync_dir(root)
}

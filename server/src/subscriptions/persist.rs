//! Durable subscription state: one small JSON file per subscription.
//!
//! `<data-dir>/subscriptions/<sha256(id)>.json` holds the whole [`SubState`] (configuration,
//! links and cursors, generation, wake and lease, retry schedule). Each change replaces the
//! file atomically: write `<name>.tmp`, fsync it, rename it over the old file, fsync the
//! directory. A `kill -9` at any instant leaves either the old or the new version, never a
//! mix; leftover `.tmp` files are removed at start-up. Deleting a subscription unlinks its
//! file and fsyncs the directory before `204` is answered.
//!
//! Why not records in the stream write-ahead log: subscription state is small, changes far
//! less often than stream data, and is read back whole; a per-subscription file keeps it
//! out of the stream engine's recovery and checkpoint paths (and works unchanged beside
//! either engine), at the cost of one file sync per change. With `--fsync interval|never`
//! the syncs are skipped like the log's, keeping the rename's crash atomicity.
//!
//! What is written lazily: a stream created after the subscription is linked in memory
//! at once (before the create is answered) and written with the next change. Start-up
//! reconciles links with the recovered streams by the same rule (a matching stream that is
//! not linked, or a link to an older incarnation, is linked at the stream's base), so a
//! crash in between gives exactly the state that writing it eagerly would have.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::state::SubState;

/// Directory of subscription files inside the data directory.
pub const DIR: &str = "subscriptions";
const FORMAT: u32 = 1;

#[derive(Serialize, Deserialize)]
struct File1 {
    format: u32,
    state: SubState,
}

/// Where subscription files live; `None` dir keeps them in memory only.
pub struct Persist {
    dir: Option<PathBuf>,
    sync: bool,
}

impl Persist {
    /// Memory engine: nothing is written.
    pub fn memory() -> Persist {
        Persist { dir: None, sync: false }
    }

    /// Files under `<data_dir>/subscriptions`, created if missing.
    pub fn open(data_dir: &Path, sync: bool) -> io::Result<Persist> {
        let dir = data_dir.join(DIR);
        fs::create_dir_all(&dir)?;
        if sync {
            File::open(data_dir)?.sync_all()?;
        }
        Ok(Persist { dir: Some(dir), sync })
    }

    pub fn is_durable(&self) -> bool {
        self.dir.is_some()
    }

    fn file_name(id: &str) -> String {
        let h = Sha256::digest(id.as_bytes());
        let hex: String = h[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("{hex}.json")
    }

    /// Loads every subscription (blocking). Unreadable files are moved aside as `.corrupt`
    /// with an error logged, rather than stopping the server.
    pub fn load_all(&self) -> io::Result<Vec<SubState>> {
        let Some(dir) = &self.dir else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for entry in fs::read_dir(dir)? {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
            if name.ends_with(".tmp") {
                fs::remove_file(&path)?;
                continue;
            }
            if !name.ends_with(".json") {
                continue;
            }
            let parsed = fs::read(&path).and_then(|b| {
                serde_json::from_slice::<File1>(&b)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
            });
            match parsed {
                Ok(f) if f.format == FORMAT && Self::file_name(&f.state.id) == name => {
                    out.push(f.state)
                }
                Ok(_) | Err(_) => {
                    tracing::error!("unreadable subscription file {}; moved aside", path.display());
                    fs::rename(&path, path.with_extension("corrupt"))?;
                }
            }
        }
        Ok(out)
    }

    /// Replaces the subscription's file with `state` (blocking).
    pub fn write(&self, state: &SubState) -> io::Result<()> {
        let Some(dir) = &self.dir else { return Ok(()) };
        let body = File1 { format: FORMAT, state: state.clone() };
        let json = serde_json::to_vec(&body).map_err(io::Error::other)?;
        let name = Self::file_name(&state.id);
        let tmp = dir.join(format!("{name}.tmp"));
        let mut f = OpenOptions::new().write(true).create(true).truncate(true).open(&tmp)?;
        f.write_all(&json)?;
        if self.sync {
            f.sync_data()?;
        }
        drop(f);
        fs::rename(&tmp, dir.join(&name))?;
        if self.sync {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    /// Removes the subscription's file (blocking).
    pub fn remove(&self, id: &str) -> io::Result<()> {
        let Some(dir) = &self.dir else { return Ok(()) };
        match fs::remove_file(dir.join(Self::file_name(id))) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        }
        if self.sync {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::subscriptions::config::SubConfig;
    use crate::subscriptions::ssrf::Policy;

    fn state(id: &str) -> SubState {
        let c = SubConfig::parse(
            br#"{"type":"pull-wake","pattern":"e/*","wake_stream":"w"}"#,
            Policy { allow_localhost: false },
            false,
        )
        .expect("valid");
        SubState::new(id.into(), c, "http://h".into(), 1)
    }

    #[test]
    fn write_load_remove() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = Persist::open(dir.path(), true).expect("open");
        let mut a = state("a");
        p.write(&a).expect("write");
        a.generation = 5;
        p.write(&a).expect("rewrite");
        p.write(&state("b")).expect("write b");
        // A torn temporary file from a crash is ignored and removed.
        fs::write(dir.path().join(DIR).join("x.json.tmp"), b"{").expect("tmp");
        let mut all = p.load_all().expect("load");
        all.sort_by(|x, y| x.id.cmp(&y.id));
        assert_eq!(all.len(), 2);
        assert_eq!(all[0], a);
        p.remove("a").expect("remove");
        p.remove("a").expect("removing twice is fine");
        assert_eq!(p.load_all().expect("load").len(), 1);
        assert!(!dir.path().join(DIR).join("x.json.tmp").exists());
    }

    #[test]
    fn corrupt_files_are_set_aside() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = Persist::open(dir.path(), false).expect("open");
        fs::write(dir.path().join(DIR).join("bad.json"), b"not json").expect("write");
        assert!(p.load_all().expect("load").is_empty());
        assert!(dir.path().join(DIR).join("bad.corrupt").exists());
    }
}

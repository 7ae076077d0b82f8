//! Process limits: the file-descriptor limit sizes caches and the connection cap.

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (the usual soft default, 1024, is far
/// below what a server with many streams and connections needs). Returns the new limit.
pub fn raise_nofile() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!("cannot raise the file descriptor limit: {e}");
            nofile()
        }
    }
}

/// The current soft `RLIMIT_NOFILE` (1024 when it cannot be read).
pub fn nofile() -> u64 {
    rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
}

//! Fault points of the file engine, for the fault suite (cargo feature `fault-points`).
//!
//! A test build arms them through the `FAILPOINTS` environment variable, in the `fail`
//! crate's syntax: `FAILPOINTS="wal-sync=1*return(eio)"` fails the first log sync with
//! `EIO`; `FAILPOINTS="checkpoint-after-catalog=2*off->return"` crashes the process at the
//! third checkpoint, just after its catalog is written. Without the feature every point
//! compiles to nothing.

use std::io;

/// Returns the injected error when the point `name` is armed with
/// `return(enospc|eio|emfile)`.
#[inline]
pub fn io(name: &str) -> io::Result<()> {
    #[cfg(feature = "fault-points")]
    if let Some(arg) = fail::eval(name, |arg| arg) {
        let code = match arg.as_deref() {
            Some("enospc") => libc::ENOSPC,
            Some("emfile") => libc::EMFILE,
            _ => libc::EIO,
        };
        return Err(io::Error::from_raw_os_error(code));
    }
    let _ = name;
    Ok(())
}

/// A crash point: when `name` is armed (`return`), the process aborts right here, as a
/// power cut or `kill -9` would stop it in the middle of an operation.
#[inline]
pub fn crash(name: &str) {
    #[cfg(feature = "fault-points")]
    if fail::eval(name, |_| ()).is_some() {
        eprintln!("fault point {name}: crashing");
        std::process::abort();
    }
    let _ = name;
}

/// Arms the fault points listed in `FAILPOINTS` (test builds; call once at start).
pub fn setup() {
    #[cfg(feature = "fault-points")]
    std::mem::forget(fail::FailScenario::setup());
}

//! `ServerOptions`: the settings of an in-process server as the language bindings take them
//! (plain numbers, strings and flags, every one optional), turned into a [`Config`] in one
//! place so that every binding validates them the same way.
//!
//! To offer a new `Config` setting in the bindings, add one field here and one line in
//! [`ServerOptions::into_config`]; each binding then copies the field from its own type.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::config::{Config, FsyncPolicy};

/// In-process server settings; `None` keeps the default of [`Config::memory`], except
/// where a field says otherwise.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerOptions {
    /// Store streams in this directory (file engine); `None` keeps them in memory.
    pub data_dir: Option<PathBuf>,
    /// IP address to bind (default `127.0.0.1`).
    pub host: Option<String>,
    /// Port (default 0: a free port).
    pub port: Option<u32>,
    /// URL path under which streams live (default `/v1/stream`; `""` or `/` for the root).
    pub prefix: Option<String>,
    /// How long a long-poll waits before answering 204, in ms (default 30 000).
    pub long_poll_timeout_ms: Option<u64>,
    /// Longest SSE connection before the server rotates it, in ms (default 60 000).
    pub sse_max_duration_ms: Option<u64>,
    /// Largest append body, in bytes (default 64 MiB).
    pub max_body_bytes: Option<u64>,
    /// Largest catch-up response body, in bytes (default 1 MiB).
    pub max_read_bytes: Option<u64>,
    /// `always` (default), `interval` or `never`.
    pub fsync: Option<String>,
    /// Sync interval of `fsync = "interval"`, in ms (default 100).
    pub fsync_interval_ms: Option<u64>,
    /// Enable the `/_test/inject-error` fault endpoint (default off).
    pub test_faults: Option<bool>,
    /// Allow webhook subscriptions (default off).
    pub webhooks: Option<bool>,
    /// Allow webhooks to `http://localhost` (development only; default off).
    pub allow_localhost_webhooks: Option<bool>,
    /// Public base URL for the callback and JWKS URLs the server hands out.
    pub public_url: Option<String>,
    /// Turns access control on with static tokens: `<token> read|write|admin <path>` per
    /// line, the format of `--auth-token-file`.
    pub auth_tokens: Option<String>,
    /// Turns access control on with JWTs signed by this HMAC secret (HS256; 32 bytes or more).
    pub auth_jwt_secret: Option<String>,
    /// Turns access control on with JWTs signed by this PEM public key's private half.
    pub auth_jwt_public_key_pem: Option<String>,
    /// Turns access control on with JWTs signed by the keys of this JWKS URL.
    pub auth_jwt_jwks_url: Option<String>,
    /// Browser origins allowed by CORS: `*` (the default) or a comma-separated list.
    pub cors_origins: Option<String>,
    /// State Protocol compaction (`docs/state-compaction.md`; default off).
    pub state_compaction: Option<bool>,
    /// With `state_compaction`: trim a stream before each new snapshot (default off).
    pub state_compaction_trim: Option<bool>,
    /// With `state_compaction`: compact by itself after this many appended bytes (default:
    /// only on request).
    pub state_compaction_auto_bytes: Option<u64>,
}

/// An option value that cannot be used; `option` is the field name as written above.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OptionError {
    /// The offending option (`snake_case`, as in [`ServerOptions`]).
    pub option: &'static str,
    /// What is wrong, for a person.
    pub message: String,
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.option, self.message)
    }
}

impl std::error::Error for OptionError {}

fn bad(option: &'static str, message: String) -> OptionError {
    OptionError { option, message }
}

fn millis(
    option: &'static str,
    v: Option<u64>,
    default: Duration,
) -> Result<Duration, OptionError> {
    match v {
        None => Ok(default),
        Some(0) => Err(bad(option, "must be at least 1 ms".into())),
        Some(ms) => Ok(Duration::from_millis(ms)),
    }
}

fn bytes(option: &'static str, v: Option<u64>, default: usize) -> Result<usize, OptionError> {
    match v {
        None => Ok(default),
        Some(n) => usize::try_from(n)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| bad(option, format!("must be between 1 and {} (got {n})", usize::MAX))),
    }
}

impl ServerOptions {
    /// Checks every option and builds the server's [`Config`].
    pub fn into_config(self) -> Result<Config, OptionError> {
        let mut c = match self.data_dir {
            Some(dir) => Config::file(dir),
            None => Config::memory(),
        };
        let host = self.host.as_deref().unwrap_or("127.0.0.1");
        let ip: IpAddr = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| bad("host", format!("must be an IP address (got {host:?})")))?;
        let port = self.port.unwrap_or(0);
        let port = u16::try_from(port)
            .map_err(|_| bad("port", format!("must be below 65536 (got {port})")))?;
        c.bind = SocketAddr::new(ip, port);
        if let Some(p) = self.prefix {
            c.prefix = p;
        }
        c.long_poll_timeout =
            millis("long_poll_timeout_ms", self.long_poll_timeout_ms, c.long_poll_timeout)?;
        c.sse_max_duration =
            millis("sse_max_duration_ms", self.sse_max_duration_ms, c.sse_max_duration)?;
        c.max_body_bytes = bytes("max_body_bytes", self.max_body_bytes, c.max_body_bytes)?;
        c.max_read_bytes = bytes("max_read_bytes", self.max_read_bytes, c.max_read_bytes)?;
        let interval =
            millis("fsync_interval_ms", self.fsync_interval_ms, Duration::from_millis(100))?;
        c.fsync = match self.fsync.as_deref() {
            None | Some("always") => FsyncPolicy::Always,
            Some("interval") => FsyncPolicy::Interval(interval),
            Some("never") => FsyncPolicy::Never,
            Some(other) => {
                return Err(bad(
                    "fsync",
                    format!("must be \"always\", \"interval\" or \"never\" (got {other:?})"),
                ))
            }
        };
        c.test_faults = self.test_faults.unwrap_or(false);
        c.webhooks = self.webhooks.unwrap_or(false);
        c.allow_localhost_webhooks = self.allow_localhost_webhooks.unwrap_or(false);
        c.public_url = self.public_url;
        let any_auth = self.auth_tokens.is_some()
            || self.auth_jwt_secret.is_some()
            || self.auth_jwt_public_key_pem.is_some()
            || self.auth_jwt_jwks_url.is_some();
        if any_auth {
            let mut auth = crate::auth::AuthConfig::new();
            if let Some(lines) = &self.auth_tokens {
                auth = auth.with_token_lines(lines).map_err(|e| bad("auth_tokens", e))?;
            }
            if let Some(secret) = self.auth_jwt_secret {
                auth = auth.with_hs256_secret(secret.into_bytes());
            }
            if let Some(pem) = self.auth_jwt_public_key_pem {
                auth = auth.with_public_key_pem(pem.into_bytes());
            }
            if let Some(url) = self.auth_jwt_jwks_url {
                auth = auth.with_jwks_url(url);
            }
            // Checked here, so a bad key or secret names its option before the server starts.
            crate::auth::Auth::build(&auth).map_err(|e| bad("auth", e.to_string()))?;
            c.auth = Some(auth);
        }
        if let Some(origins) = &self.cors_origins {
            c.cors_origins =
                crate::auth::CorsOrigins::parse(origins).map_err(|e| bad("cors_origins", e))?;
        }
        if self.state_compaction.unwrap_or(false) {
            c.state_compaction = Some(crate::compact::CompactConfig {
                trim: self.state_compaction_trim.unwrap_or(false),
                auto_bytes: self.state_compaction_auto_bytes.filter(|n| *n > 0),
                ..crate::compact::CompactConfig::default()
            });
        } else if self.state_compaction_trim == Some(true) {
            return Err(bad("state_compaction_trim", "needs state_compaction".into()));
        } else if self.state_compaction_auto_bytes.is_some() {
            return Err(bad("state_compaction_auto_bytes", "needs state_compaction".into()));
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_memory_config_and_every_field_lands() {
        let d = ServerOptions::default().into_config().expect("defaults are valid");
        let m = Config::memory();
        assert_eq!((d.bind, d.data_dir, d.prefix), (m.bind, m.data_dir, m.prefix));
        assert_eq!(d.fsync, FsyncPolicy::Always);

        let c = ServerOptions {
            data_dir: Some("/tmp/x".into()),
            host: Some("::1".into()),
            port: Some(8080),
            prefix: Some("".into()),
            long_poll_timeout_ms: Some(500),
            sse_max_duration_ms: Some(2000),
            max_body_bytes: Some(10),
            max_read_bytes: Some(20),
            fsync: Some("interval".into()),
            fsync_interval_ms: Some(7),
            test_faults: Some(true),
            webhooks: Some(true),
            allow_localhost_webhooks: Some(true),
            public_url: Some("https://x.example".into()),
            auth_tokens: Some("reader-token-0123456789 read /\n".into()),
            auth_jwt_secret: None,
            auth_jwt_public_key_pem: None,
            auth_jwt_jwks_url: None,
            cors_origins: Some("https://app.example".into()),
            state_compaction: Some(true),
            state_compaction_trim: Some(true),
            state_compaction_auto_bytes: Some(4096),
        }
        .into_config()
        .expect("valid options");
        assert_eq!(c.data_dir, Some(PathBuf::from("/tmp/x")));
        assert_eq!(c.bind, "[::1]:8080".parse().expect("literal address"));
        assert_eq!(c.prefix_path(), "");
        assert_eq!(c.long_poll_timeout, Duration::from_millis(500));
        assert_eq!(c.sse_max_duration, Duration::from_secs(2));
        assert_eq!((c.max_body_bytes, c.max_read_bytes), (10, 20));
        assert_eq!(c.fsync, FsyncPolicy::Interval(Duration::from_millis(7)));
        assert!(c.test_faults && c.webhooks && c.allow_localhost_webhooks);
        assert_eq!(c.public_url.as_deref(), Some("https://x.example"));
        assert!(c.auth.is_some());
        assert_ne!(c.cors_origins, crate::auth::CorsOrigins::Any);
        let compaction = c.state_compaction.expect("compaction on");
        assert!(compaction.trim);
        assert_eq!(compaction.auto_bytes, Some(4096));
        assert_eq!(d.state_compaction, None, "off by default");
    }

    #[test]
    fn bad_values_name_the_option() {
        let cases: [(ServerOptions, &str); 9] = [
            (
                ServerOptions {
                    auth_tokens: Some("reader-token-0123456789 fly /".into()),
                    ..Default::default()
                },
                "auth_tokens",
            ),
            (
                ServerOptions { auth_jwt_secret: Some("too short".into()), ..Default::default() },
                "auth",
            ),
            (ServerOptions { host: Some("localhost".into()), ..Default::default() }, "host"),
            (ServerOptions { port: Some(70000), ..Default::default() }, "port"),
            (
                ServerOptions { long_poll_timeout_ms: Some(0), ..Default::default() },
                "long_poll_timeout_ms",
            ),
            (ServerOptions { max_read_bytes: Some(0), ..Default::default() }, "max_read_bytes"),
            (ServerOptions { fsync: Some("sometimes".into()), ..Default::default() }, "fsync"),
            (
                ServerOptions { state_compaction_trim: Some(true), ..Default::default() },
                "state_compaction_trim",
            ),
            (
                ServerOptions { state_compaction_auto_bytes: Some(1), ..Default::default() },
                "state_compaction_auto_bytes",
            ),
        ];
        for (opts, name) in cases {
            let err = opts.into_config().expect_err(name);
            assert_eq!(err.option, name, "{err}");
        }
    }
}

//! Access control (spec section 12.1): bearer tokens that grant read, write or admin on
//! stream-path prefixes, checked before any request is routed; and which browser origins may
//! call the server (CORS).
//!
//! Off unless [`Config::auth`](crate::Config::auth) is set. Tokens are either static (a table of
//! `<token> <permission> <path>` lines, compared in constant time) or JWTs verified with an
//! HMAC secret, a PEM public key, or keys from a JWKS URL (`jwt.rs` shows the claim). Which
//! permission each request needs is in `need.rs`.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use durastream_server::auth::{AuthConfig, Permission};
//! let auth = AuthConfig::new()
//!     .with_static_token("reader-0123456789abcdef", Permission::Read, "/chat")
//!     .with_hs256_secret(b"a shared secret of at least 32 bytes!".to_vec());
//! let config = durastream_server::Config::memory().with_auth(auth);
//! let server = durastream_server::Server::start(config).await?;
//! # server.shutdown().await
//! # }
//! ```

pub mod cors;
pub mod grants;
mod jwks;
mod jwt;
mod need;

use std::fmt;
use std::io;
use std::path::Path;
use std::time::Duration;

use http::{HeaderMap, Request, StatusCode};
use serde_json::json;

use crate::http::response::{full, Reply};
use crate::http::App;
use crate::subscriptions::routes as subscription_routes;
pub use cors::CorsOrigins;
pub use grants::{Grants, Permission, StaticToken};
use need::Need;

/// How tokens are checked. Build it with the `with_*` methods; at least one token source (a
/// static token, an HMAC secret, a public key or a JWKS URL) must be set.
#[derive(Clone)]
pub struct AuthConfig {
    static_tokens: Vec<StaticToken>,
    hmac_secret: Option<Vec<u8>>,
    public_key_pem: Option<Vec<u8>>,
    jwks_url: Option<String>,
    issuer: Option<String>,
    audience: Option<String>,
    leeway: Duration,
    jwks_min_refresh: Duration,
    jwks_max_age: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig::new()
    }
}

impl fmt::Debug for AuthConfig {
    /// Secrets and tokens are never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthConfig")
            .field("static_tokens", &self.static_tokens.len())
            .field("hmac_secret", &self.hmac_secret.as_ref().map(|_| "<redacted>"))
            .field("public_key", &self.public_key_pem.is_some())
            .field("jwks_url", &self.jwks_url)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("leeway", &self.leeway)
            .finish()
    }
}

impl AuthConfig {
    /// No token source yet; JWT leeway 30 s; JWKS refreshed at most every 30 s on an unknown
    /// `kid` and at least every hour.
    pub fn new() -> AuthConfig {
        AuthConfig {
            static_tokens: Vec::new(),
            hmac_secret: None,
            public_key_pem: None,
            jwks_url: None,
            issuer: None,
            audience: None,
            leeway: jwt::DEFAULT_LEEWAY,
            jwks_min_refresh: Duration::from_secs(30),
            jwks_max_age: Duration::from_secs(3600),
        }
    }

    /// Adds a static token granting `permission` on `path` (relative to the stream prefix;
    /// `/` for everything). A token may be added several times with different grants.
    pub fn with_static_token(
        mut self,
        token: impl Into<String>,
        permission: Permission,
        path: impl Into<String>,
    ) -> AuthConfig {
        let (token, path) = (token.into(), path.into());
        self.static_tokens.push(StaticToken { token, permission, path });
        self
    }

    /// Adds the static tokens of a file: `<token> read|write|admin <path>` per line, `#`
    /// comments and blank lines skipped.
    pub fn with_token_file(mut self, path: &Path) -> io::Result<AuthConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| file_error(path, e))?;
        let tokens = grants::parse_token_file(&text)
            .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
        self.static_tokens.extend(tokens);
        Ok(self)
    }

    /// Adds static tokens given as text in the token-file format (`<token> read|write|admin
    /// <path>` per line); for in-process servers that have no file.
    pub fn with_token_lines(mut self, text: &str) -> Result<AuthConfig, String> {
        self.static_tokens.extend(grants::parse_token_file(text)?);
        Ok(self)
    }

    /// Accepts JWTs signed with this HMAC secret (HS256, HS384, HS512); at least 32 bytes.
    pub fn with_hs256_secret(mut self, secret: impl Into<Vec<u8>>) -> AuthConfig {
        self.hmac_secret = Some(secret.into());
        self
    }

    /// Reads the HMAC secret from a file; surrounding whitespace (a final newline) is ignored.
    pub fn with_hs256_secret_file(self, path: &Path) -> io::Result<AuthConfig> {
        let bytes = std::fs::read(path).map_err(|e| file_error(path, e))?;
        Ok(self.with_hs256_secret(bytes.trim_ascii().to_vec()))
    }

    /// Accepts JWTs signed by the private half of this PEM public key: Ed25519 (EdDSA), RSA
    /// (RS256 and the other RS*/PS*) or EC P-256 (ES256).
    pub fn with_public_key_pem(mut self, pem: impl Into<Vec<u8>>) -> AuthConfig {
        self.public_key_pem = Some(pem.into());
        self
    }

    /// Reads the PEM public key from a file.
    pub fn with_public_key_file(self, path: &Path) -> io::Result<AuthConfig> {
        let pem = std::fs::read(path).map_err(|e| file_error(path, e))?;
        Ok(self.with_public_key_pem(pem))
    }

    /// Accepts JWTs signed by the keys of this JWKS URL (fetched on first use, cached).
    pub fn with_jwks_url(mut self, url: impl Into<String>) -> AuthConfig {
        self.jwks_url = Some(url.into());
        self
    }

    /// Requires the JWT `iss` claim to be this issuer.
    pub fn with_issuer(mut self, issuer: impl Into<String>) -> AuthConfig {
        self.issuer = Some(issuer.into());
        self
    }

    /// Requires the JWT `aud` claim to contain this audience.
    pub fn with_audience(mut self, audience: impl Into<String>) -> AuthConfig {
        self.audience = Some(audience.into());
        self
    }

    /// Clock skew tolerated on `exp` and `nbf` (whole seconds).
    pub fn with_leeway(mut self, leeway: Duration) -> AuthConfig {
        self.leeway = leeway;
        self
    }

    /// JWKS refresh: at most once per `min_refresh` when a token names an unknown `kid`, and
    /// whenever the cached keys are older than `max_age`.
    pub fn with_jwks_refresh(mut self, min_refresh: Duration, max_age: Duration) -> AuthConfig {
        self.jwks_min_refresh = min_refresh;
        self.jwks_max_age = max_age.max(min_refresh);
        self
    }
}

/// Logs a warning when a server reachable beyond loopback has no access control.
pub fn warn_if_open(config: &crate::Config) {
    if config.auth.is_none() && !config.bind.ip().is_loopback() {
        tracing::warn!(
            "no access control: anyone who reaches {} can read, write and delete every stream \
             (see --auth-token-file and --auth-jwt-*)",
            config.bind
        );
    }
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn file_error(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display()))
}

/// Why a request carries no usable token (answered with 401).
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("missing bearer token: send Authorization: Bearer <token>")]
    Missing,
    /// The token's `exp` is past.
    #[error("token expired")]
    Expired,
    /// Anything else: malformed, unknown, bad signature, wrong issuer or audience...
    #[error("invalid token: {0}")]
    Invalid(String),
}

impl AuthError {
    fn invalid(msg: impl Into<String>) -> AuthError {
        AuthError::Invalid(msg.into())
    }
}

/// The token checker of a running server.
pub struct Auth {
    statics: grants::StaticTable,
    jwt: Option<jwt::JwtVerifier>,
}

impl Auth {
    /// Checks the configuration (key formats, secret length, token table).
    pub fn build(config: &AuthConfig) -> io::Result<Auth> {
        let statics = grants::StaticTable::new(&config.static_tokens).map_err(invalid)?;
        let jwt = jwt::JwtVerifier::new(config).map_err(invalid)?;
        if statics.is_empty() && jwt.is_none() {
            return Err(invalid(
                "authentication is on but no static token, JWT secret, public key or JWKS URL is set"
                    .into(),
            ));
        }
        tracing::info!(
            "access control on: {} static token grants, JWT {}",
            config.static_tokens.len(),
            if jwt.is_some() { "accepted" } else { "not accepted" }
        );
        Ok(Auth { statics, jwt })
    }

    /// Lets the request through, or returns the 401 or 403 answer.
    pub async fn check<B>(&self, app: &App, req: &Request<B>) -> Result<(), Reply> {
        let needs = match need::need(app, req.method(), req.uri(), req.headers()) {
            Need::Public => return Ok(()),
            Need::Authenticated => Vec::new(),
            Need::Grants(g) => g,
        };
        let prefix = app.config.prefix_path();
        let json = subscription_routes::reserved(prefix, req.uri().path()).is_some();
        let grants = match self.authenticate(req.headers()).await {
            Ok(g) => g,
            Err(e) => return Err(unauthorized(&e, json)),
        };
        match needs.iter().find(|(p, path)| !grants.allows(*p, path)) {
            Some((permission, path)) => Err(forbidden(*permission, path, prefix, json)),
            None => Ok(()),
        }
    }

    async fn authenticate(&self, headers: &HeaderMap) -> Result<Grants, AuthError> {
        let value = headers.get(http::header::AUTHORIZATION).ok_or(AuthError::Missing)?;
        let value = value.to_str().map_err(|_| AuthError::invalid("unreadable header"))?;
        let (scheme, token) = value.trim().split_once(' ').unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::invalid("Authorization must use the Bearer scheme"));
        }
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthError::invalid("empty bearer token"));
        }
        if let Some(g) = self.statics.lookup(token) {
            return Ok(g);
        }
        match &self.jwt {
            Some(jwt) => jwt.verify(token).await,
            None => Err(AuthError::invalid("unknown token")),
        }
    }
}

/// A 401 or 403 in the style of the route: JSON under `__ds`, plain text for streams.
fn denial(status: StatusCode, code: &str, msg: &str, challenge: String, json: bool) -> Reply {
    let r = Reply::new(status)
        .header("www-authenticate", challenge)
        .header("cache-control", "no-store");
    if json {
        let body = json!({ "error": { "code": code, "message": msg } }).to_string();
        r.header("content-type", "application/json").body(full(body))
    } else {
        r.text(msg.to_string())
    }
}

fn unauthorized(e: &AuthError, json: bool) -> Reply {
    let msg = e.to_string();
    let challenge = match e {
        AuthError::Missing => r#"Bearer realm="durastream""#.to_string(),
        _ => format!(
            r#"Bearer realm="durastream", error="invalid_token", error_description="{}""#,
            msg.replace(['"', '\\'], "'")
        ),
    };
    denial(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", &msg, challenge, json)
}

fn forbidden(permission: Permission, path: &str, prefix: &str, json: bool) -> Reply {
    let p = permission.as_str();
    let mut msg = format!("this token does not grant {p} on {path}");
    if !prefix.is_empty() {
        msg.push_str(&format!(" (grant paths are relative to {prefix})"));
    }
    let challenge = r#"Bearer realm="durastream", error="insufficient_scope""#.to_string();
    denial(StatusCode::FORBIDDEN, "FORBIDDEN", &msg, challenge, json)
}

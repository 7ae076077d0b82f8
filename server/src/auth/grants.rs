//! Permissions, the path prefixes they cover, and the static token table.
//!
//! Grant paths are relative to the stream prefix (`--prefix`, default `/v1/stream`): `/chat`
//! covers the stream `/v1/stream/chat` and everything below it, on whole path segments, so it
//! never covers `/v1/stream/chatroom`. `/` covers every stream.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a token may do under a path prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    /// `GET` and `HEAD`: catch-up, long-poll and SSE reads, metadata; reading a subscription.
    Read,
    /// `PUT` (create, fork) and `POST` (append, close); claiming a pull-wake subscription.
    Write,
    /// Everything, including `DELETE` and managing subscriptions.
    Admin,
}

impl Permission {
    /// The lowercase name used in token files, claims and error messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::Write => "write",
            Permission::Admin => "admin",
        }
    }

    /// Parses `read`, `write` or `admin`.
    pub fn parse(s: &str) -> Option<Permission> {
        match s {
            "read" => Some(Permission::Read),
            "write" => Some(Permission::Write),
            "admin" => Some(Permission::Admin),
            _ => None,
        }
    }
}

/// A path prefix matched on whole segments; stored decoded, without a trailing `/`
/// (the root is the empty string).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathPrefix(String);

impl PathPrefix {
    /// Parses a grant path: it starts with `/`, is percent-decoded like request paths, and has
    /// no `.` or `..` segments.
    pub fn parse(raw: &str) -> Result<PathPrefix, String> {
        if !raw.starts_with('/') {
            return Err(format!("grant path {raw:?} must start with /"));
        }
        let decoded = percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .map_err(|_| format!("grant path {raw:?} is not valid UTF-8"))?;
        if decoded.split('/').any(|seg| seg == "." || seg == "..") {
            return Err(format!("grant path {raw:?} has a . or .. segment"));
        }
        // One trailing `/` is dropped (`/chat/` is `/chat`); `//` stays a distinct segment.
        Ok(PathPrefix(decoded.strip_suffix('/').unwrap_or(&decoded).to_string()))
    }

    /// True when `path` (decoded, relative to the stream prefix) is this prefix or below it.
    pub fn covers(&self, path: &str) -> bool {
        path.strip_prefix(self.0.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}

/// Everything one token grants.
#[derive(Clone, Debug, Default)]
pub struct Grants {
    read: Vec<PathPrefix>,
    write: Vec<PathPrefix>,
    admin: Vec<PathPrefix>,
}

impl Grants {
    /// Adds one grant.
    pub fn add(&mut self, permission: Permission, prefix: PathPrefix) {
        match permission {
            Permission::Read => self.read.push(prefix),
            Permission::Write => self.write.push(prefix),
            Permission::Admin => self.admin.push(prefix),
        }
    }

    /// True when the grants allow `permission` on `path`; admin allows everything.
    pub fn allows(&self, permission: Permission, path: &str) -> bool {
        let list = match permission {
            Permission::Read => &self.read,
            Permission::Write => &self.write,
            Permission::Admin => &self.admin,
        };
        self.admin.iter().chain(list).any(|p| p.covers(path))
    }
}

/// One line of a static token file: `<token> read|write|admin <path>`.
#[derive(Clone)]
pub struct StaticToken {
    /// The bearer token clients send.
    pub token: String,
    /// What it allows.
    pub permission: Permission,
    /// Where, relative to the stream prefix (`/` for everything).
    pub path: String,
}

impl std::fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StaticToken(<redacted> {} {})", self.permission.as_str(), self.path)
    }
}

/// Shortest static token accepted: shorter ones are guessable.
pub const MIN_STATIC_TOKEN_LEN: usize = 16;

/// Parses a static token file: one `<token> <permission> <path>` per line; blank lines and
/// lines starting with `#` are skipped. Errors name the line.
pub fn parse_token_file(text: &str) -> Result<Vec<StaticToken>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |msg: String| format!("line {}: {msg}", n + 1);
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [token, permission, path] = parts[..] else {
            return Err(at("expected `<token> read|write|admin <path>`".into()));
        };
        let permission = Permission::parse(permission)
            .ok_or_else(|| at(format!("unknown permission {permission:?}")))?;
        out.push(StaticToken { token: token.to_string(), permission, path: path.to_string() });
    }
    Ok(out)
}

/// The static tokens, kept as SHA-256 digests and compared in constant time.
#[derive(Default)]
pub struct StaticTable {
    entries: Vec<([u8; 32], Permission, PathPrefix)>,
}

impl StaticTable {
    /// Checks and indexes the tokens.
    pub fn new(tokens: &[StaticToken]) -> Result<StaticTable, String> {
        let mut entries = Vec::with_capacity(tokens.len());
        for t in tokens {
            if t.token.len() < MIN_STATIC_TOKEN_LEN || t.token.chars().any(char::is_whitespace) {
                return Err(format!(
                    "static tokens must be at least {MIN_STATIC_TOKEN_LEN} characters without spaces"
                ));
            }
            let prefix = PathPrefix::parse(&t.path)?;
            entries.push((Sha256::digest(t.token.as_bytes()).into(), t.permission, prefix));
        }
        Ok(StaticTable { entries })
    }

    /// True when no static token is configured.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The grants of `token`, or `None` when it is not a static token. Every entry is
    /// compared, so the time taken does not depend on which one matches.
    pub fn lookup(&self, token: &str) -> Option<Grants> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut grants = Grants::default();
        let mut found = false;
        for (d, permission, prefix) in &self.entries {
            if bool::from(d.ct_eq(&digest)) {
                grants.add(*permission, prefix.clone());
                found = true;
            }
        }
        found.then_some(grants)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefix(s: &str) -> PathPrefix {
        PathPrefix::parse(s).expect("valid prefix")
    }

    #[test]
    fn prefixes_match_whole_segments() {
        let chat = prefix("/chat");
        assert!(chat.covers("/chat"));
        assert!(chat.covers("/chat/a/b"));
        assert!(!chat.covers("/chatroom"));
        assert!(!chat.covers("/chatroom/a"));
        assert!(!chat.covers("/other/chat"));
        assert_eq!(prefix("/chat/"), chat);
        assert!(prefix("/").covers("/anything/at/all"));
        assert!(prefix("/a%20b").covers("/a b/c"));
        assert!(!prefix("//").covers("/chat"), "an empty segment is not the root");
        assert!(prefix("//").covers("//x"));
    }

    #[test]
    fn bad_prefixes_are_refused() {
        assert!(PathPrefix::parse("chat").is_err());
        assert!(PathPrefix::parse("/chat/../x").is_err());
        assert!(PathPrefix::parse("/chat/%2e%2e/x").is_err());
        assert!(PathPrefix::parse("/%ff").is_err());
    }

    #[test]
    fn admin_implies_everything_and_read_is_not_write() {
        let mut g = Grants::default();
        g.add(Permission::Read, prefix("/pub"));
        g.add(Permission::Admin, prefix("/mine"));
        assert!(g.allows(Permission::Read, "/pub/x"));
        assert!(!g.allows(Permission::Write, "/pub/x"));
        assert!(g.allows(Permission::Write, "/mine/x"));
        assert!(g.allows(Permission::Admin, "/mine"));
        assert!(!g.allows(Permission::Read, "/other"));
    }

    #[test]
    fn token_file_lines() {
        let text = "# comment\n\nreader-token-0123456789 read /chat\n\
                    reader-token-0123456789 write /chat/drafts\n";
        let tokens = parse_token_file(text).expect("parses");
        assert_eq!(tokens.len(), 2);
        let table = StaticTable::new(&tokens).expect("valid");
        let g = table.lookup("reader-token-0123456789").expect("known token");
        assert!(g.allows(Permission::Read, "/chat/x"));
        assert!(g.allows(Permission::Write, "/chat/drafts/1"));
        assert!(!g.allows(Permission::Write, "/chat/x"));
        assert!(table.lookup("reader-token-012345678").is_none());
        let err = parse_token_file("tok read\n").expect_err("two fields");
        assert!(err.starts_with("line 1:"), "{err}");
        let err = parse_token_file("# c\nreader-token-0123456789 own /\n").expect_err("bad perm");
        assert!(err.contains("line 2") && err.contains("own"), "{err}");
        let short =
            [StaticToken { token: "short".into(), permission: Permission::Read, path: "/".into() }];
        assert!(StaticTable::new(&short).is_err());
    }
}

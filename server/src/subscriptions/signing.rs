//! The webhook signing key (spec sections 6.5, 7.1 and 12.10).
//!
//! One Ed25519 key per server. With a data directory it is generated on first start and
//! kept in `<data-dir>/webhook-signing-key.json` (mode 0600, written atomically: temporary
//! file, fsync, rename, directory fsync), so receivers can keep trusting the published key
//! across restarts. The private half never leaves this module except as the seed the token
//! key is derived from (`token.rs`); only the public half is published, as a JWK Set.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// File name of the key inside the data directory.
pub const KEY_FILE: &str = "webhook-signing-key.json";

/// The server's webhook signing key.
pub struct Signer {
    key: SigningKey,
    kid: String,
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    alg: String,
    /// The 32-byte Ed25519 seed, base64url.
    seed: String,
    created_ms: i64,
}

impl Signer {
    /// A signer for a fixed seed.
    pub fn from_seed(seed: [u8; 32]) -> Signer {
        let key = SigningKey::from_bytes(&seed);
        let kid = kid_of(&key.verifying_key());
        Signer { key, kid }
    }

    /// A fresh random key (memory engine, or first start).
    pub fn generate() -> Signer {
        Signer::from_seed(rand::random())
    }

    /// Loads the key from `dir`, generating and persisting one on first start.
    pub fn load_or_create(dir: &Path) -> io::Result<Signer> {
        let path = dir.join(KEY_FILE);
        match fs::read(&path) {
            Ok(bytes) => {
                let file: KeyFile = serde_json::from_slice(&bytes).map_err(|e| {
                    io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display()))
                })?;
                let seed: [u8; 32] =
                    B64.decode(&file.seed).ok().and_then(|s| s.try_into().ok()).ok_or_else(
                        || {
                            io::Error::new(
                                io::ErrorKind::InvalidData,
                                format!("{}: seed is not 32 base64url bytes", path.display()),
                            )
                        },
                    )?;
                Ok(Signer::from_seed(seed))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let signer = Signer::generate();
                let file = KeyFile {
                    alg: "Ed25519".into(),
                    seed: B64.encode(signer.key.to_bytes()),
                    created_ms: crate::store::now_ms(),
                };
                let json = serde_json::to_vec_pretty(&file).map_err(io::Error::other)?;
                write_private(dir, KEY_FILE, &json)?;
                tracing::info!(kid = %signer.kid, "generated the webhook signing key");
                Ok(signer)
            }
            Err(e) => Err(e),
        }
    }

    /// The key id published in the JWKS and in every signature header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The secret seed, for deriving the token key.
    pub(super) fn seed(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The `Webhook-Signature` header value for `body` sent at `unix_secs`.
    pub fn header(&self, unix_secs: i64, body: &[u8]) -> String {
        let sig = self.key.sign(&signed_message(unix_secs, body));
        format!("t={unix_secs},kid={},ed25519={}", self.kid, B64.encode(sig.to_bytes()))
    }

    /// The JWK Set served at `__ds/jwks.json`.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": [self.jwk()] })
    }

    fn jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "kid": self.kid,
            "use": "sig",
            "alg": "EdDSA",
            "x": B64.encode(self.key.verifying_key().as_bytes()),
        })
    }
}

/// `<timestamp>.<raw body>`, the bytes a signature covers.
fn signed_message(unix_secs: i64, body: &[u8]) -> Vec<u8> {
    let mut msg = format!("{unix_secs}.").into_bytes();
    msg.extend_from_slice(body);
    msg
}

/// `ds_` + the RFC 7638 JWK thumbprint: stable for the key's life, derived from it.
fn kid_of(key: &VerifyingKey) -> String {
    let canonical =
        format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, B64.encode(key.as_bytes()));
    format!("ds_{}", B64.encode(Sha256::digest(canonical.as_bytes())))
}

/// Verifies a `Webhook-Signature` header against a JWK Set, as a receiver does: picks the
/// key by `kid` and rejects timestamps more than `window_secs` from `now_secs`.
pub fn verify(
    header: &str,
    body: &[u8],
    jwks: &serde_json::Value,
    now_secs: i64,
    window_secs: i64,
) -> bool {
    let mut t = None;
    let mut kid = None;
    let mut sig = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("kid", v)) => kid = Some(v),
            Some(("ed25519", v)) => sig = Some(v),
            _ => return false,
        }
    }
    let (Some(t), Some(kid), Some(sig)) = (t, kid, sig) else { return false };
    if (now_secs - t).abs() > window_secs {
        return false;
    }
    let Some(keys) = jwks.get("keys").and_then(|k| k.as_array()) else { return false };
    let Some(jwk) = keys.iter().find(|k| k.get("kid").and_then(|v| v.as_str()) == Some(kid)) else {
        return false;
    };
    let x: Option<[u8; 32]> = jwk
        .get("x")
        .and_then(|v| v.as_str())
        .and_then(|x| B64.decode(x).ok())
        .and_then(|b| b.try_into().ok());
    let sig: Option<[u8; 64]> = B64.decode(sig).ok().and_then(|b| b.try_into().ok());
    let (Some(x), Some(sig)) = (x, sig) else { return false };
    let Ok(key) = VerifyingKey::from_bytes(&x) else { return false };
    key.verify(&signed_message(t, body), &Signature::from_bytes(&sig)).is_ok()
}

/// Writes `name` in `dir` atomically with mode 0600: temporary file, fsync, rename, dir fsync.
fn write_private(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let _ = fs::remove_file(&tmp);
    let mut f = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, dir.join(name))?;
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies_against_its_jwks() {
        let s = Signer::from_seed([9; 32]);
        let body = br#"{"subscription_id":"s"}"#;
        let h = s.header(1_700_000_000, body);
        assert!(h.starts_with("t=1700000000,kid=ds_"));
        let jwks = s.jwks();
        assert!(verify(&h, body, &jwks, 1_700_000_010, 300));
        // Tampered body, stale timestamp, unknown key.
        assert!(!verify(&h, b"{}", &jwks, 1_700_000_010, 300));
        assert!(!verify(&h, body, &jwks, 1_700_000_400, 300));
        assert!(!verify(&h, body, &Signer::from_seed([1; 32]).jwks(), 1_700_000_010, 300));
        // A signature moved to another timestamp fails.
        let moved = h.replacen("t=1700000000", "t=1700000001", 1);
        assert!(!verify(&moved, body, &jwks, 1_700_000_010, 300));
    }

    #[test]
    fn kid_is_a_stable_thumbprint() {
        let a = Signer::from_seed([3; 32]);
        let b = Signer::from_seed([3; 32]);
        assert_eq!(a.kid(), b.kid());
        assert_ne!(a.kid(), Signer::from_seed([4; 32]).kid());
        let jwk = &a.jwks()["keys"][0];
        assert_eq!(jwk["kid"], a.kid());
        assert_eq!(jwk["crv"], "Ed25519");
        assert!(jwk.get("d").is_none(), "the private key is never published");
    }

    #[test]
    fn key_file_persists_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let a = Signer::load_or_create(dir.path()).expect("create");
        let b = Signer::load_or_create(dir.path()).expect("load");
        assert_eq!(a.kid(), b.kid());
        let mode = fs::metadata(dir.path().join(KEY_FILE)).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

//! Verification keys fetched from a JWKS URL, cached, and refreshed when a token names an
//! unknown `kid` (at most once per `min_refresh`) or the cache is older than `max_age`.
//!
//! Each key's algorithm is fixed by its key type (and its `alg`, when given): RSA keys verify
//! RS*/PS*, Ed25519 keys EdDSA, P-256 keys ES256, P-384 keys ES384. Symmetric (`oct`) keys are
//! never taken from a URL. Keys that cannot be used are skipped, not fatal.

use std::str::FromStr;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use parking_lot::RwLock;
use serde_json::Value;

use super::jwt::Key;
use super::AuthError;

/// Largest JWKS document accepted.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

struct Cache {
    keys: Vec<(Option<String>, Key)>,
    /// When the keys were last fetched successfully.
    fetched: Option<Instant>,
    /// When a fetch was last tried (successful or not): the rate limit.
    attempted: Option<Instant>,
}

/// A JWKS endpoint and its cached keys.
pub struct Jwks {
    url: String,
    client: reqwest::Client,
    min_refresh: Duration,
    max_age: Duration,
    cache: RwLock<Cache>,
    /// One fetch at a time; the others wait for it and use its result.
    fetching: tokio::sync::Mutex<()>,
}

impl Jwks {
    /// A JWKS source; nothing is fetched until the first token needs it.
    pub fn new(url: &str, min_refresh: Duration, max_age: Duration) -> Result<Jwks, String> {
        let parsed =
            url::Url::parse(url).map_err(|e| format!("JWKS URL {url:?} is not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("JWKS URL {url:?} must be http or https"));
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|e| format!("cannot build the JWKS HTTP client: {e}"))?;
        Ok(Jwks {
            url: url.to_string(),
            client,
            min_refresh,
            max_age,
            cache: RwLock::new(Cache { keys: Vec::new(), fetched: None, attempted: None }),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    /// The key for a token with this `kid` (or without one) and algorithm family.
    pub async fn key(&self, kid: Option<&str>, family: AlgorithmFamily) -> Result<Key, AuthError> {
        if !self.refresh_due() {
            if let Some(k) = self.cached(kid, family)? {
                return Ok(k);
            }
        }
        let _one = self.fetching.lock().await;
        let (due, may) = {
            let c = self.cache.read();
            (self.refresh_due(), c.attempted.is_none_or(|t| t.elapsed() >= self.min_refresh))
        };
        let missing = self.cached(kid, family)?.is_none();
        if may && (due || missing) {
            self.cache.write().attempted = Some(Instant::now());
            match self.fetch().await {
                Ok(keys) => {
                    let mut c = self.cache.write();
                    c.keys = keys;
                    c.fetched = Some(Instant::now());
                }
                // Stale keys stay in use: an unreachable key server should not lock
                // everyone out; the next attempt comes after `min_refresh`.
                Err(e) => tracing::warn!("fetching JWKS from {} failed: {e}", self.url),
            }
        }
        self.cached(kid, family)?.ok_or_else(|| match kid {
            Some(_) => AuthError::invalid("the token's kid is not in the JWKS"),
            None => AuthError::invalid("no JWKS key for this token's algorithm"),
        })
    }

    fn refresh_due(&self) -> bool {
        self.cache.read().fetched.is_none_or(|t| t.elapsed() >= self.max_age)
    }

    /// The cached key for `kid`, or the only key of `family` when the token has no `kid`.
    fn cached(&self, kid: Option<&str>, family: AlgorithmFamily) -> Result<Option<Key>, AuthError> {
        let c = self.cache.read();
        let same_family = |k: &Key| k.algorithms.iter().any(|a| a.family() == family);
        match kid {
            Some(kid) => Ok(c
                .keys
                .iter()
                .find(|(id, k)| id.as_deref() == Some(kid) && same_family(k))
                .map(|(_, k)| k.clone())),
            None => {
                let mut matching = c.keys.iter().filter(|(_, k)| same_family(k));
                match (matching.next(), matching.next()) {
                    (Some((_, k)), None) => Ok(Some(k.clone())),
                    (Some(_), Some(_)) => Err(AuthError::invalid(
                        "token has no kid and the JWKS holds several keys of its type",
                    )),
                    _ => Ok(None),
                }
            }
        }
    }

    async fn fetch(&self) -> Result<Vec<(Option<String>, Key)>, String> {
        let resp = self.client.get(&self.url).send().await.map_err(|e| e.to_string())?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status()));
        }
        if resp.content_length().is_some_and(|n| n > MAX_JWKS_BYTES as u64) {
            return Err("the JWKS document is too large".into());
        }
        let body = resp.bytes().await.map_err(|e| e.to_string())?;
        if body.len() > MAX_JWKS_BYTES {
            return Err("the JWKS document is too large".into());
        }
        let doc: Value = serde_json::from_slice(&body).map_err(|e| format!("not JSON: {e}"))?;
        let entries = doc.get("keys").and_then(Value::as_array).ok_or("no \"keys\" array")?;
        let keys: Vec<_> = entries
            .iter()
            .filter_map(|v| serde_json::from_value::<Jwk>(v.clone()).ok())
            .filter_map(|jwk| key_from_jwk(&jwk).map(|k| (jwk.common.key_id.clone(), k)))
            .collect();
        tracing::info!("loaded {} of {} keys from JWKS {}", keys.len(), entries.len(), self.url);
        Ok(keys)
    }
}

/// The verification key of one JWK, with its algorithms fixed by the key type.
pub fn key_from_jwk(jwk: &Jwk) -> Option<Key> {
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let mut algorithms: Vec<Algorithm> = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => AlgorithmFamily::Rsa.algorithms().to_vec(),
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => vec![Algorithm::ES256],
            EllipticCurve::P384 => vec![Algorithm::ES384],
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
            vec![Algorithm::EdDSA]
        }
        AlgorithmParameters::OctetKeyPair(_) | AlgorithmParameters::OctetKey(_) => return None,
    };
    if let Some(declared) = jwk.common.key_algorithm {
        let declared = Algorithm::from_str(&declared.to_string()).ok()?;
        if !algorithms.contains(&declared) {
            return None;
        }
        algorithms = vec![declared];
    }
    let decoding = DecodingKey::from_jwk(jwk).ok()?;
    Some(Key { decoding, algorithms })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn jwk(v: Value) -> Jwk {
        serde_json::from_value(v).expect("valid JWK")
    }

    #[test]
    fn algorithms_follow_the_key_type() {
        let ed = json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        assert_eq!(key_from_jwk(&jwk(ed)).expect("ed key").algorithms, vec![Algorithm::EdDSA]);
        let rsa = json!({"kty": "RSA", "n": "sXch", "e": "AQAB", "alg": "RS256"});
        assert_eq!(key_from_jwk(&jwk(rsa)).expect("rsa key").algorithms, vec![Algorithm::RS256]);
        let rsa_any = json!({"kty": "RSA", "n": "sXch", "e": "AQAB"});
        let algs = key_from_jwk(&jwk(rsa_any)).expect("rsa key").algorithms;
        assert!(algs.contains(&Algorithm::RS256) && !algs.contains(&Algorithm::HS256));
    }

    #[test]
    fn symmetric_and_mismatched_keys_are_skipped() {
        let oct = json!({"kty": "oct", "k": "c2VjcmV0"});
        assert!(key_from_jwk(&jwk(oct)).is_none());
        let lying = json!({"kty": "RSA", "n": "sXch", "e": "AQAB", "alg": "HS256"});
        assert!(key_from_jwk(&jwk(lying)).is_none());
        let enc = json!({"kty": "RSA", "n": "sXch", "e": "AQAB", "use": "enc"});
        assert!(key_from_jwk(&jwk(enc)).is_none());
    }
}

//! Callback and claim tokens (spec sections 7.1, 7.2 and 12.9).
//!
//! A token is `base64url(claims JSON) "." base64url(HMAC-SHA256(key, first part))`. The claims
//! name the subscription, the wake generation and wake id it was issued for, what it may be
//! used for (webhook callback or pull-wake ack/release) and an expiry. The signature and
//! expiry are checked on every call; the generation and wake id are then compared with the
//! subscription's current wake (fencing, in `state.rs`), so a valid but stale token gets
//! `409 FENCED`, never a cursor move.
//!
//! The HMAC key is derived from the webhook signing key's secret seed with a distinct label,
//! so it persists with that key and needs no second secret file.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::SubError;

/// How long a token is accepted. Fencing (generation, wake id, lease) is what bounds its
/// real use; the expiry bounds a leaked token's lifetime even if its wake were never fenced.
pub const TOKEN_TTL_MS: i64 = 24 * 60 * 60 * 1000;

/// What a token may be used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Use {
    /// `POST …/callback` of a webhook wake.
    #[serde(rename = "callback")]
    Callback,
    /// `POST …/ack` and `…/release` of a claimed pull-wake.
    #[serde(rename = "claim")]
    Claim,
}

/// The signed facts of a token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Subscription id.
    pub sub: String,
    /// Wake generation.
    pub gen: u64,
    /// Wake id.
    pub wake: String,
    #[serde(rename = "use")]
    pub usage: Use,
    /// Expiry, Unix milliseconds.
    pub exp: i64,
}

/// Issues and checks tokens with one HMAC key.
pub struct Tokens {
    key: [u8; 32],
}

impl Tokens {
    /// Derives the token key from the signing key's secret seed.
    pub fn from_seed(seed: &[u8; 32]) -> Tokens {
        let mut h = Sha256::new();
        h.update(b"durastream subscription token key v1\0");
        h.update(seed);
        Tokens { key: h.finalize().into() }
    }

    fn mac(&self) -> Hmac<Sha256> {
        <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .expect("HMAC-SHA256 accepts a key of any length")
    }

    /// A token for `claims`.
    pub fn issue(&self, claims: &Claims) -> String {
        let json = serde_json::to_vec(claims).expect("claims always serialize");
        let payload = B64.encode(json);
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        let sig = B64.encode(mac.finalize().into_bytes());
        format!("{payload}.{sig}")
    }

    /// Checks a token's signature, subscription, use and expiry; returns its claims.
    pub fn verify(
        &self,
        token: &str,
        sub: &str,
        usage: Use,
        now_ms: i64,
    ) -> Result<Claims, SubError> {
        let invalid =
            || SubError::TokenInvalid("token is malformed or its signature is wrong".into());
        let (payload, sig) = token.split_once('.').ok_or_else(invalid)?;
        let sig = B64.decode(sig).map_err(|_| invalid())?;
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        mac.verify_slice(&sig).map_err(|_| invalid())?;
        let json = B64.decode(payload).map_err(|_| invalid())?;
        let claims: Claims = serde_json::from_slice(&json).map_err(|_| invalid())?;
        if claims.sub != sub {
            return Err(SubError::TokenInvalid("token belongs to another subscription".into()));
        }
        if claims.usage != usage {
            return Err(SubError::TokenInvalid(match usage {
                Use::Callback => "a claim token cannot be used for a webhook callback".into(),
                Use::Claim => "a webhook callback token cannot ack or release a claim".into(),
            }));
        }
        if claims.exp <= now_ms {
            return Err(SubError::TokenExpired);
        }
        Ok(claims)
    }
}

/// Reads `Authorization: Bearer <token>`.
pub fn bearer(headers: &http::HeaderMap) -> Result<&str, SubError> {
    let v = headers.get(http::header::AUTHORIZATION).ok_or_else(|| {
        SubError::TokenInvalid("Authorization: Bearer <token> is required".into())
    })?;
    let v = v
        .to_str()
        .map_err(|_| SubError::TokenInvalid("Authorization header is not valid text".into()))?;
    let (scheme, token) = v
        .split_once(' ')
        .ok_or_else(|| SubError::TokenInvalid("Authorization must be `Bearer <token>`".into()))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(SubError::TokenInvalid("Authorization must be `Bearer <token>`".into()));
    }
    Ok(token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims { sub: "s1".into(), gen: 7, wake: "w_1".into(), usage: Use::Callback, exp }
    }

    #[test]
    fn round_trip() {
        let t = Tokens::from_seed(&[7; 32]);
        let tok = t.issue(&claims(10_000));
        assert_eq!(t.verify(&tok, "s1", Use::Callback, 5_000).ok(), Some(claims(10_000)));
    }

    #[test]
    fn rejects_tampering_other_keys_subs_uses_and_expiry() {
        let t = Tokens::from_seed(&[7; 32]);
        let tok = t.issue(&claims(10_000));
        let other = Tokens::from_seed(&[8; 32]);
        assert!(matches!(
            other.verify(&tok, "s1", Use::Callback, 0),
            Err(SubError::TokenInvalid(_))
        ));
        assert!(matches!(t.verify(&tok, "s2", Use::Callback, 0), Err(SubError::TokenInvalid(_))));
        assert!(matches!(t.verify(&tok, "s1", Use::Claim, 0), Err(SubError::TokenInvalid(_))));
        assert!(matches!(t.verify(&tok, "s1", Use::Callback, 10_000), Err(SubError::TokenExpired)));
        // A forged payload with the old signature.
        let (_, sig) = tok.split_once('.').expect("token has two parts");
        let mut forged = claims(10_000);
        forged.gen = 8;
        let payload = B64.encode(serde_json::to_vec(&forged).expect("serializes"));
        let bad = format!("{payload}.{sig}");
        assert!(matches!(t.verify(&bad, "s1", Use::Callback, 0), Err(SubError::TokenInvalid(_))));
        assert!(t.verify("garbage", "s1", Use::Callback, 0).is_err());
    }

    #[test]
    fn bearer_header() {
        let mut h = http::HeaderMap::new();
        assert!(bearer(&h).is_err());
        h.insert("authorization", http::HeaderValue::from_static("Bearer abc.def"));
        assert_eq!(bearer(&h).ok(), Some("abc.def"));
        h.insert("authorization", http::HeaderValue::from_static("Basic abc"));
        assert!(bearer(&h).is_err());
    }
}

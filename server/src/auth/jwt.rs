//! JWT verification: the key is chosen by the token's algorithm family and `kid`, and each key
//! accepts only the algorithms of its own type, so an HMAC token is never checked against a
//! public key (no algorithm confusion) and `alg: none` is never accepted.
//!
//! The grants are in the `durastream` claim:
//!
//! ```json
//! { "sub": "svc-chat", "exp": 1767225600,
//!   "durastream": { "read": ["/chat"], "write": ["/chat/drafts"], "admin": [] } }
//! ```

use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, decode_header, Algorithm, AlgorithmFamily, DecodingKey, Validation};
use serde::Deserialize;

use super::grants::{Grants, PathPrefix, Permission};
use super::jwks::Jwks;
use super::{AuthConfig, AuthError};

/// Shortest HMAC secret accepted (RFC 7518 section 3.2: at least the hash size).
pub const MIN_SECRET_BYTES: usize = 32;

/// A verification key and the algorithms it may verify.
#[derive(Clone)]
pub struct Key {
    /// The key material.
    pub decoding: DecodingKey,
    /// The only algorithms this key verifies (fixed by its type, never by the token).
    pub algorithms: Vec<Algorithm>,
}

/// The claim that carries the grants.
#[derive(Deserialize, Default)]
#[serde(default)]
struct DurastreamClaim {
    read: Vec<String>,
    write: Vec<String>,
    admin: Vec<String>,
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    durastream: Option<DurastreamClaim>,
}

/// Checks JWTs against the configured keys.
pub struct JwtVerifier {
    secret: Option<Key>,
    public: Option<Key>,
    jwks: Option<Jwks>,
    validation: Validation,
}

impl JwtVerifier {
    /// The verifier of `config`, or `None` when it configures no JWT key.
    pub fn new(config: &AuthConfig) -> Result<Option<JwtVerifier>, String> {
        let secret = match &config.hmac_secret {
            Some(s) if s.len() < MIN_SECRET_BYTES => {
                return Err(format!("the JWT secret must be at least {MIN_SECRET_BYTES} bytes"))
            }
            Some(s) => Some(Key {
                decoding: DecodingKey::from_secret(s),
                algorithms: AlgorithmFamily::Hmac.algorithms().to_vec(),
            }),
            None => None,
        };
        let public = config.public_key_pem.as_deref().map(public_key).transpose()?;
        let jwks = match &config.jwks_url {
            Some(url) => Some(Jwks::new(url, config.jwks_min_refresh, config.jwks_max_age)?),
            None => None,
        };
        if secret.is_none() && public.is_none() && jwks.is_none() {
            if config.issuer.is_some() || config.audience.is_some() {
                return Err("a JWT issuer or audience is set but no JWT key".into());
            }
            return Ok(None);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = config.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp"]);
        if let Some(iss) = &config.issuer {
            validation.set_issuer(&[iss]);
            validation.required_spec_claims.insert("iss".into());
        }
        match &config.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                validation.required_spec_claims.insert("aud".into());
            }
            // Without a configured audience, tokens are not checked for one.
            None => validation.validate_aud = false,
        }
        Ok(Some(JwtVerifier { secret, public, jwks, validation }))
    }

    /// Verifies `token` and returns its grants.
    pub async fn verify(&self, token: &str) -> Result<Grants, AuthError> {
        let header = decode_header(token)
            .map_err(|_| AuthError::invalid("malformed token or unsupported algorithm"))?;
        let family = header.alg.family();
        let key = match family {
            AlgorithmFamily::Hmac => self
                .secret
                .clone()
                .ok_or_else(|| AuthError::invalid("HMAC-signed tokens are not accepted"))?,
            _ => self.asymmetric_key(header.kid.as_deref(), family).await?,
        };
        let mut validation = self.validation.clone();
        validation.algorithms = key.algorithms.clone();
        let data =
            decode::<Claims>(token, &key.decoding, &validation).map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::ImmatureSignature => AuthError::invalid("token is not valid yet (nbf)"),
                ErrorKind::InvalidSignature => AuthError::invalid("bad signature"),
                ErrorKind::InvalidAlgorithm => {
                    AuthError::invalid("algorithm not accepted for this key")
                }
                ErrorKind::InvalidIssuer => AuthError::invalid("issuer not accepted"),
                ErrorKind::InvalidAudience => AuthError::invalid("audience not accepted"),
                ErrorKind::MissingRequiredClaim(c) => {
                    AuthError::invalid(format!("missing {c} claim"))
                }
                ErrorKind::InvalidClaimFormat(c) => {
                    AuthError::invalid(format!("malformed {c} claim"))
                }
                _ => AuthError::invalid("malformed token"),
            })?;
        grants_of(data.claims.durastream.unwrap_or_default())
    }

    async fn asymmetric_key(
        &self,
        kid: Option<&str>,
        family: AlgorithmFamily,
    ) -> Result<Key, AuthError> {
        let fits = |k: &&Key| k.algorithms.iter().any(|a| a.family() == family);
        if let (Some(jwks), Some(kid)) = (&self.jwks, kid) {
            match jwks.key(Some(kid), family).await {
                Ok(k) => return Ok(k),
                Err(e) if self.public.as_ref().filter(fits).is_none() => return Err(e),
                Err(_) => {}
            }
        }
        if let Some(k) = self.public.as_ref().filter(fits) {
            return Ok(k.clone());
        }
        match &self.jwks {
            Some(jwks) => jwks.key(None, family).await,
            None => Err(AuthError::invalid("no key accepts this token's algorithm")),
        }
    }
}

/// Reads a PEM public key (Ed25519, RSA or EC) and fixes its algorithms by its type.
fn public_key(pem: &[u8]) -> Result<Key, String> {
    let not_public = || {
        "the JWT public key file must hold one PEM public key (Ed25519, RSA or EC P-256)"
            .to_string()
    };
    if let Ok(decoding) = DecodingKey::from_ed_pem(pem) {
        return Ok(Key { decoding, algorithms: vec![Algorithm::EdDSA] });
    }
    if let Ok(decoding) = DecodingKey::from_rsa_pem(pem) {
        return Ok(Key { decoding, algorithms: AlgorithmFamily::Rsa.algorithms().to_vec() });
    }
    if let Ok(decoding) = DecodingKey::from_ec_pem(pem) {
        return Ok(Key { decoding, algorithms: vec![Algorithm::ES256] });
    }
    Err(not_public())
}

fn grants_of(claim: DurastreamClaim) -> Result<Grants, AuthError> {
    let mut grants = Grants::default();
    for (permission, list) in [
        (Permission::Read, claim.read),
        (Permission::Write, claim.write),
        (Permission::Admin, claim.admin),
    ] {
        for path in list {
            let prefix = PathPrefix::parse(&path)
                .map_err(|e| AuthError::invalid(format!("durastream claim: {e}")))?;
            grants.add(permission, prefix);
        }
    }
    Ok(grants)
}

/// Default tolerance for clock skew on `exp` and `nbf`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

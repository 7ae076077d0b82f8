//! A subscription's configuration: parsing the `PUT` body, validation, normalization and
//! the hash that makes re-confirmation idempotent (spec section 6.2).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::SubError;
use super::glob;
use super::ssrf::Policy;

/// Lease bounds and default, in milliseconds.
pub const MIN_LEASE_MS: u64 = 1_000;
pub const MAX_LEASE_MS: u64 = 600_000;
pub const DEFAULT_LEASE_MS: u64 = 30_000;
/// Longest subscription id and description.
const MAX_ID: usize = 128;
const MAX_DESCRIPTION: usize = 4096;
/// Most explicit streams in one request.
const MAX_STREAMS: usize = 10_000;

/// How wakes are delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    #[serde(rename = "webhook")]
    Webhook,
    #[serde(rename = "pull-wake")]
    PullWake,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Webhook => "webhook",
            Kind::PullWake => "pull-wake",
        }
    }
}

/// A normalized subscription configuration. Field order is the hash's canonical order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubConfig {
    #[serde(rename = "type")]
    pub kind: Kind,
    pub pattern: Option<String>,
    /// Explicit streams, sorted and deduplicated.
    pub streams: Vec<String>,
    /// Webhook URL as the URL parser normalizes it.
    pub webhook_url: Option<String>,
    pub wake_stream: Option<String>,
    pub lease_ttl_ms: u64,
    pub description: Option<String>,
}

/// The request body as sent (unknown fields are ignored).
#[derive(Deserialize)]
struct Body {
    #[serde(rename = "type")]
    kind: Option<String>,
    pattern: Option<String>,
    streams: Option<Vec<String>>,
    webhook: Option<WebhookBody>,
    wake_stream: Option<String>,
    lease_ttl_ms: Option<serde_json::Value>,
    description: Option<String>,
}

#[derive(Deserialize)]
struct WebhookBody {
    url: Option<String>,
}

/// Checks a subscription id: 1 to 128 URL-unreserved characters.
pub fn check_id(id: &str) -> Result<(), SubError> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(SubError::invalid(format!(
            "subscription id must be 1 to {MAX_ID} characters of A-Z a-z 0-9 - . _ ~"
        )))
    }
}

/// Normalizes a stream-root-relative path: no leading or trailing `/`, no empty, `.` or
/// `..` segments, not under the reserved `__ds` prefix.
pub fn stream_path(raw: &str) -> Result<String, SubError> {
    let p = raw.trim_matches('/');
    let bad = |why: &str| SubError::invalid(format!("stream path {raw:?} {why}"));
    if p.is_empty() {
        return Err(bad("is empty"));
    }
    if p.len() > crate::http::MAX_PATH {
        return Err(bad("is too long"));
    }
    if p.contains('\0') {
        return Err(bad("contains NUL"));
    }
    if p.split('/').any(|s| s.is_empty() || s == "." || s == "..") {
        return Err(bad("has an empty, `.` or `..` segment"));
    }
    if p == "__ds" || p.starts_with("__ds/") {
        return Err(bad("is under the reserved __ds prefix"));
    }
    Ok(p.to_string())
}

/// Parses a stream list (`streams` of a `PUT` or of `POST …/streams`), sorted and deduplicated.
pub fn stream_list(raw: Vec<String>) -> Result<Vec<String>, SubError> {
    if raw.len() > MAX_STREAMS {
        return Err(SubError::invalid(format!("at most {MAX_STREAMS} streams per request")));
    }
    let mut out = raw.iter().map(|s| stream_path(s)).collect::<Result<Vec<_>, _>>()?;
    out.sort();
    out.dedup();
    Ok(out)
}

impl SubConfig {
    /// Parses and validates a `PUT` body. Webhook URLs go through the SSRF `policy`.
    pub fn parse(body: &[u8], policy: Policy, webhooks: bool) -> Result<SubConfig, SubError> {
        let b: Body = serde_json::from_slice(body)
            .map_err(|e| SubError::invalid(format!("body must be a JSON object: {e}")))?;
        let kind = match b.kind.as_deref() {
            Some("webhook") => Kind::Webhook,
            Some("pull-wake") => Kind::PullWake,
            Some(other) => {
                return Err(SubError::invalid(format!(
                    "type must be \"webhook\" or \"pull-wake\", got {other:?}"
                )))
            }
            None => return Err(SubError::invalid("type is required")),
        };
        if let Some(p) = &b.pattern {
            glob::validate(p).map_err(SubError::Invalid)?;
        }
        let streams = stream_list(b.streams.unwrap_or_default())?;
        if b.pattern.is_none() && streams.is_empty() {
            return Err(SubError::invalid("at least one of pattern or streams is required"));
        }
        let lease_ttl_ms = match b.lease_ttl_ms {
            None | Some(serde_json::Value::Null) => DEFAULT_LEASE_MS,
            Some(v) => v
                .as_u64()
                .filter(|n| (MIN_LEASE_MS..=MAX_LEASE_MS).contains(n))
                .ok_or_else(|| {
                    SubError::invalid(format!(
                        "lease_ttl_ms must be an integer from {MIN_LEASE_MS} to {MAX_LEASE_MS}"
                    ))
                })?,
        };
        if b.description.as_ref().is_some_and(|d| d.len() > MAX_DESCRIPTION) {
            return Err(SubError::invalid(format!(
                "description is longer than {MAX_DESCRIPTION} bytes"
            )));
        }
        let (webhook_url, wake_stream) = match kind {
            Kind::Webhook => {
                if b.wake_stream.is_some() {
                    return Err(SubError::invalid("wake_stream is only for pull-wake"));
                }
                if !webhooks {
                    return Err(SubError::WebhooksDisabled);
                }
                let url = b.webhook.and_then(|w| w.url).ok_or_else(|| {
                    SubError::invalid("webhook subscriptions require webhook.url")
                })?;
                (Some(policy.check(&url)?.to_string()), None)
            }
            Kind::PullWake => {
                if b.webhook.is_some() {
                    return Err(SubError::invalid("webhook is only for webhook subscriptions"));
                }
                let ws = b.wake_stream.ok_or_else(|| {
                    SubError::invalid("pull-wake subscriptions require wake_stream")
                })?;
                (None, Some(stream_path(&ws)?))
            }
        };
        Ok(SubConfig {
            kind,
            pattern: b.pattern,
            streams,
            webhook_url,
            wake_stream,
            lease_ttl_ms,
            description: b.description,
        })
    }

    /// SHA-256 of the canonical JSON of the normalized configuration, hex.
    pub fn hash(&self) -> String {
        let json = serde_json::to_vec(self).expect("a configuration always serializes");
        Sha256::digest(json).iter().map(|b| format!("{b:02x}")).collect()
    }

    /// True when the glob pattern links `path` (never the subscription's own wake stream,
    /// whose wake events would otherwise wake it forever).
    pub fn globs(&self, path: &str) -> bool {
        self.pattern.as_deref().is_some_and(|p| glob::matches(p, path))
            && self.wake_stream.as_deref() != Some(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV: Policy = Policy { allow_localhost: true };

    fn parse(json: &str) -> Result<SubConfig, SubError> {
        SubConfig::parse(json.as_bytes(), DEV, true)
    }

    #[test]
    fn hash_ignores_order_duplicates_and_defaults() {
        let a = parse(r#"{"type":"pull-wake","streams":["b","a","a"],"wake_stream":"w"}"#)
            .expect("valid");
        let b = parse(
            r#"{"type":"pull-wake","streams":["/a","b/"],"wake_stream":"/w","lease_ttl_ms":30000,
                "extra":1}"#,
        )
        .expect("valid");
        assert_eq!(a.streams, vec!["a", "b"]);
        assert_eq!(a.hash(), b.hash());
        assert_eq!(a.hash().len(), 64);
    }

    #[test]
    fn hash_covers_every_field() {
        let base = r#"{"type":"webhook","pattern":"e/*","webhook":{"url":"http://127.0.0.1:9/h"},
                       "lease_ttl_ms":1000,"description":"d"}"#;
        let h = parse(base).expect("valid").hash();
        for changed in [
            base.replace("e/*", "e/**"),
            base.replace("9/h", "9/g"),
            base.replace("1000", "2000"),
            base.replace(r#""d""#, r#""e""#),
            base.replace(r#""pattern""#, r#""streams":["x"],"pattern""#),
        ] {
            assert_ne!(parse(&changed).expect("valid").hash(), h, "{changed}");
        }
    }

    #[test]
    fn validation_errors() {
        let bad = [
            r#"{"pattern":"e/*","wake_stream":"w"}"#,
            r#"{"type":"push","pattern":"e/*"}"#,
            r#"{"type":"pull-wake","wake_stream":"w"}"#,
            r#"{"type":"pull-wake","pattern":"e/*"}"#,
            r#"{"type":"webhook","pattern":"e/*"}"#,
            r#"{"type":"pull-wake","pattern":"e/*","wake_stream":"w","lease_ttl_ms":999}"#,
            r#"{"type":"pull-wake","pattern":"e/*","wake_stream":"w","lease_ttl_ms":600001}"#,
            r#"{"type":"pull-wake","pattern":"","wake_stream":"w"}"#,
            r#"{"type":"pull-wake","streams":["a/../b"],"wake_stream":"w"}"#,
            r#"{"type":"pull-wake","streams":["__ds/x"],"wake_stream":"w"}"#,
            r#"[]"#,
        ];
        for b in bad {
            assert_eq!(parse(b).err().map(|e| e.code()), Some("INVALID_REQUEST"), "{b}");
        }
        let url = r#"{"type":"webhook","pattern":"e/*","webhook":{"url":"http://10.0.0.1/hook"}}"#;
        assert_eq!(parse(url).err().map(|e| e.code()), Some("WEBHOOK_URL_REJECTED"));
        let off = SubConfig::parse(
            br#"{"type":"webhook","pattern":"e/*","webhook":{"url":"https://a.example/"}}"#,
            DEV,
            false,
        );
        assert_eq!(off.err().map(|e| e.code()), Some("WEBHOOKS_DISABLED"));
    }

    #[test]
    fn the_wake_stream_is_never_globbed() {
        let c = parse(r#"{"type":"pull-wake","pattern":"**","wake_stream":"wake/pool"}"#)
            .expect("valid");
        assert!(c.globs("events/a"));
        assert!(!c.globs("wake/pool"));
    }

    #[test]
    fn ids() {
        assert!(check_id("sub-1712345678").is_ok());
        assert!(check_id("").is_err());
        assert!(check_id("a/b").is_err());
        assert!(check_id(&"x".repeat(129)).is_err());
    }
}

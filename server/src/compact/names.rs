//! Where snapshots live: their store key and their URL.
//!
//! A snapshot of the stream at store key `/v1/stream/room` covering its bytes up to
//! position 1234 is stored under the key `snapshot:1234:/v1/stream/room`. That key is not
//! under the stream prefix, so no client can create, append to or delete it, listings and
//! subscription patterns never see it. Clients read it at
//! `{prefix}/__ds/snapshots/room/0000000000000000_0000000000001234`.

use durastream::Offset;

const KEY_PREFIX: &str = "snapshot:";

/// The store key of the snapshot of `source` (a store key) at position `pos`.
pub fn key(source: &str, pos: u64) -> String {
    format!("{KEY_PREFIX}{pos}:{source}")
}

/// The source store key and position of a snapshot key; `None` for other keys.
pub fn parse_key(key: &str) -> Option<(&str, u64)> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    let (pos, source) = rest.split_once(':')?;
    Some((source, pos.parse().ok()?))
}

/// The URL path (decoded) of a snapshot, under `prefix` (normalised, no trailing slash).
/// `None` when `source` is not under the prefix.
pub fn url_path(prefix: &str, source: &str, pos: u64) -> Option<String> {
    let rel = source.strip_prefix(prefix)?.strip_prefix('/')?;
    Some(format!("{prefix}/__ds/snapshots/{rel}/{}", Offset(pos)))
}

/// Splits the raw path after `{prefix}/__ds/snapshots/` into the source's relative path
/// (still percent-encoded) and the covered position.
pub fn parse_url_rest(rest: &str) -> Option<(&str, u64)> {
    let (rel, token) = rest.rsplit_once('/')?;
    let pos = token.parse::<Offset>().ok()?.position();
    (!rel.is_empty()).then_some((rel, pos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_urls_round_trip() {
        let k = key("/v1/stream/a:b/c", 1234);
        assert_eq!(k, "snapshot:1234:/v1/stream/a:b/c");
        assert_eq!(parse_key(&k), Some(("/v1/stream/a:b/c", 1234)));
        assert_eq!(parse_key("/v1/stream/x"), None);
        assert_eq!(parse_key("snapshot:x:/a"), None);
        let url = url_path("/v1/stream", "/v1/stream/a/b", 7).expect("under prefix");
        let rest = url.strip_prefix("/v1/stream/__ds/snapshots/").expect("shape");
        assert_eq!(parse_url_rest(rest), Some(("a/b", 7)));
        assert_eq!(
            url_path("", "/a", 0).as_deref(),
            Some(&*format!("/__ds/snapshots/a/{}", Offset(0)))
        );
        assert_eq!(url_path("/v1/stream", "/other/a", 0), None);
        assert_eq!(parse_url_rest("a/b/not-an-offset"), None);
        assert_eq!(parse_url_rest(&format!("/{}", Offset(3))), None);
    }
}

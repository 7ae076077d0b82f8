//! Which browser origins may call the server (CORS).
//!
//! `*` (the default) lets any web page read and write streams through its visitors' browsers:
//! fine for local development, wrong for a deployment whose streams are not public. With a
//! list, a request's `Origin` is echoed back only when listed (with `Vary: Origin` so caches
//! keep the answers apart); other origins get no CORS headers, so browsers block them.

use http::header::{HeaderValue, ORIGIN, VARY};
use http::HeaderMap;

/// The configured origins.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum CorsOrigins {
    /// Any origin (`Access-Control-Allow-Origin: *`).
    #[default]
    Any,
    /// Only these origins (`scheme://host[:port]`, compared exactly, without a trailing `/`).
    List(Vec<String>),
}

impl CorsOrigins {
    /// Parses `*` or a comma-separated list of origins.
    pub fn parse(s: &str) -> Result<CorsOrigins, String> {
        let s = s.trim();
        if s == "*" {
            return Ok(CorsOrigins::Any);
        }
        let mut list = Vec::new();
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let origin = item.trim_end_matches('/');
            let url = url::Url::parse(origin)
                .map_err(|e| format!("CORS origin {item:?} is not scheme://host[:port]: {e}"))?;
            if url.path() != "/" || url.query().is_some() || !url.has_host() {
                return Err(format!("CORS origin {item:?} must be scheme://host[:port] only"));
            }
            list.push(origin.to_ascii_lowercase());
        }
        if list.is_empty() {
            return Err("--cors-origins needs * or at least one origin".into());
        }
        Ok(CorsOrigins::List(list))
    }

    /// What to answer to a request with these headers.
    pub fn decide(&self, request: &HeaderMap) -> Cors {
        match self {
            CorsOrigins::Any => Cors::Any,
            CorsOrigins::List(list) => {
                let origin = request.get(ORIGIN);
                let listed = origin
                    .and_then(|o| o.to_str().ok())
                    .is_some_and(|o| list.iter().any(|l| l.eq_ignore_ascii_case(o)));
                match origin {
                    Some(o) if listed => Cors::Echo(o.clone()),
                    _ => Cors::Deny,
                }
            }
        }
    }
}

/// The CORS answer of one request.
#[derive(Clone, Debug)]
pub enum Cors {
    /// `Access-Control-Allow-Origin: *`.
    Any,
    /// Echo this listed origin.
    Echo(HeaderValue),
    /// No CORS headers at all.
    Deny,
}

impl Cors {
    /// The `Access-Control-Allow-Origin` value, or `None` to send no CORS headers.
    pub fn allow_origin(&self) -> Option<HeaderValue> {
        match self {
            Cors::Any => Some(HeaderValue::from_static("*")),
            Cors::Echo(o) => Some(o.clone()),
            Cors::Deny => None,
        }
    }

    /// Adds `Vary: Origin` when the answer depends on the origin.
    pub fn add_vary(&self, headers: &mut HeaderMap) {
        if !matches!(self, Cors::Any) {
            headers.append(VARY, HeaderValue::from_static("origin"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_origin(o: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(ORIGIN, HeaderValue::from_str(o).expect("header text"));
        h
    }

    #[test]
    fn parses_star_and_lists() {
        assert_eq!(CorsOrigins::parse("*"), Ok(CorsOrigins::Any));
        assert_eq!(
            CorsOrigins::parse("https://app.example.com, http://localhost:5173/"),
            Ok(CorsOrigins::List(vec![
                "https://app.example.com".into(),
                "http://localhost:5173".into()
            ]))
        );
        assert!(CorsOrigins::parse("app.example.com").is_err());
        assert!(CorsOrigins::parse("https://app.example.com/path").is_err());
        assert!(CorsOrigins::parse(" , ").is_err());
    }

    #[test]
    fn echoes_only_listed_origins() {
        let cors = CorsOrigins::parse("https://app.example.com").expect("valid");
        let yes = cors.decide(&with_origin("https://app.example.com"));
        assert_eq!(yes.allow_origin(), Some(HeaderValue::from_static("https://app.example.com")));
        assert!(cors.decide(&with_origin("https://evil.example.com")).allow_origin().is_none());
        assert!(cors.decide(&HeaderMap::new()).allow_origin().is_none());
        let any = CorsOrigins::Any.decide(&HeaderMap::new());
        assert_eq!(any.allow_origin(), Some(HeaderValue::from_static("*")));
    }
}

//! The web console at `/_console` (`--console`): plain HTML, JavaScript and CSS from
//! `server/console/`, compiled into the binary so nothing is fetched at run time.
//!
//! The page only uses the public protocol and the admin listings (`admin.rs`), with the
//! token a person enters sent as `Authorization: Bearer …`, so it can do exactly what that
//! token allows and nothing more. The assets themselves hold no data and need no token.

use http::{Method, Request, Response, StatusCode};

use crate::http::response::{self, Body, Reply};
use crate::http::App;

/// URL path of the console.
pub const PATH: &str = "/_console";

const INDEX: &str = include_str!("../../console/index.html");
const SCRIPT: &str = include_str!("../../console/console.js");
const STYLE: &str = include_str!("../../console/console.css");

/// Only this page's own files: no inline script, no other origin, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self' data:; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

/// True for `/_console` and the paths below it.
pub fn is_console_path(path: &str) -> bool {
    path.strip_prefix(PATH).is_some_and(|r| r.is_empty() || r.starts_with('/'))
}

/// Serves a console asset.
pub fn serve<B>(app: &App, req: &Request<B>) -> Response<Body> {
    let reply = if req.method() != Method::GET && req.method() != Method::HEAD {
        response::error(StatusCode::METHOD_NOT_ALLOWED, "the console only answers GET")
            .header("allow", "GET, HEAD")
    } else {
        match req.uri().path().strip_prefix(PATH).unwrap_or("") {
            "" => Reply::new(StatusCode::PERMANENT_REDIRECT).header("location", "/_console/"),
            "/" | "/index.html" => asset("text/html; charset=utf-8", INDEX),
            "/console.js" => asset("text/javascript; charset=utf-8", SCRIPT),
            "/console.css" => asset("text/css; charset=utf-8", STYLE),
            "/config.json" => {
                let cfg = serde_json::json!({
                    "prefix": app.config.prefix_path(),
                    "version": env!("CARGO_PKG_VERSION"),
                });
                asset("application/json", "").body(response::full(cfg.to_string()))
            }
            _ => response::error(StatusCode::NOT_FOUND, "no such console page"),
        }
    };
    let mut r = reply
        .header("content-security-policy", CSP)
        .header("x-frame-options", "DENY")
        .header("referrer-policy", "no-referrer")
        .header("x-content-type-options", "nosniff")
        .build();
    if req.method() == Method::HEAD {
        *r.body_mut() = response::empty();
    }
    r
}

fn asset(content_type: &'static str, text: &'static str) -> Reply {
    Reply::new(StatusCode::OK)
        .header("content-type", content_type)
        .header("cache-control", "no-cache")
        .body(response::full(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_paths() {
        assert!(is_console_path("/_console"));
        assert!(is_console_path("/_console/console.js"));
        assert!(!is_console_path("/_consoles"));
        assert!(!is_console_path("/v1/stream/_console"));
    }
}

//! Access control end to end: in-process servers with each token mode (static tokens, HS256,
//! EdDSA and RS256 public keys, a JWKS served from loopback), the 401/403 answers, path-prefix
//! grants, CORS origins, and subscription tokens that keep working without a JWT.

use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use durastream_server::auth::{AuthConfig, CorsOrigins, Permission};
use durastream_server::{Config, Server};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

mod auth_support;
use auth_support::{ed_jwk, ed_key, jwks_server, rsa_key, webhook_receiver};

const SECRET: &[u8] = b"test secret, long enough for HS256 (>= 32 bytes)";

fn now() -> i64 {
    durastream_server::store::now_ms() / 1000
}

/// Claims granting `grants` (the `durastream` claim), expiring in `exp_in` seconds.
fn claims(grants: Value, exp_in: i64) -> Value {
    json!({ "sub": "test", "exp": now() + exp_in, "durastream": grants })
}

fn sign(alg: Algorithm, kid: Option<&str>, claims: &Value, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    encode(&header, claims, key).expect("token encodes")
}

fn hs256(claims: &Value) -> String {
    sign(Algorithm::HS256, None, claims, &EncodingKey::from_secret(SECRET))
}

/// A running in-process server and its stream base URL.
struct Srv {
    server: Server,
    base: String,
    http: reqwest::Client,
}

impl Srv {
    async fn start(config: Config) -> Srv {
        let server = Server::start(config).await.expect("server starts");
        let base = format!("{}/v1/stream", server.url());
        Srv { server, base, http: reqwest::Client::new() }
    }

    async fn with_auth(auth: AuthConfig) -> Srv {
        Srv::start(Config::memory().with_auth(auth)).await
    }

    async fn call(&self, method: Method, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.http.request(method.clone(), format!("{}{path}", self.base));
        if method == Method::PUT {
            req = req.header("content-type", "application/json");
        }
        if method == Method::POST {
            req = req.header("content-type", "application/json").body(r#"{"a":1}"#);
        }
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("request answered")
    }

    async fn status(&self, method: Method, path: &str, token: Option<&str>) -> StatusCode {
        self.call(method, path, token).await.status()
    }

    async fn stop(self) {
        self.server.shutdown().await.expect("clean shutdown");
    }
}

/// The body of a 401 or 403, checking the challenge header on the way.
async fn denial(r: reqwest::Response, status: StatusCode) -> String {
    assert_eq!(r.status(), status);
    let challenge = r.headers().get("www-authenticate").expect("challenge").to_str().expect("text");
    assert!(challenge.starts_with("Bearer realm=\"durastream\""), "{challenge}");
    r.text().await.expect("body")
}

#[tokio::test]
async fn hs256_tokens_401_cases_and_grants() {
    let config = Config {
        long_poll_timeout: Duration::from_millis(100),
        ..Config::memory().with_auth(AuthConfig::new().with_hs256_secret(SECRET))
    };
    let srv = Srv::start(config).await;
    let admin = hs256(&claims(json!({ "admin": ["/"] }), 300));
    assert_eq!(srv.status(Method::PUT, "/chat/a", Some(&admin)).await, StatusCode::CREATED);

    // No token.
    let r = srv.call(Method::GET, "/chat/a", None).await;
    assert!(denial(r, StatusCode::UNAUTHORIZED).await.contains("missing bearer token"));
    // Not a bearer token.
    let basic = srv
        .http
        .get(format!("{}/chat/a", srv.base))
        .basic_auth("u", Some("p"))
        .send()
        .await
        .expect("answered");
    assert!(denial(basic, StatusCode::UNAUTHORIZED).await.contains("Bearer scheme"));
    // Signed with another secret.
    let forged = sign(
        Algorithm::HS256,
        None,
        &claims(json!({ "admin": ["/"] }), 300),
        &EncodingKey::from_secret(b"another secret that is also 32+ bytes long"),
    );
    let r = srv.call(Method::GET, "/chat/a", Some(&forged)).await;
    assert!(denial(r, StatusCode::UNAUTHORIZED).await.contains("bad signature"));
    // Expired beyond the leeway.
    let expired = hs256(&claims(json!({ "admin": ["/"] }), -600));
    let r = srv.call(Method::GET, "/chat/a", Some(&expired)).await;
    assert!(denial(r, StatusCode::UNAUTHORIZED).await.contains("expired"));
    // Not valid yet.
    let mut early = claims(json!({ "admin": ["/"] }), 900);
    early["nbf"] = json!(now() + 600);
    let r = srv.call(Method::GET, "/chat/a", Some(&hs256(&early))).await;
    assert!(denial(r, StatusCode::UNAUTHORIZED).await.contains("not valid yet"));
    // No expiry at all.
    let forever = hs256(&json!({ "sub": "x", "durastream": { "admin": ["/"] } }));
    let r = srv.call(Method::GET, "/chat/a", Some(&forever)).await;
    assert!(denial(r, StatusCode::UNAUTHORIZED).await.contains("missing exp claim"));
    // alg: none, with and without a signature part.
    let head = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims(json!({ "admin": ["/"] }), 300).to_string());
    for none in [format!("{head}.{body}."), format!("{head}.{body}.c2ln")] {
        let r = srv.call(Method::GET, "/chat/a", Some(&none)).await;
        assert_eq!(
            denial(r, StatusCode::UNAUTHORIZED).await,
            "invalid token: malformed token or unsupported algorithm"
        );
    }
    // Garbage.
    assert_eq!(srv.status(Method::GET, "/chat/a", Some("not-a-jwt")).await, 401);

    // A read-only token reads (catch-up, HEAD, long-poll) but cannot write or delete.
    let reader = hs256(&claims(json!({ "read": ["/chat"] }), 300));
    assert_eq!(srv.status(Method::GET, "/chat/a?offset=-1", Some(&reader)).await, 200);
    assert_eq!(srv.status(Method::HEAD, "/chat/a", Some(&reader)).await, 200);
    let poll = "/chat/a?offset=now&live=long-poll";
    assert_eq!(srv.status(Method::GET, poll, Some(&reader)).await, StatusCode::NO_CONTENT);
    let r = srv.call(Method::POST, "/chat/a", Some(&reader)).await;
    let msg = denial(r, StatusCode::FORBIDDEN).await;
    assert_eq!(
        msg,
        "this token does not grant write on /chat/a (grant paths are relative to /v1/stream)"
    );
    let r = srv.call(Method::DELETE, "/chat/a", Some(&reader)).await;
    assert!(denial(r, StatusCode::FORBIDDEN).await.contains("admin on /chat/a"));
    // The grant stops at the segment boundary.
    assert_eq!(srv.status(Method::PUT, "/chatroom", Some(&admin)).await, 201);
    assert_eq!(srv.status(Method::GET, "/chatroom", Some(&reader)).await, 403);
    // Percent-encoding does not escape a grant: the decoded path is checked.
    assert_eq!(srv.status(Method::GET, "/%63hatroom", Some(&reader)).await, 403);
    assert_eq!(srv.status(Method::GET, "/%63hat/a", Some(&reader)).await, 200);
    // A token without the durastream claim is valid but grants nothing.
    let nothing = hs256(&json!({ "sub": "x", "exp": now() + 300 }));
    assert_eq!(srv.status(Method::GET, "/chat/a", Some(&nothing)).await, 403);

    // A writer appends; write does not imply read.
    let writer = hs256(&claims(json!({ "write": ["/chat/"] }), 300));
    assert_eq!(srv.status(Method::POST, "/chat/a", Some(&writer)).await, 204);
    assert_eq!(srv.status(Method::GET, "/chat/a", Some(&writer)).await, 403);
    // Admin deletes.
    assert_eq!(srv.status(Method::DELETE, "/chat/a", Some(&admin)).await, 204);
    srv.stop().await;
}

#[tokio::test]
async fn issuer_and_audience_are_checked() {
    let auth = AuthConfig::new()
        .with_hs256_secret(SECRET)
        .with_issuer("https://issuer.example")
        .with_audience("durastream");
    let srv = Srv::with_auth(auth).await;
    let base = |iss: &str, aud: Value| {
        let mut c = claims(json!({ "admin": ["/"] }), 300);
        c["iss"] = json!(iss);
        c["aud"] = aud;
        hs256(&c)
    };
    let good = base("https://issuer.example", json!("durastream"));
    assert_eq!(srv.status(Method::PUT, "/s", Some(&good)).await, 201);
    let several = base("https://issuer.example", json!(["other", "durastream"]));
    assert_eq!(srv.status(Method::GET, "/s", Some(&several)).await, 200);
    let r =
        srv.call(Method::GET, "/s", Some(&base("https://evil.example", json!("durastream")))).await;
    assert!(denial(r, StatusCode::UNAUTHORIZED).await.contains("issuer not accepted"));
    let r =
        srv.call(Method::GET, "/s", Some(&base("https://issuer.example", json!("other")))).await;
    assert!(denial(r, StatusCode::UNAUTHORIZED).await.contains("audience not accepted"));
    let no_aud = hs256(&{
        let mut c = claims(json!({ "admin": ["/"] }), 300);
        c["iss"] = json!("https://issuer.example");
        c
    });
    let r = srv.call(Method::GET, "/s", Some(&no_aud)).await;
    assert!(denial(r, StatusCode::UNAUTHORIZED).await.contains("missing aud claim"));
    srv.stop().await;
}

#[tokio::test]
async fn eddsa_public_key_and_no_algorithm_confusion() {
    let key = ed_key();
    let srv = Srv::with_auth(AuthConfig::new().with_public_key_pem(key.pem.clone())).await;
    let grants = claims(json!({ "admin": ["/"] }), 300);
    let good = sign(Algorithm::EdDSA, None, &grants, &key.signing);
    assert_eq!(srv.status(Method::PUT, "/e", Some(&good)).await, 201);
    // Another Ed25519 key.
    let other = sign(Algorithm::EdDSA, None, &grants, &ed_key().signing);
    let r = srv.call(Method::GET, "/e", Some(&other)).await;
    assert!(denial(r, StatusCode::UNAUTHORIZED).await.contains("bad signature"));
    // The public key used as an HMAC secret (the classic confusion attack), as PEM and raw.
    for secret in [key.pem.as_bytes().to_vec(), URL_SAFE_NO_PAD.decode(&key.x).expect("x")] {
        let confused = sign(Algorithm::HS256, None, &grants, &EncodingKey::from_secret(&secret));
        let r = srv.call(Method::GET, "/e", Some(&confused)).await;
        assert!(denial(r, StatusCode::UNAUTHORIZED)
            .await
            .contains("HMAC-signed tokens are not accepted"));
    }
    srv.stop().await;
}

#[tokio::test]
async fn rs256_public_key_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = rsa_key(dir.path(), "rsa");
    let pub_file = dir.path().join("rsa.pub.pem");
    std::fs::write(&pub_file, &key.pem).expect("write key");
    let auth = AuthConfig::new().with_public_key_file(&pub_file).expect("reads key");
    let srv = Srv::with_auth(auth).await;
    let grants = claims(json!({ "read": ["/r"], "write": ["/r"] }), 300);
    let good = sign(Algorithm::RS256, None, &grants, &key.signing);
    assert_eq!(srv.status(Method::PUT, "/r/1", Some(&good)).await, 201);
    assert_eq!(srv.status(Method::GET, "/r/1", Some(&good)).await, 200);
    assert_eq!(srv.status(Method::PUT, "/q/1", Some(&good)).await, 403);
    let confused =
        sign(Algorithm::HS256, None, &grants, &EncodingKey::from_secret(key.pem.as_bytes()));
    assert_eq!(srv.status(Method::GET, "/r/1", Some(&confused)).await, 401);
    // An EdDSA token is not checked against an RSA key.
    let ed = sign(Algorithm::EdDSA, None, &grants, &ed_key().signing);
    let r = srv.call(Method::GET, "/r/1", Some(&ed)).await;
    assert!(denial(r, StatusCode::UNAUTHORIZED).await.contains("no key accepts"));
    srv.stop().await;
}

#[tokio::test]
async fn bad_key_configuration_is_refused_at_start() {
    let short = AuthConfig::new().with_hs256_secret(b"short".to_vec());
    let e = Server::start(Config::memory().with_auth(short)).await.err().expect("refused");
    assert!(e.to_string().contains("at least 32 bytes"), "{e}");
    let garbage = AuthConfig::new().with_public_key_pem(b"not a key".to_vec());
    let e = Server::start(Config::memory().with_auth(garbage)).await.err().expect("refused");
    assert!(e.to_string().contains("PEM public key"), "{e}");
    let e =
        Server::start(Config::memory().with_auth(AuthConfig::new())).await.err().expect("refused");
    assert!(e.to_string().contains("no static token"), "{e}");
}

#[tokio::test]
async fn jwks_keys_rotation_and_refresh_rate_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ed1, ed2, rsa) = (ed_key(), ed_key(), rsa_key(dir.path(), "jwks-rsa"));
    let rsa_jwk = json!({ "kty": "RSA", "kid": "r1", "alg": "RS256", "n": rsa.n, "e": "AQAB" });
    // An unusable entry (a symmetric key) is skipped, not fatal.
    let oct = json!({ "kty": "oct", "kid": "o1", "k": URL_SAFE_NO_PAD.encode(SECRET) });
    let jwks = jwks_server(json!([ed_jwk("e1", &ed1), rsa_jwk, oct])).await;

    // Refresh on an unknown kid at once (no rate limit) to see rotation.
    let auth = AuthConfig::new()
        .with_jwks_url(&jwks.url)
        .with_jwks_refresh(Duration::ZERO, Duration::from_secs(3600));
    let srv = Srv::with_auth(auth).await;
    let grants = claims(json!({ "admin": ["/"] }), 300);
    let t1 = sign(Algorithm::EdDSA, Some("e1"), &grants, &ed1.signing);
    assert_eq!(srv.status(Method::PUT, "/j", Some(&t1)).await, 201);
    let tr = sign(Algorithm::RS256, Some("r1"), &grants, &rsa.signing);
    assert_eq!(srv.status(Method::GET, "/j", Some(&tr)).await, 200);
    assert_eq!(jwks.fetches.load(Ordering::SeqCst), 1, "keys are cached");
    // The HMAC key in the set is never used.
    let th = sign(Algorithm::HS256, Some("o1"), &grants, &EncodingKey::from_secret(SECRET));
    assert_eq!(srv.status(Method::GET, "/j", Some(&th)).await, 401);
    // An RSA token naming the Ed25519 key's kid is refused.
    let wrong = sign(Algorithm::RS256, Some("e1"), &grants, &rsa.signing);
    assert_eq!(srv.status(Method::GET, "/j", Some(&wrong)).await, 401);
    // Rotation: a token with a new kid makes the server refetch and find it.
    let t2 = sign(Algorithm::EdDSA, Some("e2"), &grants, &ed2.signing);
    let r = srv.call(Method::GET, "/j", Some(&t2)).await;
    assert!(denial(r, StatusCode::UNAUTHORIZED).await.contains("not in the JWKS"));
    jwks.keys.lock().as_array_mut().expect("array").push(ed_jwk("e2", &ed2));
    assert_eq!(srv.status(Method::GET, "/j", Some(&t2)).await, 200);
    srv.stop().await;

    // With the default rate limit, unknown kids do not hammer the key server.
    let before = jwks.fetches.load(Ordering::SeqCst);
    let srv = Srv::with_auth(AuthConfig::new().with_jwks_url(&jwks.url)).await;
    assert_eq!(srv.status(Method::PUT, "/k", Some(&t1)).await, 201);
    let unknown = sign(Algorithm::EdDSA, Some("nope"), &grants, &ed2.signing);
    for _ in 0..5 {
        assert_eq!(srv.status(Method::GET, "/k", Some(&unknown)).await, 401);
    }
    assert_eq!(jwks.fetches.load(Ordering::SeqCst) - before, 1, "one fetch in the window");
    srv.stop().await;
}

#[tokio::test]
async fn static_tokens_from_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("tokens");
    std::fs::write(
        &file,
        "# token permission path\n\
         reader-aaaaaaaaaaaaaaaa read /docs\n\
         writer-bbbbbbbbbbbbbbbb read /docs\n\
         writer-bbbbbbbbbbbbbbbb write /docs/drafts\n\
         root-cccccccccccccccccc admin /\n",
    )
    .expect("write tokens");
    let auth = AuthConfig::new().with_token_file(&file).expect("parses").with_static_token(
        "extra-dddddddddddddddd",
        Permission::Read,
        "/extra",
    );
    let srv = Srv::with_auth(auth).await;
    let (reader, writer, root) =
        ("reader-aaaaaaaaaaaaaaaa", "writer-bbbbbbbbbbbbbbbb", "root-cccccccccccccccccc");
    assert_eq!(srv.status(Method::PUT, "/docs/drafts/1", Some(root)).await, 201);
    assert_eq!(srv.status(Method::PUT, "/docs/drafts/2", Some(writer)).await, 201);
    assert_eq!(srv.status(Method::POST, "/docs/drafts/1", Some(writer)).await, 204);
    assert_eq!(srv.status(Method::GET, "/docs/drafts/1", Some(reader)).await, 200);
    assert_eq!(srv.status(Method::POST, "/docs/drafts/1", Some(reader)).await, 403);
    assert_eq!(srv.status(Method::PUT, "/docs/other", Some(writer)).await, 403);
    assert_eq!(srv.status(Method::DELETE, "/docs/drafts/1", Some(writer)).await, 403);
    assert_eq!(srv.status(Method::DELETE, "/docs/drafts/1", Some(root)).await, 204);
    assert_eq!(srv.status(Method::GET, "/extra/x", Some("extra-dddddddddddddddd")).await, 404);
    let r = srv.call(Method::GET, "/docs/drafts/2", Some("reader-aaaaaaaaaaaaaaa")).await;
    assert_eq!(denial(r, StatusCode::UNAUTHORIZED).await, "invalid token: unknown token");
    // Paths outside the stream prefix need a token too.
    let outside = srv.http.get(format!("{}/elsewhere", srv.server.url())).send().await;
    assert_eq!(outside.expect("answered").status(), 401);

    let bad = dir.path().join("bad");
    std::fs::write(&bad, "reader-aaaaaaaaaaaaaaaa read\n").expect("write");
    let e = AuthConfig::new().with_token_file(&bad).expect_err("refused");
    assert!(e.to_string().contains("line 1"), "{e}");
    srv.stop().await;
}

#[tokio::test]
async fn forks_need_write_on_the_fork_and_read_on_the_source() {
    let srv = Srv::with_auth(AuthConfig::new().with_hs256_secret(SECRET)).await;
    let admin = hs256(&claims(json!({ "admin": ["/"] }), 300));
    assert_eq!(srv.status(Method::PUT, "/src/a", Some(&admin)).await, 201);
    let fork = |token: String| {
        srv.http
            .put(format!("{}/forks/f1", srv.base))
            .header("content-type", "application/json")
            .header("stream-forked-from", "/v1/stream/src/a")
            .bearer_auth(token)
            .send()
    };
    let write_only = hs256(&claims(json!({ "write": ["/forks"] }), 300));
    let r = fork(write_only).await.expect("answered");
    assert!(denial(r, StatusCode::FORBIDDEN).await.contains("read on /src/a"));
    let both = hs256(&claims(json!({ "write": ["/forks"], "read": ["/src"] }), 300));
    assert_eq!(fork(both).await.expect("answered").status(), 201);
    srv.stop().await;
}

#[tokio::test]
async fn preflight_needs_no_token_and_cors_echoes_listed_origins() {
    let origins = CorsOrigins::parse("https://app.example.com").expect("valid");
    let config = Config::memory()
        .with_auth(AuthConfig::new().with_hs256_secret(SECRET))
        .with_cors_origins(origins);
    let srv = Srv::start(config).await;
    let admin = hs256(&claims(json!({ "admin": ["/"] }), 300));
    let preflight = |origin: &'static str| {
        srv.http
            .request(Method::OPTIONS, format!("{}/c", srv.base))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let ok = preflight("https://app.example.com").await.expect("answered");
    assert_eq!(ok.status(), 204);
    let h = ok.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example.com");
    assert_eq!(h["vary"], "origin");
    assert!(h["access-control-allow-headers"].to_str().expect("text").contains("authorization"));
    let other = preflight("https://evil.example.com").await.expect("answered");
    assert_eq!(other.status(), 204);
    assert!(other.headers().get("access-control-allow-origin").is_none());
    assert!(other.headers().get("access-control-allow-methods").is_none());

    let get = |origin: &'static str| {
        srv.http.get(format!("{}/c", srv.base)).header("origin", origin).bearer_auth(&admin).send()
    };
    assert_eq!(srv.status(Method::PUT, "/c", Some(&admin)).await, 201);
    let listed = get("https://app.example.com").await.expect("answered");
    assert_eq!(listed.headers()["access-control-allow-origin"], "https://app.example.com");
    assert!(listed.headers().contains_key("access-control-expose-headers"));
    let unlisted = get("https://evil.example.com").await.expect("answered");
    assert_eq!(unlisted.status(), 200);
    assert!(unlisted.headers().get("access-control-allow-origin").is_none());
    assert!(unlisted.headers().get("access-control-expose-headers").is_none());
    assert_eq!(unlisted.headers()["vary"], "origin");
    // A 401 to a listed browser origin is readable by the page.
    let denied = srv
        .http
        .get(format!("{}/c", srv.base))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .expect("answered");
    assert_eq!(denied.status(), 401);
    assert_eq!(denied.headers()["access-control-allow-origin"], "https://app.example.com");
    srv.stop().await;

    // The default stays `*`, without Vary.
    let srv = Srv::start(Config::memory()).await;
    let r = srv.http.get(format!("{}/none", srv.base)).header("origin", "https://x.example").send();
    let r = r.await.expect("answered");
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert!(r.headers().get("vary").is_none());
    srv.stop().await;
}

fn post_json(srv: &Srv, url: &str, body: &Value) -> reqwest::RequestBuilder {
    srv.http.post(url).header("content-type", "application/json").body(body.to_string())
}

fn put_json(srv: &Srv, url: &str, body: &Value) -> reqwest::RequestBuilder {
    srv.http.put(url).header("content-type", "application/json").body(body.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_use_grants_and_their_own_tokens_still_work() {
    let config = Config {
        webhooks: true,
        allow_localhost_webhooks: true,
        ..Config::memory().with_auth(AuthConfig::new().with_hs256_secret(SECRET))
    };
    let srv = Srv::start(config).await;
    let admin = hs256(&claims(json!({ "admin": ["/"] }), 300));
    let sub_admin = hs256(&claims(json!({ "admin": ["/__ds/subscriptions/hooks"] }), 300));
    let worker = hs256(&claims(json!({ "write": ["/__ds/subscriptions/pull"] }), 300));
    let sub = |id: &str| format!("{}/__ds/subscriptions/{id}", srv.base);

    // The webhook signing keys are public.
    let jwks = srv.http.get(format!("{}/__ds/jwks.json", srv.base)).send().await;
    assert_eq!(jwks.expect("answered").status(), 200);
    // Managing a subscription needs admin on its path; errors are JSON like other __ds errors.
    let (hook_url, mut hooks) = webhook_receiver().await;
    let spec = json!({ "type": "webhook", "pattern": "ev/*", "webhook": { "url": hook_url } });
    let r = put_json(&srv, &sub("hooks"), &spec).send().await.expect("answered");
    assert_eq!(r.status(), 401);
    let body: Value = serde_json::from_str(&r.text().await.expect("body")).expect("JSON");
    assert_eq!(body["error"]["code"], "UNAUTHORIZED");
    let r = put_json(&srv, &sub("hooks"), &spec).bearer_auth(&worker).send().await;
    let body: Value =
        serde_json::from_str(&r.expect("answered").text().await.expect("b")).expect("j");
    assert_eq!(body["error"]["code"], "FORBIDDEN");
    assert!(body["error"]["message"]
        .as_str()
        .expect("msg")
        .contains("admin on /__ds/subscriptions/hooks"));
    let r = put_json(&srv, &sub("hooks"), &spec).bearer_auth(&sub_admin).send().await;
    assert_eq!(r.expect("answered").status(), 201);
    let r = srv.http.get(sub("hooks")).bearer_auth(&sub_admin).send().await;
    assert_eq!(r.expect("answered").status(), 200);
    assert_eq!(srv.status(Method::GET, "/__ds/subscriptions/other", Some(&sub_admin)).await, 403);

    // A delivery's callback carries only its callback token, no JWT, and is accepted.
    assert_eq!(srv.status(Method::PUT, "/ev/1", Some(&admin)).await, 201);
    assert_eq!(srv.status(Method::POST, "/ev/1", Some(&admin)).await, 204);
    let delivery = tokio::time::timeout(Duration::from_secs(20), hooks.recv())
        .await
        .expect("webhook delivered in time")
        .expect("receiver open");
    let callback_url = delivery["callback_url"].as_str().expect("callback url");
    let ack = json!({
        "wake_id": delivery["wake_id"], "generation": delivery["generation"],
        "acks": [{ "stream": "ev/1", "offset": delivery["streams"][0]["tail_offset"] }],
        "done": true,
    });
    let token = delivery["callback_token"].as_str().expect("callback token");
    let r = post_json(&srv, callback_url, &ack).bearer_auth(token).send().await.expect("answered");
    assert_eq!(r.status(), 200);
    let body: Value = serde_json::from_str(&r.text().await.expect("body")).expect("JSON");
    assert_eq!(body["ok"], true);

    // Pull-wake: claim needs write on the subscription; ack uses the claim token only.
    assert_eq!(srv.status(Method::PUT, "/wake/pool", Some(&admin)).await, 201);
    let pull = json!({ "type": "pull-wake", "pattern": "jobs/*", "wake_stream": "wake/pool" });
    let r = put_json(&srv, &sub("pull"), &pull).bearer_auth(&admin).send().await;
    assert_eq!(r.expect("answered").status(), 201);
    assert_eq!(srv.status(Method::PUT, "/jobs/1", Some(&admin)).await, 201);
    assert_eq!(srv.status(Method::POST, "/jobs/1", Some(&admin)).await, 204);
    let claim_url = format!("{}/claim", sub("pull"));
    let who = json!({ "worker": "w1" });
    assert_eq!(post_json(&srv, &claim_url, &who).send().await.expect("answered").status(), 401);
    let reader = hs256(&claims(json!({ "read": ["/__ds/subscriptions/pull"] }), 300));
    let r = post_json(&srv, &claim_url, &who).bearer_auth(&reader).send().await;
    assert_eq!(r.expect("answered").status(), 403);
    let mut claimed = Value::Null;
    for _ in 0..200 {
        let r = post_json(&srv, &claim_url, &who).bearer_auth(&worker).send().await;
        let r = r.expect("answered");
        if r.status() == 200 {
            claimed = serde_json::from_str(&r.text().await.expect("body")).expect("JSON");
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let token = claimed["token"].as_str().expect("claimed with a token");
    let ack = json!({
        "wake_id": claimed["wake_id"], "generation": claimed["generation"],
        "acks": [{ "stream": "jobs/1", "offset": claimed["streams"][0]["tail_offset"] }],
        "done": true,
    });
    let r = post_json(&srv, &format!("{}/ack", sub("pull")), &ack).bearer_auth(token).send();
    let r = r.await.expect("answered");
    assert_eq!(r.status(), 200);
    // Deleting the subscription needs admin.
    assert_eq!(srv.status(Method::DELETE, "/__ds/subscriptions/pull", Some(&worker)).await, 403);
    assert_eq!(srv.status(Method::DELETE, "/__ds/subscriptions/pull", Some(&admin)).await, 204);
    srv.stop().await;
}

#[tokio::test]
async fn auth_off_by_default() {
    let srv = Srv::start(Config::memory()).await;
    assert_eq!(srv.status(Method::PUT, "/open", None).await, 201);
    assert_eq!(srv.status(Method::POST, "/open", None).await, 204);
    assert_eq!(srv.status(Method::DELETE, "/open", None).await, 204);
    srv.stop().await;
}

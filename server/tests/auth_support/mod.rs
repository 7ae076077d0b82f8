//! Test helpers of `auth.rs`: key pairs, a JWKS server and a webhook receiver on loopback.

use std::convert::Infallible;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use jsonwebtoken::EncodingKey;
use parking_lot::Mutex;
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// An Ed25519 key pair: the signing key and the public key as PEM and as a JWK `x`.
pub struct EdKey {
    pub signing: EncodingKey,
    pub pem: String,
    pub x: String,
}

pub fn ed_key() -> EdKey {
    let seed: [u8; 32] = rand::random();
    let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key().to_bytes();
    // PKCS#8 and SubjectPublicKeyInfo encodings of an Ed25519 key (RFC 8410): fixed headers.
    let mut pkcs8 = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    pkcs8.extend(seed);
    let mut spki = vec![0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
    spki.extend(public);
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        STANDARD.encode(&spki)
    );
    EdKey { signing: EncodingKey::from_ed_der(&pkcs8), pem, x: URL_SAFE_NO_PAD.encode(public) }
}

/// An RSA key pair made by the openssl command: signing key, public PEM, JWK modulus `n`.
pub struct RsaKey {
    pub signing: EncodingKey,
    pub pem: String,
    pub n: String,
}

fn openssl(args: &[&str], dir: &Path) -> String {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("text output")
}

pub fn rsa_key(dir: &Path, name: &str) -> RsaKey {
    let private = format!("{name}.pem");
    openssl(
        &["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", &private],
        dir,
    );
    let pem = openssl(&["pkey", "-in", &private, "-pubout"], dir);
    let modulus = openssl(&["rsa", "-in", &private, "-noout", "-modulus"], dir);
    let hex = modulus.trim().strip_prefix("Modulus=").expect("modulus line");
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    let private_pem = std::fs::read(dir.join(&private)).expect("private key file");
    let signing = EncodingKey::from_rsa_pem(&private_pem).expect("RSA private key");
    RsaKey { signing, pem, n: URL_SAFE_NO_PAD.encode(bytes) }
}

/// A JWKS endpoint on loopback serving `keys` (replaceable) and counting fetches.
pub struct JwksServer {
    pub url: String,
    pub keys: Arc<Mutex<Value>>,
    pub fetches: Arc<AtomicUsize>,
}

pub async fn jwks_server(keys: Value) -> JwksServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/jwks.json", listener.local_addr().expect("addr"));
    let keys = Arc::new(Mutex::new(keys));
    let fetches = Arc::new(AtomicUsize::new(0));
    let (k, f) = (keys.clone(), fetches.clone());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let (k, f) = (k.clone(), f.clone());
            tokio::spawn(async move {
                let svc = service_fn(move |_req: hyper::Request<hyper::body::Incoming>| {
                    f.fetch_add(1, Ordering::SeqCst);
                    let body = json!({ "keys": k.lock().clone() }).to_string();
                    async move {
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(body))))
                    }
                });
                let io = TokioIo::new(tcp);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, svc).await;
            });
        }
    });
    JwksServer { url, keys, fetches }
}

pub fn ed_jwk(kid: &str, key: &EdKey) -> Value {
    json!({ "kty": "OKP", "crv": "Ed25519", "kid": kid, "x": key.x, "use": "sig" })
}

/// A webhook receiver on loopback: forwards each delivery's JSON body and answers `{}` (the
/// worker acknowledges later through the callback).
pub async fn webhook_receiver() -> (String, tokio::sync::mpsc::UnboundedReceiver<Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let tx = tx.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let tx = tx.clone();
                    async move {
                        let raw = req.into_body().collect().await.expect("body").to_bytes();
                        let _ = tx.send(serde_json::from_slice(&raw).expect("JSON delivery"));
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from("{}"))))
                    }
                });
                let io = TokioIo::new(tcp);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, svc).await;
            });
        }
    });
    (url, rx)
}

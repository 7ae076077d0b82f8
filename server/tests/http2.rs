//! HTTP/2: h2c by prior knowledge on the plain listener, and HTTP/2 or HTTP/1.1 chosen by
//! ALPN under TLS; many live reads multiplexed over one connection.

use std::time::Duration;

use durastream_server::tls::TlsFiles;
use durastream_server::{Config, Server};
use futures_util::StreamExt;
use http::Version;

fn tls_files(dir: &std::path::Path) -> TlsFiles {
    let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
    let files = TlsFiles { cert: dir.join("cert.pem"), key: dir.join("key.pem") };
    std::fs::write(&files.cert, key.cert.pem()).expect("write cert");
    std::fs::write(&files.key, key.key_pair.serialize_pem()).expect("write key");
    files
}

async fn round_trip(client: &reqwest::Client, base: &str, want: Version) {
    let url = format!("{base}/v1/stream/h2-{want:?}");
    let put = client.put(&url).header("content-type", "text/plain").send().await.expect("put");
    assert_eq!(put.status(), 201);
    assert_eq!(put.version(), want);
    let post = client
        .post(&url)
        .header("content-type", "text/plain")
        .body("hello over the wire")
        .send()
        .await
        .expect("post");
    assert_eq!(post.status(), 204);
    let get = client.get(format!("{url}?offset=-1")).send().await.expect("get");
    assert_eq!(get.version(), want);
    assert_eq!(get.text().await.expect("body"), "hello over the wire");
}

#[tokio::test]
async fn h2c_prior_knowledge_and_http1_share_the_listener() {
    let server = Server::start(Config::memory()).await.expect("start");
    let h2 = reqwest::Client::builder().http2_prior_knowledge().build().expect("client");
    round_trip(&h2, &server.url(), Version::HTTP_2).await;
    let h1 = reqwest::Client::builder().http1_only().build().expect("client");
    round_trip(&h1, &server.url(), Version::HTTP_11).await;
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn tls_offers_http2_and_http1_by_alpn() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = tls_files(dir.path());
    let config = Config { tls: Some(files.clone()), ..Config::memory() };
    let server = Server::start(config).await.expect("start with TLS");
    assert!(server.url().starts_with("https://"));
    let base = format!("https://localhost:{}", server.addr().port());
    let root =
        reqwest::Certificate::from_pem(&std::fs::read(&files.cert).expect("cert")).expect("root");
    let h2 = reqwest::Client::builder().add_root_certificate(root.clone()).build().expect("client");
    round_trip(&h2, &base, Version::HTTP_2).await;
    let h1 =
        reqwest::Client::builder().add_root_certificate(root).http1_only().build().expect("client");
    round_trip(&h1, &base, Version::HTTP_11).await;
    // A plain-text client on the TLS port gets no answer it could mistake for one.
    let plain = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{}/v1/stream/x", server.addr().port());
    assert!(plain.get(&url).timeout(Duration::from_secs(5)).send().await.is_err());
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn bad_tls_files_are_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, "not a certificate").expect("write");
    let files = TlsFiles { cert: cert.clone(), key: cert };
    let err = Server::start(Config { tls: Some(files), ..Config::memory() })
        .await
        .err()
        .expect("must refuse");
    assert!(err.to_string().contains("cert.pem"), "{err}");
}

#[tokio::test]
async fn many_sse_reads_share_one_http2_connection() {
    let server = Server::start(Config::memory()).await.expect("start");
    let base = format!("{}/v1/stream", server.url());
    let client = reqwest::Client::builder().http2_prior_knowledge().build().expect("client");
    let n = 100;
    let mut readers = Vec::new();
    for i in 0..n {
        let url = format!("{base}/live-{i}");
        let r = client.put(&url).header("content-type", "text/plain").send().await.expect("put");
        assert_eq!(r.status(), 201);
        let resp = client.get(format!("{url}?offset=-1&live=sse")).send().await.expect("sse");
        assert_eq!(resp.version(), Version::HTTP_2);
        readers.push(resp.bytes_stream());
    }
    for i in 0..n {
        let url = format!("{base}/live-{i}");
        let body = format!("event for reader {i}");
        let r = client.post(&url).header("content-type", "text/plain").body(body).send().await;
        assert_eq!(r.expect("post").status(), 204);
    }
    for (i, stream) in readers.iter_mut().enumerate() {
        let want = format!("event for reader {i}");
        let mut seen = String::new();
        while !seen.contains(&want) {
            let chunk = tokio::time::timeout(Duration::from_secs(10), stream.next())
                .await
                .expect("delivery within 10 s")
                .expect("stream open")
                .expect("chunk");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
    drop(readers);
    server.shutdown().await.expect("shutdown");
}

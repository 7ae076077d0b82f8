//! Catch-up bodies sent from the data file (`sendfile`) over real HTTP against the file
//! engine: bytes partly written and partly buffered, cut at `max_read_bytes`, several reads
//! on one keep-alive connection mixed with appends and JSON reads, forks, revalidation
//! (304) and reads after a restart all answer exactly what the stream holds.

use durastream::Offset;
use durastream_server::{Config, Server};

const OCTETS: &str = "application/octet-stream";

fn config(dir: &std::path::Path) -> Config {
    let mut c = Config::memory();
    c.data_dir = Some(dir.to_path_buf());
    c.max_read_bytes = 100_000;
    c.sendfile_min_bytes = 1;
    c
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

struct Got {
    chunked: bool,
    next: u64,
    up_to_date: bool,
    body: Vec<u8>,
}

async fn get(http: &reqwest::Client, url: &str, from: u64) -> Got {
    let r = http.get(format!("{url}?offset={}", Offset(from))).send().await.expect("get");
    assert_eq!(r.status(), 200);
    let h = r.headers();
    let chunked = h.get("transfer-encoding").is_some_and(|v| v == "chunked");
    let next = h["stream-next-offset"].to_str().expect("ascii").parse::<Offset>().expect("offset");
    let up_to_date = h.get("stream-up-to-date").is_some_and(|v| v == "true");
    Got {
        chunked,
        next: next.position(),
        up_to_date,
        body: r.bytes().await.expect("body").to_vec(),
    }
}

async fn append(http: &reqwest::Client, url: &str, body: &[u8]) {
    let r = http.post(url).header("content-type", OCTETS).body(body.to_vec()).send();
    assert_eq!(r.await.expect("post").status(), 204);
}

/// Reads `url` from `from` to its tail, checking each response against `want`.
async fn read_all(http: &reqwest::Client, url: &str, from: u64, want: &[u8]) -> usize {
    let (mut at, mut chunked) = (from, 0);
    loop {
        let g = get(http, url, at).await;
        assert_eq!(g.body, want[at as usize..g.next as usize], "bytes at {at}");
        assert!(g.body.len() <= 100_000, "cut at max_read_bytes");
        chunked += usize::from(g.chunked);
        at = g.next;
        if g.up_to_date {
            assert_eq!(at as usize, want.len());
            return chunked;
        }
    }
}

#[tokio::test]
async fn catch_up_from_the_data_file_answers_exactly_the_stream() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(config(dir.path())).await.expect("server starts");
    let base = format!("{}/v1/stream", server.url());
    let url = format!("{base}/bin");
    let http = reqwest::Client::new();
    let put = http.put(&url).header("content-type", OCTETS).send().await.expect("put");
    assert_eq!(put.status(), 201);
    // 250,000 bytes written straight to the file, then small appends kept in the buffer.
    let mut want = pattern(250_000, 1);
    append(&http, &url, &want).await;
    for i in 0..3 {
        let more = pattern(1_000, 7 + i);
        append(&http, &url, &more).await;
        want.extend_from_slice(&more);
    }
    let chunked = read_all(&http, &url, 0, &want).await;
    assert!(chunked >= 2, "the file's bytes were sent with sendfile ({chunked} responses)");
    // From inside the file, across the file's end into the buffer, and from the buffer.
    for from in [12_345, 249_000, 251_500] {
        read_all(&http, &url, from, &want).await;
    }
    // The same connection goes on serving appends and JSON reads between those reads.
    let json = format!("{base}/j");
    let put = http.put(&json).header("content-type", "application/json").send();
    assert_eq!(put.await.expect("put json").status(), 201);
    let post = http.post(&json).header("content-type", "application/json").body(r#"{"a":1}"#);
    assert_eq!(post.send().await.expect("post json").status(), 204);
    let r = http.get(format!("{json}?offset=-1")).send().await.expect("json read");
    assert_eq!(r.text().await.expect("text"), r#"[{"a":1}]"#);
    read_all(&http, &url, 0, &want).await;

    // A fork reads its source's bytes below the fork point from the source's file.
    let fork_at = 150_000;
    let fork = format!("{base}/fork");
    let r = http
        .put(&fork)
        .header("content-type", OCTETS)
        .header("stream-forked-from", "/v1/stream/bin")
        .header("stream-fork-offset", Offset(fork_at).to_string())
        .send();
    assert_eq!(r.await.expect("fork").status(), 201);
    let own = pattern(120_000, 99);
    append(&http, &fork, &own).await;
    let mut fork_want = want[..fork_at as usize].to_vec();
    fork_want.extend_from_slice(&own);
    read_all(&http, &fork, 0, &fork_want).await;
    read_all(&http, &fork, 140_000, &fork_want).await;

    // Revalidation with the ETag of a sendfile response gets 304 and no body.
    let r = http.get(format!("{url}?offset={}", Offset(0))).send().await.expect("get");
    let tag = r.headers()["etag"].clone();
    drop(r.bytes().await.expect("body"));
    let r = http.get(format!("{url}?offset={}", Offset(0))).header("if-none-match", tag);
    let r = r.send().await.expect("revalidate");
    assert_eq!(r.status(), 304);
    assert!(r.bytes().await.expect("body").is_empty());
    server.shutdown().await.expect("shutdown");

    // After a restart every byte comes from the files.
    let server = Server::start(config(dir.path())).await.expect("server restarts");
    let base = format!("{}/v1/stream", server.url());
    let http = reqwest::Client::new();
    let chunked = read_all(&http, &format!("{base}/bin"), 0, &want).await;
    assert_eq!(chunked, want.len().div_ceil(100_000), "every response from the file");
    read_all(&http, &format!("{base}/fork"), 0, &fork_want).await;
    server.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn small_reads_and_a_zero_minimum_go_through_hyper() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = config(dir.path());
    c.sendfile_min_bytes = 0;
    let server = Server::start(c).await.expect("server starts");
    let url = format!("{}/v1/stream/bin", server.url());
    let http = reqwest::Client::new();
    let put = http.put(&url).header("content-type", OCTETS).send().await.expect("put");
    assert_eq!(put.status(), 201);
    let want = pattern(200_000, 3);
    append(&http, &url, &want).await;
    assert_eq!(read_all(&http, &url, 0, &want).await, 0, "0 turns sendfile off");
    server.shutdown().await.expect("shutdown");
}

/// The body length of the response at the start of `buf` and where it ends, once it is
/// all there (`Content-Length` or chunked).
fn whole_response(buf: &[u8]) -> Option<(String, usize, usize)> {
    let end = memchr::memmem::find(buf, b"\r\n\r\n")?;
    let head = std::str::from_utf8(&buf[..end]).expect("ascii head").to_ascii_lowercase();
    let status = head.lines().next().expect("status line").to_string();
    let mut p = end + 4;
    if let Some(l) = head.lines().find_map(|l| l.strip_prefix("content-length:")) {
        let len: usize = l.trim().parse().expect("length");
        return (buf.len() >= p + len).then_some((status, len, p + len));
    }
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    let mut total = 0;
    loop {
        let line = memchr::memmem::find(&buf[p..], b"\r\n")?;
        let size = std::str::from_utf8(&buf[p..p + line]).expect("ascii");
        let size = usize::from_str_radix(size, 16).expect("chunk size");
        if buf.len() < p + line + 2 + size + 2 {
            return None;
        }
        p += line + 2 + size + 2;
        total += size;
        if size == 0 {
            return Some((status, total, p));
        }
    }
}

#[tokio::test]
async fn pipelined_requests_behind_a_large_read_are_all_answered() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Server::start(config(dir.path())).await.expect("server starts");
    let url = format!("{}/v1/stream/pipe", server.url());
    let http = reqwest::Client::new();
    let put = http.put(&url).header("content-type", OCTETS).send().await.expect("put");
    assert_eq!(put.status(), 201);
    let want = pattern(250_000, 3);
    append(&http, &url, &want).await;
    let addr = server.url().trim_start_matches("http://").to_string();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let get = "GET /v1/stream/pipe?offset=-1 HTTP/1.1\r\nHost: x\r\n\r\n";
    // Two reads and a third read, sent at once: the first may not be parked, since hyper
    // already holds the others; each must be answered, in order.
    tcp.write_all(format!("{get}{get}{get}").as_bytes()).await.expect("send");
    let (mut buf, mut answered) = (Vec::new(), 0);
    while answered < 3 {
        let mut chunk = vec![0u8; 1 << 16];
        let wait = std::time::Duration::from_secs(10);
        let n = tokio::time::timeout(wait, tcp.read(&mut chunk))
            .await
            .unwrap_or_else(|_| panic!("no response {} within 10 s", answered + 1))
            .expect("read");
        assert!(n > 0, "connection closed after {answered} responses");
        buf.extend_from_slice(&chunk[..n]);
        while let Some((status, len, end)) = whole_response(&buf) {
            assert!(status.starts_with("http/1.1 200"), "{status}");
            assert_eq!(len, 100_000, "each read is cut at max_read_bytes");
            buf.drain(..end);
            answered += 1;
        }
    }
    assert!(buf.is_empty(), "nothing after the three responses");
}

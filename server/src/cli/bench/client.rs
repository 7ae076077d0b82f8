//! Minimal HTTP clients for load generation: one HTTP/1.1 keep-alive connection per task,
//! or one HTTP/2 connection (prior knowledge) shared by many concurrent requests.

use std::io;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

/// One connection to the server under test.
pub struct Conn {
    send: SendRequest<Full<Bytes>>,
    host: String,
}

/// A response, fully read.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> io::Result<Conn> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let (send, conn) = http1::handshake(TokioIo::new(tcp)).await.map_err(io::Error::other)?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn { send, host: addr.to_string() })
    }

    /// Sends a request and reads the whole response.
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> io::Result<Reply> {
        let resp = self.start(method, path, headers, body).await?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.map_err(io::Error::other)?.to_bytes();
        Ok(Reply { status: parts.status, headers: parts.headers, body })
    }

    /// Sends a request and returns the response with its body still streaming.
    pub async fn start(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> io::Result<http::Response<hyper::body::Incoming>> {
        self.send.ready().await.map_err(io::Error::other)?;
        let mut req = Request::builder().method(method).uri(path).header("host", &self.host);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let req = req.body(Full::new(body)).map_err(io::Error::other)?;
        self.send.send_request(req).await.map_err(io::Error::other)
    }
}

/// One HTTP/2 connection (h2c, prior knowledge); requests on it run concurrently.
#[derive(Clone)]
pub struct H2Conn {
    send: http2::SendRequest<Full<Bytes>>,
    authority: String,
}

impl H2Conn {
    pub async fn open(addr: SocketAddr) -> io::Result<H2Conn> {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let (send, conn) = http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .map_err(io::Error::other)?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(H2Conn { send, authority: addr.to_string() })
    }

    /// Sends a `GET` and returns the response with its body still streaming.
    pub async fn get(&self, path: &str) -> io::Result<http::Response<hyper::body::Incoming>> {
        let mut send = self.send.clone();
        send.ready().await.map_err(io::Error::other)?;
        let uri = format!("http://{}{path}", self.authority);
        let req = Request::get(uri).body(Full::new(Bytes::new())).map_err(io::Error::other)?;
        send.send_request(req).await.map_err(io::Error::other)
    }
}

//! TLS on the listener (rustls): HTTP/2 and HTTP/1.1 over TLS, chosen by ALPN.
//!
//! Browsers open at most six HTTP/1.1 connections per origin, so a page that follows many
//! streams needs HTTP/2, which browsers only speak over TLS. Without TLS the listener still
//! serves HTTP/2 to clients that start with its preface (h2c, "prior knowledge").

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// Certificate chain and private key files (PEM).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// The leaf's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

fn invalid(path: &Path, what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("{what} {}: {e}", path.display()))
}

/// Builds the acceptor from PEM files, offering `h2` and `http/1.1` by ALPN.
pub fn acceptor(files: &TlsFiles) -> io::Result<TlsAcceptor> {
    let cert_pem = fs::read(&files.cert).map_err(|e| invalid(&files.cert, "cannot read", e))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(&files.cert, "bad certificate PEM in", e))?;
    if certs.is_empty() {
        return Err(invalid(&files.cert, "no certificate in", "expected BEGIN CERTIFICATE"));
    }
    let key_pem = fs::read(&files.key).map_err(|e| invalid(&files.key, "cannot read", e))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| invalid(&files.key, "no usable private key in", e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| invalid(&files.key, "certificate and key do not fit", e))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

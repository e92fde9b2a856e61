//! STARTTLS certificates (RFC 3207): the configured PEM files, or a self-signed certificate made
//! on first start under `<data_dir>/tls/` and kept for later starts (so clients that pin it keep
//! working). rustls with the ring provider; TLS 1.2 and 1.3.

use super::TlsConfig;
use std::fs;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;
pub use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, pki_types::CertificateDer, pki_types::PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("smtp.tls: {path}: {why}")]
    File { path: PathBuf, why: String },
    #[error("smtp.tls: give both cert and key, or neither")]
    Half,
    #[error("smtp.tls: could not make a self-signed certificate: {0}")]
    Generate(String),
    #[error("smtp.tls: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Builds the acceptor from config, generating a certificate if none is configured.
pub fn acceptor(
    config: &TlsConfig,
    data_dir: &Path,
    hostname: &str,
) -> Result<TlsAcceptor, TlsError> {
    let (cert, key) = match (&config.cert, &config.key) {
        (Some(c), Some(k)) => (c.clone(), k.clone()),
        (None, None) => self_signed(data_dir, hostname)?,
        _ => return Err(TlsError::Half),
    };
    let certs = load_certs(&cert)?;
    let key = load_key(&key)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(TlsAcceptor::from(Arc::new(server)))
}

fn self_signed(data_dir: &Path, hostname: &str) -> Result<(PathBuf, PathBuf), TlsError> {
    let dir = data_dir.join("tls");
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    if cert.exists() && key.exists() {
        return Ok((cert, key));
    }
    let file_err = |path: &Path| {
        let path = path.to_path_buf();
        move |e: std::io::Error| TlsError::File {
            path,
            why: e.to_string(),
        }
    };
    fs::create_dir_all(&dir).map_err(file_err(&dir))?;
    let made =
        rcgen::generate_simple_self_signed(vec![hostname.to_string(), "localhost".to_string()])
            .map_err(|e| TlsError::Generate(e.to_string()))?;
    fs::write(&cert, made.cert.pem()).map_err(file_err(&cert))?;
    write_private(&key, made.key_pair.serialize_pem().as_bytes()).map_err(file_err(&key))?;
    tracing::info!(cert = %cert.display(), "made a self-signed certificate for STARTTLS");
    Ok((cert, key))
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let err = |why: String| TlsError::File {
        path: path.to_path_buf(),
        why,
    };
    let file = fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let certs = rustls_pemfile::certs(&mut BufReader::new(file))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("no certificate in the file".into()));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let err = |why: String| TlsError::File {
        path: path.to_path_buf(),
        why,
    };
    let file = fs::File::open(path).map_err(|e| err(e.to_string()))?;
    rustls_pemfile::private_key(&mut BufReader::new(file))
        .map_err(|e| err(e.to_string()))?
        .ok_or_else(|| err("no private key in the file".into()))
}

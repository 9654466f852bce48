//! HTTPS: the server's certificate chain and private key, read from PEM files.

use std::path::Path;
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The TLS settings of an HTTPS server: a certificate chain and its key, with rustls's safe
/// defaults (TLS 1.2 and 1.3, ring's cipher suites), offering HTTP/2 and HTTP/1.1 by ALPN.
/// Cheap to clone.
#[derive(Clone, Debug)]
pub struct TlsConfig {
    server: Arc<ServerConfig>,
}

impl TlsConfig {
    /// Reads a PEM certificate chain (the server's certificate first) and a PEM private key
    /// (PKCS#8, PKCS#1 or SEC1).
    ///
    /// # Errors
    ///
    /// An error that names the file and says what is wrong: missing or unreadable, no
    /// certificate or no key in it, or a key that does not match the certificate.
    pub fn from_pem_files(certificate: &Path, key: &Path) -> std::io::Result<TlsConfig> {
        let invalid =
            |message: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, message);
        let read = |path: &Path, what: &str| {
            std::fs::read(path).map_err(|error| {
                std::io::Error::new(
                    error.kind(),
                    format!("reading the TLS {what} {}: {error}", path.display()),
                )
            })
        };
        let certificate_pem = read(certificate, "certificate")?;
        let chain = CertificateDer::pem_slice_iter(&certificate_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| {
                invalid(format!(
                    "the TLS certificate {} is not valid PEM: {error}",
                    certificate.display()
                ))
            })?;
        if chain.is_empty() {
            return Err(invalid(format!(
                "the TLS certificate {} holds no certificate (expected a PEM \"BEGIN CERTIFICATE\" block)",
                certificate.display()
            )));
        }
        let key_pem = read(key, "private key")?;
        let private_key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|error| {
            invalid(format!(
                "the TLS private key {} holds no usable private key (expected PEM PKCS#8, PKCS#1 or SEC1): {error}",
                key.display()
            ))
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut server = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| invalid(format!("TLS settings: {error}")))?
            .with_no_client_auth()
            .with_single_cert(chain, private_key)
            .map_err(|error| {
                invalid(format!(
                    "the TLS private key {} does not fit the certificate {}: {error}",
                    key.display(),
                    certificate.display()
                ))
            })?;
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(TlsConfig {
            server: Arc::new(server),
        })
    }

    pub(crate) fn server_config(&self) -> ServerConfig {
        ServerConfig::clone(&self.server)
    }
}

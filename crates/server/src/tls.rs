//! Serving HTTPS ourselves: rustls 0.23 with the ring provider, TLS 1.2 and 1.3 only
//! (RFC 8996 deprecates 1.0 and 1.1; docs/threat-model.md HD-01).
//!
//! The certificate chain and private key are PEM files named by `tls.cert` / `tls.key`
//! (`PALISADE_TLS__CERT`, `PALISADE_TLS__KEY`). They are read once at start-up, where a problem
//! stops the process naming the setting; renewing a certificate means restarting (nodes behind
//! a load balancer restart one at a time). ring's TLS 1.2 suites are all ECDHE with an AEAD, so
//! every connection has forward secrecy; the protocol versions are pinned here rather than
//! trusted to a default.

use rustls::ServerConfig;
use rustls::crypto::ring;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The two PEM files of the `tls` settings section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The leaf's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Why the TLS files cannot be used; `setting` names the one at fault.
#[derive(Debug, thiserror::Error)]
#[error("{reason}")]
pub struct TlsError {
    pub setting: &'static str,
    pub reason: String,
}

/// The protocol versions Palisade speaks: TLS 1.3 and 1.2, nothing older.
pub static PROTOCOL_VERSIONS: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// Reads the PEM files and builds the server configuration.
pub fn server_config(files: &TlsFiles) -> Result<ServerConfig, TlsError> {
    let certs = read_chain(&files.cert)?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| TlsError {
        setting: "PALISADE_TLS__KEY",
        reason: format!(
            "cannot read a PEM private key from {}: {e}",
            files.key.display()
        ),
    })?;
    ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_protocol_versions(PROTOCOL_VERSIONS)
        .map_err(|e| TlsError {
            setting: "PALISADE_TLS",
            reason: format!("unsupported protocol versions: {e}"),
        })?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| TlsError {
            setting: "PALISADE_TLS__KEY",
            reason: format!("the key does not fit the certificate: {e}"),
        })
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bad = |reason: String| TlsError {
        setting: "PALISADE_TLS__CERT",
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| {
            bad(format!(
                "cannot read PEM certificates from {}: {e}",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(bad(format!("{} holds no PEM certificate", path.display())));
    }
    Ok(certs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_or_empty_files_name_the_setting() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let missing = dir.path().join("missing.pem");
        let e = server_config(&TlsFiles {
            cert: missing.clone(),
            key: missing.clone(),
        })
        .unwrap_err();
        assert_eq!(e.setting, "PALISADE_TLS__CERT");
        let e = server_config(&TlsFiles {
            cert: empty.clone(),
            key: missing,
        })
        .unwrap_err();
        assert_eq!(e.setting, "PALISADE_TLS__CERT");
        assert!(e.reason.contains("no PEM certificate"), "{}", e.reason);
    }
}

//! Certificate authorities every outgoing TLS connection trusts: the
//! system's roots, plus the PEM bundle `GATEHOUSE_CA_FILE` names (a company
//! or cloud provider's private CA). PostgreSQL, Redis, the SSO provider and
//! `gatehouse login` all take them from here, so one setting covers them.

use base64::Engine as _;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::path::{Path, PathBuf};

/// The extra certificate authorities, if any were configured.
#[derive(Debug, Clone, Default)]
pub struct ExtraRoots {
    file: Option<(PathBuf, Vec<u8>)>,
}

impl ExtraRoots {
    /// None beyond the system's.
    pub fn none() -> Self {
        Self::default()
    }

    /// Reads a PEM bundle, which must hold at least one certificate that
    /// parses. The error is one line, without the variable's name.
    pub fn load(path: &Path) -> Result<Self, String> {
        let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let certificates = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("{} is not a PEM bundle: {e}", path.display()))?;
        if certificates.is_empty() {
            return Err(format!("{} holds no PEM certificate", path.display()));
        }
        Ok(Self { file: Some((path.to_path_buf(), pem)) })
    }

    /// The bundle's path (sqlx reads the file itself).
    pub fn path(&self) -> Option<&Path> {
        self.file.as_ref().map(|(path, _)| path.as_path())
    }

    /// The extra authorities as the PEM bundle they were read from (for
    /// clients, such as the mail transport, that take one).
    pub fn pem(&self) -> Option<&[u8]> {
        self.file.as_ref().map(|(_, pem)| pem.as_slice())
    }

    /// The extra authorities for a `reqwest` client, which keeps its own
    /// roots beside them.
    pub fn for_reqwest(&self) -> Vec<reqwest::Certificate> {
        let Some((_, pem)) = &self.file else { return Vec::new() };
        // Checked to parse at load; a certificate reqwest still refuses is left out.
        CertificateDer::pem_slice_iter(pem)
            .filter_map(Result::ok)
            .filter_map(|der| reqwest::Certificate::from_der(der.as_ref()).ok())
            .collect()
    }

    /// Every root a Redis TLS connection should trust, as one PEM bundle
    /// (the `redis` crate trusts only the bundle it is given): the system's
    /// roots and the extra ones. `None` when there are no extra ones, so the
    /// crate uses the system's roots itself.
    pub fn for_redis(&self) -> Option<Vec<u8>> {
        let (_, extra) = self.file.as_ref()?;
        let mut bundle = extra.clone();
        bundle.push(b'\n');
        for certificate in rustls_native_certs::load_native_certs().certs {
            let encoded = base64::engine::general_purpose::STANDARD.encode(certificate.as_ref());
            bundle.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
            for line in encoded.as_bytes().chunks(64) {
                bundle.extend_from_slice(line);
                bundle.push(b'\n');
            }
            bundle.extend_from_slice(b"-----END CERTIFICATE-----\n");
        }
        Some(bundle)
    }
}

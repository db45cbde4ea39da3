//! TLS settings of `wskit connect`: extra roots (`--ca-file`), a client certificate
//! (`--cert`, `--key`) and `--insecure`.
//!
//! A certificate given with `--ca-file` is also trusted as it is, byte for byte, when the
//! server presents exactly that certificate: the usual self-signed certificate
//! (`openssl req -x509 ...`) is marked as a CA, and the web PKI refuses a CA certificate as a
//! server's own (`CaUsedAsEndEntity`), so adding it as a root alone would not do. Signatures
//! on the handshake are still checked, so the server must hold its key.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use rustls::DigitallySignedStruct;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

/// What the TLS configuration is made of.
#[derive(Debug, Default)]
pub(super) struct Settings<'a> {
    /// `--ca-file`.
    pub(super) ca_file: Option<&'a Path>,
    /// `--cert` and `--key`.
    pub(super) client_cert: Option<(&'a Path, &'a Path)>,
    /// `--insecure`.
    pub(super) insecure: bool,
}

/// The client configuration for `settings`; `None` when none is set (the library's default:
/// the web PKI roots).
pub(super) fn config(settings: &Settings<'_>) -> anyhow::Result<Option<Arc<rustls::ClientConfig>>> {
    if settings.ca_file.is_none() && settings.client_cert.is_none() && !settings.insecure {
        return Ok(None);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = if settings.insecure {
        Arc::new(AcceptAnyCertificate(Arc::clone(&provider)))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let mut pinned = Vec::new();
        if let Some(path) = settings.ca_file {
            for cert in wskit::tls::load_certs(path).context("--ca-file")? {
                roots.add(cert.clone()).with_context(|| {
                    format!("--ca-file {}: not a usable certificate", path.display())
                })?;
                pinned.push(cert);
            }
        }
        let webpki =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
                .build()
                .context("building the certificate verifier")?;
        Arc::new(PinnedOrWebPki { webpki, pinned })
    };
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match settings.client_cert {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = wskit::tls::load_certs(cert).context("--cert")?;
            let key = PrivateKeyDer::from_pem_file(key)
                .with_context(|| format!("--key {}: no usable private key", key.display()))?;
            builder
                .with_client_auth_cert(chain, key)
                .context("--cert and --key do not go together")?
        }
    };
    Ok(Some(Arc::new(config)))
}

/// What to do about a failed TLS handshake, from its message; `None` when there is nothing
/// to add.
pub(super) fn hint(error: &str) -> Option<&'static str> {
    if error.contains("NotValidForName") {
        Some(
            "the server's certificate does not name the host in the URL: connect with a name it \
             lists, or skip the check with -k/--insecure",
        )
    } else if error.contains("UnknownIssuer") || error.contains("CaUsedAsEndEntity") {
        Some(
            "the server's certificate is not trusted: give the CA that signed it, or the \
             certificate itself, with --ca-file FILE (PEM), or skip the check with \
             -k/--insecure",
        )
    } else if error.contains("Expired") || error.contains("NotValidYet") {
        Some("the server's certificate is out of its validity period (check the clocks)")
    } else if error.contains("CertificateRequired") || error.contains("certificate required") {
        Some("the server asks for a client certificate: give one with --cert FILE --key FILE")
    } else {
        None
    }
}

/// Trusts a certificate given with `--ca-file` when the server presents exactly it; any other
/// through the web PKI (the roots, `--ca-file` included).
#[derive(Debug)]
struct PinnedOrWebPki {
    webpki: Arc<WebPkiServerVerifier>,
    pinned: Vec<CertificateDer<'static>>,
}

impl ServerCertVerifier for PinnedOrWebPki {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.pinned.iter().any(|pinned| pinned == end_entity) {
            return Ok(ServerCertVerified::assertion());
        }
        self.webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// A certificate verifier for `--insecure`: trusts every certificate chain and name (the
/// handshake's signatures are still checked, so the server must hold the key of the
/// certificate it sent).
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

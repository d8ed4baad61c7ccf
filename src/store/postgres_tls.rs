//! TLS to a team project's server, with libpq's meaning of each `sslmode`
//! so that a URL copied from `psql` behaves the same in Loupe:
//!
//! | `sslmode` | encrypted | certificate checked |
//! |---|---|---|
//! | `disable` | no | — |
//! | `allow`, `prefer` | when the server offers it | as `require` |
//! | `require` | yes | only if a root certificate file exists (then as `verify-ca`) |
//! | `verify-ca` | yes | chains to `sslrootcert` |
//! | `verify-full` | yes | chains to `sslrootcert` and names the host |
//!
//! `sslrootcert` (or `PGSSLROOTCERT`, else `~/.postgresql/root.crt`) is a PEM
//! file of trusted certificates; `sslrootcert=system` trusts the Mozilla root
//! set (webpki-roots). A client certificate is sent when `sslcert`/`sslkey`
//! (or `PGSSLCERT`/`PGSSLKEY`, else `~/.postgresql/postgresql.{crt,key}`)
//! exist, as libpq does. rustls with ring: no OpenSSL on the workstation.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

use super::StoreError;

/// libpq's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    /// `allow` and `prefer`: TLS when the server offers it.
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    /// Parses libpq's spelling; the error lists the accepted values.
    pub fn parse(text: &str) -> Result<Self, String> {
        Ok(match text {
            "disable" => Self::Disable,
            "allow" | "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            other => {
                return Err(format!(
                    "sslmode {other:?} is not disable, allow, prefer, require, verify-ca or verify-full"
                ));
            }
        })
    }
}

/// The certificate files named in the URL (`sslrootcert`, `sslcert`,
/// `sslkey`); unnamed ones come from the environment or `~/.postgresql`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFiles {
    pub root_cert: Option<PathBuf>,
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
}

/// The word `sslrootcert` takes for "the usual public roots" (libpq 16).
const SYSTEM_ROOTS: &str = "system";

/// Where libpq looks for a file when neither the URL nor the environment
/// names one: `~/.postgresql/NAME`.
fn default_file(variable: &str, name: &str) -> Option<PathBuf> {
    std::env::var_os(variable).map(PathBuf::from).or_else(|| {
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".postgresql").join(name))
    })
}

impl TlsFiles {
    fn root_cert(&self) -> Option<PathBuf> {
        self.root_cert
            .clone()
            .or_else(|| default_file("PGSSLROOTCERT", "root.crt"))
    }
    fn client_cert(&self) -> Option<PathBuf> {
        self.client_cert
            .clone()
            .or_else(|| default_file("PGSSLCERT", "postgresql.crt"))
    }
    fn client_key(&self) -> Option<PathBuf> {
        self.client_key
            .clone()
            .or_else(|| default_file("PGSSLKEY", "postgresql.key"))
    }
}

/// A PEM file's text, bounded like every credential file.
fn read_pem(path: &Path, what: &'static str) -> Result<String, StoreError> {
    crate::user_file::read_text(path, crate::user_file::MAX_CREDENTIAL_BYTES, what)
        .map_err(|e| StoreError::Invalid(format!("{what}: {e}")))
}

/// The trusted roots: `None` when nothing is to be checked (`require`
/// without a root file).
fn trusted_roots(
    mode: SslMode,
    files: &TlsFiles,
) -> Result<Option<rustls::RootCertStore>, StoreError> {
    let root_file = files.root_cert();
    let named = files.root_cert.is_some() || std::env::var_os("PGSSLROOTCERT").is_some();
    if root_file.as_deref() == Some(Path::new(SYSTEM_ROOTS)) {
        return Ok(Some(rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        }));
    }
    let exists = root_file.as_deref().is_some_and(Path::exists);
    let verifying = matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull);
    if !exists {
        return match (verifying, root_file) {
            // libpq: a missing default root file only matters to verify-*.
            (false, _) if !named => Ok(None),
            (_, Some(path)) => Err(StoreError::Invalid(format!(
                "root certificate file {} does not exist: name the server's CA with \
                 sslrootcert=FILE (or sslrootcert=system), or use sslmode=require to \
                 encrypt without checking the certificate",
                path.display()
            ))),
            (_, None) => Err(StoreError::Invalid(
                "no root certificate file (sslrootcert=FILE, PGSSLROOTCERT or \
                 ~/.postgresql/root.crt) for sslmode=verify-ca/verify-full"
                    .into(),
            )),
        };
    }
    let path = root_file.unwrap_or_default();
    let text = read_pem(&path, "root certificate file")?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(text.as_bytes()) {
        let cert = cert.map_err(|e| {
            StoreError::Invalid(format!("{}: not a PEM certificate ({e})", path.display()))
        })?;
        roots.add(cert).map_err(|e| {
            StoreError::Invalid(format!("{}: unusable certificate ({e})", path.display()))
        })?;
    }
    if roots.is_empty() {
        return Err(StoreError::Invalid(format!(
            "{}: no certificate in the root certificate file",
            path.display()
        )));
    }
    Ok(Some(roots))
}

/// The client certificate and key, when both files exist (libpq sends one
/// only then); a named file that is missing is an error.
fn client_identity(
    files: &TlsFiles,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, StoreError> {
    let (Some(cert_path), Some(key_path)) = (files.client_cert(), files.client_key()) else {
        return Ok(None);
    };
    if !cert_path.exists() {
        return match files.client_cert {
            Some(_) => Err(StoreError::Invalid(format!(
                "client certificate file {} does not exist",
                cert_path.display()
            ))),
            None => Ok(None),
        };
    }
    let cert_text = read_pem(&cert_path, "client certificate file")?;
    let chain = CertificateDer::pem_slice_iter(cert_text.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            StoreError::Invalid(format!(
                "{}: not a PEM certificate ({e})",
                cert_path.display()
            ))
        })?;
    if chain.is_empty() {
        return Err(StoreError::Invalid(format!(
            "{}: no certificate in the client certificate file",
            cert_path.display()
        )));
    }
    let key_text = read_pem(&key_path, "client key file")?;
    let key = PrivateKeyDer::from_pem_slice(key_text.as_bytes()).map_err(|e| {
        StoreError::Invalid(format!(
            "{}: not a PEM private key ({e})",
            key_path.display()
        ))
    })?;
    Ok(Some((chain, key)))
}

/// The connector for a TCP connection in `mode` (never `Disable`).
pub fn connector(
    mode: SslMode,
    files: &TlsFiles,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let setup = |e: rustls::Error| StoreError::Invalid(format!("TLS setup: {e}"));
    let chain = match trusted_roots(mode, files)? {
        Some(roots) => Some(
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| StoreError::Invalid(format!("TLS setup: {e}")))?,
        ),
        None => None,
    };
    let verifier = Arc::new(Verifier {
        chain,
        check_name: mode == SslMode::VerifyFull,
        algorithms: provider.signature_verification_algorithms,
    });
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(setup)?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match client_identity(files)? {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|e| {
            StoreError::Invalid(format!("client certificate and key do not match ({e})"))
        })?,
        None => builder.with_no_client_auth(),
    };
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// libpq's checks as a rustls verifier: the chain when there are roots, the
/// host name only for `verify-full`; handshake signatures always (that is
/// what makes the encryption worth anything against a passive listener).
#[derive(Debug)]
struct Verifier {
    chain: Option<Arc<WebPkiServerVerifier>>,
    check_name: bool,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            // webpki checks the chain before the name: a name error means
            // the chain was good, which is all verify-ca asks.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// What a TLS failure means to the person connecting, from the error text
/// rustls and tokio-postgres give (`None` when it is not about TLS).
pub fn describe_tls_failure(text: &str) -> Option<&'static str> {
    let text = text.to_ascii_lowercase();
    if text.contains("unknownissuer") || text.contains("unknown issuer") {
        Some("the server's certificate is not signed by a trusted root (sslrootcert)")
    } else if text.contains("notvalidforname") || text.contains("not valid for name") {
        Some("the server's certificate does not name this host (sslmode=verify-full)")
    } else if text.contains("expired") && text.contains("certificate") {
        Some("the server's certificate has expired")
    } else if text.contains("no encryption") {
        Some("the server takes this login only over TLS (sslmode=disable forbids it)")
    } else if text.contains("server does not support tls") {
        Some("the server does not offer TLS (sslmode asks for it)")
    } else if text.contains("requires a valid client certificate") {
        Some("the server asks this login for a client certificate (sslcert=FILE&sslkey=FILE)")
    } else if text.contains("certificate") && text.contains("alert") {
        Some("the server refused the TLS handshake (a client certificate it does not accept?)")
    } else {
        None
    }
}

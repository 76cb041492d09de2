//! TLS of the HA channel (Kea 2.2's `https://` peer URLs), with rustls.
//!
//! Kea's parameters: `trust-anchor` (a CA file, or a directory of them), `cert-file` and
//! `key-file` (PEM), set in the HA map or in a peer entry (the peer's own win), all three or
//! none; `require-client-certs` (default true) in the HA map.
//!
//! * **Client** ([`client_config`]): to a peer whose `url` is `https://`, with that peer
//!   entry's parameters: the peer's certificate must chain to the trust anchor and name the
//!   URL's host (an IP literal: the certificate needs that IP address as a subject
//!   alternative name); this server presents `cert-file` / `key-file`.
//! * **Listener** ([`server_config`]): when this server's own `url` is `https://`, with its
//!   own entry's parameters: it presents `cert-file` / `key-file`, and with
//!   `require-client-certs` a client must present a certificate chained to the trust
//!   anchor (without it a certificate is checked when one is offered).
//!
//! Unreadable or unusable files are start-up errors naming the file and the parameter
//! (`cannot read cert-file /etc/kea/a.pem: …`): the daemon refuses to start, as Kea does.
//! Both ends speak TLS 1.2 and 1.3 with rustls's safe defaults (the `ring` provider). The
//! client never resumes a session: Kea's listener fails resumptions (see [`client_config`]).
//!
//! [`HaStream`] is what the HA connections read and write: plain TCP, or TLS over it.

use std::io;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use dhcp4_ha::ha::{HaConfig, PeerConfig, PeerUrl};
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, ServerConfig};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The TLS files of one end of the HA channel (Kea's `trust-anchor`, `cert-file`,
/// `key-file`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsFiles {
    /// `trust-anchor`: a PEM file of CA certificates, or a directory of such files.
    pub(crate) trust_anchor: String,
    /// `cert-file`: this server's certificate chain (PEM, leaf first).
    pub(crate) cert_file: String,
    /// `key-file`: the private key of `cert-file` (PEM: PKCS#8, PKCS#1 or SEC1).
    pub(crate) key_file: String,
}

impl TlsFiles {
    /// The files of `peer`'s entry, each falling back to the HA map's (Kea's rule; the
    /// configuration check already refused a partial set). `None` when TLS is not configured
    /// for that entry.
    pub(crate) fn of(cfg: &HaConfig, peer: &PeerConfig) -> Option<Self> {
        let pick = |own: &Option<String>, global: &Option<String>| {
            own.clone()
                .or_else(|| global.clone())
                .filter(|s| !s.is_empty())
        };
        Some(Self {
            trust_anchor: pick(&peer.trust_anchor, &cfg.trust_anchor)?,
            cert_file: pick(&peer.cert_file, &cfg.cert_file)?,
            key_file: pick(&peer.key_file, &cfg.key_file)?,
        })
    }
}

/// The cryptography rustls uses here.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The CA certificates of `trust-anchor`: every certificate of the file, or of every file in
/// the directory (files without a certificate are skipped there, as OpenSSL's hashed
/// directories hold other files too).
pub(crate) fn load_trust_anchor(path: &str) -> Result<RootCertStore, String> {
    let what = "trust-anchor";
    let mut certs = Vec::new();
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {what} {path}: {e}"))?;
    if meta.is_dir() {
        let dir = std::fs::read_dir(path).map_err(|e| format!("cannot read {what} {path}: {e}"))?;
        let mut files: Vec<_> = dir
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for f in files {
            if let Ok(mut c) = read_certs(&f) {
                certs.append(&mut c);
            }
        }
    } else {
        certs =
            read_certs(Path::new(path)).map_err(|e| format!("cannot read {what} {path}: {e}"))?;
    }
    if certs.is_empty() {
        return Err(format!("{what} {path} holds no PEM certificate"));
    }
    let mut roots = RootCertStore::empty();
    for (i, c) in certs.into_iter().enumerate() {
        roots
            .add(c)
            .map_err(|e| format!("{what} {path}: certificate {} is unusable: {e}", i + 1))?;
    }
    Ok(roots)
}

/// Every PEM certificate of a file.
fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(&e))
}

/// `cert-file`: the certificate chain, leaf first.
pub(crate) fn load_cert_file(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs =
        read_certs(Path::new(path)).map_err(|e| format!("cannot read cert-file {path}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("cert-file {path} holds no PEM certificate"));
    }
    Ok(certs)
}

/// `key-file`: the first private key of the file.
pub(crate) fn load_key_file(path: &str) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => {
            format!("key-file {path} holds no PEM private key")
        }
        e => format!("cannot read key-file {path}: {}", pem_error(&e)),
    })
}

/// A PEM error in words (an I/O error as the OS says it).
fn pem_error(e: &rustls_pki_types::pem::Error) -> String {
    match e {
        rustls_pki_types::pem::Error::Io(io) => io.to_string(),
        e => e.to_string(),
    }
}

/// The client side of the HA channel with `files` (see the module documentation).
pub(crate) fn client_config(files: &TlsFiles) -> Result<Arc<ClientConfig>, String> {
    let roots = load_trust_anchor(&files.trust_anchor)?;
    let certs = load_cert_file(&files.cert_file)?;
    let key = load_key_file(&files.key_file)?;
    let mut cfg = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS client: {e}"))?
        .with_root_certificates(roots)
        .with_client_auth_cert(certs, key)
        .map_err(|e| {
            format!(
                "cert-file {} with key-file {}: {e}",
                files.cert_file, files.key_file
            )
        })?;
    // Every connection makes a full handshake: Kea 2.2's listener (OpenSSL, client
    // certificates verified, no session id context) answers a resumption attempt with an
    // `internal_error` alert.
    cfg.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(cfg))
}

/// The listener side of the HA channel with `files`; `require_client_certs`: a client must
/// present a certificate chained to the trust anchor.
pub(crate) fn server_config(
    files: &TlsFiles,
    require_client_certs: bool,
) -> Result<Arc<ServerConfig>, String> {
    let roots = Arc::new(load_trust_anchor(&files.trust_anchor)?);
    let certs = load_cert_file(&files.cert_file)?;
    let key = load_key_file(&files.key_file)?;
    let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider());
    let verifier = if require_client_certs {
        verifier
    } else {
        verifier.allow_unauthenticated()
    };
    let verifier = verifier
        .build()
        .map_err(|e| format!("trust-anchor {}: {e}", files.trust_anchor))?;
    let cfg = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS server: {e}"))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| {
            format!(
                "cert-file {} with key-file {}: {e}",
                files.cert_file, files.key_file
            )
        })?;
    Ok(Arc::new(cfg))
}

/// The name a peer's certificate must carry: the URL's host, an IP address (Kea's URLs are
/// IP literals) or a DNS name.
pub(crate) fn server_name(url: &PeerUrl) -> Result<ServerName<'static>, String> {
    let host = url.stripped_hostname();
    match url.address() {
        Some(ip) => Ok(ServerName::IpAddress(ip.into())),
        None => ServerName::try_from(host.to_owned())
            .map_err(|e| format!("the host of {} is not a TLS server name: {e}", url.raw)),
    }
}

/// A connection of the HA channel: plain TCP (`http://`) or TLS over TCP (`https://`).
#[derive(Debug)]
pub(crate) enum HaStream {
    /// `http://`.
    Tcp(TcpStream),
    /// `https://`, this server the client.
    TlsClient(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    /// `https://`, this server the listener.
    TlsServer(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl AsyncRead for HaStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Self::TlsClient(s) => Pin::new(&mut **s).poll_read(cx, buf),
            Self::TlsServer(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for HaStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Self::TlsClient(s) => Pin::new(&mut **s).poll_write(cx, buf),
            Self::TlsServer(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_flush(cx),
            Self::TlsClient(s) => Pin::new(&mut **s).poll_flush(cx),
            Self::TlsServer(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Self::TlsClient(s) => Pin::new(&mut **s).poll_shutdown(cx),
            Self::TlsServer(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::path::PathBuf;

    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose, SanType,
    };
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    use super::*;

    /// A scratch directory for one test.
    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("hakit-tls-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A CA: its certificate (PEM) and an issuer for leaves.
    fn ca(name: &str) -> (String, Issuer<'static, KeyPair>) {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        p.distinguished_name.push(DnType::CommonName, name);
        let cert = p.self_signed(&key).unwrap();
        (cert.pem(), Issuer::new(p, key))
    }

    /// A leaf for `ip` signed by `issuer`: (certificate PEM, key PEM).
    fn leaf(ip: &str, issuer: &Issuer<'static, KeyPair>) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.subject_alt_names = vec![SanType::IpAddress(ip.parse::<IpAddr>().unwrap())];
        p.distinguished_name.push(DnType::CommonName, ip);
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = p.signed_by(&key, issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// Writes the CA and a leaf for `ip` into `dir` as `<tag>-ca.pem`, `<tag>.pem`,
    /// `<tag>.key`.
    fn files(
        dir: &Path,
        tag: &str,
        ca_pem: &str,
        ip: &str,
        issuer: &Issuer<'static, KeyPair>,
    ) -> TlsFiles {
        let (cert, key) = leaf(ip, issuer);
        let f = |n: &str, text: &str| {
            let p = dir.join(n);
            std::fs::write(&p, text).unwrap();
            p.to_str().unwrap().to_owned()
        };
        TlsFiles {
            trust_anchor: f(&format!("{tag}-ca.pem"), ca_pem),
            cert_file: f(&format!("{tag}.pem"), &cert),
            key_file: f(&format!("{tag}.key"), &key),
        }
    }

    #[test]
    fn loading_errors_name_the_parameter_and_the_file() {
        let d = scratch("errors");
        let (ca_pem, issuer) = ca("hakit test CA");
        let good = files(&d, "good", &ca_pem, "192.0.2.1", &issuer);
        assert!(client_config(&good).is_ok());
        assert!(server_config(&good, true).is_ok());
        let missing = d.join("missing.pem").to_str().unwrap().to_owned();
        let text = d.join("text.pem");
        std::fs::write(&text, "not PEM at all\n").unwrap();
        let text = text.to_str().unwrap().to_owned();

        let mut f = good.clone();
        f.cert_file.clone_from(&missing);
        let e = client_config(&f).unwrap_err();
        assert!(
            e.starts_with(&format!("cannot read cert-file {missing}: "))
                && e.contains("No such file"),
            "{e}"
        );
        f.cert_file.clone_from(&text);
        assert_eq!(
            server_config(&f, true).unwrap_err(),
            format!("cert-file {text} holds no PEM certificate")
        );

        let mut f = good.clone();
        f.key_file.clone_from(&missing);
        let e = server_config(&f, false).unwrap_err();
        assert!(
            e.starts_with(&format!("cannot read key-file {missing}: ")),
            "{e}"
        );
        // A certificate is not a key.
        f.key_file.clone_from(&good.cert_file);
        assert_eq!(
            client_config(&f).unwrap_err(),
            format!("key-file {} holds no PEM private key", good.cert_file)
        );

        let mut f = good.clone();
        f.trust_anchor.clone_from(&missing);
        let e = client_config(&f).unwrap_err();
        assert!(
            e.starts_with(&format!("cannot read trust-anchor {missing}: ")),
            "{e}"
        );
        f.trust_anchor.clone_from(&text);
        assert_eq!(
            client_config(&f).unwrap_err(),
            format!("trust-anchor {text} holds no PEM certificate")
        );

        // The key of another certificate.
        let other = files(&d, "other", &ca_pem, "192.0.2.3", &issuer);
        let mut f = good.clone();
        f.key_file.clone_from(&other.key_file);
        let e = server_config(&f, true).unwrap_err();
        assert!(
            e.starts_with(&format!(
                "cert-file {} with key-file {}: ",
                good.cert_file, other.key_file
            )),
            "{e}"
        );
        assert!(client_config(&f).is_err());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn trust_anchor_directory() {
        let d = scratch("dir");
        let (ca_pem, _) = ca("hakit test CA");
        let cas = d.join("cas");
        std::fs::create_dir_all(&cas).unwrap();
        let dir = cas.to_str().unwrap().to_owned();
        assert_eq!(
            load_trust_anchor(&dir).unwrap_err(),
            format!("trust-anchor {dir} holds no PEM certificate")
        );
        std::fs::write(cas.join("README"), "not a certificate\n").unwrap();
        std::fs::write(cas.join("a.pem"), &ca_pem).unwrap();
        let (ca2, _) = ca("hakit second CA");
        std::fs::write(cas.join("b.pem"), &ca2).unwrap();
        assert_eq!(load_trust_anchor(&dir).unwrap().len(), 2);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn server_names_of_urls() {
        let u = PeerUrl::parse("https://192.0.2.3:8001/").unwrap();
        assert_eq!(
            server_name(&u).unwrap(),
            ServerName::IpAddress("192.0.2.3".parse::<IpAddr>().unwrap().into())
        );
        let u = PeerUrl::parse("https://[2001:db8::3]:8001/").unwrap();
        assert_eq!(
            server_name(&u).unwrap(),
            ServerName::IpAddress("2001:db8::3".parse::<IpAddr>().unwrap().into())
        );
        let u = PeerUrl::parse("https://ha.example.net/").unwrap();
        assert!(matches!(server_name(&u), Ok(ServerName::DnsName(_))));
    }

    /// One TLS handshake and one byte each way over an in-memory pipe: `Ok`, or both sides'
    /// errors.
    fn handshake(
        client: Arc<ClientConfig>,
        server: Arc<ServerConfig>,
        name: &str,
    ) -> Result<(), String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async move {
            let (a, b) = tokio::io::duplex(64 * 1024);
            let name = ServerName::IpAddress(name.parse::<IpAddr>().unwrap().into());
            let cli = async {
                let mut s = tokio_rustls::TlsConnector::from(client)
                    .connect(name, a)
                    .await
                    .map_err(|e| format!("client: {e}"))?;
                s.write_all(b"?")
                    .await
                    .map_err(|e| format!("client: {e}"))?;
                s.flush().await.map_err(|e| format!("client: {e}"))?;
                let mut x = [0u8; 1];
                s.read_exact(&mut x)
                    .await
                    .map_err(|e| format!("client: {e}"))?;
                Ok::<_, String>(())
            };
            let srv = async {
                let mut s = tokio_rustls::TlsAcceptor::from(server)
                    .accept(b)
                    .await
                    .map_err(|e| format!("server: {e}"))?;
                let mut x = [0u8; 1];
                s.read_exact(&mut x)
                    .await
                    .map_err(|e| format!("server: {e}"))?;
                s.write_all(b"!")
                    .await
                    .map_err(|e| format!("server: {e}"))?;
                s.flush().await.map_err(|e| format!("server: {e}"))?;
                Ok::<_, String>(())
            };
            match tokio::join!(cli, srv) {
                (Ok(()), Ok(())) => Ok(()),
                (c, s) => Err(format!("{:?} {:?}", c.err(), s.err())),
            }
        })
    }

    #[test]
    fn handshakes_verify_the_ip_and_the_client_certificate() {
        let d = scratch("handshake");
        let (ca_pem, issuer) = ca("hakit test CA");
        let s1 = files(&d, "s1", &ca_pem, "192.0.2.1", &issuer);
        let s2 = files(&d, "s2", &ca_pem, "192.0.2.3", &issuer);
        // server1 (client) to server2 (listener, client certificates required).
        let listener = server_config(&s2, true).unwrap();
        handshake(client_config(&s1).unwrap(), listener.clone(), "192.0.2.3").unwrap();
        // The certificate names 192.0.2.3, not 192.0.2.9.
        let e = handshake(client_config(&s1).unwrap(), listener.clone(), "192.0.2.9").unwrap_err();
        assert!(e.contains("not valid for name"), "{e}");
        // A client whose certificate another CA signed is refused by the listener (the
        // client trusts the listener's CA: only its own certificate is wrong).
        let (rogue_ca, rogue_issuer) = ca("rogue CA");
        let mut rogue = files(&d, "rogue", &rogue_ca, "192.0.2.1", &rogue_issuer);
        rogue.trust_anchor.clone_from(&s1.trust_anchor);
        let e = handshake(client_config(&rogue).unwrap(), listener, "192.0.2.3").unwrap_err();
        assert!(
            e.contains("server: invalid peer certificate: UnknownIssuer"),
            "{e}"
        );
        // Without require-client-certs, the same listener still refuses a bad certificate
        // (one offered is verified) ...
        let optional = server_config(&s2, false).unwrap();
        assert!(
            handshake(
                client_config(&rogue).unwrap(),
                optional.clone(),
                "192.0.2.3"
            )
            .is_err()
        );
        // A client without a certificate: refused when certificates are required, served
        // when not.
        let anonymous = Arc::new(
            ClientConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(load_trust_anchor(&s1.trust_anchor).unwrap())
                .with_no_client_auth(),
        );
        let e = handshake(
            anonymous.clone(),
            server_config(&s2, true).unwrap(),
            "192.0.2.3",
        )
        .unwrap_err();
        assert!(e.contains("server: peer sent no certificates"), "{e}");
        handshake(anonymous, optional.clone(), "192.0.2.3").unwrap();
        // ... and a client trusting only the rogue CA refuses the listener.
        let mut blind = rogue.clone();
        blind.trust_anchor =
            files(&d, "rogue2", &rogue_ca, "192.0.2.1", &rogue_issuer).trust_anchor;
        let e = handshake(client_config(&blind).unwrap(), optional, "192.0.2.3").unwrap_err();
        assert!(e.contains("UnknownIssuer"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }
}

//! Test certificates for the HA channel over TLS (made with rcgen, nothing read from the
//! system): a CA, and certificates for the servers' LAN addresses (IP subject alternative
//! name, usable as server and as client), written as PEM files; and the `https://` shape of
//! a [`Pair`](super::ha::Pair) configuration.

use std::io::{Read as _, Write as _};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use serde_json::{Value, json};

use super::ha::{HA_PORT, Pair, SRV_IP};

/// A certificate authority of the tests.
pub struct TestCa {
    /// Its certificate (PEM).
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    /// A new CA named `name`.
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        p.distinguished_name.push(DnType::CommonName, name);
        let cert = p.self_signed(&key).unwrap();
        Self {
            pem: cert.pem(),
            issuer: Issuer::new(p, key),
        }
    }

    /// A certificate for `ip` (server and client use): (certificate PEM, key PEM).
    pub fn issue(&self, ip: &str) -> (String, String) {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.subject_alt_names = vec![SanType::IpAddress(ip.parse::<IpAddr>().unwrap())];
        p.distinguished_name.push(DnType::CommonName, ip);
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        let cert = p.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

/// Writes server `i`'s TLS files into the lab directory (`trust` as its trust anchor, a
/// certificate for its address from `signer`) and returns the HA keys that name them:
/// `trust-anchor`, `cert-file`, `key-file`.
pub fn tls_files(p: &Pair, i: usize, trust: &TestCa, signer: &TestCa) -> Value {
    let (cert, key) = signer.issue(SRV_IP[i]);
    let write = |name: &str, text: &str| {
        let path = p.path(&format!("server{}-{name}", i + 1));
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    json!({
        "trust-anchor": write("ca.pem", &trust.pem),
        "cert-file": write("cert.pem", &cert),
        "key-file": write("key.pem", &key),
    })
}

/// Turns the peers' `http://` urls of a [`Pair::config`] into `https://`.
pub fn use_https(conf: &mut Value) {
    let peers = conf["Dhcp4"]["hooks-libraries"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find_map(|h| {
            h.pointer_mut("/parameters/high-availability/0/peers")
                .and_then(Value::as_array_mut)
        })
        .expect("an HA hook with peers");
    for p in peers {
        let url = p["url"]
            .as_str()
            .unwrap()
            .replacen("http://", "https://", 1);
        p["url"] = Value::String(url);
    }
}

/// Sends `bytes` to server `i`'s HA port from the client node over plain TCP and returns
/// what came back before the server closed (or 5 s passed).
pub fn plain_exchange(p: &Pair, i: usize, bytes: &[u8]) -> Vec<u8> {
    let addr: SocketAddr = format!("{}:{HA_PORT}", SRV_IP[i]).parse().unwrap();
    p.cli.enter(|| {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(bytes).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        out
    })
}

//! What `--deployed` sets up around each client: a meter (a TCP relay in the
//! benchmark process that counts the bytes the client receives, TLS records
//! included) and a private CA with the simulator's certificate.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Counts the bytes a client receives through it.
pub struct Meter {
    pub addr: std::net::SocketAddr,
    pub received: Arc<AtomicU64>,
}

pub async fn meter(target: std::net::SocketAddr) -> Meter {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("meter");
    let addr = listener.local_addr().expect("meter address");
    let received = Arc::new(AtomicU64::new(0));
    let counted = received.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let counted = counted.clone();
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(target).await else {
                    return;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut cr, &mut sw).await;
                    let _ = sw.shutdown().await;
                });
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = sr.read(&mut buf).await {
                    if n == 0 || cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    counted.fetch_add(n as u64, Relaxed);
                }
                let _ = cw.shutdown().await;
            });
        }
    });
    Meter { addr, received }
}

/// A private CA and the simulator's certificate for 127.0.0.1: (ca, cert, key).
pub fn pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // Names of their own: with rcgen's default for both, OpenSSL takes the leaf for self-signed.
    ca.distinguished_name.push(DnType::CommonName, "bench CA");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().expect("key")).expect("CA");
    let leaf =
        CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()]).expect("leaf params");
    let mut leaf = leaf;
    leaf.distinguished_name
        .push(DnType::CommonName, "simulator");
    let key = KeyPair::generate().expect("key");
    let cert = leaf.signed_by(&key, &ca).expect("leaf");
    let paths = (dir.join("ca.pem"), dir.join("sim.pem"), dir.join("sim.key"));
    std::fs::write(&paths.0, ca.pem()).expect("write ca.pem");
    std::fs::write(&paths.1, cert.pem()).expect("write sim.pem");
    std::fs::write(&paths.2, key.serialize_pem()).expect("write sim.key");
    paths
}

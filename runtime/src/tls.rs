//! The secure mode of the partner link (RFC 8156 §10, RFC 7653 §8.2 and §9.1).
//!
//! The first message on a new TCP connection is STARTTLS (type 23). The secondary answers with
//! a STARTTLS without a status code (go ahead) and both sides run a TLS handshake (rustls,
//! TLS 1.2/1.3, ring) with **mutual authentication**: each presents a certificate signed by
//! the configured CA, and the primary also checks that the secondary's certificate names the
//! address (or the `tls_server_name`) it connected to. Only then does the driver report
//! `ConnectionUp` and the core's CONNECT exchange begins, inside TLS.
//!
//! STARTTLS is a transport step below the core's CONNECT: the core never sees it. A secondary
//! configured for TLS closes (and counts) any connection whose first message is not STARTTLS
//! or whose handshake fails.

use failover_model::message::{DisconnectOptions, Message, MessageBody};
use failover_model::wire::failover::{encode_frame, FrameDecoder};
use failover_model::Time;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// How long STARTTLS plus the handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A byte stream to the partner: plain TCP or TLS over TCP.
pub trait PartnerIo: AsyncRead + AsyncWrite + Send + Unpin + std::fmt::Debug + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + std::fmt::Debug + 'static> PartnerIo for T {}

/// A boxed partner stream.
pub type PartnerStream = Box<dyn PartnerIo>;

/// Everything needed for the secure mode.
#[derive(Clone)]
pub struct TlsContext {
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
    server_name: ServerName<'static>,
}

impl std::fmt::Debug for TlsContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsContext").field("server_name", &self.server_name).finish_non_exhaustive()
    }
}

fn read_certs(field: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{field}: {}: {e}", path.display()))?;
    let certs: Result<Vec<_>, _> = rustls_pemfile::certs(&mut bytes.as_slice()).collect();
    let certs = certs.map_err(|e| format!("{field}: {}: not PEM: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("{field}: {}: no certificate found", path.display()));
    }
    Ok(certs)
}

fn read_key(field: &str, path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{field}: {}: {e}", path.display()))?;
    rustls_pemfile::private_key(&mut bytes.as_slice())
        .map_err(|e| format!("{field}: {}: not PEM: {e}", path.display()))?
        .ok_or_else(|| format!("{field}: {}: no private key found", path.display()))
}

impl TlsContext {
    /// Loads the CA, certificate chain and key; `server_name` is what the secondary's
    /// certificate must name (default: the partner's address).
    ///
    /// # Errors
    /// A message naming the configuration field (`failover.tls_cert: ...`).
    pub fn load(
        ca: &Path,
        cert: &Path,
        key: &Path,
        partner: IpAddr,
        server_name: Option<&str>,
    ) -> Result<TlsContext, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore::empty();
        for c in read_certs("failover.tls_ca", ca)? {
            roots.add(c).map_err(|e| format!("failover.tls_ca: {}: {e}", ca.display()))?;
        }
        let roots = Arc::new(roots);
        let chain = read_certs("failover.tls_cert", cert)?;
        let key = read_key("failover.tls_key", key)?;
        let client = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("failover.tls: {e}"))?
            .with_root_certificates(roots.clone())
            .with_client_auth_cert(chain.clone(), key.clone_key())
            .map_err(|e| format!("failover.tls_key: does not match failover.tls_cert: {e}"))?;
        let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| format!("failover.tls_ca: {e}"))?;
        let server = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("failover.tls: {e}"))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)
            .map_err(|e| format!("failover.tls_key: does not match failover.tls_cert: {e}"))?;
        let server_name = match server_name {
            Some(n) => ServerName::try_from(n.to_owned())
                .map_err(|e| format!("failover.tls_server_name: {n:?}: {e}"))?,
            None => ServerName::IpAddress(partner.into()),
        };
        Ok(TlsContext { client: Arc::new(client), server: Arc::new(server), server_name })
    }
}

fn starttls(now: Time) -> Result<Vec<u8>, String> {
    let m = Message {
        xid: 0,
        sent_time: now,
        body: MessageBody::StartTls(DisconnectOptions { status: None, unknown: Vec::new() }),
    };
    encode_frame(&m).map_err(|e| e.to_string())
}

/// Reads exactly one frame (the STARTTLS exchange) without reading past it.
async fn read_one_message(s: &mut TcpStream) -> Result<Message, String> {
    let mut prefix = [0u8; 2];
    s.read_exact(&mut prefix).await.map_err(|e| e.to_string())?;
    let len = usize::from(u16::from_be_bytes(prefix));
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await.map_err(|e| e.to_string())?;
    let mut dec = FrameDecoder::new();
    dec.push(&prefix);
    dec.push(&body);
    dec.next_message().map_err(|e| e.to_string())?.ok_or_else(|| "incomplete frame".to_owned())
}

fn is_go_ahead(m: &Message) -> Result<(), String> {
    match &m.body {
        MessageBody::StartTls(o) => match &o.status {
            None => Ok(()),
            Some(s) if s.code.0 == 0 => Ok(()),
            Some(s) => Err(format!("STARTTLS refused: status {} {}", s.code.0, s.message)),
        },
        other => Err(format!("expected STARTTLS, got {}", other.name())),
    }
}

/// (Primary) STARTTLS, then the TLS client handshake.
///
/// # Errors
/// Refused, timed out, or the handshake failed (the message says which).
pub async fn connect(
    ctx: &TlsContext,
    mut tcp: TcpStream,
    now: Time,
) -> Result<PartnerStream, String> {
    let fut = async {
        tcp.write_all(&starttls(now)?).await.map_err(|e| e.to_string())?;
        is_go_ahead(&read_one_message(&mut tcp).await?)?;
        let tls = TlsConnector::from(ctx.client.clone())
            .connect(ctx.server_name.clone(), tcp)
            .await
            .map_err(|e| format!("TLS handshake: {e}"))?;
        Ok::<PartnerStream, String>(Box::new(tls))
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, fut)
        .await
        .map_err(|_| "STARTTLS timed out".to_owned())?
}

/// (Secondary) waits for STARTTLS, answers it, then the TLS server handshake.
///
/// # Errors
/// The first message was not STARTTLS, timed out, or the handshake failed.
pub async fn accept(
    ctx: &TlsContext,
    mut tcp: TcpStream,
    now: Time,
) -> Result<PartnerStream, String> {
    let fut = async {
        is_go_ahead(&read_one_message(&mut tcp).await?)?;
        tcp.write_all(&starttls(now)?).await.map_err(|e| e.to_string())?;
        let tls = TlsAcceptor::from(ctx.server.clone())
            .accept(tcp)
            .await
            .map_err(|e| format!("TLS handshake: {e}"))?;
        Ok::<PartnerStream, String>(Box::new(tls))
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, fut)
        .await
        .map_err(|_| "STARTTLS timed out".to_owned())?
}

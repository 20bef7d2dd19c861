//! The secure mode of the partner link (RFC 8156 §10, RFC 7653 §8.2 and §9.1).
//!
//! The first message on a new TCP connection is STARTTLS (type 23, RFC 7653 §6.2.2, with the
//! 4-octet DHCPv6 header). The secondary answers with a REPLY (type 7) without a status code
//! and with the STARTTLS's transaction-id (go ahead, RFC 7653 §9.1), and both sides run a TLS
//! handshake (rustls, TLS 1.2/1.3, ring) with **mutual authentication**: each presents a
//! certificate signed by the configured CA, and the primary also checks that the secondary's
//! certificate names the address (or the `tls_server_name`) it connected to. Only then does the
//! driver report `ConnectionUp` and the core's CONNECT exchange begins, inside TLS. The primary
//! goes ahead only on exactly that REPLY and closes on anything else
//! (`failover_model::failover::secure::judge_starttls_answer`, RFC 7653 §8.2).
//!
//! STARTTLS is a transport step below the core's CONNECT: the endpoint never sees it on a
//! secure connection. Every decision of the exchange is the core's
//! (`failover_model::failover::secure`): the request, whether the secondary goes ahead or
//! closes (`on_first_message`), whether the primary goes ahead (`judge_starttls_answer`); this
//! module only moves the frames and runs the TLS handshake. A secondary configured for TLS
//! closes (and counts) any connection whose first message is not STARTTLS or whose handshake
//! fails.

use failover_model::failover::message::Message;
use failover_model::failover::secure::{
    judge_starttls_answer, on_first_message, starttls_request, FirstMessage,
};
use failover_model::wire::failover::{encode_frame, FrameDecoder};
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

/// A failed STARTTLS exchange or handshake: a metrics label and a message for the log.
#[derive(Debug)]
pub struct TlsError {
    /// The `drops_total` reason.
    pub reason: &'static str,
    /// What happened.
    pub message: String,
}

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn failed(message: impl Into<String>) -> TlsError {
    TlsError { reason: "tls_failed", message: message.into() }
}

fn frame(m: &Message) -> Result<Vec<u8>, TlsError> {
    encode_frame(m).map_err(|e| failed(e.to_string()))
}

/// Reads exactly one frame (the STARTTLS exchange) without reading past it.
async fn read_one_message(s: &mut TcpStream) -> Result<Message, TlsError> {
    let mut prefix = [0u8; 2];
    s.read_exact(&mut prefix).await.map_err(|e| failed(e.to_string()))?;
    let len = usize::from(u16::from_be_bytes(prefix));
    let mut body = vec![0u8; len];
    s.read_exact(&mut body).await.map_err(|e| failed(e.to_string()))?;
    let mut dec = FrameDecoder::new();
    dec.push(&prefix);
    dec.push(&body);
    dec.next_message().map_err(|e| failed(e.to_string()))?.ok_or_else(|| failed("incomplete frame"))
}

/// (Primary) STARTTLS with transaction-id `xid`, then the TLS client handshake.
///
/// # Errors
/// Refused, not answered with the REPLY, timed out, or the handshake failed (the message says
/// which; the reason is a metrics label).
pub async fn connect(
    ctx: &TlsContext,
    mut tcp: TcpStream,
    xid: u32,
) -> Result<PartnerStream, TlsError> {
    let fut = async {
        let request = starttls_request(xid);
        tcp.write_all(&frame(&request)?).await.map_err(|e| failed(e.to_string()))?;
        let answer = read_one_message(&mut tcp).await?;
        judge_starttls_answer(request.xid, &answer)
            .map_err(|e| TlsError { reason: e.label(), message: e.to_string() })?;
        let tls = TlsConnector::from(ctx.client.clone())
            .connect(ctx.server_name.clone(), tcp)
            .await
            .map_err(|e| failed(format!("TLS handshake: {e}")))?;
        Ok::<PartnerStream, TlsError>(Box::new(tls))
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, fut)
        .await
        .map_err(|_| TlsError { reason: "tls_timeout", message: "STARTTLS timed out".into() })?
}

/// (Secondary) waits for STARTTLS, answers it with a REPLY (its transaction-id, no status),
/// then the TLS server handshake. `limit` bounds the whole exchange.
///
/// # Errors
/// The first message was not STARTTLS, timed out, or the handshake failed.
pub async fn accept(
    ctx: &TlsContext,
    mut tcp: TcpStream,
    limit: Duration,
) -> Result<PartnerStream, TlsError> {
    let fut = async {
        let request = read_one_message(&mut tcp).await?;
        // The core decides: go ahead on STARTTLS, close on anything else.
        let answer = match on_first_message(true, &request) {
            FirstMessage::GoAhead(answer) => answer,
            FirstMessage::Close(why) => return Err(failed(why)),
            other => return Err(failed(format!("not a secure-mode answer: {other:?}"))),
        };
        tcp.write_all(&frame(&answer)?).await.map_err(|e| failed(e.to_string()))?;
        let tls = TlsAcceptor::from(ctx.server.clone())
            .accept(tcp)
            .await
            .map_err(|e| failed(format!("TLS handshake: {e}")))?;
        Ok::<PartnerStream, TlsError>(Box::new(tls))
    };
    tokio::time::timeout(limit, fut)
        .await
        .map_err(|_| TlsError { reason: "tls_timeout", message: "STARTTLS timed out".into() })?
}

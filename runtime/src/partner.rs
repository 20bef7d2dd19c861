//! The partner link: TCP with RFC 5460 §5.1 framing (RFC 8156 §5.1, §6.1).
//!
//! - The primary connects when the core outputs `Connect` ([`spawn_connect`]) and the driver
//!   reports `ConnectionUp` / `ConnectionDown`.
//! - The secondary listens ([`listen`]) and accepts only its configured partner's address;
//!   other peers are closed at once and counted (`drops{reason="foreign_peer"}`).
//! - Each connection has a reader (a [`FrameDecoder`]: a frame that does not decode becomes
//!   `PartnerMalformed`, and the core decides; a broken frame length cannot be resynchronised,
//!   so the reader reports it and then treats the transport as failed) and a writer with two
//!   queues: CONTACT, CONNECT(REPLY), DISCONNECT and STARTTLS never wait behind queued
//!   BNDUPD/BNDREPLY traffic. STATE keeps its place in order (see `driver::is_urgent` for why).
//!
//! With `tls = "required"` the STARTTLS exchange and a mutually authenticated TLS handshake
//! ([`crate::tls`]) run before the driver reports `ConnectionUp`; a secondary closes and counts
//! (`drops{reason="tls_failed"}`) any connection that does not complete them.

use crate::clock::Clock;
use crate::driver::DriverMsg;
use crate::metrics::Metrics;
use crate::tls::{PartnerStream, TlsContext};
use failover_model::wire::failover::{decode_message, FrameDecoder};
use failover_model::Time;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long a connection attempt may take before it counts as failed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A command for a connection's writer.
#[derive(Debug)]
pub enum LinkCmd {
    /// A framed message.
    Frame {
        /// The bytes, with the 2-octet length.
        frame: Vec<u8>,
        /// Jumps ahead of bulk traffic.
        urgent: bool,
    },
    /// Close after everything queued before this.
    Close,
}

/// One live partner connection, as the driver holds it.
#[derive(Debug)]
pub struct PartnerConn {
    /// Connection id (events from older connections are ignored).
    pub id: u64,
    urgent: mpsc::UnboundedSender<LinkCmd>,
    bulk: mpsc::UnboundedSender<LinkCmd>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl PartnerConn {
    /// Queues a command; false if the writer is gone.
    pub fn send(&self, cmd: LinkCmd) -> bool {
        match &cmd {
            LinkCmd::Frame { urgent: true, .. } => self.urgent.send(cmd).is_ok(),
            _ => self.bulk.send(cmd).is_ok(),
        }
    }

    /// Closes after what is queued; the reader stops at once. Returns the writer task, which
    /// ends once everything queued before the close is written.
    pub fn close(self) -> JoinHandle<()> {
        let _ = self.bulk.send(LinkCmd::Close);
        self.reader.abort();
        self.writer
    }
}

/// (Primary) tries to connect (and runs STARTTLS + TLS if configured); reports `Connected`
/// or `PartnerDown` with `id`.
pub fn spawn_connect(
    id: u64,
    addr: SocketAddr,
    tls: Option<TlsContext>,
    now: Time,
    tx: mpsc::Sender<DriverMsg>,
) {
    tokio::spawn(async move {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(tcp)) => {
                let _ = tcp.set_nodelay(true);
                let stream: PartnerStream = match &tls {
                    None => Box::new(tcp),
                    Some(ctx) => match crate::tls::connect(ctx, tcp, now).await {
                        Ok(s) => s,
                        Err(e) => {
                            tracing::warn!(%addr, "secure connection to the partner failed: {e}");
                            let _ = tx.send(DriverMsg::PartnerDown { id }).await;
                            return;
                        }
                    },
                };
                let _ = tx.send(DriverMsg::Connected { id, stream }).await;
            }
            Ok(Err(e)) => {
                tracing::debug!(%addr, "connect failed: {e}");
                let _ = tx.send(DriverMsg::PartnerDown { id }).await;
            }
            Err(_) => {
                tracing::debug!(%addr, "connect timed out");
                let _ = tx.send(DriverMsg::PartnerDown { id }).await;
            }
        }
    });
}

/// (Secondary) listens on `addr`; hands connections from `partner` to the driver.
///
/// # Errors
/// The address cannot be bound.
pub async fn listen(
    addr: SocketAddr,
    partner: std::net::IpAddr,
    tls: Option<TlsContext>,
    clock: Arc<dyn Clock>,
    tx: mpsc::Sender<DriverMsg>,
    metrics: Arc<Metrics>,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(%addr, "listening for the partner");
    tokio::spawn(async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            if !same_ip(peer.ip(), partner) {
                tracing::warn!(%peer, "connection from a peer that is not our partner; dropped");
                metrics.drop_reason("foreign_peer");
                drop(stream);
                continue;
            }
            let _ = stream.set_nodelay(true);
            let Some(ctx) = tls.clone() else {
                if tx.send(DriverMsg::Accepted { stream: Box::new(stream), peer }).await.is_err() {
                    return;
                }
                continue;
            };
            let (tx, metrics, now) = (tx.clone(), metrics.clone(), clock.now());
            tokio::spawn(async move {
                match crate::tls::accept(&ctx, stream, now).await {
                    Ok(stream) => {
                        let _ = tx.send(DriverMsg::Accepted { stream, peer }).await;
                    }
                    Err(e) => {
                        tracing::warn!(%peer, "secure connection from the partner failed: {e}");
                        metrics.drop_reason("tls_failed");
                    }
                }
            });
        }
    });
    Ok(())
}

/// Compares addresses, treating an IPv4-mapped IPv6 address as its IPv4 address.
fn same_ip(a: std::net::IpAddr, b: std::net::IpAddr) -> bool {
    let canon = |x: std::net::IpAddr| match x {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(x, std::net::IpAddr::V4),
        v4 => v4,
    };
    canon(a) == canon(b)
}

/// Starts the reader and writer of a connection.
pub fn spawn_connection(
    id: u64,
    stream: PartnerStream,
    tx: mpsc::Sender<DriverMsg>,
    metrics: Arc<Metrics>,
) -> PartnerConn {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (urgent_tx, mut urgent_rx) = mpsc::unbounded_channel::<LinkCmd>();
    let (bulk_tx, mut bulk_rx) = mpsc::unbounded_channel::<LinkCmd>();

    let rtx = tx.clone();
    let reader = tokio::spawn(async move {
        let mut dec = FrameDecoder::new();
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            dec.push(buf.get(..n).unwrap_or_default());
            loop {
                match dec.next_frame() {
                    Ok(Some(frame)) => {
                        let m = match decode_message(&frame) {
                            Ok(msg) => DriverMsg::PartnerMsg { id, msg },
                            Err(e) => DriverMsg::PartnerMalformed { id, reason: e.to_string() },
                        };
                        if rtx.send(m).await.is_err() {
                            return;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let _ = rtx
                            .send(DriverMsg::PartnerMalformed {
                                id,
                                reason: format!("framing: {e}"),
                            })
                            .await;
                        let _ = rtx.send(DriverMsg::PartnerDown { id }).await;
                        return;
                    }
                }
            }
        }
        let _ = rtx.send(DriverMsg::PartnerDown { id }).await;
    });

    let wtx = tx;
    let writer = tokio::spawn(async move {
        // The urgent queue's sender goes away with the `PartnerConn` (on close); that must not
        // end the writer before the bulk queue, which carries the close marker, is drained.
        let mut urgent_open = true;
        loop {
            let cmd = tokio::select! {
                biased;
                c = urgent_rx.recv(), if urgent_open => match c {
                    Some(c) => Some(c),
                    None => {
                        urgent_open = false;
                        continue;
                    }
                },
                c = bulk_rx.recv() => c,
            };
            match cmd {
                Some(LinkCmd::Frame { frame, urgent }) => {
                    if !urgent {
                        metrics.bulk_queue.dec();
                    }
                    if wr.write_all(&frame).await.is_err() {
                        // Whatever is still queued is lost with the connection.
                        while let Ok(c) = bulk_rx.try_recv() {
                            if matches!(c, LinkCmd::Frame { .. }) {
                                metrics.bulk_queue.dec();
                            }
                        }
                        let _ = wtx.send(DriverMsg::PartnerDown { id }).await;
                        return;
                    }
                }
                Some(LinkCmd::Close) | None => {
                    // Flush anything urgent that was queued before the close.
                    while let Ok(LinkCmd::Frame { frame, .. }) = urgent_rx.try_recv() {
                        if wr.write_all(&frame).await.is_err() {
                            break;
                        }
                    }
                    let _ = wr.shutdown().await;
                    return;
                }
            }
        }
    });

    PartnerConn { id, urgent: urgent_tx, bulk: bulk_tx, reader, writer }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything queued before a close is written, then the connection ends (the urgent
    /// queue's sender disappearing with the handle must not cut the bulk queue short).
    #[tokio::test]
    async fn close_flushes_what_was_queued_before_it() {
        let listener = TcpListener::bind("[::1]:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = TcpStream::connect(addr).await.expect("connect");
        let (mut server, _) = listener.accept().await.expect("accept");
        let (tx, _rx) = mpsc::channel(8);
        let conn = spawn_connection(1, Box::new(client), tx, Arc::new(Metrics::new()));
        assert!(conn.send(LinkCmd::Frame { frame: b"bulk-1;".to_vec(), urgent: false }));
        assert!(conn.send(LinkCmd::Frame { frame: b"urgent;".to_vec(), urgent: true }));
        assert!(conn.send(LinkCmd::Frame { frame: b"bulk-2;".to_vec(), urgent: false }));
        let writer = conn.close();
        let mut got = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), server.read_to_end(&mut got)).await;
        assert!(matches!(read, Ok(Ok(_))), "connection not closed: {read:?}");
        let text = String::from_utf8_lossy(&got);
        for part in ["bulk-1;", "urgent;", "bulk-2;"] {
            assert!(text.contains(part), "{part} missing from {text:?}");
        }
        assert!(text.find("bulk-1;") < text.find("bulk-2;"), "bulk order: {text:?}");
        assert!(tokio::time::timeout(Duration::from_secs(5), writer).await.is_ok());
    }
}

//! The partner link: TCP with RFC 5460 §5.1 framing (RFC 8156 §5.1, §6.1).
//!
//! - The primary connects when the core outputs `Connect` ([`spawn_connect`]) and the driver
//!   reports `ConnectionUp` / `ConnectionDown`.
//! - The secondary listens ([`listen`]) and accepts only its configured partner's address;
//!   other peers are closed at once and counted (`drops{reason="foreign_peer"}`).
//! - A new connection from the partner's address is a **candidate** until it has proven
//!   itself: TLS (if configured) and its first frame, within [`CANDIDATE_TIMEOUT`], at most
//!   [`MAX_CANDIDATES`] at once. Only then is it handed to the driver
//!   ([`DriverMsg::Accepted`], with its first message decoded but still unread), which lets it
//!   replace a live connection only if the core says so
//!   (`Endpoint::may_replace_connection`: a CONNECT the core would accept). Everything refused
//!   is counted (`drops{reason="partner_candidate_*"}`, `tls_*`) and logged at most every
//!   [`LOG_INTERVAL`]. A port scan or health check no longer disturbs the live connection.
//! - Each connection has a reader (a [`FrameDecoder`]: a frame that does not decode becomes
//!   `PartnerMalformed`, and the core decides; a broken frame length cannot be resynchronised,
//!   so the reader reports it and then treats the transport as failed) and a writer with two
//!   queues: CONTACT, CONNECT(REPLY), DISCONNECT and STARTTLS never wait behind queued
//!   BNDUPD/BNDREPLY traffic. STATE keeps its place in order (the core decides which messages
//!   may overtake, and why: `failover_model::failover::link::may_overtake`).
//! - Time stamps at the edges (RFC 8156 §7.1): the writer rewrites a frame's sent-time with the
//!   clock just before writing it (`wire::failover::restamp`), so a frame held behind a group
//!   commit does not look old; the reader takes the reception time when the bytes come off the
//!   socket and passes it with each message ([`DriverMsg::PartnerMsg`]).
//!
//! With `tls = "required"` the STARTTLS exchange and a mutually authenticated TLS handshake
//! ([`crate::tls`]) run before the driver reports `ConnectionUp`; a secondary closes and counts
//! (`drops{reason="tls_failed"}`) any connection that does not complete them.

use crate::clock::Clock;
use crate::driver::DriverMsg;
use crate::metrics::Metrics;
use crate::tls::{PartnerStream, TlsContext};
use failover_model::wire::failover::{decode_message, restamp, FrameDecoder};
use failover_model::wire::tlv::MAX_MESSAGE_SIZE;
use failover_model::Message;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long a connection attempt may take before it counts as failed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// (Secondary) new connections from the partner's address that may wait for TLS and their
/// first frame at once (RFC 8156 §10: limit the number of accepted connections).
pub const MAX_CANDIDATES: usize = 4;

/// (Secondary) how long a new connection has for STARTTLS, the TLS handshake and its first
/// frame (RFC 8156 §10: limit the time an idle connection is left open). As long as the
/// primary's own STARTTLS limit ([`crate::tls::HANDSHAKE_TIMEOUT`]).
pub const CANDIDATE_TIMEOUT: Duration = crate::tls::HANDSHAKE_TIMEOUT;

/// At most one log line per reason and interval for refused connections (the counters count
/// every one).
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// A rate limit for warnings: at most one per [`LOG_INTERVAL`], with the number suppressed.
#[derive(Debug, Default)]
pub struct LogLimit {
    last: Option<Instant>,
    suppressed: u64,
}

impl LogLimit {
    /// `Some(n)` when a line may be logged now (`n` lines were suppressed since the last one).
    pub fn allow(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self.last.is_some_and(|l| now.duration_since(l) < LOG_INTERVAL) {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

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
    tx: mpsc::Sender<DriverMsg>,
    metrics: Arc<Metrics>,
) {
    tokio::spawn(async move {
        match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(tcp)) => {
                let _ = tcp.set_nodelay(true);
                let stream: PartnerStream = match &tls {
                    None => Box::new(tcp),
                    // The STARTTLS transaction-id: the attempt's id (24 bits).
                    Some(ctx) => {
                        match crate::tls::connect(ctx, tcp, (id & 0x00ff_ffff) as u32).await {
                            Ok(s) => s,
                            Err(e) => {
                                tracing::warn!(%addr, "secure connection to the partner failed: {e}");
                                metrics.drop_reason(e.reason);
                                let _ = tx.send(DriverMsg::PartnerDown { id }).await;
                                return;
                            }
                        }
                    }
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

/// A candidate that proved nothing: the counter's reason and what to log.
type Refusal = (&'static str, String);

/// Runs TLS (if configured) and waits for the first frame of a new connection, within
/// `limit`. The first frame stays in the returned decoder (the reader reads it again), so
/// nothing is lost whichever way the driver decides.
async fn prove(
    tcp: TcpStream,
    tls: Option<&TlsContext>,
    limit: Duration,
) -> Result<(PartnerStream, FrameDecoder, Result<Message, String>), Refusal> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut stream: PartnerStream = match tls {
        None => Box::new(tcp),
        Some(ctx) => {
            crate::tls::accept(ctx, tcp, limit).await.map_err(|e| (e.reason, e.message))?
        }
    };
    let mut dec = FrameDecoder::new();
    let mut buf = vec![0u8; 4096];
    let mut head = Vec::with_capacity(2);
    loop {
        // Peek (on a copy) only once the first frame can be complete: a peer that trickles
        // octets costs no copies.
        let ready = match head.as_slice() {
            [a, b] => {
                let len = usize::from(u16::from_be_bytes([*a, *b]));
                len == 0 || len > MAX_MESSAGE_SIZE || dec.buffered() >= 2 + len
            }
            _ => false,
        };
        let mut peek = if ready { dec.clone() } else { FrameDecoder::new() };
        match peek.next_frame() {
            Ok(Some(frame)) => {
                let first = decode_message(&frame).map_err(|e| e.to_string());
                return Ok((stream, dec, first));
            }
            Ok(None) => {}
            Err(e) => return Ok((stream, dec, Err(format!("framing: {e}")))),
        }
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return Err(("partner_candidate_timeout", "no first message in time".into())),
            Ok(Ok(0)) => {
                return Err(("partner_candidate_closed", "closed before its first message".into()))
            }
            Ok(Err(e)) => return Err(("partner_candidate_closed", e.to_string())),
            Ok(Ok(n)) => {
                let got = buf.get(..n).unwrap_or_default();
                head.extend(got.iter().take(2 - head.len()));
                dec.push(got);
            }
        }
    }
}

/// (Secondary) listens on `addr`; hands connections from `partner` to the driver once they
/// have proven themselves (TLS if configured, a first frame), at most [`MAX_CANDIDATES`] at a
/// time, each within [`CANDIDATE_TIMEOUT`].
///
/// # Errors
/// The address cannot be bound.
pub async fn listen(
    addr: SocketAddr,
    partner: std::net::IpAddr,
    tls: Option<TlsContext>,
    tx: mpsc::Sender<DriverMsg>,
    metrics: Arc<Metrics>,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(%addr, "listening for the partner");
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CANDIDATES));
    let logs: Arc<Mutex<std::collections::HashMap<&'static str, LogLimit>>> = Arc::default();
    let refuse = {
        let (metrics, logs) = (metrics.clone(), logs.clone());
        move |peer: SocketAddr, (reason, why): Refusal| {
            metrics.drop_reason(reason);
            let allowed = logs.lock().ok().and_then(|mut l| l.entry(reason).or_default().allow());
            if let Some(suppressed) = allowed {
                tracing::warn!(%peer, reason, suppressed, "new partner connection refused: {why}");
            }
        }
    };
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
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                refuse(
                    peer,
                    ("partner_candidate_limit", format!("{MAX_CANDIDATES} already pending")),
                );
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let (tx, tls, refuse) = (tx.clone(), tls.clone(), refuse.clone());
            tokio::spawn(async move {
                let proved = prove(stream, tls.as_ref(), CANDIDATE_TIMEOUT).await;
                drop(slot);
                match proved {
                    Ok((stream, decoder, first)) => {
                        let _ = tx.send(DriverMsg::Accepted { stream, peer, first, decoder }).await;
                    }
                    Err(r) => refuse(peer, r),
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
///
/// `decoder` holds what was read before (the secondary's candidate's first frame); the
/// reader returns it first. The reader stamps each message with the time its bytes came off
/// the socket; the writer rewrites each frame's sent-time with the clock just before writing.
pub fn spawn_connection(
    id: u64,
    stream: PartnerStream,
    decoder: FrameDecoder,
    tx: mpsc::Sender<DriverMsg>,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
) -> PartnerConn {
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (urgent_tx, mut urgent_rx) = mpsc::unbounded_channel::<LinkCmd>();
    let (bulk_tx, mut bulk_rx) = mpsc::unbounded_channel::<LinkCmd>();

    let rtx = tx.clone();
    let rclock = clock.clone();
    let reader = tokio::spawn(async move {
        let mut dec = decoder;
        let mut buf = vec![0u8; 16 * 1024];
        let mut received = rclock.now();
        let mut first = true;
        loop {
            if !std::mem::take(&mut first) {
                let n = match rd.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                // §7.1: the reception time, as close to the reception as possible.
                received = rclock.now();
                dec.push(buf.get(..n).unwrap_or_default());
            }
            loop {
                match dec.next_frame() {
                    Ok(Some(frame)) => {
                        let m = match decode_message(&frame) {
                            Ok(msg) => DriverMsg::PartnerMsg { id, msg, received },
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
                Some(LinkCmd::Frame { mut frame, urgent }) => {
                    if !urgent {
                        metrics.bulk_queue.dec();
                    }
                    // §7.1: sent-time as close to the transmission as possible (the frame may
                    // have waited behind a group commit).
                    restamp(&mut frame, clock.now());
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
                    while let Ok(LinkCmd::Frame { mut frame, .. }) = urgent_rx.try_recv() {
                        restamp(&mut frame, clock.now());
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

    /// A candidate's first frame, trickled one octet at a time, is decoded and stays in the
    /// decoder for the reader; one that closes or says nothing is refused with its reason.
    #[tokio::test]
    async fn a_candidate_proves_itself_with_its_first_frame() {
        use failover_model::failover::message::{MessageBody, NoOptions};
        let listener = TcpListener::bind("[::1]:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let contact = Message {
            xid: 3,
            sent_time: failover_model::Time(7),
            body: MessageBody::Contact(NoOptions::default()),
        };
        let frame = failover_model::wire::encode_frame(&contact).expect("frame");
        let mut client = TcpStream::connect(addr).await.expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        let writer = tokio::spawn(async move {
            for b in frame {
                client.write_all(&[b]).await.expect("write");
                client.flush().await.expect("flush");
                tokio::task::yield_now().await;
            }
            client
        });
        let proved = prove(server, None, Duration::from_secs(30)).await;
        let (_stream, mut dec, first) = proved.expect("proved");
        assert_eq!(first, Ok(contact.clone()));
        assert_eq!(dec.next_message(), Ok(Some(contact)));
        drop(writer.await);

        let client = TcpStream::connect(addr).await.expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        drop(client);
        let refused = prove(server, None, Duration::from_secs(30)).await.map(|_| ());
        assert!(matches!(refused, Err(("partner_candidate_closed", _))), "{refused:?}");

        let _client = TcpStream::connect(addr).await.expect("connect");
        let (server, _) = listener.accept().await.expect("accept");
        let refused = prove(server, None, Duration::from_millis(50)).await.map(|_| ());
        assert!(matches!(refused, Err(("partner_candidate_timeout", _))), "{refused:?}");
    }

    /// Everything queued before a close is written, then the connection ends (the urgent
    /// queue's sender disappearing with the handle must not cut the bulk queue short).
    #[tokio::test]
    async fn close_flushes_what_was_queued_before_it() {
        let listener = TcpListener::bind("[::1]:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = TcpStream::connect(addr).await.expect("connect");
        let (mut server, _) = listener.accept().await.expect("accept");
        let (tx, _rx) = mpsc::channel(8);
        let clock: Arc<dyn Clock> =
            Arc::new(crate::clock::ManualClock::new(failover_model::Time(1)));
        let conn = spawn_connection(
            1,
            Box::new(client),
            FrameDecoder::new(),
            tx,
            Arc::new(Metrics::new()),
            clock,
        );
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

//! Prometheus metrics (prometheus-client), served as text on a loopback `GET /metrics` and
//! through the `metrics` control command.
//!
//! Gauges for the endpoint (state, partner state, pending and unacked updates, skew) are
//! refreshed by the driver from [`failover_model::Endpoint::status_report`] after each step.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

type Labels = Vec<(String, String)>;

fn label(k: &str, v: &str) -> Labels {
    vec![(k.to_owned(), v.to_owned())]
}

/// Every metric failoverd exports.
pub struct Metrics {
    registry: Registry,
    /// Own endpoint state (RFC 8156 §5.5.17 code; 1 = STARTUP).
    pub state: Gauge,
    /// Partner's state code (0 = unknown).
    pub partner_state: Gauge,
    /// Seconds in the current state.
    pub time_in_state: Gauge,
    /// 1 if comms are OK (§6.1).
    pub comms_ok: Gauge,
    /// Bindings with the update-partner flag set.
    pub pending_updates: Gauge,
    /// BNDUPDs sent and not answered.
    pub unacked_updates: Gauge,
    /// Last measured skew (s).
    pub skew: Gauge,
    /// ACTIVE leases.
    pub active_leases: Gauge,
    /// Binding messages (BNDUPD/BNDREPLY and other bulk traffic) queued to the partner.
    pub bulk_queue: Gauge,
    /// Failover messages received, by type.
    pub partner_in: Family<Labels, Counter>,
    /// Failover messages sent, by type.
    pub partner_out: Family<Labels, Counter>,
    /// Client requests, by message kind.
    pub client_in: Family<Labels, Counter>,
    /// Replies sent to clients, by kind.
    pub client_out: Family<Labels, Counter>,
    /// Deliberate silences, by reason.
    pub silences: Family<Labels, Counter>,
    /// Dropped packets, connections or outputs, by reason.
    pub drops: Family<Labels, Counter>,
    /// Partner connections established.
    pub connections: Counter,
    /// Durable commit latency (s).
    pub commit_seconds: Histogram,
    /// Writes per commit.
    pub commit_batch: Histogram,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    #[must_use]
    pub fn new() -> Metrics {
        let mut r = Registry::with_prefix("failoverd");
        let m = Metrics {
            state: Gauge::default(),
            partner_state: Gauge::default(),
            time_in_state: Gauge::default(),
            comms_ok: Gauge::default(),
            pending_updates: Gauge::default(),
            unacked_updates: Gauge::default(),
            skew: Gauge::default(),
            active_leases: Gauge::default(),
            bulk_queue: Gauge::default(),
            partner_in: Family::default(),
            partner_out: Family::default(),
            client_in: Family::default(),
            client_out: Family::default(),
            silences: Family::default(),
            drops: Family::default(),
            connections: Counter::default(),
            commit_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
            commit_batch: Histogram::new(exponential_buckets(1.0, 2.0, 14)),
            registry: Registry::default(),
        };
        r.register(
            "state",
            "Own endpoint state (RFC 8156 5.5.17 code, 1 = STARTUP)",
            m.state.clone(),
        );
        r.register("partner_state", "Partner state code (0 = unknown)", m.partner_state.clone());
        r.register(
            "time_in_state_seconds",
            "Seconds in the current state",
            m.time_in_state.clone(),
        );
        r.register("comms_ok", "1 if communications with the partner are OK", m.comms_ok.clone());
        r.register(
            "pending_updates",
            "Bindings not yet acked by the partner",
            m.pending_updates.clone(),
        );
        r.register("unacked_bndupd", "BNDUPDs sent and not answered", m.unacked_updates.clone());
        r.register("skew_seconds", "Last measured clock skew to the partner", m.skew.clone());
        r.register("active_leases", "ACTIVE leases", m.active_leases.clone());
        r.register(
            "bulk_queue",
            "Bulk failover messages queued for the partner",
            m.bulk_queue.clone(),
        );
        r.register("partner_messages_in", "Failover messages received", m.partner_in.clone());
        r.register("partner_messages_out", "Failover messages sent", m.partner_out.clone());
        r.register(
            "client_requests",
            "DHCPv6 client requests handed to the core",
            m.client_in.clone(),
        );
        r.register("client_replies", "DHCPv6 replies sent", m.client_out.clone());
        r.register("client_silences", "Requests deliberately left unanswered", m.silences.clone());
        r.register("drops", "Packets, connections or outputs dropped", m.drops.clone());
        r.register("partner_connections", "Partner connections established", m.connections.clone());
        r.register("commit_latency_seconds", "Durable commit latency", m.commit_seconds.clone());
        r.register("commit_batch_writes", "Writes per durable commit", m.commit_batch.clone());
        Metrics { registry: r, ..m }
    }

    /// Counts a drop.
    pub fn drop_reason(&self, reason: &str) {
        self.drops.get_or_create(&label("reason", reason)).inc();
    }

    /// Counts a received failover message.
    pub fn partner_received(&self, kind: &str) {
        self.partner_in.get_or_create(&label("type", kind)).inc();
    }

    /// Counts a sent failover message.
    pub fn partner_sent(&self, kind: &str) {
        self.partner_out.get_or_create(&label("type", kind)).inc();
    }

    /// Counts a client request.
    pub fn client_request(&self, kind: &str) {
        self.client_in.get_or_create(&label("kind", kind)).inc();
    }

    /// Counts a client reply.
    pub fn client_reply(&self, kind: &str) {
        self.client_out.get_or_create(&label("kind", kind)).inc();
    }

    /// Counts a silence.
    pub fn silence(&self, reason: &str) {
        self.silences.get_or_create(&label("reason", reason)).inc();
    }

    /// The text exposition format.
    #[must_use]
    pub fn render(&self) -> String {
        let mut s = String::new();
        if encode(&mut s, &self.registry).is_err() {
            s.clear();
        }
        s
    }
}

/// Serves `GET /metrics` (any path, in fact) on a loopback address: one response per
/// connection, HTTP/1.0 style. Small on purpose: no keep-alive, no TLS, loopback only.
///
/// # Errors
/// The address cannot be bound.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                // Out of descriptors or similar: do not spin.
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let read =
                    tokio::time::timeout(std::time::Duration::from_secs(2), sock.read(&mut buf))
                        .await;
                if !matches!(read, Ok(Ok(n)) if n > 0) {
                    return;
                }
                let body = metrics.render();
                let head = format!(
                    "HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(body.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Ok(())
}

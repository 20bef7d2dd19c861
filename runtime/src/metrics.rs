//! Prometheus metrics (prometheus-client), served as text on a loopback `GET /metrics` (HTTP/1.1
//! by hyper) and through the `metrics` control command.
//!
//! Gauges for the endpoint (state, partner state, pending and unacked updates, skew) are
//! refreshed by the driver from [`failover_model::Endpoint::status_report`] after each step.

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::Arc;

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
    /// 1 while new leases are held back after a possible loss of stable storage.
    pub allocation_held: Gauge,
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
    /// Partner connections rejected (RFC 8156 §6.1), by reason (`time_skew`,
    /// `connect_refused`, `connectreply_refused`, `disconnect`).
    pub rejections: Family<Labels, Counter>,
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
            allocation_held: Gauge::default(),
            partner_in: Family::default(),
            partner_out: Family::default(),
            client_in: Family::default(),
            client_out: Family::default(),
            silences: Family::default(),
            drops: Family::default(),
            connections: Counter::default(),
            rejections: Family::default(),
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
            "allocation_held",
            "1 while no new lease is given after a possible loss of stable storage",
            m.allocation_held.clone(),
        );
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
        r.register(
            "connection_rejections",
            "Partner connections rejected (RFC 8156 6.1), by either side, by reason",
            m.rejections.clone(),
        );
        r.register("commit_latency_seconds", "Durable commit latency", m.commit_seconds.clone());
        r.register("commit_batch_writes", "Writes per durable commit", m.commit_batch.clone());
        Metrics { registry: r, ..m }
    }

    /// Counts a drop.
    pub fn drop_reason(&self, reason: &str) {
        self.drops.get_or_create(&label("reason", reason)).inc();
    }

    /// Counts a connection rejection.
    pub fn rejection(&self, reason: &str) {
        self.rejections.get_or_create(&label("reason", reason)).inc();
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

/// The content type of the Prometheus text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long a connection may take to send its request head.
const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Answers one request: the metrics for `GET`/`HEAD /metrics`, 404 for any other path, 405 for
/// any other method on `/metrics`.
fn respond(req: &Request<Incoming>, metrics: &Metrics) -> Response<Full<Bytes>> {
    let (status, body) = if req.uri().path() != "/metrics" {
        (StatusCode::NOT_FOUND, String::from("not found: try /metrics\n"))
    } else if req.method() == Method::GET || req.method() == Method::HEAD {
        (StatusCode::OK, metrics.render())
    } else {
        (StatusCode::METHOD_NOT_ALLOWED, String::from("only GET /metrics\n"))
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    let ct = if status == StatusCode::OK { CONTENT_TYPE } else { "text/plain; charset=utf-8" };
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    resp
}

/// Serves Prometheus `GET /metrics` over HTTP/1.1 (hyper) on `addr` (the configuration only
/// accepts loopback addresses); other paths get 404. Returns the bound address (useful with
/// port 0) once listening; connections are served by spawned tasks.
///
/// # Errors
/// The address cannot be bound.
pub async fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                // Out of descriptors or similar: do not spin.
                metrics.drop_reason("metrics_accept_error");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            };
            let metrics = metrics.clone();
            tokio::spawn(async move {
                let m = metrics.clone();
                let service = service_fn(move |req: Request<Incoming>| {
                    let resp = respond(&req, &m);
                    async move { Ok::<_, std::convert::Infallible>(resp) }
                });
                let conn = http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .serve_connection(TokioIo::new(sock), service);
                if let Err(e) = conn.await {
                    tracing::debug!("metrics connection: {e}");
                    metrics.drop_reason("metrics_http_error");
                }
            });
        }
    });
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// One raw HTTP/1.1 exchange over TCP (no HTTP client library: this checks the bytes).
    async fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        out
    }

    #[tokio::test]
    async fn get_metrics_over_tcp() {
        let m = Arc::new(Metrics::new());
        m.state.set(2);
        m.drop_reason("foreign_peer");
        let addr = serve("127.0.0.1:0".parse().expect("addr"), m).await.expect("bind");
        let r = tokio::time::timeout(std::time::Duration::from_secs(20), get(addr, "/metrics"))
            .await
            .expect("bounded");
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.to_ascii_lowercase().contains("content-type: text/plain; version=0.0.4"), "{r}");
        assert!(r.contains("\nfailoverd_state 2\n"), "{r}");
        assert!(r.contains("failoverd_drops_total{reason=\"foreign_peer\"} 1"), "{r}");
    }

    #[tokio::test]
    async fn other_paths_are_404() {
        let m = Arc::new(Metrics::new());
        let addr = serve("127.0.0.1:0".parse().expect("addr"), m).await.expect("bind");
        let r = tokio::time::timeout(std::time::Duration::from_secs(20), get(addr, "/"))
            .await
            .expect("bounded");
        assert!(r.starts_with("HTTP/1.1 404 Not Found\r\n"), "{r}");
        assert!(!r.contains("failoverd_state"), "{r}");
    }
}

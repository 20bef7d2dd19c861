//! `failoverd run`: wires the configuration, store, sockets, control and metrics to a driver.

use crate::clock::{Clock, SystemClock};
use crate::config::RuntimeConfig;
use crate::driver::{Driver, DriverMsg, DriverParts};
use crate::metrics::Metrics;
use crate::store::{Store, StoreIdentity};
use crate::trace::TraceWriter;
use failover_model::Role;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Capacity of the driver's channel; client requests beyond it are dropped and counted.
pub const DRIVER_QUEUE: usize = 4096;

/// Runs one endpoint until shutdown.
///
/// # Errors
/// The store cannot be opened (refused), a socket cannot be bound, or a commit failed.
pub async fn run(cfg: RuntimeConfig) -> anyhow::Result<()> {
    std::fs::create_dir_all(&cfg.data_dir)
        .map_err(|e| anyhow::anyhow!("data_dir {}: {e}", cfg.data_dir.display()))?;
    let identity = StoreIdentity::new(&cfg.model.relationship, cfg.model.role);
    let (store, image) = Store::open(&cfg.store_path(), &identity)?;
    let store = Arc::new(store);
    let trace = match &cfg.trace_file {
        Some(p) => Some(
            TraceWriter::create(p)
                .map_err(|e| anyhow::anyhow!("trace_file {}: {e}", p.display()))?,
        ),
        None => None,
    };
    let metrics = Arc::new(Metrics::new());
    if let Some(addr) = cfg.metrics_listen {
        let bound = crate::metrics::serve(addr, metrics.clone())
            .await
            .map_err(|e| anyhow::anyhow!("metrics.listen {addr}: {e}"))?;
        tracing::info!(addr = %bound, "metrics on http://{bound}/metrics");
    }
    let (tx, rx) = mpsc::channel(DRIVER_QUEUE);
    crate::dhcp::start(
        cfg.dhcp_port,
        &cfg.dhcp_listen,
        &cfg.interfaces,
        tx.clone(),
        metrics.clone(),
    )?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let tls = cfg.tls.context().cloned();
    if cfg.model.role == Role::Secondary {
        crate::partner::listen(
            cfg.failover_listen,
            cfg.partner.ip(),
            tls.clone(),
            tx.clone(),
            metrics.clone(),
        )
        .await
        .map_err(|e| anyhow::anyhow!("failover listen {}: {e}", cfg.failover_listen))?;
    }
    crate::control::serve(&cfg.control_socket, tx.clone())?;
    let stx = tx.clone();
    tokio::spawn(async move {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) =
            (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
        else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        let _ = stx.send(DriverMsg::Shutdown).await;
    });
    let driver = Driver::new(
        cfg.model.clone(),
        DriverParts { clock, store, image, metrics, trace, partner: cfg.partner, tls, tx },
    );
    let r = driver.run(rx).await;
    let _ = std::fs::remove_file(&cfg.control_socket);
    tracing::info!("stopped");
    r
}

//! Helpers shared by the runtime's process tests (`process.rs`, `import_kea.rs`): free
//! loopback ports, control calls with a time limit, and polling until a condition holds.

use serde_json::Value;
use std::net::UdpSocket;
use std::path::Path;
use std::time::{Duration, Instant};

/// A UDP port free on `[::1]` now.
pub fn free_udp() -> u16 {
    UdpSocket::bind("[::1]:0").and_then(|s| s.local_addr()).map(|a| a.port()).expect("udp port")
}

/// A TCP port free on `[::1]` now.
pub fn free_tcp() -> u16 {
    std::net::TcpListener::bind("[::1]:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("tcp port")
}

/// One control command on `socket`, answered within 3 s, or `None`.
pub fn ctl(socket: &Path, command: &str, args: Value) -> Option<Value> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
    rt.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(3),
            failover_runtime::control::call(socket, command, args),
        )
        .await
        .ok()?
        .ok()
    })
}

/// Polls `f` every 100 ms until it holds or `limit` has passed; its last answer.
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f()
}

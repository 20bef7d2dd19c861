//! Bounded waits and free loopback ports.

use std::time::{Duration, Instant};

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

/// Waits until `f` holds, polling every 200 ms; fails the test with `what` after `limit`.
///
/// # Panics
/// The condition did not hold within the limit.
pub fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + limit;
    loop {
        if f() {
            return;
        }
        assert!(Instant::now() < until, "timed out after {limit:?} waiting for: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A UDP port free on `[::1]` now.
///
/// # Errors
/// No socket can be bound on `[::1]`.
pub fn try_free_udp() -> std::io::Result<u16> {
    Ok(std::net::UdpSocket::bind("[::1]:0")?.local_addr()?.port())
}

/// A TCP port free on `[::1]` now.
///
/// # Errors
/// No socket can be bound on `[::1]`.
pub fn try_free_tcp() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("[::1]:0")?.local_addr()?.port())
}

/// A UDP port free on `[::1]` now.
///
/// # Panics
/// No socket can be bound on `[::1]`.
#[must_use]
pub fn free_udp() -> u16 {
    try_free_udp().expect("udp port")
}

/// A TCP port free on `[::1]` now.
///
/// # Panics
/// No socket can be bound on `[::1]`.
#[must_use]
pub fn free_tcp() -> u16 {
    try_free_tcp().expect("tcp port")
}

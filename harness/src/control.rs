//! The control socket, as a client: one JSON request `{"command", "arguments"}` written and
//! the write side shut down, one JSON answer read to the end (Kea's conventions:
//! `{"result", "text", "arguments"}`; `docs/operations.md`).

use serde_json::{json, Value};
use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// The limit of [`ctl`].
pub const CTL_LIMIT: Duration = Duration::from_secs(3);

/// One control command on `socket`, answered within `limit`, or `None` (no socket, no
/// complete answer in time, an answer that is not JSON).
#[must_use]
pub fn call(socket: &Path, command: &str, arguments: Value, limit: Duration) -> Option<Value> {
    let until = Instant::now() + limit;
    let left = || until.checked_duration_since(Instant::now()).filter(|d| !d.is_zero());
    let mut sock = UnixStream::connect(socket).ok()?;
    sock.set_write_timeout(Some(left()?)).ok()?;
    let req = json!({"command": command, "arguments": arguments});
    sock.write_all(&serde_json::to_vec(&req).ok()?).ok()?;
    sock.shutdown(Shutdown::Write).ok()?;
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        sock.set_read_timeout(Some(left()?)).ok()?;
        match sock.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(buf.get(..n)?),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    serde_json::from_slice(&out).ok()
}

/// One control command on `socket`, answered within 3 s ([`CTL_LIMIT`]), or `None`.
#[must_use]
pub fn ctl(socket: &Path, command: &str, arguments: Value) -> Option<Value> {
    call(socket, command, arguments, CTL_LIMIT)
}

/// The `status` answer's `arguments`, or `None`.
#[must_use]
pub fn status(socket: &Path) -> Option<Value> {
    ctl(socket, "status", json!({})).and_then(|v| v.get("arguments").cloned())
}

/// The own state's name (`NORMAL`, ...) from `status`, or "" if the socket does not answer.
#[must_use]
pub fn state(socket: &Path) -> String {
    status(socket)
        .and_then(|a| a.get("state-name").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default()
}

/// The Prometheus text of the `metrics` command, or "" if the socket does not answer.
#[must_use]
pub fn metrics(socket: &Path) -> String {
    ctl(socket, "metrics", json!({}))
        .and_then(|v| v["arguments"]["text"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// The request arrives whole (the client shuts its write side down) and the answer is read
    /// to the end; a server that never answers costs the limit, not more, and gives `None`.
    #[test]
    fn answers_are_read_and_silence_is_bounded() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ctl.sock");
        let listener = UnixListener::bind(&path).expect("bind");
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().expect("accept");
            let mut req = Vec::new();
            s.read_to_end(&mut req).expect("request");
            let req: Value = serde_json::from_slice(&req).expect("JSON request");
            s.write_all(json!({"result": 0, "arguments": req}).to_string().as_bytes())
                .expect("answer");
            drop(s);
            // The second connection: read the request, never answer, hold it open.
            let (mut s, _) = listener.accept().expect("accept");
            let mut req = Vec::new();
            s.read_to_end(&mut req).expect("request");
            std::thread::sleep(Duration::from_secs(3));
        });
        let v = call(&path, "status", json!({"x": 1}), Duration::from_secs(5)).expect("answer");
        assert_eq!(v["arguments"], json!({"command": "status", "arguments": {"x": 1}}));
        let began = Instant::now();
        assert_eq!(call(&path, "status", json!({}), Duration::from_millis(500)), None);
        let took = began.elapsed();
        assert!(took < Duration::from_secs(2), "a silent server held the call {took:?}");
        assert_eq!(ctl(&dir.path().join("absent.sock"), "status", json!({})), None);
        server.join().expect("server thread");
    }
}

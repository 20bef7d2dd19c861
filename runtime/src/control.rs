//! The JSON control interface, in ISC Kea's conventions, on a Unix socket.
//!
//! One request per connection: `{"command": "status", "arguments": {...}}`, answered with
//! `{"result": 0|1|2|3, "text": "...", "arguments": {...}}` (0 success, 1 error, 2 unsupported
//! command, 3 empty result), then the connection is closed.
//!
//! Commands: `list-commands`, `status`, `partner-down`, `shutdown`, `lease-get`
//! (`{"address": ..}`, `{"prefix": "p/len"}` or `{"duid": "00:01:.."}`), `reset-abandoned`
//! (`{"address": ..}` or `{"prefix": ..}`), `metrics`.
//!
//! The control interface only feeds operator commands to the core ([`Command`]) and reads its
//! status; it changes nothing itself.

use crate::driver::{ControlCall, Driver, DriverMsg};
use failover_model::{Binding, BindingStatus, Command, EndpointState, Resource};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};

/// Kea result codes.
pub mod result {
    /// Success.
    pub const SUCCESS: i64 = 0;
    /// Error.
    pub const ERROR: i64 = 1;
    /// Unsupported command.
    pub const UNSUPPORTED: i64 = 2;
    /// Empty result.
    pub const EMPTY: i64 = 3;
}

/// Every command.
pub const COMMANDS: &[&str] = &[
    "list-commands",
    "status",
    "partner-down",
    "shutdown",
    "lease-get",
    "reset-abandoned",
    "metrics",
];

fn answer(result: i64, text: impl Into<String>, arguments: Value) -> Value {
    let mut v = json!({"result": result, "text": text.into()});
    if !arguments.is_null() {
        v["arguments"] = arguments;
    }
    v
}

fn resource_arg(args: &Value) -> Result<Option<Resource>, String> {
    if let Some(a) = args.get("address") {
        let s = a.as_str().ok_or("address: must be a string")?;
        let ip = s.parse().map_err(|_| format!("address: {s:?} is not an IPv6 address"))?;
        return Ok(Some(Resource::Address(ip)));
    }
    if let Some(p) = args.get("prefix") {
        let s = p.as_str().ok_or("prefix: must be a string")?;
        let (a, l) = s.split_once('/').ok_or(format!("prefix: {s:?} is not addr/len"))?;
        let ip = a.parse().map_err(|_| format!("prefix: {a:?} is not an IPv6 address"))?;
        let len: u8 =
            l.parse().ok().filter(|l| *l <= 128).ok_or(format!("prefix: bad length {l:?}"))?;
        return Ok(Some(Resource::Prefix(ip, len)));
    }
    Ok(None)
}

fn lease_json(b: &Binding) -> Value {
    let mut v = serde_json::to_value(b).unwrap_or(Value::Null);
    v["resource-text"] = json!(b.resource.to_string());
    v["status-name"] = json!(b.status.name());
    if let Some(c) = &b.client {
        v["duid-text"] = json!(c.duid.to_string());
    }
    v
}

/// Runs one command against the driver (called on the driver's task).
pub fn execute(d: &mut Driver, command: &str, args: &Value) -> Value {
    match command {
        "list-commands" => {
            answer(result::SUCCESS, format!("{} commands", COMMANDS.len()), json!(COMMANDS))
        }
        "status" => {
            let now = d.now();
            let r = d.endpoint().status_report(now);
            let mut a = serde_json::to_value(&r).unwrap_or(Value::Null);
            a["state-name"] = json!(r.state.name());
            a["partner-state-name"] = json!(r.partner_state.map(|s| s.name()));
            a["time-in-state"] = json!(now.since(r.state_since));
            a["relationship"] = json!(d.endpoint().config().relationship);
            a["now"] = json!(now);
            let (partner, connected, tls) = d.link();
            a["partner-address"] = json!(partner.to_string());
            a["transport-connected"] = json!(connected);
            a["tls"] = json!(tls);
            answer(result::SUCCESS, format!("{} ({:?})", r.state.name(), r.role), a)
        }
        "partner-down" => {
            let before = d.endpoint().state();
            let refused = d.command(Command::PartnerDown).err();
            let s = d.endpoint().state();
            if s == EndpointState::PartnerDown {
                answer(
                    result::SUCCESS,
                    format!("{} -> PARTNER-DOWN", before.name()),
                    json!({"state": s.name()}),
                )
            } else {
                // The core decides; report that it did not move (e.g. RECOVER has no
                // operator transition to PARTNER-DOWN, RFC 8156 §8.5).
                let why = refused.map_or_else(String::new, |r| format!(": {r}"));
                answer(
                    result::ERROR,
                    format!("the core did not go to PARTNER-DOWN from {}{why}", s.name()),
                    json!({"state": s.name()}),
                )
            }
        }
        "shutdown" => {
            d.begin_shutdown();
            answer(result::SUCCESS, "shutting down", Value::Null)
        }
        "reset-abandoned" => match resource_arg(args) {
            Ok(Some(r)) => {
                let status = |d: &Driver| d.endpoint().binding(&r).map(|b| b.status);
                let before = status(d);
                let refused = d.command(Command::ResetAbandoned(r));
                let after = status(d);
                let args = json!({"resource": r.to_string(), "status": after.map(|s| s.name())});
                match refused {
                    // The core's verdict: nothing changed, and why. A resource of our pools
                    // with no record is "nothing found" (3); anything else an error (1).
                    Err(reason) => {
                        let none = d.endpoint().serves(&r) && after.is_none();
                        answer(if none { result::EMPTY } else { result::ERROR }, reason, args)
                    }
                    Ok(()) if before == Some(BindingStatus::Abandoned) && after != before => {
                        let to = after.map_or("?", |s| s.name());
                        answer(result::SUCCESS, format!("{r}: ABANDONED -> {to}"), args)
                    }
                    Ok(()) => answer(result::ERROR, format!("the core did not change {r}"), args),
                }
            }
            Ok(None) => answer(result::ERROR, "give \"address\" or \"prefix\"", Value::Null),
            Err(e) => answer(result::ERROR, e, Value::Null),
        },
        "lease-get" => {
            let leases: Vec<Value> = match resource_arg(args) {
                Err(e) => return answer(result::ERROR, e, Value::Null),
                Ok(Some(r)) => d.endpoint().binding(&r).map(lease_json).into_iter().collect(),
                Ok(None) => match args.get("duid").and_then(Value::as_str) {
                    Some(s) => match crate::config::parse_duid("duid", s) {
                        Ok(duid) => {
                            d.endpoint().leases_of(&duid).into_iter().map(lease_json).collect()
                        }
                        Err(e) => return answer(result::ERROR, e.to_string(), Value::Null),
                    },
                    None => {
                        return answer(
                            result::ERROR,
                            "give \"address\", \"prefix\" or \"duid\"",
                            Value::Null,
                        )
                    }
                },
            };
            if leases.is_empty() {
                answer(result::EMPTY, "no lease found", json!({"leases": []}))
            } else {
                answer(
                    result::SUCCESS,
                    format!("{} lease(s) found", leases.len()),
                    json!({"leases": leases}),
                )
            }
        }
        "metrics" => {
            answer(result::SUCCESS, "prometheus text format", json!({"text": d.metrics().render()}))
        }
        other => {
            answer(result::UNSUPPORTED, format!("'{other}' command not supported"), Value::Null)
        }
    }
}

/// Serves the control socket; each request goes to the driver.
///
/// # Errors
/// The socket cannot be bound (a stale socket file is replaced; anything else is an error).
pub fn serve(path: &Path, tx: mpsc::Sender<DriverMsg>) -> anyhow::Result<()> {
    if let Ok(m) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if m.file_type().is_socket() {
            std::fs::remove_file(path)?;
        } else {
            anyhow::bail!("control_socket {}: exists and is not a socket", path.display());
        }
    }
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(dir)?;
        }
    }
    let listener = UnixListener::bind(path)
        .map_err(|e| anyhow::anyhow!("control_socket {}: {e}", path.display()))?;
    // Only the owner may command the server (partner-down is dangerous in the wrong hands).
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| anyhow::anyhow!("control_socket {}: {e}", path.display()))?;
    }
    tokio::spawn(async move {
        loop {
            let Ok((sock, _)) = listener.accept().await else {
                // Out of descriptors or similar: do not spin.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let _ = tokio::time::timeout(Duration::from_secs(10), session(sock, tx)).await;
            });
        }
    });
    Ok(())
}

async fn session(mut sock: UnixStream, tx: mpsc::Sender<DriverMsg>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let request: Result<Value, String> = loop {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => break serde_json::from_slice(&buf).map_err(|e| e.to_string()),
            Ok(n) => {
                buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
                if buf.len() > 64 * 1024 {
                    break Err("request too large".into());
                }
                if let Ok(v) = serde_json::from_slice::<Value>(&buf) {
                    break Ok(v);
                }
            }
        }
    };
    let response = match request {
        Err(e) => answer(result::ERROR, format!("invalid request: {e}"), Value::Null),
        Ok(v) => match v.get("command").and_then(Value::as_str) {
            None => answer(result::ERROR, "missing \"command\"", Value::Null),
            Some(c) => {
                let (rtx, rrx) = oneshot::channel();
                let call = ControlCall {
                    command: c.to_owned(),
                    arguments: v.get("arguments").cloned().unwrap_or(json!({})),
                    reply: rtx,
                };
                if tx.send(DriverMsg::Control(call)).await.is_err() {
                    answer(result::ERROR, "server is stopping", Value::Null)
                } else {
                    rrx.await.unwrap_or_else(|_| {
                        answer(result::ERROR, "server is stopping", Value::Null)
                    })
                }
            }
        },
    };
    let mut out = serde_json::to_vec(&response).unwrap_or_default();
    out.push(b'\n');
    let _ = sock.write_all(&out).await;
    let _ = sock.shutdown().await;
}

/// Sends one command and returns the response (the `ctl` subcommand, tests, the demo).
///
/// # Errors
/// The socket cannot be reached or the answer is not JSON.
pub async fn call(path: &Path, command: &str, arguments: Value) -> anyhow::Result<Value> {
    let mut sock =
        UnixStream::connect(path).await.map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let req = json!({"command": command, "arguments": arguments});
    sock.write_all(&serde_json::to_vec(&req)?).await?;
    sock.shutdown().await?;
    let mut out = Vec::new();
    sock.read_to_end(&mut out).await?;
    Ok(serde_json::from_slice(&out)?)
}

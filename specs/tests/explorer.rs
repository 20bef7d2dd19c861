//! The Explorer answers HTTP on 127.0.0.1 with its page and its status.

use failover_specs::FailoverModel;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

fn get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[test]
fn explore_serves_the_explorer_on_loopback() {
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port());
    let port = port.expect("a free port");
    let model = FailoverModel::named("tiny").expect("tiny exists");
    std::thread::spawn(move || failover_specs::run::explore(model, &format!("127.0.0.1:{port}")));
    let deadline = Instant::now() + Duration::from_secs(30);
    let page = loop {
        if let Some(p) = get(port, "/") {
            break p;
        }
        assert!(Instant::now() < deadline, "the Explorer did not answer");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("<html") || page.contains("<!DOCTYPE"), "an HTML page");
    let status = get(port, "/.status").expect("status answers");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert!(status.contains("FailoverModel"), "the status names the model: {status}");
    assert!(status.contains("S1 no duplicate allocation"), "the status lists the properties");
    let states = get(port, "/.states").expect("states answer");
    assert!(states.contains("now = t1000"), "the initial state uses the compact Debug: {states}");
}

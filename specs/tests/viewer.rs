//! The trace viewer draws a known counterexample: configuration `a1` with assumption A1
//! switched off gives S1 (a duplicate allocation) in a few thousand states. The page is built
//! from the counterexample path and, where Debian's `chromium` is installed, opened in headless
//! Chromium: it must render without a script error and draw as many lanes and arrows as the
//! behaviour has, counted here from the path itself. A screenshot is kept in
//! `<target>/artifacts/trace-viewer.png` (CI keeps it as an artifact).

use failover_specs::config::{bounds, Assumptions};
use failover_specs::properties::name;
use failover_specs::run::{check, Search, Stop};
use failover_specs::viewer::{behaviour, path_from_explorer};
use failover_specs::{Action, FailoverModel, World};
use failover_viewer::{render_html, ArrowKind, Behaviour, MarkKind};
use stateright::Path;

#[path = "../../harness/src/privileged.rs"]
mod privileged;
use std::path::{Path as FsPath, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";

fn a1_counterexample() -> (FailoverModel, Path<World, Action>) {
    let mut a = Assumptions::default();
    a.switch_off("A1").expect("A1 is a switch");
    let model = FailoverModel::new("a1+A1-off", bounds("a1").expect("a1 exists"), a);
    let o = check(model.clone(), Search::Dfs, 2, Stop::AnyOf([name::S1].into_iter().collect()));
    let path = o.discoveries.get(name::S1).expect("A1 off in a1: S1 is found").clone();
    (model, path)
}

fn target_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is <target>/tmp.
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().map_or(tmp.clone(), FsPath::to_path_buf)
}

/// Runs chromium headless with `args` on `page`, killing it after 120 s; returns stdout.
fn chromium(args: &[&str], page: &FsPath) -> String {
    // One profile per run: the tests of this binary run chromium in parallel.
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, Ordering::Relaxed);
    let profile = std::env::temp_dir().join(format!("viewer-chromium-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&profile);
    std::fs::create_dir_all(&profile).expect("a profile directory");
    let mut cmd = Command::new(CHROMIUM);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(args)
    .arg(format!("file://{}", page.display()))
    .stdout(Stdio::piped())
    .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("chromium starts");
    let stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = std::fs::remove_dir_all(&profile);
    reader.join().expect("reader")
}

/// The attributes of `<div id="viewer-status" ...>` in a dumped DOM.
fn status_attrs(dom: &str) -> Vec<(String, String)> {
    let start = dom.find("<div id=\"viewer-status\"").expect("the status element is in the DOM");
    let tag = &dom[start..start + dom[start..].find('>').expect("tag end")];
    let mut out = Vec::new();
    let mut rest = tag;
    while let Some(eq) = rest.find("=\"") {
        let key = rest[..eq].rsplit(' ').next().unwrap_or("").to_string();
        let after = &rest[eq + 2..];
        let end = after.find('"').expect("closing quote");
        out.push((key, after[..end].to_string()));
        rest = &after[end + 1..];
    }
    out
}

fn attr<'a>(attrs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    attrs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// What the page must draw, counted from the path rather than from the behaviour's own lists.
fn check_against_path(path: &Path<World, Action>, b: &Behaviour) {
    let v = path.clone().into_vec();
    let clients = v[0].0.clients.len();
    assert_eq!(b.lanes.len(), clients + 2, "a lane per client and per server");
    assert_eq!(b.steps.len(), v.len(), "one step per state of the path");
    let actions = path.clone().into_actions();
    for (k, a) in actions.iter().enumerate() {
        let step = k + 1;
        let received: Vec<_> = b
            .arrows
            .iter()
            .filter(|x| {
                x.received == Some(step) && matches!(x.kind, ArrowKind::Partner | ArrowKind::Fin)
            })
            .collect();
        match a {
            // Every delivery is the end of exactly one arrow from the other server, sent earlier.
            Action::Deliver { to } => {
                assert_eq!(received.len(), 1, "step {step}: one arrow ends at a delivery");
                let to = failover_specs::viewer::server_lane(*to);
                assert_eq!(received[0].to, to);
                assert!(received[0].sent < step);
            }
            _ => assert!(received.is_empty(), "step {step}: no delivery, no arrow ends"),
        }
        // A client operation is at least one request from its lane.
        if let Action::Client { client, .. } = a {
            let lane = failover_specs::viewer::client_lane(*client);
            assert!(b
                .arrows
                .iter()
                .any(|x| x.sent == step && x.kind == ArrowKind::Request && x.from == lane));
        }
    }
    let deliveries = actions.iter().filter(|a| matches!(a, Action::Deliver { .. })).count();
    let partner = b.arrows.iter().filter(|x| matches!(x.kind, ArrowKind::Partner | ArrowKind::Fin));
    assert_eq!(
        partner.clone().filter(|x| x.received.is_some()).count(),
        deliveries,
        "a delivered arrow per Deliver action"
    );
    // Faults on the path are marks: this counterexample has one partition.
    let partitions = actions.iter().filter(|a| matches!(a, Action::Partition)).count();
    let marks = b.steps.iter().flat_map(|s| &s.marks);
    assert_eq!(marks.filter(|m| m.kind == MarkKind::Partition).count(), partitions);
    assert!(partitions >= 1, "a1's S1 counterexample has a partition");
    // The last step is the violation: two clients hold one prefix, and the page opens on it.
    assert_eq!(b.selected, b.steps.len() - 1);
    b.validate().expect("a consistent behaviour");
}

#[test]
fn the_a1_counterexample_renders_in_headless_chromium() {
    let (model, path) = a1_counterexample();
    let encoded = path.encode(&model);
    let b = behaviour(&model, "S1: counterexample, config a1+A1-off", &path, Some(&encoded));
    check_against_path(&path, &b);
    let html = render_html(&b).expect("renders");
    let dir = target_dir().join("trace-viewer");
    std::fs::create_dir_all(&dir).expect("output directory");
    let page = dir.join("a1-S1.html");
    std::fs::write(&page, &html).expect("page written");
    println!("page: {}", page.display());
    // No screenshot from an earlier run may stand in for this one.
    let shot = target_dir().join("artifacts").join("trace-viewer.png");
    let _ = std::fs::remove_file(&shot);

    if !privileged::can_run(
        "viewer::the_a1_counterexample_renders_in_headless_chromium",
        false,
        &["chromium"],
        &[],
    ) {
        return;
    }
    let dom = chromium(&["--dump-dom"], &page);
    let attrs = status_attrs(&dom);
    assert_eq!(attr(&attrs, "data-error"), None, "script error: {attrs:?}");
    assert_eq!(attr(&attrs, "data-ok"), Some("1"), "the page did not finish rendering: {attrs:?}");
    let lanes = b.lanes.len().to_string();
    let arrows = b.arrows.len().to_string();
    let steps = b.steps.len().to_string();
    let faults = b.fault_count().to_string();
    assert_eq!(attr(&attrs, "data-lanes"), Some(lanes.as_str()));
    assert_eq!(attr(&attrs, "data-arrows"), Some(arrows.as_str()));
    assert_eq!(attr(&attrs, "data-steps"), Some(steps.as_str()));
    assert_eq!(attr(&attrs, "data-faults"), Some(faults.as_str()));
    // Counted in the DOM as well, not only as the script reports it.
    assert_eq!(dom.matches("<g class=\"arrow arrow-").count(), b.arrows.len());
    assert_eq!(dom.matches("class=\"lane\"").count(), b.lanes.len());
    // The details pane shows both servers' bindings at the selected (last) step.
    assert!(dom.contains("P (primary): "), "the primary's bindings are shown");
    assert!(dom.contains("S (secondary): "), "the secondary's bindings are shown");
    assert!(dom.contains("2001:db8:100:100::/56"), "the duplicated prefix is in a table");

    std::fs::create_dir_all(shot.parent().expect("parent")).expect("artifacts directory");
    chromium(&[&format!("--screenshot={}", shot.display()), "--window-size=1400,2000"], &page);
    let png = std::fs::read(&shot).expect("a screenshot was written");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG");
    let width = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
    assert_eq!(width, 1400, "the screenshot has the window's width");
    println!("screenshot: {}", shot.display());
}

/// The harness notices a page whose script fails: the same page with its data cut short
/// reports `data-ok="0"` and the error.
#[test]
fn a_broken_page_reports_its_script_error() {
    let (model, path) = a1_counterexample();
    let b = behaviour(&model, "broken", &path, None);
    let html = render_html(&b).expect("renders");
    let start = html.find("type=\"application/json\">").expect("data") + 24;
    let broken = format!("{}{{\"lanes\": [{}", &html[..start], &html[start + 40..]);
    let dir = target_dir().join("trace-viewer");
    std::fs::create_dir_all(&dir).expect("output directory");
    let page = dir.join("broken.html");
    std::fs::write(&page, broken).expect("page written");
    if !privileged::can_run(
        "viewer::a_broken_page_reports_its_script_error",
        false,
        &["chromium"],
        &[],
    ) {
        return;
    }
    let attrs = status_attrs(&chromium(&["--dump-dom"], &page));
    assert_eq!(attr(&attrs, "data-ok"), Some("0"), "{attrs:?}");
    assert!(attr(&attrs, "data-error").is_some_and(|e| e.contains("JSON")), "{attrs:?}");
}

/// `failover-check view` reads an Explorer path back into the same path.
#[test]
fn explorer_paths_round_trip() {
    let (model, path) = a1_counterexample();
    let encoded = path.encode(&model);
    let back = path_from_explorer(&model, &format!("http://127.0.0.1:3000/#/steps/{encoded}"))
        .expect("the path decodes");
    assert_eq!(back.clone().into_actions(), path.clone().into_actions());
    assert!(path_from_explorer(&model, "#/steps/0/999").is_err());
    assert!(path_from_explorer(&model, "#/steps/x").is_err());
}

//! Whether a test that needs root or a system package can run here, and what it says when it
//! cannot: `failover_harness::privileged`, used by `failover-tests` and the runtime's own tests
//! (`pktinfo.rs`, `process.rs`). `specs/tests/viewer.rs` includes this file with `#[path]`
//! (the specs crate does not depend on the harness), so it uses `std` only.
//!
//! | who | everything present | root or a package missing |
//! |---|---|---|
//! | `CI` set (not `false`/`0`) | runs | **fails**: CI never skips |
//! | root | runs | **fails**, naming `tests/ci-setup.sh` (the README's `./test.sh` runs it first) |
//! | an ordinary user | runs (only tests that need no root) | prints `SKIPPED <test>: ...; run: sudo ./test.sh` and returns without asserting |
//!
//! The `SKIPPED` line is written to the process's stderr directly (not through `eprintln!`,
//! which the test harness captures), so it shows in the output of a passing test; `./test.sh`
//! collects these lines into its summary.

use std::io::Write;
use std::path::Path;

/// The one command that runs every suite: the README's test command as root (it installs the
/// packages of `tests/ci-setup.sh` first).
const RUN_ALL: &str = "sudo ./test.sh";

fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

fn installed(tool: &str) -> bool {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"].iter().any(|d| Path::new(d).join(tool).exists())
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// `true` if the test `name` can run: root when `root` is set, every program of `tools`
/// installed (looked up in /usr/sbin, /usr/bin, /sbin, /bin) and every file of `files` present.
/// `false` (after printing the `SKIPPED` line) only for an ordinary user outside CI.
///
/// # Panics
/// Something is missing and the test runs in CI (`CI` set) or as root: there a skip would hide
/// a suite that must run.
#[must_use]
pub fn can_run(name: &str, root: bool, tools: &[&str], files: &[&str]) -> bool {
    let uid = effective_uid();
    let mut missing: Vec<String> = Vec::new();
    if root && uid != Some(0) {
        missing.push("root".to_owned());
    }
    missing.extend(tools.iter().filter(|t| !installed(t)).map(|t| format!("`{t}`")));
    missing.extend(files.iter().filter(|f| !Path::new(f).exists()).map(|f| f.to_string()));
    if missing.is_empty() {
        return true;
    }
    let missing = missing.join(", ");
    assert!(
        !in_ci(),
        "{name}: CI runs every suite, but this one lacks {missing}: run `sh tests/ci-setup.sh` \
         as root before the tests (.ci/run and ./test.sh do)"
    );
    assert!(
        uid != Some(0),
        "{name}: {missing} missing: install the test packages with `sh tests/ci-setup.sh` \
         (or run the README's test command, `./test.sh`, which does it as root)"
    );
    let need = if root {
        "needs root and the packages of tests/ci-setup.sh"
    } else {
        "needs the packages of tests/ci-setup.sh"
    };
    let line = format!("SKIPPED {name}: {need} (missing: {missing}); run: {RUN_ALL}\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
    false
}

//! Child processes: spawned, killed and reaped by PID.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

/// A child process, killed (SIGKILL, by its PID) and reaped when dropped.
pub struct Proc {
    child: Option<Child>,
    /// What it is, for messages.
    pub name: String,
}

impl Proc {
    /// Spawns `cmd` with stdin from `/dev/null` (stdout and stderr as the caller set them).
    ///
    /// # Errors
    /// It cannot be started.
    pub fn spawn_command(name: &str, cmd: &mut Command) -> std::io::Result<Proc> {
        let child = cmd.stdin(Stdio::null()).spawn()?;
        Ok(Proc { child: Some(child), name: name.to_owned() })
    }

    /// Spawns `args` inside network namespace `ns` (`ip netns exec` execs the program, so the
    /// PID is the program's own), with stdout and stderr to `log`.
    ///
    /// # Panics
    /// The process cannot be started.
    #[must_use]
    pub fn spawn_in_ns(name: &str, ns: &str, args: &[&str], log: &Path) -> Proc {
        let out = std::fs::File::create(log).expect("log file");
        let err = out.try_clone().expect("log file");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns]).args(args).stdout(out).stderr(err);
        Proc::spawn_command(name, &mut cmd).unwrap_or_else(|e| panic!("cannot start {name}: {e}"))
    }

    /// The PID, while running.
    #[must_use]
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL (by PID) and reap.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM by PID, then waits (bounded) for the exit; SIGKILL if it does not come.
    ///
    /// # Panics
    /// The process did not exit within `limit` after SIGTERM.
    pub fn terminate(&mut self, limit: Duration) -> Option<ExitStatus> {
        let mut c = self.child.take()?;
        let pid = c.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let until = Instant::now() + limit;
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            if Instant::now() >= until {
                let _ = c.kill();
                let _ = c.wait();
                panic!("{} (pid {pid}) did not exit within {limit:?} of SIGTERM", self.name);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits (bounded) for the process to exit by itself.
    ///
    /// # Panics
    /// It is still running after `limit`, or it was already reaped.
    pub fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let c = self.child.as_mut().expect("process already reaped");
        let until = Instant::now() + limit;
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                self.child = None;
                return st;
            }
            assert!(Instant::now() < until, "{} did not finish within {limit:?}", self.name);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `exe` (a `failoverd`) with `args` to completion: its output.
///
/// # Panics
/// It cannot be run.
#[must_use]
pub fn failoverd<S: AsRef<OsStr>>(exe: &Path, args: &[S]) -> Output {
    Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()))
}

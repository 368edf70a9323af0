//! A running `compozy serve`, for the tests of `serve`, its promises and hand-written
//! entrypoints.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{Fixture, runtime_bin};

/// A running `compozy serve` (or `watch --serve`): requests in, answer lines out.
pub struct Serve {
    pub child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Serve {
    /// `compozy serve --runtime RUNTIME --workers N` with both runtimes pinned; `env` added.
    pub fn start(p: &Fixture, runtime: &str, workers: usize, env: &[(&str, &str)]) -> Self {
        let mut cmd = p.compozy(&[
            "serve",
            "--runtime",
            runtime,
            "--workers",
            &workers.to_string(),
        ]);
        cmd.env("COMPOZY_BUN", runtime_bin("bun"))
            .env("COMPOZY_NODE", runtime_bin("node"))
            .envs(env.iter().copied());
        Self::spawn(cmd)
    }

    /// Starts `cmd` with stdin and stdout piped (stderr goes to the test's).
    pub fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start compozy");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stdin = child.stdin.take();
        Self {
            child,
            stdin,
            lines,
        }
    }

    /// Writes `line` as it is (for lines that are not valid requests).
    pub fn send_raw(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write a line");
        stdin.flush().expect("flush a line");
    }

    pub fn send(&mut self, request: &Value) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{request}").expect("write a request");
        stdin.flush().expect("flush a request");
    }

    /// The next answer, within 20 s.
    #[track_caller]
    pub fn recv(&self) -> Value {
        let line = self
            .lines
            .recv_timeout(Duration::from_secs(20))
            .expect("an answer within 20 s");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// Sends `request` and returns the next answer.
    #[track_caller]
    pub fn call(&mut self, request: &Value) -> Value {
        self.send(request);
        self.recv()
    }

    pub fn close_stdin(&mut self) {
        self.stdin.take();
    }

    /// Waits up to `within` for compozy to exit; returns its exit code.
    #[track_caller]
    pub fn wait(&mut self, within: Duration) -> i32 {
        let until = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for compozy") {
                return status.code().unwrap_or(-1);
            }
            if Instant::now() > until {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("compozy did not exit within {within:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Serve {
    /// A failing test leaves nothing behind: SIGTERM first, which stops the workers' groups.
    fn drop(&mut self) {
        crate::processes::stop(&mut self.child);
    }
}

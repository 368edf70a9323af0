//! A running `compozy watch`, for the tests of `watch` and `watch --serve`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{Fixture, runtime_bin};

/// A running `compozy watch -v ARGS`.
pub struct Watch {
    pub child: Child,
    stdin: Option<ChildStdin>,
    stderr: Arc<Mutex<String>>,
    stdout: mpsc::Receiver<String>,
}

impl Watch {
    pub fn start(p: &Fixture, args: &[&str]) -> Self {
        let mut all = vec!["watch", "-v"];
        all.extend_from_slice(args);
        let mut child = p
            .compozy(&all)
            .env("COMPOZY_BUN", runtime_bin("bun"))
            .env("COMPOZY_NODE", runtime_bin("node"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start compozy watch");
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let pipe = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut s = sink.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let (tx, stdout) = mpsc::channel();
        let pipe = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stdin = child.stdin.take();
        let watch = Self {
            child,
            stdin,
            stderr,
            stdout,
        };
        watch.wait_until("the watch to start", |s| s.contains("compozy: watching"));
        watch
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits up to 20 s for `done(stderr)`.
    #[track_caller]
    pub fn wait_until(&self, what: &str, mut done: impl FnMut(&str) -> bool) {
        let until = Instant::now() + Duration::from_secs(20);
        while !done(&self.stderr()) {
            assert!(
                Instant::now() < until,
                "timed out waiting for {what}\n--- stderr\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for stderr to contain `text`.
    #[track_caller]
    pub fn wait_for_stderr(&self, text: &str) {
        self.wait_until(&format!("stderr to contain {text:?}"), |s| s.contains(text));
    }

    /// Waits for the `n`th "workers reloaded".
    #[track_caller]
    pub fn wait_for_reload(&self, n: usize) {
        self.wait_until(&format!("reload number {n}"), |s| {
            s.matches("compozy: workers reloaded").count() >= n
        });
    }

    /// Sends `request` without waiting for its answer.
    pub fn send(&mut self, request: &Value) {
        let stdin = self.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{request}").expect("write a request");
        stdin.flush().expect("flush a request");
    }

    #[track_caller]
    pub fn call(&mut self, request: &Value) -> Value {
        self.send(request);
        let line = self
            .stdout
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("no answer within 20 s\n--- stderr\n{}", self.stderr()));
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// Waits up to 10 s for compozy to exit; returns its exit code.
    #[track_caller]
    pub fn wait(&mut self) -> i32 {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for compozy") {
                return status.code().unwrap_or(-1);
            }
            assert!(
                Instant::now() < until,
                "compozy watch did not exit\n--- stderr\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Watch {
    /// A failing test leaves nothing behind: SIGTERM first, which stops the workers' groups.
    fn drop(&mut self) {
        crate::processes::stop(&mut self.child);
    }
}

//! A worker process: spawned in its own process group, requests in on stdin, answers out on fd 3,
//! the tool's stdout and stderr forwarded to compozy's stderr (counted against a cap).

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use command_fds::{CommandFdExt, FdMapping};
use process_wrap::std::{ChildWrapper, CommandWrap, ProcessGroup};

use super::error::RuntimeError;

/// The protocol channel's fd in the worker.
const PROTOCOL_FD: i32 = 3;
/// How long a worker gets between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_millis(500);

/// What the reader threads report.
pub enum Event {
    /// One answer line (without its newline); empty when the worker closed fd 3 (exited).
    Answer(std::io::Result<Vec<u8>>),
    /// An answer grew past the result cap.
    ResultTooLarge,
    /// The tool's output grew past the log cap.
    LogTooLarge,
}

/// A running worker.
pub struct WorkerProcess {
    child: Box<dyn ChildWrapper>,
    /// Requests go here (taken by one-shot callers that close it after one request).
    pub stdin: Option<ChildStdin>,
    /// Answers and cap violations, in order.
    pub events: mpsc::Receiver<Event>,
    /// Bytes of tool output since the last [`WorkerProcess::reset_log_count`].
    logged: Arc<AtomicUsize>,
    forwarders_done: mpsc::Receiver<()>,
    forwarders: usize,
}

impl WorkerProcess {
    /// Starts `cmd` with exactly `env`; `max_result` and `max_log` are the caps in bytes.
    pub fn spawn(
        mut cmd: Command,
        env: &[(String, String)],
        max_result: usize,
        max_log: usize,
    ) -> Result<Self, RuntimeError> {
        let program = cmd.get_program().to_string_lossy().into_owned();
        let (protocol_rx, protocol_tx) = std::io::pipe()?;
        cmd.env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd.fd_mappings(vec![FdMapping {
            parent_fd: protocol_tx.into(),
            child_fd: PROTOCOL_FD,
        }])
        .map_err(|e| RuntimeError::Io(std::io::Error::other(e)))?;
        let mut wrapped = CommandWrap::from(cmd);
        wrapped.wrap(ProcessGroup::leader());
        let mut child = wrapped.spawn().map_err(|source| RuntimeError::Spawn {
            path: program,
            source,
        })?;
        // The parent's copy of the write end lives in the command: drop it so that the read end
        // sees EOF when the worker exits.
        drop(wrapped);
        tracing::debug!(pid = child.id(), "worker started");

        let (tx, events) = mpsc::channel();
        let logged = Arc::new(AtomicUsize::new(0));
        let (done_tx, forwarders_done) = mpsc::channel::<()>();
        let mut forwarders = 0;
        let pipes = [
            child
                .stdout()
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            child
                .stderr()
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ];
        for pipe in pipes.into_iter().flatten() {
            forwarders += 1;
            forward_logs(
                pipe,
                Arc::clone(&logged),
                max_log,
                tx.clone(),
                done_tx.clone(),
            );
        }
        std::thread::spawn(move || read_answers(protocol_rx, max_result, &tx));
        let stdin = child.stdin().take();
        Ok(Self {
            child,
            stdin,
            events,
            logged,
            forwarders_done,
            forwarders,
        })
    }

    /// The worker's pid (also its process group id).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends one request line.
    pub fn send(&mut self, line: &[u8]) -> std::io::Result<()> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::BrokenPipe))?;
        stdin.write_all(line)?;
        stdin.write_all(b"\n")?;
        stdin.flush()
    }

    /// Starts counting tool output from zero (the cap is per request).
    pub fn reset_log_count(&self) {
        self.logged.store(0, Ordering::Relaxed);
    }

    /// How the worker ended, waiting up to `grace` for it.
    pub fn exit_status(&mut self, grace: Duration) -> String {
        let until = Instant::now() + grace;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return describe(status),
                Ok(None) if Instant::now() < until => {
                    std::thread::sleep(Duration::from_micros(200));
                }
                _ => return "still running".into(),
            }
        }
    }

    /// Ends the worker and everything it started, including a child the tool left running.
    /// `gracefully`: SIGTERM and a grace period first (after a timeout, an interrupt, a reload);
    /// otherwise (after a complete answer, with nothing left to wait for) SIGKILL at once.
    pub fn stop(mut self, gracefully: bool) {
        drop(self.stdin.take());
        #[cfg(unix)]
        if gracefully {
            let _ = self.child.signal(signal_hook::consts::SIGTERM);
            let _ = self.exit_status(GRACE);
        }
        let _ = self.child.start_kill();
        let _ = self.child.wait();
        // The last log lines must reach stderr before compozy prints anything else; a process the
        // tool detached from the group could hold the pipes open, so do not wait on it for long.
        let done = Instant::now() + Duration::from_millis(200);
        for _ in 0..self.forwarders {
            let left = done.saturating_duration_since(Instant::now());
            if self.forwarders_done.recv_timeout(left).is_err() {
                break;
            }
        }
        tracing::debug!("worker stopped");
    }
}

fn describe(status: std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("killed by signal {signal}");
        }
    }
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => status.to_string(),
    }
}

/// Reads answers line by line. A line, not EOF, ends an answer: a process the tool started
/// inherits fd 3 and could keep it open long after the worker is gone.
fn read_answers(pipe: std::io::PipeReader, max: usize, tx: &mpsc::Sender<Event>) {
    let mut reader = BufReader::with_capacity(1 << 16, pipe);
    loop {
        let mut line = Vec::new();
        let event = loop {
            let buf = match reader.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => break Event::Answer(Err(e)),
            };
            if buf.is_empty() {
                // EOF: the worker is gone (a partial line is not an answer).
                line.clear();
                break Event::Answer(Ok(line));
            }
            let (take, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i, true),
                None => (buf.len(), false),
            };
            if line.len() + take > max {
                break Event::ResultTooLarge;
            }
            line.extend_from_slice(&buf[..take]);
            reader.consume(take + usize::from(done));
            if done {
                break Event::Answer(Ok(line));
            }
        };
        let last = matches!(&event, Event::Answer(Ok(l)) if l.is_empty())
            || matches!(event, Event::Answer(Err(_)) | Event::ResultTooLarge);
        if tx.send(event).is_err() || last {
            return;
        }
    }
}

fn forward_logs(
    from: Box<dyn Read + Send>,
    total: Arc<AtomicUsize>,
    max: usize,
    tx: mpsc::Sender<Event>,
    done: mpsc::Sender<()>,
) {
    std::thread::spawn(move || {
        let _done = DropSignal(done);
        // Whole lines, so that the output of several workers does not interleave mid-line.
        let mut reader = BufReader::with_capacity(1 << 14, from);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) => return,
                Ok(n) => {
                    if total.fetch_add(n, Ordering::Relaxed) + n > max {
                        let _ = tx.send(Event::LogTooLarge);
                        return;
                    }
                    let _ = std::io::stderr().lock().write_all(&line);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    });
}

/// Signals "finished" when dropped, whichever way the thread ends.
struct DropSignal(mpsc::Sender<()>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

//! One request, one worker process: spawn in its own process group, send the request, read the
//! answer from fd 3, forward the tool's output to stderr, and own the deadline.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use command_fds::{CommandFdExt, FdMapping};
use process_wrap::std::{ChildWrapper, CommandWrap, ProcessGroup};

use super::Limits;
use super::error::RuntimeError;
use super::protocol::{Request, Response};

/// The protocol channel's fd in the worker.
const PROTOCOL_FD: i32 = 3;
/// How long a worker gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_millis(500);
/// How often an interrupt (Ctrl-C) is checked for while waiting.
const POLL: Duration = Duration::from_millis(25);

enum Event {
    /// Everything the worker wrote on fd 3 (empty when it exited without answering).
    Answer(std::io::Result<Vec<u8>>),
    ResultTooLarge,
    LogTooLarge,
}

/// SIGINT/SIGTERM received by compozy; registered once per process.
pub fn interrupted() -> &'static Arc<AtomicBool> {
    static FLAG: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        #[cfg(unix)]
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            if let Err(e) = signal_hook::flag::register(signal, Arc::clone(&flag)) {
                tracing::warn!("cannot handle signal {signal}: {e}");
            }
        }
        flag
    })
}

/// Runs `request` in a fresh worker started by `cmd`.
pub fn run(
    mut cmd: Command,
    request: &Request,
    env: &[(String, String)],
    limits: &Limits,
    timeout: Duration,
) -> Result<Response, RuntimeError> {
    let interrupt = interrupted();
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
    let started = Instant::now();
    let mut child = wrapped.spawn().map_err(|source| RuntimeError::Spawn {
        path: program.clone(),
        source,
    })?;
    // The parent's copy of the write end lives in the command: drop it so that the read end sees
    // EOF when the worker exits.
    drop(wrapped);
    tracing::debug!(pid = child.id(), "worker started");

    let (tx, rx) = mpsc::channel();
    let logged = Arc::new(AtomicUsize::new(0));
    let (done_tx, done_rx) = mpsc::channel::<()>();
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
            limits.max_log_bytes,
            tx.clone(),
            done_tx.clone(),
        );
    }
    drop(done_tx);
    {
        let tx = tx.clone();
        let max = limits.max_result_bytes;
        std::thread::spawn(move || {
            let mut reader = protocol_rx;
            let _ = tx.send(read_capped(&mut reader, max));
        });
    }
    if let Some(mut stdin) = child.stdin().take() {
        let line = serde_json::to_vec(request).map_err(|e| RuntimeError::Io(e.into()))?;
        // The worker reads all of stdin before anything else; a worker that died early makes
        // this fail with EPIPE, and its exit status tells the story instead.
        std::thread::spawn(move || {
            let _ = stdin.write_all(&line);
        });
    }

    let deadline = started + timeout;
    let outcome = loop {
        if interrupt.load(Ordering::Relaxed) {
            break Err(RuntimeError::Interrupted);
        }
        let now = Instant::now();
        if now >= deadline {
            break Err(RuntimeError::Timeout {
                tool: request.tool_id.clone(),
                timeout,
            });
        }
        match rx.recv_timeout(POLL.min(deadline - now)) {
            Ok(Event::Answer(Ok(bytes))) if bytes.is_empty() => {
                // Let the worker finish dying to report how it ended.
                let status = wait_briefly(&mut child, GRACE);
                break Err(RuntimeError::WorkerExited { status });
            }
            Ok(Event::Answer(Ok(bytes))) => {
                break serde_json::from_slice::<Response>(&bytes).map_err(|e| {
                    RuntimeError::BadResponse {
                        reason: e.to_string(),
                    }
                });
            }
            Ok(Event::Answer(Err(e))) => break Err(RuntimeError::Io(e)),
            Ok(Event::ResultTooLarge) => {
                break Err(RuntimeError::ResultTooLarge {
                    limit: limits.max_result_bytes,
                });
            }
            Ok(Event::LogTooLarge) => {
                break Err(RuntimeError::LogTooLarge {
                    limit: limits.max_log_bytes,
                });
            }
            Err(mpsc::RecvTimeoutError::Timeout | mpsc::RecvTimeoutError::Disconnected) => {}
        }
    };

    stop(&mut child, outcome.is_ok());
    // The last log lines must reach stderr before compozy prints anything else; a process the
    // tool detached from the group could hold the pipes open, so do not wait on it for long.
    let done = Instant::now() + Duration::from_millis(200);
    for _ in 0..forwarders {
        let left = done.saturating_duration_since(Instant::now());
        if done_rx.recv_timeout(left).is_err() {
            break;
        }
    }
    tracing::debug!(elapsed = ?started.elapsed(), "worker finished");
    outcome
}

/// Ends the worker and everything it started, including a child the tool left running. After
/// a complete answer there is nothing left to wait for (logs are already in the pipes), so the
/// group is killed at once; otherwise it gets SIGTERM and a grace period before SIGKILL.
fn stop(child: &mut Box<dyn ChildWrapper>, answered: bool) {
    #[cfg(unix)]
    if !answered {
        let _ = child.signal(signal_hook::consts::SIGTERM);
        let _ = wait_briefly(child, GRACE);
    }
    let _ = child.start_kill();
    let _ = child.wait();
}

fn wait_briefly(child: &mut Box<dyn ChildWrapper>, grace: Duration) -> String {
    let until = Instant::now() + grace;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return describe(status),
            Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_micros(200)),
            _ => return "still running".into(),
        }
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

/// Reads one answer: everything up to the first newline. Not up to EOF: a process the tool
/// started inherits fd 3 and could keep it open long after the worker is gone.
fn read_capped(reader: &mut impl Read, max: usize) -> Event {
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        match reader.read(&mut chunk) {
            Ok(0) => return Event::Answer(Ok(bytes)),
            Ok(n) => {
                let end = chunk[..n].iter().position(|&b| b == b'\n');
                let take = end.unwrap_or(n);
                if bytes.len() + take > max {
                    return Event::ResultTooLarge;
                }
                bytes.extend_from_slice(&chunk[..take]);
                if end.is_some() {
                    return Event::Answer(Ok(bytes));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Event::Answer(Err(e)),
        }
    }
}

fn forward_logs(
    mut from: Box<dyn Read + Send>,
    total: Arc<AtomicUsize>,
    max: usize,
    tx: mpsc::Sender<Event>,
    done: mpsc::Sender<()>,
) {
    std::thread::spawn(move || {
        let _done = DropSignal(done);
        let mut chunk = vec![0u8; 1 << 14];
        loop {
            match from.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => {
                    if total.fetch_add(n, Ordering::Relaxed) + n > max {
                        let _ = tx.send(Event::LogTooLarge);
                        return;
                    }
                    let _ = std::io::stderr().lock().write_all(&chunk[..n]);
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

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
    let mut forwarders = Vec::new();
    if let Some(out) = child.stdout().take() {
        forwarders.push(forward_logs(
            out,
            Arc::clone(&logged),
            limits.max_log_bytes,
            tx.clone(),
        ));
    }
    if let Some(err) = child.stderr().take() {
        forwarders.push(forward_logs(
            err,
            Arc::clone(&logged),
            limits.max_log_bytes,
            tx.clone(),
        ));
    }
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

    stop(&mut child, outcome.is_err());
    // A process the tool detached could hold the log pipes open: do not wait on it for long.
    let done = Instant::now() + Duration::from_millis(200);
    for forwarder in forwarders {
        while !forwarder.is_finished() && Instant::now() < done {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    tracing::debug!(elapsed = ?started.elapsed(), "worker finished");
    outcome
}

/// Ends the worker and everything it started. After an answer the worker is exiting on its own;
/// otherwise it gets SIGTERM, then SIGKILL after a grace period. Leftover processes of the
/// group (a child the tool spawned and left running) are always killed.
fn stop(child: &mut Box<dyn ChildWrapper>, failed: bool) {
    #[cfg(unix)]
    if failed {
        let _ = child.signal(signal_hook::consts::SIGTERM);
    }
    let _ = wait_briefly(child, GRACE);
    let _ = child.start_kill();
    let _ = child.wait();
}

fn wait_briefly(child: &mut Box<dyn ChildWrapper>, grace: Duration) -> String {
    let until = Instant::now() + grace;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return describe(status),
            Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(2)),
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

fn read_capped(reader: &mut impl Read, max: usize) -> Event {
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        match reader.read(&mut chunk) {
            Ok(0) => return Event::Answer(Ok(bytes)),
            Ok(n) => {
                if bytes.len() + n > max + 1 {
                    // +1 for the newline that ends the answer.
                    return Event::ResultTooLarge;
                }
                bytes.extend_from_slice(&chunk[..n]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Event::Answer(Err(e)),
        }
    }
}

fn forward_logs(
    mut from: impl Read + Send + 'static,
    total: Arc<AtomicUsize>,
    max: usize,
    tx: mpsc::Sender<Event>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
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
    })
}

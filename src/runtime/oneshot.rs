//! One request, one worker process (`exec`): the executor owns the deadline.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use super::error::RuntimeError;
use super::protocol::{CHECK_PREFIX, Request, Response};
use super::worker::{Event, GRACE, WorkerProcess};
use super::{Limits, WorkerCommand};

/// How long an answer waits at most for the tool's earlier log lines to be passed on.
const LOG_SYNC: Duration = Duration::from_secs(1);

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

/// Turns the next event of a worker into the outcome of the request in flight.
pub fn answer(
    event: Event,
    worker: &mut WorkerProcess,
    limits: &Limits,
    request: &Request,
    timeout: Duration,
) -> Result<Response, RuntimeError> {
    let tool = request.tool_id.as_str();
    match event {
        Event::Answer(Ok(bytes)) if bytes.is_empty() => Err(RuntimeError::WorkerExited {
            status: worker.exit_status(GRACE),
        }),
        Event::Answer(Ok(bytes)) => super::protocol::parse_answer(&bytes, request)
            .map_err(|reason| RuntimeError::BadResponse { reason }),
        Event::Answer(Err(e)) => Err(RuntimeError::Io(e)),
        Event::Output(bytes) => super::carrier::stdio_answer(&bytes, worker, request),
        Event::ResultTooLarge => Err(RuntimeError::ResultTooLarge {
            limit: limits.max_result_bytes,
        }),
        Event::LogTooLarge => Err(RuntimeError::LogTooLarge {
            limit: limits.max_log_bytes,
        }),
        Event::TimedOut => Err(RuntimeError::Timeout {
            tool: tool.to_owned(),
            timeout,
        }),
        Event::Interrupted => Err(RuntimeError::Interrupted),
        Event::Cancelled => Err(RuntimeError::Cancelled),
    }
}

/// Runs `request` in a fresh worker started by `cmd`. With `checks` (the tool's project), the
/// worker's stdin stays open and its questions about an input its plugins changed are answered,
/// within the same deadline.
pub fn run(
    cmd: &WorkerCommand,
    request: &Request,
    env: &[(String, String)],
    limits: &Limits,
    timeout: Duration,
    checks: Option<&crate::config::Project>,
) -> Result<Response, RuntimeError> {
    let interrupt = interrupted();
    let started = Instant::now();
    let mut worker = WorkerProcess::spawn(cmd, env, limits.max_result_bytes, limits.max_log_bytes)?;
    let line = super::carrier::encode(cmd.protocol, request, cmd.holds_stdin)?;
    // A worker that died early makes the write fail; its exit status tells the story.
    let _ = worker.send(line, !cmd.holds_stdin);

    let event = loop {
        let event = worker.next_answer(started + timeout, Some(interrupt));
        match (&event, checks) {
            (Event::Answer(Ok(line)), Some(project)) if line.starts_with(CHECK_PREFIX) => {
                let answer = super::input::answer_check(project, &request.tool_id, line);
                let _ = worker.send(answer, false);
            }
            _ => break event,
        }
    };
    let outcome = answer(event, &mut worker, limits, request, timeout);
    if outcome.is_ok() && cmd.protocol == crate::config::Protocol::Compozy {
        // The answer is complete: the tool's earlier log lines go out, the whole group gets
        // SIGKILL, and the caller prints the result without waiting for the runtime's teardown
        // (about 2 ms for Bun); the exiting process's zombie is not worth reaping.
        worker.sync_logs(LOG_SYNC);
        worker.kill_now();
    } else {
        worker.stop(true);
    }
    tracing::debug!(elapsed = ?started.elapsed(), "worker finished");
    outcome
}

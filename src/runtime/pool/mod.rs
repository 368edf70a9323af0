//! A pool of warm, persistent workers (`serve`): one request in flight per worker, requests queue
//! when all are busy. Workers start on demand up to [`Size::max`] ([`Size::warm`] of them at once,
//! kept however idle), and one beyond those stops after [`Size::idle`] without a request. A
//! worker that crashes, times out or exceeds a cap is stopped (the warm ones are replaced), and a
//! reload stops idle workers at once and busy ones after their current request.
//!
//! `schedule.rs` decides what happens when (the loop), `slots.rs` does it to the worker
//! processes, `local.rs` runs the loop as a tokio task.
//!
//! One thread drives the whole pool: it polls every worker's answer channel, a wake-up socket
//! for the other threads, and (for `serve`) the request input, all at once. A request line read
//! there goes to its worker and its answer comes back without a hand-off between threads: on a
//! small machine each hand-off is a wake-up that costs more than the rest of a round trip.
//!
//! An async front end (`mcp`) drives the same loop as a task on its own runtime thread instead
//! ([`Pool::start_local`]): a request its handler submits goes to a worker, and the answer back
//! to the handler, without leaving that thread.

mod local;
mod schedule;
mod slots;

use std::collections::VecDeque;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, mpsc};
use std::thread::{JoinHandle, ThreadId};
use std::time::Duration;

pub use local::LocalDriver;
use schedule::Loop;

use super::Limits;
use super::carrier::Carriers;
use super::error::RuntimeError;
use super::protocol::{Notes, Request, Response};
use crate::config::Project;

/// Called with the answer of a request, on the pool's thread (or on a helper thread after a
/// worker failed).
pub type Reply = Box<dyn FnOnce(Response) + Send>;

/// Called on the pool's thread with each line of an input given to [`Pool::read_lines`].
pub type LineHandler = Box<dyn FnMut(&str) + Send>;

/// One queued request.
pub struct Job {
    /// The request, with the tool's whole environment in `env`.
    pub request: Request,
    /// The deadline.
    pub timeout: Duration,
    /// Where the answer goes.
    pub reply: Reply,
    /// Where the request's log lines and progress reports go before its answer (besides
    /// stderr); `None` for callers that only want the answer.
    pub notes: Option<Notes>,
    /// Whether the caller can set the deadline per request (serve's `timeout_ms`), which a
    /// timeout's answer then suggests besides the tool's `timeout:`.
    pub timeout_in_request: bool,
}

/// How long an answer waits at most for the log lines written before it to be passed on (a
/// forwarder that answers later leaves the lines on stderr only).
const LOG_SYNC: Duration = Duration::from_secs(1);

struct Input {
    file: std::fs::File,
    on_line: LineHandler,
    /// Bytes after the last complete line.
    pending: Vec<u8>,
    /// Told once every line has been handled.
    done: mpsc::Sender<()>,
}

struct State {
    queue: VecDeque<Job>,
    /// Bumped by [`Pool::reload`]; a worker of an older generation is replaced.
    generation: u64,
    project: Arc<Project>,
    closing: bool,
    /// An input handed over by [`Pool::read_lines`], until the loop takes it.
    input: Option<Input>,
    /// Pids (= process groups) of the running workers, and of those being stopped, for
    /// [`Pool::kill_all`].
    pids: Vec<u32>,
    /// Execution ids of requests in flight that [`Pool::cancel`] asked to stop.
    cancelled: Vec<String>,
    /// Requests running inside compozy (WebAssembly tools): execution id, and the flag that
    /// stops it.
    in_process: Vec<(String, Arc<AtomicBool>)>,
    /// Requests of such tools waiting for one of the `--workers` places (each running one takes
    /// a thread and its module's memory).
    in_process_queue: VecDeque<(Job, crate::runtime::WasmCarrier)>,
}

struct Shared {
    state: Mutex<State>,
    /// One byte here wakes the loop up (when it runs on a thread of its own).
    waker: UnixStream,
    /// Wakes the loop up when it runs as a task ([`Pool::start_local`]).
    notify: Option<Arc<tokio::sync::Notify>>,
    /// What starts each tool's workers.
    carriers: Carriers,
    limits: Limits,
    /// How many requests run inside compozy at once (`--workers`).
    in_process_max: usize,
    thread: OnceLock<ThreadId>,
}

impl Shared {
    fn new(
        project: Arc<Project>,
        carriers: Carriers,
        limits: Limits,
        size: Size,
        notify: Option<Arc<tokio::sync::Notify>>,
    ) -> Result<(Arc<Self>, UnixStream), RuntimeError> {
        let (waker, wakeups) = UnixStream::pair()?;
        waker.set_nonblocking(true)?;
        wakeups.set_nonblocking(true)?;
        let shared = Arc::new(Self {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                generation: 0,
                project,
                closing: false,
                input: None,
                pids: Vec::new(),
                cancelled: Vec::new(),
                in_process: Vec::new(),
                in_process_queue: VecDeque::new(),
            }),
            waker,
            notify,
            carriers,
            limits,
            in_process_max: size.clamped().max,
            thread: OnceLock::new(),
        });
        Ok((shared, wakeups))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A reply callback that panicked must not take the whole pool down with it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes the loop look at the state again (not needed from the loop itself).
    fn wake(&self) {
        if let Some(notify) = &self.notify {
            // A task of the same thread is told without a system call, another thread's wakes
            // the runtime.
            notify.notify_one();
        } else if self.thread.get() != Some(&std::thread::current().id()) {
            // A full socket already holds a wake-up: WouldBlock is fine.
            let _ = (&self.waker).write(&[1]);
        }
    }
}

/// How many workers a pool runs, and how long an idle one is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// The most workers at once (`--workers`); requests beyond them queue.
    pub max: usize,
    /// Workers started with the pool and kept however long they stay idle (at least 1, at most
    /// `max`); the others start when a request finds every running worker busy.
    pub warm: usize,
    /// How long a worker beyond the warm ones may stay idle before it is stopped.
    pub idle: Duration,
}

impl Size {
    /// How long an idle worker beyond the warm ones is kept by default.
    pub const IDLE: Duration = Duration::from_secs(60);

    /// Up to `max` workers, one of them warm, the others stopped after [`Size::IDLE`] idle.
    pub fn up_to(max: usize) -> Self {
        Self {
            max: max.max(1),
            warm: 1,
            idle: Self::IDLE,
        }
    }

    /// The same, with `warm` clamped to between 1 and `max`.
    fn clamped(self) -> Self {
        let max = self.max.max(1);
        Self {
            max,
            warm: self.warm.clamp(1, max),
            idle: self.idle,
        }
    }
}

/// A pool of persistent workers; clones are handles to the same pool.
#[derive(Clone)]
pub struct Pool {
    shared: Arc<Shared>,
    thread: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl Pool {
    /// Starts a pool of up to `size.max` workers for `project` (`size.warm` of them at once for
    /// its JavaScript tools, when it has any; the others, and a process tool's, when requests
    /// need them), driven by a thread of the pool's own.
    pub fn start(
        project: Arc<Project>,
        carriers: Carriers,
        size: Size,
        limits: Limits,
    ) -> Result<Self, RuntimeError> {
        let (shared, wakeups) = Shared::new(project, carriers, limits, size, None)?;
        let looped = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("pool".into())
            .spawn(move || {
                let _ = looped.thread.set(std::thread::current().id());
                Loop::new(looped, wakeups, size.clamped()).run();
            })?;
        Ok(Self {
            shared,
            thread: Arc::new(Mutex::new(Some(thread))),
        })
    }

    /// Starts a pool like [`Pool::start`] whose loop is the returned [`LocalDriver`], to be run as
    /// a task of a current-thread tokio runtime: the front end's requests and the workers' answers
    /// then meet on one thread. [`Pool::shutdown`] asks the driver to end; await it afterwards.
    pub fn start_local(
        project: Arc<Project>,
        carriers: Carriers,
        size: Size,
        limits: Limits,
    ) -> Result<(Self, LocalDriver), RuntimeError> {
        let notify = Arc::new(tokio::sync::Notify::new());
        let (shared, wakeups) =
            Shared::new(project, carriers, limits, size, Some(Arc::clone(&notify)))?;
        let driver = LocalDriver {
            looped: Loop::new(Arc::clone(&shared), wakeups, size.clamped()),
            notify,
        };
        let pool = Self {
            shared,
            thread: Arc::new(Mutex::new(None)),
        };
        Ok((pool, driver))
    }

    /// Whether [`Pool::shutdown`] was asked for: new requests are refused.
    pub fn is_closing(&self) -> bool {
        self.shared.lock().closing
    }

    /// Queues a request; `job.reply` is called exactly once.
    pub fn submit(&self, job: Job) {
        let mut state = self.shared.lock();
        if state.closing {
            drop(state);
            let request = &job.request;
            (job.reply)(Response::failure(
                request.id.clone(),
                Some(request.tool_id.clone()),
                Some(request.tool_exec_id.clone()),
                "ShuttingDownError",
                "the pool is shutting down".into(),
                Duration::ZERO,
            ));
            return;
        }
        let project = Arc::clone(&state.project);
        let carrier = self
            .shared
            .carriers
            .for_tool(&project, &job.request.tool_id)
            .ok();
        if let Some(wasm) = carrier.as_ref().and_then(|c| c.in_process()).cloned() {
            if state.in_process.len() >= self.shared.in_process_max {
                // Taken by the first running one to end (see `run_in_process`).
                state.in_process_queue.push_back((job, wasm));
                return;
            }
            let cancel = Arc::new(AtomicBool::new(false));
            let id = job.request.tool_exec_id.clone();
            state.in_process.push((id.clone(), Arc::clone(&cancel)));
            drop(state);
            self.run_in_process(wasm, job, id, cancel);
            return;
        }
        state.queue.push_back(job);
        drop(state);
        self.shared.wake();
    }

    /// Runs a job of a tool that needs no worker process on a thread of its own: the engine
    /// keeps the deadline and looks at `cancel`.
    fn run_in_process(
        &self,
        wasm: crate::runtime::WasmCarrier,
        job: Job,
        id: String,
        cancel: Arc<AtomicBool>,
    ) {
        let shared = Arc::clone(&self.shared);
        // The job stays reachable here, so that it is answered even if no thread starts.
        let slot = Arc::new(Mutex::new(Some(job)));
        let taken = Arc::clone(&slot);
        let running = id.clone();
        let run = move || {
            let Some(job) = taken.lock().unwrap_or_else(PoisonError::into_inner).take() else {
                return;
            };
            // This thread's place goes to the requests that wait for one, in turn.
            let mut next = Some((job, wasm, id, cancel));
            while let Some((job, wasm, id, cancel)) = next.take() {
                let Job {
                    request,
                    timeout,
                    reply,
                    timeout_in_request,
                    ..
                } = job;
                let started = std::time::Instant::now();
                let env = request.env.clone().unwrap_or_default();
                let outcome = wasm.run(
                    &request,
                    &|name| env.get(name).cloned(),
                    &shared.limits,
                    timeout,
                    Some(&cancel),
                );
                {
                    let mut state = shared.lock();
                    state.in_process.retain(|(running, _)| *running != id);
                    if let Some((job, wasm)) = state.in_process_queue.pop_front() {
                        let cancel = Arc::new(AtomicBool::new(false));
                        let id = job.request.tool_exec_id.clone();
                        state.in_process.push((id.clone(), Arc::clone(&cancel)));
                        next = Some((job, wasm, id, cancel));
                    }
                }
                reply(match outcome {
                    Ok(response) => response,
                    Err(error) => failure(&request, &error, started.elapsed(), timeout_in_request),
                });
            }
        };
        if let Err(e) = std::thread::Builder::new().name("wasm".into()).spawn(run) {
            self.shared
                .lock()
                .in_process
                .retain(|(id, _)| *id != running);
            let job = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(job) = job {
                let error = RuntimeError::Io(e);
                (job.reply)(failure(&job.request, &error, Duration::ZERO, false));
            }
        }
    }

    /// Stops the request with execution id `tool_exec_id`: a queued one is dropped, one in flight
    /// has its worker's process group stopped (SIGTERM, which aborts `ctx.signal`, then SIGKILL)
    /// and the worker replaced. Its reply gets a `CancelledError`; an unknown or finished id is
    /// ignored.
    pub fn cancel(&self, tool_exec_id: &str) {
        let mut state = self.shared.lock();
        if let Some(at) = state
            .queue
            .iter()
            .position(|job| job.request.tool_exec_id == tool_exec_id)
        {
            let job = state.queue.remove(at);
            drop(state);
            if let Some(job) = job {
                cancelled(job);
            }
            return;
        }
        if let Some((_, flag)) = state.in_process.iter().find(|(id, _)| id == tool_exec_id) {
            flag.store(true, Ordering::Relaxed);
            return;
        }
        if let Some(at) = state
            .in_process_queue
            .iter()
            .position(|(job, _)| job.request.tool_exec_id == tool_exec_id)
        {
            let queued = state.in_process_queue.remove(at);
            drop(state);
            if let Some((job, _)) = queued {
                cancelled(job);
            }
            return;
        }
        state.cancelled.push(tool_exec_id.to_owned());
        drop(state);
        self.shared.wake();
    }

    /// Reads newline-delimited lines from `input` on the pool's own thread and calls `on_line`
    /// with each (which typically [`submit`](Pool::submit)s a job). The returned channel is told
    /// when `input` has ended and every line was handled.
    pub fn read_lines(&self, input: OwnedFd, on_line: LineHandler) -> mpsc::Receiver<()> {
        let (done, ended) = mpsc::channel();
        self.shared.lock().input = Some(Input {
            file: input.into(),
            on_line,
            pending: Vec::new(),
            done,
        });
        self.shared.wake();
        ended
    }

    /// Uses `project`'s new code from now on: idle workers are replaced at once, busy ones after
    /// their current request.
    pub fn reload(&self, project: Arc<Project>) {
        let mut state = self.shared.lock();
        state.generation += 1;
        state.project = project;
        drop(state);
        self.shared.wake();
    }

    /// The project requests are checked against.
    pub fn project(&self) -> Arc<Project> {
        Arc::clone(&self.shared.lock().project)
    }

    /// Pids of the running workers (each one also leads its process group).
    pub fn worker_pids(&self) -> Vec<u32> {
        self.shared.lock().pids.clone()
    }

    /// Answers every queued and in-flight request, then stops the workers (for a pool of
    /// [`Pool::start_local`], its driver does that and then ends: await it).
    pub fn shutdown(&self) {
        self.shared.lock().closing = true;
        self.shared.wake();
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
        // The spans of the last calls are posted before the server exits (`builtin:trace`).
        super::trace::flush(Duration::from_secs(2));
    }

    /// Kills every worker's process group now (for SIGINT/SIGTERM); callers exit afterwards.
    pub fn kill_all(&self) {
        let pids = self.worker_pids();
        use nix::sys::signal::{Signal, killpg};
        use nix::unistd::Pid;
        for signal in [Signal::SIGTERM, Signal::SIGKILL] {
            for pid in &pids {
                if let Ok(pid) = i32::try_from(*pid) {
                    // A group that is already gone answers ESRCH: nothing to do.
                    let _ = killpg(Pid::from_raw(pid), signal);
                }
            }
            if signal == Signal::SIGTERM {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Drops `pid` from the pids [`Pool::kill_all`] signals, once its worker is stopped.
fn forget_pid(shared: &Shared, pid: u32) {
    shared.lock().pids.retain(|&p| p != pid);
}

/// The answer for a request that ended with `error`; `timeout_in_request`: see [`Job`].
/// The answer a pool gives for `error` (`TimeoutError`, `WorkerExitedError`, …).
pub fn failure(
    request: &Request,
    error: &RuntimeError,
    elapsed: Duration,
    timeout_in_request: bool,
) -> Response {
    let name = match error {
        RuntimeError::Timeout { .. } => "TimeoutError",
        RuntimeError::WorkerExited { .. } => "WorkerExitedError",
        RuntimeError::ResultTooLarge { .. } | RuntimeError::LogTooLarge { .. } => {
            "LimitExceededError"
        }
        RuntimeError::Cancelled => "CancelledError",
        RuntimeError::Protocol { .. } => "ProtocolError",
        _ => "WorkerError",
    };
    // exec's help names its --timeout flag; a pool's callers have none.
    let help = match error {
        RuntimeError::Timeout { .. } if timeout_in_request => Some(
            "the tool and every process it started were stopped; raise the tool's `timeout:`, or \
             send a larger `timeout_ms` with the request"
                .to_owned(),
        ),
        RuntimeError::Timeout { .. } => Some(
            "the tool and every process it started were stopped; raise the tool's `timeout:`"
                .to_owned(),
        ),
        _ => crate::diagnostic::Explain::help(error),
    }
    .map(|h| format!(" ({h})"))
    .unwrap_or_default();
    Response::failure(
        request.id.clone(),
        Some(request.tool_id.clone()),
        Some(request.tool_exec_id.clone()),
        name,
        format!("{error}{help}"),
        elapsed,
    )
}

/// Answers a job that was cancelled before it started.
fn cancelled(job: Job) {
    (job.reply)(failure(
        &job.request,
        &RuntimeError::Cancelled,
        Duration::ZERO,
        false,
    ));
}

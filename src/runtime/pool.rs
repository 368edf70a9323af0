//! A pool of warm, persistent workers (`serve`): one request in flight per worker, requests queue
//! when all are busy, a worker that crashes, times out or exceeds a cap is replaced, and a reload
//! replaces idle workers at once and busy ones after their current request.
//!
//! One thread drives the whole pool: it polls every worker's answer channel, a wake-up socket
//! for the other threads, and (for `serve`) the request input, all at once. A request line read
//! there goes to its worker and its answer comes back without a hand-off between threads: on a
//! small machine each hand-off is a wake-up that costs more than the rest of a round trip.
//!
//! An async front end (`mcp`) drives the same loop as a task on its own runtime thread instead
//! ([`Pool::start_local`]): a request its handler submits goes to a worker, and the answer back
//! to the handler, without leaving that thread.

use std::collections::{BTreeMap, VecDeque};
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, mpsc};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::Limits;
use super::carrier::{Carrier, Carriers};
use super::error::RuntimeError;
use super::oneshot::answer;
use super::protocol::{
    Note, Notes, PROGRESS_PREFIX, Request, Response, parse_answer, parse_progress,
};
use super::worker::{Event, SLICE, WorkerProcess};
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

/// How long the loop keeps polling without sleeping after a request went out or an answer came
/// back: a sleeping thread takes tens of microseconds to wake on another core, more than a warm
/// worker's whole round trip. The persistent worker polls its stdin in the same way.
const SPIN: Duration = Duration::from_micros(100);

/// The loop polls only where the last such wait was shorter than this (a sleeper's count includes
/// its wake-up): a pool whose requests come further apart, or whose tools take longer, sleeps at
/// once.
const CLOSE: Duration = Duration::from_micros(300);

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
    thread: OnceLock<ThreadId>,
}

impl Shared {
    fn new(
        project: Arc<Project>,
        carriers: Carriers,
        limits: Limits,
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
            }),
            waker,
            notify,
            carriers,
            limits,
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

/// A pool of persistent workers; clones are handles to the same pool.
#[derive(Clone)]
pub struct Pool {
    shared: Arc<Shared>,
    thread: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl Pool {
    /// Starts `size` workers for `project` (for its JavaScript tools, when it has any; a process
    /// tool's when a request comes), driven by a thread of the pool's own.
    pub fn start(
        project: Arc<Project>,
        carriers: Carriers,
        size: usize,
        limits: Limits,
    ) -> Result<Self, RuntimeError> {
        let (shared, wakeups) = Shared::new(project, carriers, limits, None)?;
        let looped = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("pool".into())
            .spawn(move || {
                let _ = looped.thread.set(std::thread::current().id());
                Loop::new(looped, wakeups, size.max(1)).run();
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
        size: usize,
        limits: Limits,
    ) -> Result<(Self, LocalDriver), RuntimeError> {
        let notify = Arc::new(tokio::sync::Notify::new());
        let (shared, wakeups) = Shared::new(project, carriers, limits, Some(Arc::clone(&notify)))?;
        let driver = LocalDriver {
            looped: Loop::new(Arc::clone(&shared), wakeups, size.max(1)),
            notify,
        };
        let pool = Self {
            shared,
            thread: Arc::new(Mutex::new(None)),
        };
        Ok((pool, driver))
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
        state.queue.push_back(job);
        drop(state);
        self.shared.wake();
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
                (job.reply)(failure(
                    &job.request,
                    &RuntimeError::Cancelled,
                    Duration::ZERO,
                    false,
                ));
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

/// A carrier as the slots hold it.
type SharedCarrier = Arc<dyn Carrier>;

/// A request a worker is working on.
struct InFlight {
    request: Request,
    reply: Reply,
    timeout: Duration,
    started: Instant,
    notes: Option<Notes>,
    timeout_in_request: bool,
}

#[derive(Default)]
struct Slot {
    worker: Option<WorkerProcess>,
    /// What started the worker.
    carrier: Option<Arc<dyn Carrier>>,
    /// The generation the worker was started for.
    generation: u64,
    job: Option<InFlight>,
    /// The environment the worker last received.
    last_env: Option<Arc<BTreeMap<String, String>>>,
    /// After a failed start, wait for a request before trying again (no retry loop).
    start_failed: bool,
}

/// The pool's thread.
struct Loop {
    shared: Arc<Shared>,
    wakeups: UnixStream,
    slots: Vec<Slot>,
    input: Option<Input>,
    /// Until when the next wait polls without sleeping (see [`SPIN`]).
    hot_until: Option<Instant>,
    /// Whether the last answer came within [`CLOSE`] of its request.
    answers_close: bool,
    /// Whether the last request came within [`CLOSE`] of the answer before it.
    requests_close: bool,
    /// When the last answer came.
    answered: Option<Instant>,
    /// Threads that stop workers and answer for failed ones: the pool ends after them, so that
    /// no answer is lost and no worker outlives it.
    helpers: Vec<std::thread::JoinHandle<()>>,
    /// Ends a spin when readable (see [`LocalDriver::interrupt_on`]).
    interrupt: Option<OwnedFd>,
}

impl Loop {
    fn new(shared: Arc<Shared>, wakeups: UnixStream, size: usize) -> Self {
        Self {
            shared,
            wakeups,
            slots: (0..size).map(|_| Slot::default()).collect(),
            input: None,
            hot_until: None,
            answers_close: true,
            requests_close: false,
            answered: None,
            helpers: Vec::new(),
            interrupt: None,
        }
    }

    fn run(mut self) {
        while let Some(wait) = self.turn() {
            if wait {
                self.wait(true);
            }
        }
        self.finish();
    }

    /// Takes new work and tends the idle slots; `None` once the pool has ended, else whether the
    /// loop now waits for an event (rather than tending again at once).
    fn turn(&mut self) -> Option<bool> {
        let (closing, generation) = self.take_work();
        for slot in 0..self.slots.len() {
            self.tend(slot, generation, closing);
        }
        let idle = self.slots.iter().all(|s| s.job.is_none());
        let queued = !self.shared.lock().queue.is_empty();
        if closing && idle && !queued {
            return None;
        }
        // A job that failed at once (no worker could start, or it was gone before the request
        // went out) left its slot idle: the jobs queued behind it are tended before the loop
        // sleeps, since no event would come for them.
        Some(!(queued && self.slots.iter().any(|s| s.job.is_none())))
    }

    /// Stops the workers, and waits for the helpers (so that every answer is given).
    fn finish(&mut self) {
        for slot in &mut self.slots {
            if let Some(worker) = slot.worker.take() {
                worker.stop(true);
            }
        }
        for helper in self.helpers.drain(..) {
            let _ = helper.join();
        }
        self.shared.lock().pids.clear();
    }

    /// Takes over a new input and stops cancelled requests; returns whether the pool is
    /// closing, and the current generation.
    fn take_work(&mut self) -> (bool, u64) {
        let mut state = self.shared.lock();
        if let Some(input) = state.input.take() {
            self.input = Some(input);
        }
        let cancelled = std::mem::take(&mut state.cancelled);
        let work = (state.closing, state.generation);
        drop(state);
        for id in cancelled {
            let at = self.slots.iter().position(|slot| {
                slot.job
                    .as_ref()
                    .is_some_and(|job| job.request.tool_exec_id == id)
            });
            if let Some(index) = at {
                self.fail(index, Event::Cancelled);
            }
        }
        work
    }

    /// Replaces a stale or missing worker of an idle slot, and gives it the next queued job.
    fn tend(&mut self, index: usize, generation: u64, closing: bool) {
        if self.slots[index].job.is_some() {
            return;
        }
        if self.slots[index].worker.is_some() && self.slots[index].generation != generation {
            self.retire(index);
        }
        let (job, carrier) = match self.next_job(index) {
            (job, Ok(carrier)) => (job, carrier),
            (job, Err(error)) => {
                if let Some(job) = job {
                    (job.reply)(failure(&job.request, &error, Duration::ZERO, false));
                }
                return;
            }
        };
        // A warm worker of another carrier (another tool's program) makes way for the job's.
        let key = carrier.as_ref().map(|c| c.key());
        if job.is_some() && self.slots[index].carrier.as_ref().map(|c| c.key()) != key {
            self.retire(index);
        }
        let slot = &self.slots[index];
        // A missing worker is started for a job, or ahead of one (unless its last start failed).
        if slot.worker.is_none()
            && (job.is_some() || (!closing && !slot.start_failed))
            && let Some(carrier) = carrier
        {
            let env = job.as_ref().and_then(|job| job.request.env.clone());
            self.start(index, generation, carrier, env.as_deref());
        }
        if let Some(job) = job {
            self.dispatch(index, job);
        }
    }

    /// The next job for the slot (one its warm worker can serve first), and its carrier (with
    /// no job: the JavaScript runtime's, to start a worker ahead of one).
    fn next_job(&self, index: usize) -> (Option<Job>, Result<Option<SharedCarrier>, RuntimeError>) {
        let carriers = &self.shared.carriers;
        let mut state = self.shared.lock();
        if state.queue.is_empty() {
            return (
                None,
                Ok(carriers.js().map(|js| Arc::clone(js) as Arc<dyn Carrier>)),
            );
        }
        let project = Arc::clone(&state.project);
        let warm = self.slots[index].carrier.as_ref().map(|c| c.key());
        let at = warm
            .and_then(|key| {
                state
                    .queue
                    .iter()
                    .position(|job| Carriers::key_of(&project, &job.request.tool_id) == key)
            })
            .unwrap_or(0);
        let job = state.queue.remove(at);
        drop(state);
        let carrier = match &job {
            None => Ok(carriers.js().map(|js| Arc::clone(js) as Arc<dyn Carrier>)),
            Some(job) => carriers.for_tool(&project, &job.request.tool_id).map(Some),
        };
        (job, carrier)
    }

    fn start(
        &mut self,
        index: usize,
        generation: u64,
        carrier: Arc<dyn Carrier>,
        tool_env: Option<&BTreeMap<String, String>>,
    ) {
        let project = Arc::clone(&self.shared.lock().project);
        let cmd = carrier.worker_command(&project, true);
        // A JavaScript worker's own environment is minimal, each request brings its tool's; a
        // program starts with its tool's.
        let env: Vec<(String, String)> = match tool_env {
            Some(env) if carrier.key() != super::JS_KEY => {
                env.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
            }
            _ => crate::env::BASE
                .iter()
                .filter_map(|k| std::env::var(k).ok().map(|v| ((*k).to_owned(), v)))
                .collect(),
        };
        let limits = &self.shared.limits;
        let slot = &mut self.slots[index];
        slot.last_env = None;
        slot.generation = generation;
        match WorkerProcess::spawn(&cmd, &env, limits.max_result_bytes, limits.max_log_bytes) {
            Ok(worker) => {
                self.shared.lock().pids.push(worker.pid());
                slot.worker = Some(worker);
                slot.carrier = Some(carrier);
                slot.start_failed = false;
            }
            Err(e) => {
                tracing::error!("cannot start a worker: {e}");
                slot.start_failed = true;
            }
        }
    }

    /// Sends `job` to the slot's worker (started by [`Loop::tend`] when it could be).
    fn dispatch(&mut self, index: usize, mut job: Job) {
        let slot = &mut self.slots[index];
        let Some(worker) = slot.worker.as_mut() else {
            let error = RuntimeError::WorkerExited {
                status: "could not be started".into(),
            };
            (job.reply)(failure(&job.request, &error, Duration::ZERO, false));
            return;
        };
        // Replacing process.env costs the worker time on every call; skip it when nothing
        // changed.
        if job.request.env.is_some() && job.request.env == slot.last_env {
            job.request.env = None;
        } else {
            slot.last_env.clone_from(&job.request.env);
        }
        // Before the request goes out: the tool may log before this thread runs again.
        worker.set_log_notes(job.notes.clone());
        let started = Instant::now();
        // A one-shot process reads its request to the end of stdin.
        let (protocol, last) = match &slot.carrier {
            Some(carrier) => (carrier.protocol(), !carrier.persistent()),
            None => (crate::config::Protocol::Compozy, false),
        };
        let sent = super::carrier::encode(protocol, &job.request, true).and_then(|line| {
            worker.reset_log_count();
            worker.send(line, last)
        });
        self.requests_close = self
            .answered
            .is_some_and(|answered| started.saturating_duration_since(answered) < CLOSE);
        // A slow tool's answer is not worth spinning for, even right after another answer.
        self.hot_until = self.answers_close.then(|| started + SPIN);
        slot.job = Some(InFlight {
            request: job.request,
            reply: job.reply,
            timeout: job.timeout,
            started,
            notes: job.notes,
            timeout_in_request: job.timeout_in_request,
        });
        // A `stdio` program may exit without reading its input: its stdout still answers.
        if sent.is_err() && protocol == crate::config::Protocol::Compozy {
            // The worker is gone; its exit status says why.
            self.fail(index, Event::Answer(Ok(Vec::new())));
        }
    }

    /// How long the loop may sleep: until the nearest deadline (at most a [`SLICE`]), or for ever.
    fn sleep_for(&self) -> Option<Duration> {
        let now = Instant::now();
        self.slots
            .iter()
            .filter_map(|s| s.job.as_ref().map(|j| j.started + j.timeout))
            .min()
            .map(|deadline| deadline.saturating_duration_since(now).min(SLICE))
    }

    /// Waits (when `block`; else only while spinning, see [`SPIN`]) until a worker answers, a line
    /// arrives, another thread wakes the loop, or the nearest deadline; then handles what
    /// happened. Returns whether anything did.
    fn wait(&mut self, block: bool) -> bool {
        let now = Instant::now();
        let timeout = match self.sleep_for() {
            _ if !block => PollTimeout::ZERO,
            // Rounded up: a deadline a few microseconds away must not spin.
            Some(wait) => {
                PollTimeout::try_from(wait + Duration::from_micros(999)).unwrap_or(PollTimeout::MAX)
            }
            None => PollTimeout::NONE,
        };

        let (ready_wakeups, ready_input, ready_workers) = {
            let mut fds = vec![PollFd::new(self.wakeups.as_fd(), PollFlags::POLLIN)];
            let input_at = self.input.as_ref().map(|input| {
                fds.push(PollFd::new(input.file.as_fd(), PollFlags::POLLIN));
                fds.len() - 1
            });
            if let Some(fd) = &self.interrupt {
                fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
            }
            let mut workers = Vec::new();
            for (index, slot) in self.slots.iter().enumerate() {
                if let Some(worker) = &slot.worker {
                    fds.push(PollFd::new(worker.protocol_fd(), PollFlags::POLLIN));
                    workers.push((index, fds.len() - 1));
                }
            }
            // Right after a request went out or an answer came back, the next event is usually
            // microseconds away: look for it without sleeping for a short while, since waking a
            // sleeping thread costs more than the round trip itself on a small machine.
            let spin_until = self.hot_until.take().filter(|&until| until > now);
            loop {
                let spinning = spin_until.is_some_and(|until| Instant::now() < until);
                match poll(&mut fds, if spinning { PollTimeout::ZERO } else { timeout }) {
                    // Yielding, not spinning in place: a worker or client woken on this core runs
                    // at once instead of waiting for the spin to end.
                    Ok(0) if spinning => std::thread::yield_now(),
                    Ok(_) => break,
                    Err(nix::errno::Errno::EINTR) => return false,
                    Err(e) => {
                        tracing::error!("the pool cannot poll its workers: {e}");
                        std::thread::sleep(Duration::from_millis(10));
                        return false;
                    }
                }
            }
            let ready = |i: usize| fds[i].any().unwrap_or(false);
            let ready_workers: Vec<usize> = workers
                .into_iter()
                .filter(|&(_, at)| ready(at))
                .map(|(index, _)| index)
                .collect();
            (ready(0), input_at.is_some_and(ready), ready_workers)
        };

        if ready_wakeups {
            let mut sink = [0u8; 64];
            while matches!((&self.wakeups).read(&mut sink), Ok(n) if n > 0) {}
        }
        let handled = ready_wakeups || ready_input || !ready_workers.is_empty();
        for index in ready_workers {
            self.on_readable(index);
        }
        if ready_input {
            self.read_input();
        }
        self.check_limits();
        handled
    }

    fn on_readable(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        let Some(worker) = slot.worker.as_mut() else {
            return;
        };
        let mut event = worker.read_answer();
        // Progress reports come on the answer's channel, before the answer.
        while let Some(Event::Answer(Ok(line))) = &event
            && line.starts_with(PROGRESS_PREFIX)
        {
            if let (Some(progress), Some(notes)) = (
                parse_progress(line),
                slot.job.as_ref().and_then(|job| job.notes.as_ref()),
            ) {
                notes(Note::Progress(progress));
            }
            event = worker.take_answer();
        }
        let Some(event) = event else {
            return;
        };
        if slot.job.is_none() {
            // An idle worker has nothing to say: it ended (or broke the protocol). Its
            // replacement waits for a request: a worker that dies on start must not be
            // restarted in a loop.
            slot.start_failed = true;
            self.retire(index);
            return;
        }
        match event {
            Event::Answer(Ok(line)) if !line.is_empty() => self.succeed(index, &line),
            other => self.fail(index, other),
        }
    }

    fn succeed(&mut self, index: usize, line: &[u8]) {
        let slot = &mut self.slots[index];
        let Some(job) = slot.job.take() else { return };
        if job.notes.is_some()
            && let Some(worker) = slot.worker.as_mut()
        {
            // The request's log lines reach its caller before its answer.
            worker.sync_logs(LOG_SYNC);
            worker.set_log_notes(None);
        }
        let now = Instant::now();
        self.answers_close = now.saturating_duration_since(job.started) < CLOSE;
        self.answered = Some(now);
        // A client that sends its next request as soon as it has an answer.
        if self.requests_close {
            self.hot_until = Some(now + SPIN);
        }
        let one_shot = slot.carrier.as_ref().is_some_and(|c| !c.persistent());
        match parse_answer(line, &job.request) {
            Ok(response) => {
                (job.reply)(response);
                if one_shot {
                    self.retire(index);
                }
            }
            Err(reason) => {
                let error = RuntimeError::BadResponse { reason };
                (job.reply)(failure(&job.request, &error, job.started.elapsed(), false));
                self.retire(index);
            }
        }
    }

    /// Ends the slot's request with the error `event` stands for, and replaces its worker.
    fn fail(&mut self, index: usize, event: Event) {
        let limits = self.shared.limits;
        let slot = &mut self.slots[index];
        let (Some(job), Some(mut worker)) = (slot.job.take(), slot.worker.take()) else {
            return;
        };
        slot.carrier = None;
        worker.set_log_notes(None);
        let pid = worker.pid();
        let shared = Arc::clone(&self.shared);
        // Waiting for an exit status or a grace period must not hold up the other workers.
        self.helper(move || {
            let outcome = answer(event, &mut worker, &limits, &job.request, job.timeout);
            worker.stop(true);
            forget_pid(&shared, pid);
            // A `stdio` program's answer comes with its end, through here.
            let error = match outcome {
                Ok(response) => return (job.reply)(response),
                Err(error) => error,
            };
            let elapsed = job.started.elapsed();
            (job.reply)(failure(
                &job.request,
                &error,
                elapsed,
                job.timeout_in_request,
            ));
        });
    }

    /// Stops the slot's worker in the background (the slot starts a new one when needed).
    fn retire(&mut self, index: usize) {
        self.slots[index].carrier = None;
        if let Some(worker) = self.slots[index].worker.take() {
            let pid = worker.pid();
            let shared = Arc::clone(&self.shared);
            self.helper(move || {
                worker.stop(true);
                forget_pid(&shared, pid);
            });
        }
    }

    /// Runs `work` on a thread of its own, which the pool waits for before it ends.
    fn helper(&mut self, work: impl FnOnce() + Send + 'static) {
        self.helpers.retain(|helper| !helper.is_finished());
        self.helpers.push(std::thread::spawn(work));
    }

    /// Deadlines and log caps of the requests in flight.
    fn check_limits(&mut self) {
        let now = Instant::now();
        for index in 0..self.slots.len() {
            let slot = &mut self.slots[index];
            let (Some(job), Some(worker)) = (&slot.job, &mut slot.worker) else {
                continue;
            };
            let event = if now >= job.started + job.timeout {
                Some(Event::TimedOut)
            } else if worker.log_cap_exceeded() {
                Some(Event::LogTooLarge)
            } else {
                None
            };
            if let Some(event) = event {
                self.fail(index, event);
            }
        }
    }

    fn read_input(&mut self) {
        let Some(input) = self.input.as_mut() else {
            return;
        };
        let mut chunk = [0u8; 1 << 16];
        // One read, which a readable fd answers without blocking (stdin is not ours to make
        // non-blocking). An error ends the input as EOF does.
        let n = match (&input.file).read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return,
            Err(_) => 0,
        };
        input.pending.extend_from_slice(&chunk[..n]);
        let mut start = 0;
        while let Some(end) = input.pending[start..].iter().position(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(&input.pending[start..start + end]).into_owned();
            start += end + 1;
            if !line.trim().is_empty() {
                (input.on_line)(&line);
            }
        }
        input.pending.drain(..start);
        if n == 0 {
            let line = String::from_utf8_lossy(&std::mem::take(&mut input.pending)).into_owned();
            if !line.trim().is_empty() {
                (input.on_line)(&line);
            }
            if let Some(input) = self.input.take() {
                let _ = input.done.send(());
            }
        }
    }
}

/// The loop of a pool of [`Pool::start_local`]: run it as a task of a current-thread tokio
/// runtime, the one the pool's front end runs on.
pub struct LocalDriver {
    looped: Loop,
    notify: Arc<tokio::sync::Notify>,
}

impl LocalDriver {
    /// Ends the loop's short polling for an answer or a request (see [`SPIN`]) as soon as `fd` is
    /// readable: the runtime reads it (the front end's input), and its request is not to wait.
    #[must_use]
    pub fn interrupt_on(mut self, fd: OwnedFd) -> Self {
        self.looped.interrupt = Some(fd);
        self
    }

    /// Runs the pool until [`Pool::shutdown`] has been called and every request was answered.
    pub async fn run(mut self) {
        let _ = self.looped.shared.thread.set(std::thread::current().id());
        let mut sleeper = Sleeper::default();
        while let Some(wait) = self.looped.turn() {
            if !wait {
                continue;
            }
            if self.looped.wait(false) {
                // An answer reaches its caller's task before the loop goes on.
                tokio::task::yield_now().await;
                continue;
            }
            let sleep_for = self.looped.sleep_for();
            let channels = sleeper.over(&self.looped.slots);
            tokio::select! {
                () = self.notify.notified() => {}
                () = channels.readable() => {}
                () = async {
                    match sleep_for {
                        Some(wait) => tokio::time::sleep(wait).await,
                        None => std::future::pending().await,
                    }
                } => {}
            }
        }
        self.looped.finish();
    }
}

/// The workers' answer channels, registered with the tokio runtime (epoll on Linux, kqueue
/// elsewhere) so that the driver can sleep until one is readable; remade when the workers change.
#[derive(Default)]
struct Sleeper {
    pids: Vec<u32>,
    channels: Vec<tokio::io::unix::AsyncFd<OwnedFd>>,
    /// Whether the last registration failed (the driver then polls every millisecond).
    failed: bool,
}

impl Sleeper {
    fn over(&mut self, slots: &[Slot]) -> &Self {
        let pids: Vec<u32> = slots
            .iter()
            .filter_map(|s| s.worker.as_ref().map(WorkerProcess::pid))
            .collect();
        if self.failed || pids != self.pids {
            let channels: std::io::Result<Vec<_>> = slots
                .iter()
                .filter_map(|s| s.worker.as_ref())
                .map(|worker| {
                    // A descriptor of the sleeper's own: the worker's closes with it.
                    let fd = worker.protocol_fd().try_clone_to_owned()?;
                    // SAFETY: an `OwnedFd` stays open, and names the same description, for as
                    // long as the `AsyncFd` owns it.
                    unsafe {
                        tokio::io::unix::AsyncFd::register_with_interest(
                            fd,
                            tokio::io::Interest::READABLE,
                        )
                    }
                    .map_err(std::io::Error::from)
                })
                .collect();
            match channels {
                Ok(channels) => {
                    self.channels = channels;
                    self.failed = false;
                }
                Err(e) => {
                    tracing::debug!("the pool polls instead of waiting: {e}");
                    self.channels.clear();
                    self.failed = true;
                }
            }
            self.pids = pids;
        }
        self
    }

    /// Until a channel is readable (clearing that readiness: the loop polls every channel next,
    /// and a later answer arrives as a new event).
    async fn readable(&self) {
        if self.failed {
            return tokio::time::sleep(Duration::from_millis(1)).await;
        }
        std::future::poll_fn(|cx| {
            for channel in &self.channels {
                match channel.poll_read_ready(cx) {
                    std::task::Poll::Ready(Ok(mut ready)) => {
                        ready.clear_ready();
                        return std::task::Poll::Ready(());
                    }
                    std::task::Poll::Ready(Err(_)) => return std::task::Poll::Ready(()),
                    std::task::Poll::Pending => {}
                }
            }
            std::task::Poll::Pending
        })
        .await;
    }
}

/// Drops `pid` from the pids [`Pool::kill_all`] signals, once its worker is stopped.
fn forget_pid(shared: &Shared, pid: u32) {
    shared.lock().pids.retain(|&p| p != pid);
}

/// The answer for a request that ended with `error`; `timeout_in_request`: see [`Job`].
fn failure(
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

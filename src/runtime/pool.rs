//! A pool of warm, persistent workers (`serve`): one request in flight per worker, requests queue
//! when all are busy, a worker that crashes, times out or exceeds a cap is replaced, and a reload
//! replaces idle workers at once and busy ones after their current request.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::error::RuntimeError;
use super::oneshot::answer;
use super::protocol::{Request, Response};
use super::worker::WorkerProcess;
use super::{Limits, Runtime};
use crate::config::Project;

/// Called with the answer of a request, on a pool thread.
pub type Reply = Box<dyn FnOnce(Response) + Send>;

/// One queued request.
pub struct Job {
    /// The request, with the tool's whole environment in `env`.
    pub request: Request,
    /// The deadline.
    pub timeout: Duration,
    /// Where the answer goes.
    pub reply: Reply,
}

struct State {
    queue: VecDeque<Job>,
    /// Bumped by [`Pool::reload`]; a worker of an older generation is replaced.
    generation: u64,
    project: Arc<Project>,
    closing: bool,
    /// Pids (= process groups) of the running workers, for [`Pool::kill_all`].
    pids: Vec<Option<u32>>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    runtime: Arc<dyn Runtime>,
    limits: Limits,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A reply callback that panicked must not take the whole pool down with it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A pool of persistent workers; clones are handles to the same pool.
#[derive(Clone)]
pub struct Pool {
    shared: Arc<Shared>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Pool {
    /// Starts `size` workers for `project` on `runtime`.
    pub fn start(
        project: Arc<Project>,
        runtime: Arc<dyn Runtime>,
        size: usize,
        limits: Limits,
    ) -> Self {
        let size = size.max(1);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                generation: 0,
                project,
                closing: false,
                pids: vec![None; size],
            }),
            wake: Condvar::new(),
            runtime,
            limits,
        });
        let threads = (0..size)
            .map(|slot| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("worker-{slot}"))
                    .spawn(move || run_slot(&shared, slot))
                    .unwrap_or_else(|e| {
                        // Without threads there is no pool; the caller sees every reply fail.
                        tracing::error!("cannot start a pool thread: {e}");
                        std::thread::spawn(|| {})
                    })
            })
            .collect();
        Self {
            shared,
            threads: Arc::new(Mutex::new(threads)),
        }
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
        self.shared.wake.notify_one();
    }

    /// Uses `project`'s new code from now on: idle workers are replaced at once, busy ones after
    /// their current request.
    pub fn reload(&self, project: Arc<Project>) {
        let mut state = self.shared.lock();
        state.generation += 1;
        state.project = project;
        drop(state);
        self.shared.wake.notify_all();
    }

    /// The project requests are checked against.
    pub fn project(&self) -> Arc<Project> {
        Arc::clone(&self.shared.lock().project)
    }

    /// Pids of the running workers (each one also leads its process group).
    pub fn worker_pids(&self) -> Vec<u32> {
        self.shared.lock().pids.iter().flatten().copied().collect()
    }

    /// Answers every queued and in-flight request, then stops the workers.
    pub fn shutdown(&self) {
        self.shared.lock().closing = true;
        self.shared.wake.notify_all();
        let threads =
            std::mem::take(&mut *self.threads.lock().unwrap_or_else(PoisonError::into_inner));
        for thread in threads {
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

enum Next {
    Run(Box<Job>),
    Replace,
    Exit,
}

/// One worker slot: runs requests one at a time, replacing its worker when needed.
fn run_slot(shared: &Shared, slot: usize) {
    let mut worker: Option<(WorkerProcess, u64)> = None;
    // The environment the current worker last received.
    let mut last_env = None;
    // After a failed start, wait for a request before trying again (no retry loop).
    let mut start_failed = false;
    loop {
        let next = {
            let mut state = shared.lock();
            loop {
                let stale = worker.as_ref().is_some_and(|(_, g)| *g != state.generation);
                if stale {
                    break Next::Replace;
                }
                if let Some(job) = state.queue.pop_front() {
                    break Next::Run(Box::new(job));
                }
                if state.closing {
                    break Next::Exit;
                }
                if worker.is_none() && !start_failed {
                    // Warm up before the first request arrives.
                    break Next::Replace;
                }
                state = shared
                    .wake
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        match next {
            Next::Exit => {
                if let Some((w, _)) = worker.take() {
                    w.stop(true);
                }
                shared.lock().pids[slot] = None;
                return;
            }
            Next::Replace => {
                if let Some((w, _)) = worker.take() {
                    w.stop(true);
                }
                last_env = None;
                worker = spawn(shared, slot);
                start_failed = worker.is_none();
            }
            Next::Run(mut job) => {
                if worker.is_none() {
                    last_env = None;
                    worker = spawn(shared, slot);
                    start_failed = worker.is_none();
                }
                let started = Instant::now();
                let outcome = match worker.as_mut() {
                    Some((w, _)) => call(w, &mut last_env, &mut job, &shared.limits),
                    None => Err(RuntimeError::WorkerExited {
                        status: "could not be started".into(),
                    }),
                };
                let response = match outcome {
                    Ok(response) => response,
                    Err(error) => {
                        // The worker is in an unknown state: replace it.
                        if let Some((w, _)) = worker.take() {
                            w.stop(true);
                        }
                        shared.lock().pids[slot] = None;
                        failure(&job.request, &error, started.elapsed())
                    }
                };
                (job.reply)(response);
            }
        }
    }
}

fn spawn(shared: &Shared, slot: usize) -> Option<(WorkerProcess, u64)> {
    let (project, generation) = {
        let state = shared.lock();
        (Arc::clone(&state.project), state.generation)
    };
    let cmd = shared.runtime.worker_command(&project, true);
    // The worker's own environment is minimal; each request brings its tool's.
    let env: Vec<(String, String)> = crate::env::BASE
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| ((*k).to_owned(), v)))
        .collect();
    match WorkerProcess::spawn(
        &cmd,
        &env,
        shared.limits.max_result_bytes,
        shared.limits.max_log_bytes,
    ) {
        Ok(worker) => {
            shared.lock().pids[slot] = Some(worker.pid());
            Some((worker, generation))
        }
        Err(e) => {
            tracing::error!("cannot start a worker: {e}");
            None
        }
    }
}

fn call(
    worker: &mut WorkerProcess,
    last_env: &mut Option<BTreeMap<String, String>>,
    job: &mut Job,
    limits: &Limits,
) -> Result<Response, RuntimeError> {
    // Replacing process.env costs the worker time on every call; skip it when nothing changed.
    if job.request.env.is_some() && job.request.env == *last_env {
        job.request.env = None;
    } else {
        last_env.clone_from(&job.request.env);
    }
    let mut line = serde_json::to_vec(&job.request).map_err(|e| RuntimeError::Io(e.into()))?;
    line.push(b'\n');
    worker.reset_log_count();
    if worker.send(&line).is_err() {
        return Err(RuntimeError::WorkerExited {
            status: worker.exit_status(Duration::from_millis(100)),
        });
    }
    let event = worker.next_answer(Instant::now() + job.timeout, None);
    answer(event, worker, limits, &job.request.tool_id, job.timeout)
}

fn failure(request: &Request, error: &RuntimeError, elapsed: Duration) -> Response {
    let name = match error {
        RuntimeError::Timeout { .. } => "TimeoutError",
        RuntimeError::WorkerExited { .. } => "WorkerExitedError",
        RuntimeError::ResultTooLarge { .. } | RuntimeError::LogTooLarge { .. } => {
            "LimitExceededError"
        }
        _ => "WorkerError",
    };
    let help = crate::diagnostic::Explain::help(error)
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

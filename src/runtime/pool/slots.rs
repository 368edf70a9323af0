//! The pool's worker slots: each holds at most one worker process and the request it works on.
//! Starting, feeding, reading, failing and stopping workers happens here; which slot gets which
//! request, and when, is the scheduler's business (`schedule.rs`).

use std::collections::BTreeMap;
use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Job, LOG_SYNC, Reply, Shared, failure, forget_pid};
use crate::runtime::carrier::{Carrier, Carriers};
use crate::runtime::error::RuntimeError;
use crate::runtime::oneshot::answer;
use crate::runtime::protocol::{
    CHECK_PREFIX, Note, Notes, PROGRESS_PREFIX, Request, parse_answer, parse_progress,
};
use crate::runtime::worker::{Event, WorkerProcess};

/// A request a worker is working on.
pub(super) struct InFlight {
    pub(super) request: Request,
    reply: Reply,
    timeout: Duration,
    pub(super) started: Instant,
    notes: Option<Notes>,
    timeout_in_request: bool,
}

#[derive(Default)]
pub(super) struct Slot {
    pub(super) worker: Option<WorkerProcess>,
    /// What started the worker.
    pub(super) carrier: Option<Arc<dyn Carrier>>,
    /// The generation the worker was started for.
    pub(super) generation: u64,
    pub(super) job: Option<InFlight>,
    /// The environment the worker last received.
    last_env: Option<Arc<BTreeMap<String, String>>>,
    /// After a failed start, wait for a request before trying again (no retry loop).
    pub(super) start_failed: bool,
    /// Since when the worker has had nothing to do.
    pub(super) idle_since: Option<Instant>,
}

impl Slot {
    /// Whether the slot has a worker with nothing to do.
    pub(super) fn idle(&self) -> bool {
        self.worker.is_some() && self.job.is_none()
    }

    /// Whether the slot has neither a worker nor a request.
    pub(super) fn empty(&self) -> bool {
        self.worker.is_none() && self.job.is_none()
    }
}

/// The slots, and the threads that stop their workers in the background.
pub(super) struct Slots {
    pub(super) shared: Arc<Shared>,
    pub(super) slots: Vec<Slot>,
    /// Threads that stop workers and answer for failed ones: the pool ends after them, so that
    /// no answer is lost and no worker outlives it.
    helpers: Vec<JoinHandle<()>>,
}

impl Slots {
    pub(super) fn new(shared: Arc<Shared>, size: usize) -> Self {
        Self {
            shared,
            slots: (0..size).map(|_| Slot::default()).collect(),
            helpers: Vec::new(),
        }
    }

    /// Stops the workers, and waits for the helpers (so that every answer is given).
    pub(super) fn finish(&mut self) {
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

    /// The slot working on the request with execution id `id`.
    pub(super) fn running(&self, id: &str) -> Option<usize> {
        self.slots.iter().position(|slot| {
            slot.job
                .as_ref()
                .is_some_and(|job| job.request.tool_exec_id == id)
        })
    }

    /// The answer channels of the running workers, with their slots.
    pub(super) fn channels(&self) -> impl Iterator<Item = (usize, BorrowedFd<'_>)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(index, slot)| Some((index, slot.worker.as_ref()?.protocol_fd())))
    }

    /// How many slots have a worker (busy or idle).
    pub(super) fn running_workers(&self) -> usize {
        self.slots.iter().filter(|s| s.worker.is_some()).count()
    }

    /// The nearest deadline of the requests in flight.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.slots
            .iter()
            .filter_map(|s| s.job.as_ref().map(|j| j.started + j.timeout))
            .min()
    }

    /// The next queued job for the slot (one its warm worker can serve first, so that a worker
    /// of one program is not replaced for another while a job for it waits), and its carrier
    /// (with no job: the JavaScript runtime's, to start a worker ahead of one).
    #[allow(clippy::type_complexity)]
    pub(super) fn next_job(
        &self,
        index: usize,
    ) -> (Option<Job>, Result<Option<Arc<dyn Carrier>>, RuntimeError>) {
        let mut state = self.shared.lock();
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
        let carriers = &self.shared.carriers;
        let carrier = match &job {
            None => Ok(carriers.js().map(|js| Arc::clone(js) as Arc<dyn Carrier>)),
            Some(job) => carriers.for_tool(&project, &job.request.tool_id).map(Some),
        };
        (job, carrier)
    }

    pub(super) fn start(
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
            Some(env) if carrier.key() != crate::runtime::JS_KEY => {
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
                slot.idle_since = Some(Instant::now());
            }
            Err(e) => {
                tracing::error!("cannot start a worker: {e}");
                slot.start_failed = true;
            }
        }
    }

    /// Sends `job` to the slot's worker (started by the scheduler when it could be); returns when
    /// the request went out.
    pub(super) fn dispatch(&mut self, index: usize, mut job: Job) -> Instant {
        let slot = &mut self.slots[index];
        let Some(worker) = slot.worker.as_mut() else {
            let error = RuntimeError::WorkerExited {
                status: "could not be started".into(),
            };
            (job.reply)(failure(&job.request, &error, Duration::ZERO, false));
            return Instant::now();
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
        let sent = crate::runtime::carrier::encode(protocol, &job.request, true).and_then(|line| {
            worker.reset_log_count();
            worker.send(line, last)
        });
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
        started
    }

    /// Reads what the slot's worker sent; returns when the answered request started, and when
    /// its answer came, once a request was answered.
    pub(super) fn on_readable(&mut self, index: usize) -> Option<(Instant, Instant)> {
        let slot = &mut self.slots[index];
        let worker = slot.worker.as_mut()?;
        let mut event = worker.read_answer();
        // Progress reports, and questions about an input that plugins changed, come on the
        // answer's channel, before the answer.
        while let Some(Event::Answer(Ok(line))) = &event
            && (line.starts_with(PROGRESS_PREFIX) || line.starts_with(CHECK_PREFIX))
        {
            if line.starts_with(CHECK_PREFIX) {
                if let Some(job) = &slot.job {
                    let project = std::sync::Arc::clone(&self.shared.lock().project);
                    let answer =
                        crate::runtime::input::answer_check(&project, &job.request.tool_id, line);
                    // A worker that is gone makes the write fail; its closed fd 3 tells.
                    let _ = worker.send(answer, false);
                }
            } else if let (Some(progress), Some(notes)) = (
                parse_progress(line),
                slot.job.as_ref().and_then(|job| job.notes.as_ref()),
            ) {
                notes(Note::Progress(progress));
            }
            event = worker.take_answer();
        }
        let event = event?;
        if slot.job.is_none() {
            // An idle worker has nothing to say: it ended (or broke the protocol). Its
            // replacement waits for a request: a worker that dies on start must not be
            // restarted in a loop.
            slot.start_failed = true;
            self.retire(index);
            return None;
        }
        match event {
            Event::Answer(Ok(line)) if !line.is_empty() => self.succeed(index, &line),
            other => {
                self.fail(index, other);
                None
            }
        }
    }

    fn succeed(&mut self, index: usize, line: &[u8]) -> Option<(Instant, Instant)> {
        let slot = &mut self.slots[index];
        let job = slot.job.take()?;
        if job.notes.is_some()
            && let Some(worker) = slot.worker.as_mut()
        {
            // The request's log lines reach its caller before its answer.
            worker.sync_logs(LOG_SYNC);
            worker.set_log_notes(None);
        }
        let now = Instant::now();
        slot.idle_since = Some(now);
        let started = job.started;
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
        Some((started, now))
    }

    /// Ends the slot's request with the error `event` stands for, and replaces its worker.
    pub(super) fn fail(&mut self, index: usize, event: Event) {
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
    pub(super) fn retire(&mut self, index: usize) {
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
    pub(super) fn check_limits(&mut self) {
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
}

//! The pool's loop: takes queued requests, cancellations, reloads and input lines, hands requests
//! to slots, and waits for the next event (spinning briefly where the next one is close).

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};

use super::slots::Slots;
use super::{Input, Shared, Size};
use crate::runtime::worker::{Event, SLICE};

/// How long the loop keeps polling without sleeping after a request went out or an answer came
/// back: a sleeping thread takes tens of microseconds to wake on another core, more than a warm
/// worker's whole round trip. The persistent worker polls its stdin in the same way.
pub(super) const SPIN: Duration = Duration::from_micros(100);

/// The loop polls only where the last such wait was shorter than this (a sleeper's count includes
/// its wake-up): a pool whose requests come further apart, or whose tools take longer, sleeps at
/// once.
const CLOSE: Duration = Duration::from_micros(300);

/// The pool's thread.
pub(super) struct Loop {
    pub(super) shared: Arc<Shared>,
    wakeups: UnixStream,
    pub(super) slots: Slots,
    /// How many workers run at most, how many stay warm, and for how long the others idle.
    size: Size,
    input: Option<Input>,
    /// Until when the next wait polls without sleeping (see [`SPIN`]).
    hot_until: Option<Instant>,
    /// Whether the last answer came within [`CLOSE`] of its request.
    answers_close: bool,
    /// Whether the last request came within [`CLOSE`] of the answer before it.
    requests_close: bool,
    /// When the last answer came.
    answered: Option<Instant>,
    /// Ends a spin when readable (see [`super::LocalDriver::interrupt_on`]).
    pub(super) interrupt: Option<OwnedFd>,
}

impl Loop {
    pub(super) fn new(shared: Arc<Shared>, wakeups: UnixStream, size: Size) -> Self {
        Self {
            slots: Slots::new(Arc::clone(&shared), size.max),
            size,
            shared,
            wakeups,
            input: None,
            hot_until: None,
            answers_close: true,
            requests_close: false,
            answered: None,
            interrupt: None,
        }
    }

    pub(super) fn run(mut self) {
        while let Some(wait) = self.turn() {
            if wait {
                self.wait(true);
            }
        }
        self.finish();
    }

    /// Takes new work, hands queued requests to workers (starting one where every running worker
    /// is busy), keeps the warm workers running and stops the ones idle for too long; `None` once
    /// the pool has ended, else whether the loop now waits for an event (rather than turning
    /// again at once).
    pub(super) fn turn(&mut self) -> Option<bool> {
        let (closing, generation) = self.take_work();
        // A reload stops the idle workers of the old code at once (busy ones after their request).
        for index in 0..self.slots.slots.len() {
            let slot = &self.slots.slots[index];
            if slot.idle() && slot.generation != generation {
                self.slots.retire(index);
            }
        }
        self.dispatch_queued(generation);
        if !closing {
            self.keep_warm(generation);
            self.retire_idle();
        }
        let idle = self.slots.slots.iter().all(|s| s.job.is_none());
        let queued = !self.shared.lock().queue.is_empty();
        if closing && idle && !queued {
            return None;
        }
        // A job that failed at once (no worker could start, or it was gone before the request
        // went out) left its slot free: the jobs queued behind it are tended before the loop
        // sleeps, since no event would come for them.
        Some(!(queued && self.slots.slots.iter().any(|s| s.job.is_none())))
    }

    /// Gives queued requests to idle workers, the lowest slot first (so that the higher ones stay
    /// idle and retire when the load drops), then to new workers in free slots.
    fn dispatch_queued(&mut self, generation: u64) {
        loop {
            let slots = &self.slots.slots;
            let Some(index) = slots
                .iter()
                .position(super::slots::Slot::idle)
                .or_else(|| slots.iter().position(super::slots::Slot::empty))
            else {
                return;
            };
            let (job, carrier) = self.slots.next_job(index);
            let Some(job) = job else {
                return;
            };
            let carrier = match carrier {
                Ok(Some(carrier)) => carrier,
                Ok(None) => {
                    let error = crate::runtime::RuntimeError::WorkerExited {
                        status: "has no runtime to start on".into(),
                    };
                    (job.reply)(super::failure(&job.request, &error, Duration::ZERO, false));
                    continue;
                }
                Err(error) => {
                    (job.reply)(super::failure(&job.request, &error, Duration::ZERO, false));
                    continue;
                }
            };
            // A warm worker of another carrier (another tool's program) makes way for the job's.
            let warm = self.slots.slots[index].carrier.as_ref().map(|c| c.key());
            if self.slots.slots[index].worker.is_some() && warm != Some(carrier.key()) {
                self.slots.retire(index);
            }
            // A request starts a worker even where the last start failed: it gets the error.
            if self.slots.slots[index].worker.is_none() {
                let env = job.request.env.clone();
                self.slots.start(index, generation, carrier, env.as_deref());
            }
            let started = self.slots.dispatch(index, job);
            self.requests_close = self
                .answered
                .is_some_and(|answered| started.saturating_duration_since(answered) < CLOSE);
            // A slow tool's answer is not worth spinning for, even right after another answer.
            self.hot_until = self.answers_close.then(|| started + SPIN);
        }
    }

    /// Starts workers ahead of requests until the warm ones run (a slot whose last start failed
    /// waits for a request: a worker that dies on start must not be restarted in a loop).
    fn keep_warm(&mut self, generation: u64) {
        // Only a JavaScript runtime's workers are started ahead: a program's start needs its
        // tool's call.
        let Some(js) = self.shared.carriers.js().cloned() else {
            return;
        };
        while self.slots.running_workers() < self.size.warm {
            let Some(index) = self
                .slots
                .slots
                .iter()
                .position(|slot| slot.empty() && !slot.start_failed)
            else {
                return;
            };
            let carrier: Arc<dyn crate::runtime::carrier::Carrier> = js.clone();
            self.slots.start(index, generation, carrier, None);
        }
    }

    /// Stops the workers beyond the warm ones that have been idle for [`Size::idle`], the highest
    /// slot first.
    fn retire_idle(&mut self) {
        let now = Instant::now();
        let mut running = self.slots.running_workers();
        for index in (0..self.slots.slots.len()).rev() {
            if running <= self.size.warm {
                return;
            }
            let slot = &self.slots.slots[index];
            if slot.idle()
                && slot
                    .idle_since
                    .is_some_and(|since| now.saturating_duration_since(since) >= self.size.idle)
            {
                self.slots.retire(index);
                running -= 1;
            }
        }
    }

    /// When the next idle worker is due to be stopped, if any is.
    fn next_retirement(&self) -> Option<Instant> {
        if self.slots.running_workers() <= self.size.warm {
            return None;
        }
        self.slots
            .slots
            .iter()
            .filter(|slot| slot.idle())
            .filter_map(|slot| slot.idle_since)
            .min()
            .map(|since| since + self.size.idle)
    }

    /// Stops the workers, and waits for the helpers (so that every answer is given).
    pub(super) fn finish(&mut self) {
        self.slots.finish();
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
            if let Some(index) = self.slots.running(&id) {
                self.slots.fail(index, Event::Cancelled);
            }
        }
        work
    }

    /// How long the loop may sleep: until the nearest deadline (at most a [`SLICE`]) or the next
    /// idle worker's retirement, or for ever.
    pub(super) fn sleep_for(&self) -> Option<Duration> {
        let now = Instant::now();
        let deadline = self
            .slots
            .next_deadline()
            .map(|deadline| deadline.saturating_duration_since(now).min(SLICE));
        let retirement = self
            .next_retirement()
            .map(|at| at.saturating_duration_since(now));
        deadline.into_iter().chain(retirement).min()
    }

    /// Waits (when `block`; else only while spinning, see [`SPIN`]) until a worker answers, a line
    /// arrives, another thread wakes the loop, or the nearest deadline; then handles what
    /// happened. Returns whether anything did.
    pub(super) fn wait(&mut self, block: bool) -> bool {
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
            for (index, channel) in self.slots.channels() {
                fds.push(PollFd::new(channel, PollFlags::POLLIN));
                workers.push((index, fds.len() - 1));
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
            if let Some((started, answered)) = self.slots.on_readable(index) {
                self.answers_close = answered.saturating_duration_since(started) < CLOSE;
                self.answered = Some(answered);
                // A client that sends its next request as soon as it has an answer.
                if self.requests_close {
                    self.hot_until = Some(answered + SPIN);
                }
            }
        }
        if ready_input {
            self.read_input();
        }
        self.slots.check_limits();
        handled
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
        let mut lines = 0;
        while let Some(end) = input.pending[start..].iter().position(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(&input.pending[start..start + end]).into_owned();
            start += end + 1;
            if !line.trim().is_empty() {
                (input.on_line)(&line);
                lines += 1;
            }
        }
        input.pending.drain(..start);
        // Lines that queued no job were answered as they were handled (a cached answer, a
        // refusal): as after a worker's answer, a client that sends its next request as soon as
        // it has one is looked for without sleeping.
        if lines > 0 && self.shared.lock().queue.is_empty() {
            let now = Instant::now();
            self.requests_close = self
                .answered
                .is_some_and(|answered| now.saturating_duration_since(answered) < CLOSE);
            self.answered = Some(now);
            if self.requests_close {
                self.hot_until = Some(now + SPIN);
            }
        }
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

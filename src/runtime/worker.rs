//! A worker process: spawned in its own process group, requests in on stdin, answers out on fd 3,
//! the tool's stdout and stderr forwarded to compozy's stderr (counted against a cap).

use std::io::{PipeWriter, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::error::RuntimeError;
use super::protocol::{Note, Notes};
use super::spawn::{WorkerCommand, WorkerFds};
use crate::config::Protocol;
/// How long a worker gets between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_millis(500);

/// What waiting for an answer ends with.
pub enum Event {
    /// One answer line (without its newline); empty when the worker closed fd 3 (exited).
    Answer(std::io::Result<Vec<u8>>),
    /// A `stdio` program closed its stdout: everything it wrote there.
    Output(Vec<u8>),
    /// An answer grew past the result cap.
    ResultTooLarge,
    /// The tool's output grew past the log cap.
    LogTooLarge,
    /// The deadline passed.
    TimedOut,
    /// The interrupt flag was raised (Ctrl-C).
    Interrupted,
    /// The caller cancelled the request.
    Cancelled,
}

/// How often a wait wakes up to look at the interrupt flag and the log cap.
pub const SLICE: Duration = Duration::from_millis(25);
/// How much of the end of a tool's log output is kept for an error message (a `stdio` program's
/// failure is told by the tail of its stderr).
const TAIL: usize = 4096;

/// What a pipe holds without a reader (Linux's default), so a write of this size never blocks.
const PIPE_BUFFER: usize = 64 * 1024;

/// A running worker.
pub struct WorkerProcess {
    /// The worker's pid, also the id of its process group.
    pid: Pid,
    /// How the worker ended, once it has been reaped.
    ended: Option<WaitStatus>,
    /// Set by [`WorkerProcess::stop`] (or the drop that does the same).
    stopped: bool,
    /// Requests go here (until [`WorkerProcess::send`] is told the request is the last).
    stdin: Option<PipeWriter>,
    /// The read end of fd 3, read by the waiting thread itself (no hand-off between threads on
    /// the hot path).
    protocol: std::io::PipeReader,
    /// Bytes read from fd 3 that are not yet part of a returned answer.
    pending: Vec<u8>,
    /// How much of `pending` is known to hold no newline.
    searched: usize,
    max_result: usize,
    /// Bytes of tool output since the last [`WorkerProcess::reset_log_count`].
    logged: Arc<AtomicUsize>,
    /// Raised by a forwarder when the log cap is passed.
    log_overflow: Arc<AtomicBool>,
    log_done: mpsc::Receiver<()>,
    /// Where the tool's log lines go besides stderr, while a request that wants them runs.
    log_notes: Arc<Mutex<Option<Notes>>>,
    /// A byte here asks the log forwarder to pass on everything the pipe holds, then to say so
    /// on `log_synced`.
    log_sync: PipeWriter,
    log_synced: mpsc::Receiver<()>,
    /// A second handle on the log pipe's read end, to see whether it holds unread output.
    log_probe: std::os::fd::OwnedFd,
    /// Raised by the log forwarder from before it reads until it has passed the lines on.
    log_busy: Arc<AtomicBool>,
    /// The last bytes of log output (at most [`TAIL`]).
    log_tail: Arc<Mutex<Vec<u8>>>,
    /// A `stdio` program: its answer is all of stdout, up to its end (not a line).
    until_eof: bool,
    /// When the process started.
    started: Instant,
}

impl WorkerProcess {
    /// Starts `cmd` with exactly `env`; `max_result` and `max_log` are the caps in bytes.
    pub fn spawn(
        cmd: &WorkerCommand,
        env: &[(String, String)],
        max_result: usize,
        max_log: usize,
    ) -> Result<Self, RuntimeError> {
        let (stdin_rx, stdin_tx) = std::io::pipe()?;
        let (protocol_rx, protocol_tx) = std::io::pipe()?;
        // The tool's stdout and stderr share one pipe: one forwarding thread, and their lines
        // keep the order in which the tool wrote them.
        let (log_rx, log_tx) = std::io::pipe()?;
        let until_eof = cmd.protocol == Protocol::Stdio;
        let fds = if until_eof {
            // A `stdio` program answers on stdout and logs on stderr.
            WorkerFds {
                stdin: stdin_rx.into(),
                stdout: protocol_tx.into(),
                stderr: log_tx.into(),
                protocol: None,
            }
        } else {
            WorkerFds {
                stdin: stdin_rx.into(),
                stdout: log_tx.try_clone()?.into(),
                stderr: log_tx.into(),
                protocol: Some(protocol_tx.into()),
            }
        };
        let started = Instant::now();
        // The parent's copies of the child's ends are closed by now, so the read ends see EOF
        // when the worker (and whatever inherited them) is gone.
        let pid = super::spawn::spawn(cmd, env, fds).map_err(|source| RuntimeError::Spawn {
            path: cmd.program.display().to_string(),
            source,
        })?;
        tracing::debug!(pid = pid.as_raw(), "worker started");

        let logged = Arc::new(AtomicUsize::new(0));
        let log_overflow = Arc::new(AtomicBool::new(false));
        let (done_tx, log_done) = mpsc::channel::<()>();
        let (sync_rx, log_sync) = std::io::pipe()?;
        let (synced_tx, log_synced) = mpsc::channel::<()>();
        let log_notes = Arc::new(Mutex::new(None));
        let log_probe = std::os::fd::AsFd::as_fd(&log_rx).try_clone_to_owned()?;
        let log_busy = Arc::new(AtomicBool::new(false));
        let log_tail = Arc::new(Mutex::new(Vec::new()));
        LogForwarder {
            tail: Arc::clone(&log_tail),
            busy: Arc::clone(&log_busy),
            from: log_rx,
            sync: sync_rx,
            synced: synced_tx,
            total: Arc::clone(&logged),
            max: max_log,
            overflow: Arc::clone(&log_overflow),
            notes: Arc::clone(&log_notes),
            pending: Vec::new(),
        }
        .spawn(done_tx);
        Ok(Self {
            pid,
            ended: None,
            stopped: false,
            stdin: Some(stdin_tx),
            protocol: protocol_rx,
            pending: Vec::new(),
            searched: 0,
            max_result,
            logged,
            log_overflow,
            log_done,
            log_notes,
            log_sync,
            log_synced,
            log_probe,
            log_busy,
            log_tail,
            until_eof,
            started,
        })
    }

    /// Sends the tool's log lines to `notes` too (besides stderr) from now on; `None` stops that.
    pub fn set_log_notes(&self, notes: Option<Notes>) {
        *self
            .log_notes
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = notes;
    }

    /// Waits (up to `limit`) until every log line the worker wrote so far has been passed on:
    /// called after an answer, so that a request's logs reach its caller before its answer.
    pub fn sync_logs(&mut self, limit: Duration) {
        // Nothing to wait for when the pipe is empty and the forwarder is not between a read
        // and passing its lines on (it raises `busy` before it reads; the pipe is checked first).
        let mut probe = [nix::poll::PollFd::new(
            std::os::fd::AsFd::as_fd(&self.log_probe),
            nix::poll::PollFlags::POLLIN,
        )];
        if nix::poll::poll(&mut probe, nix::poll::PollTimeout::ZERO) == Ok(0)
            && !self.log_busy.load(Ordering::SeqCst)
        {
            return;
        }
        // The answer to an earlier sync that timed out must not stand for this one.
        while self.log_synced.try_recv().is_ok() {}
        let started = Instant::now();
        if self.log_sync.write_all(&[1]).is_ok() && self.log_synced.recv_timeout(limit).is_err() {
            tracing::debug!("the log forwarder did not answer within {limit:?}");
        }
        tracing::trace!(elapsed = ?started.elapsed(), "logs synced");
    }

    /// The worker's pid (also its process group id).
    pub fn pid(&self) -> u32 {
        self.pid.as_raw().unsigned_abs()
    }

    /// Sends a request (`line`, with its newline for a persistent worker); `last`: then closes
    /// stdin, which a one-shot worker reads to its end. A request that fits in a pipe is written
    /// at once, in one write (the worker wakes up once, to a whole line); a larger one from a
    /// thread, so that a worker that does not read cannot hold up the caller or its deadline. A
    /// worker that died makes the write fail; its closed fd 3 and exit status tell the story.
    pub fn send(&mut self, line: Vec<u8>, last: bool) -> std::io::Result<()> {
        let gone = || std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        if line.len() <= PIPE_BUFFER {
            let mut stdin: &PipeWriter = self.stdin.as_ref().ok_or_else(gone)?;
            let written = stdin.write_all(&line);
            if last {
                self.stdin = None;
            }
            return written;
        }
        let stdin = if last {
            self.stdin.take()
        } else {
            self.stdin.as_ref().map(PipeWriter::try_clone).transpose()?
        };
        let mut stdin = stdin.ok_or_else(gone)?;
        std::thread::spawn(move || {
            let _ = stdin.write_all(&line);
        });
        Ok(())
    }

    /// Starts counting tool output from zero (the cap is per request).
    pub fn reset_log_count(&self) {
        self.logged.store(0, Ordering::Relaxed);
        self.log_overflow.store(false, Ordering::Relaxed);
    }

    /// Waits for the next answer line until `deadline`, or an interrupt, or a cap violation.
    pub fn next_answer(&mut self, deadline: Instant, interrupt: Option<&AtomicBool>) -> Event {
        loop {
            if let Some(event) = self.take_answer() {
                return event;
            }
            if interrupt.is_some_and(|flag| flag.load(Ordering::Relaxed)) {
                return Event::Interrupted;
            }
            let now = Instant::now();
            if now >= deadline {
                return Event::TimedOut;
            }
            let wait = SLICE.min(deadline - now);
            let millis = u16::try_from(wait.as_millis().max(1)).unwrap_or(u16::MAX);
            let mut fds = [nix::poll::PollFd::new(
                self.protocol_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            match nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(millis)) {
                Ok(0) | Err(nix::errno::Errno::EINTR) => {}
                Ok(_) => {
                    if let Some(event) = self.read_answer() {
                        return event;
                    }
                }
                Err(e) => return Event::Answer(Err(e.into())),
            }
        }
    }

    /// The read end of the protocol channel, for a caller that polls several workers at once
    /// (and then calls [`WorkerProcess::read_answer`]).
    pub fn protocol_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.protocol.as_fd()
    }

    /// Reads what the protocol channel holds (one read: call it when a poll says the channel is
    /// readable) and returns the outcome once there is one.
    pub fn read_answer(&mut self) -> Option<Event> {
        let mut chunk = [0u8; 1 << 14];
        match self.protocol.read(&mut chunk) {
            // A `stdio` program's answer is everything up to the end of its stdout.
            Ok(0) if self.until_eof => {
                self.searched = 0;
                return Some(Event::Output(std::mem::take(&mut self.pending)));
            }
            // EOF: the worker is gone (a partial line is not an answer).
            Ok(0) => return Some(Event::Answer(Ok(Vec::new()))),
            Ok(n) => self.pending.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Some(Event::Answer(Err(e))),
        }
        self.take_answer()
    }

    /// Whether the tool's output has passed the log cap since the last
    /// [`WorkerProcess::reset_log_count`].
    pub fn log_cap_exceeded(&self) -> bool {
        self.log_overflow.load(Ordering::Relaxed)
    }

    /// The outcome that the bytes read so far (and the log cap) decide, if any. A line, not EOF,
    /// ends an answer: a process the tool started inherits fd 3 and could keep it open long
    /// after the worker is gone.
    pub fn take_answer(&mut self) -> Option<Event> {
        // Over the log cap, the answer (if any) does not count: the tool broke a limit.
        if self.log_cap_exceeded() {
            return Some(Event::LogTooLarge);
        }
        if let Some(i) = self.pending[self.searched..]
            .iter()
            .position(|&b| b == b'\n')
            .filter(|_| !self.until_eof)
        {
            // The line keeps the buffer it was read into (usually all of it): a 5 MiB answer is
            // neither copied nor leaves a 5 MiB buffer behind for the worker's next answers.
            let rest = self.pending.split_off(self.searched + i + 1);
            let mut line = std::mem::replace(&mut self.pending, rest);
            line.pop();
            self.searched = 0;
            return Some(Event::Answer(Ok(line)));
        }
        self.searched = self.pending.len();
        (self.pending.len() > self.max_result).then_some(Event::ResultTooLarge)
    }

    /// How the worker ended, waiting up to `grace` for it.
    pub fn exit_status(&mut self, grace: Duration) -> String {
        self.wait_status(grace)
            .map_or_else(|| "still running".into(), describe)
    }

    /// How the worker ended, waiting up to `grace` for it; `None` while it runs.
    pub fn wait_status(&mut self, grace: Duration) -> Option<WaitStatus> {
        let until = Instant::now() + grace;
        loop {
            match self.reap(Some(WaitPidFlag::WNOHANG)) {
                Some(status) => return Some(status),
                None if Instant::now() < until => {
                    std::thread::sleep(Duration::from_micros(100));
                }
                None => return None,
            }
        }
    }

    /// The last lines of the tool's log output (a `stdio` program's stderr), at most a few KiB.
    pub fn log_tail(&self) -> String {
        let tail = self.log_tail.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&tail).into_owned()
    }

    /// When the process started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Collects the worker's exit status (`WNOHANG`: only if it has ended).
    fn reap(&mut self, flags: Option<WaitPidFlag>) -> Option<WaitStatus> {
        if self.ended.is_none() {
            match waitpid(self.pid, flags) {
                Ok(WaitStatus::StillAlive) => {}
                Ok(status) => self.ended = Some(status),
                // Not our child any more (reaped elsewhere): nothing left to wait for.
                Err(e) => {
                    tracing::debug!("waitpid {}: {e}", self.pid);
                    return None;
                }
            }
        }
        self.ended
    }

    /// Ends the worker and everything it started, including a child the tool left running.
    /// `gracefully`: SIGTERM and a grace period first (after a timeout, an interrupt, a reload);
    /// otherwise (after a complete answer, with nothing left to wait for) SIGKILL at once.
    pub fn stop(mut self, gracefully: bool) {
        self.shutdown(gracefully);
    }

    /// Sends SIGKILL to the worker's whole group and returns at once, without reaping it: for a
    /// caller that exits right after (a one-shot `exec`). Nothing of the group survives SIGKILL.
    pub fn kill_now(mut self) {
        self.stopped = true;
        drop(self.stdin.take());
        let _ = killpg(self.pid, Signal::SIGKILL);
    }

    fn shutdown(&mut self, gracefully: bool) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        drop(self.stdin.take());
        // The group outlives its leader while the tool's children are in it, and Linux does not
        // reuse a pid that is still some group's id, so signalling it after the reap is safe.
        if gracefully {
            let _ = killpg(self.pid, Signal::SIGTERM);
            let _ = self.exit_status(GRACE);
        }
        let _ = killpg(self.pid, Signal::SIGKILL);
        let _ = self.reap(None);
        // The last log lines must reach stderr before compozy prints anything else; a process the
        // tool detached from the group could hold the pipes open, so do not wait on it for long.
        let _ = self.log_done.recv_timeout(Duration::from_millis(200));
        tracing::debug!("worker stopped");
    }
}

impl Drop for WorkerProcess {
    /// A worker never outlives its handle (an early return or a panic included).
    fn drop(&mut self) {
        self.shutdown(false);
    }
}

/// `exit code 3`, `killed by signal 9`.
pub fn describe(status: WaitStatus) -> String {
    match status {
        WaitStatus::Exited(_, code) => format!("exit code {code}"),
        WaitStatus::Signaled(_, signal, _) => {
            format!("killed by signal {}", signal as i32)
        }
        other => format!("{other:?}"),
    }
}

/// The thread that passes the tool's stdout and stderr on, whole lines at a time, so that the
/// output of several workers does not interleave mid-line.
struct LogForwarder {
    /// Raised from before a read until its lines are passed on (and while a line waits for its
    /// newline).
    busy: Arc<AtomicBool>,
    from: std::io::PipeReader,
    sync: std::io::PipeReader,
    synced: mpsc::Sender<()>,
    total: Arc<AtomicUsize>,
    max: usize,
    overflow: Arc<AtomicBool>,
    notes: Arc<Mutex<Option<Notes>>>,
    /// Bytes after the last complete line.
    pending: Vec<u8>,
    /// The last [`TAIL`] bytes passed on.
    tail: Arc<Mutex<Vec<u8>>>,
}

impl LogForwarder {
    fn spawn(mut self, done: mpsc::Sender<()>) {
        std::thread::spawn(move || {
            let _done = DropSignal(done);
            self.run();
        });
    }

    fn run(&mut self) {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use std::os::fd::AsFd;
        let mut sync_open = true;
        loop {
            let (from_ready, sync_ready) = {
                let mut fds = vec![PollFd::new(self.from.as_fd(), PollFlags::POLLIN)];
                if sync_open {
                    fds.push(PollFd::new(self.sync.as_fd(), PollFlags::POLLIN));
                }
                match poll(&mut fds, PollTimeout::NONE) {
                    Ok(_) => {}
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(_) => return,
                }
                let ready = |fd: &PollFd| fd.any().unwrap_or(true);
                (ready(&fds[0]), fds.get(1).is_some_and(ready))
            };
            if from_ready && !self.read_once() {
                return self.flush_partial();
            }
            if sync_ready {
                let mut byte = [0u8; 64];
                if matches!(self.sync.read(&mut byte), Ok(0) | Err(_)) {
                    sync_open = false;
                }
                // Everything the worker wrote before its answer is in the pipe by now.
                let ended = !self.drain();
                self.flush_partial();
                let _ = self.synced.send(());
                if ended {
                    return;
                }
            }
        }
    }

    /// Reads what the pipe holds without waiting; false at its end.
    fn drain(&mut self) -> bool {
        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
        use std::os::fd::AsFd;
        loop {
            let mut fds = [PollFd::new(self.from.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, PollTimeout::ZERO) {
                Ok(0) => return true,
                Ok(_) if !self.read_once() => return false,
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(_) => return false,
            }
        }
    }

    /// One read (the pipe is readable) and the complete lines it brings; false at the end.
    fn read_once(&mut self) -> bool {
        self.busy.store(true, Ordering::SeqCst);
        let more = self.read_lines();
        // A line still without its newline is passed on by the next sync.
        self.busy.store(!self.pending.is_empty(), Ordering::SeqCst);
        more
    }

    fn read_lines(&mut self) -> bool {
        let mut chunk = [0u8; 1 << 14];
        let n = match self.from.read(&mut chunk) {
            Ok(0) => return false,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return true,
            Err(_) => return false,
        };
        self.pending.extend_from_slice(&chunk[..n]);
        let mut start = 0;
        while let Some(i) = self.pending[start..].iter().position(|&b| b == b'\n') {
            let end = start + i + 1;
            let line = self.pending[start..end].to_vec();
            self.emit(&line);
            start = end;
        }
        self.pending.drain(..start);
        true
    }

    /// Passes on a last line that has no newline.
    fn flush_partial(&mut self) {
        if !self.pending.is_empty() {
            let mut line = std::mem::take(&mut self.pending);
            line.push(b'\n');
            self.emit(&line);
        }
        self.busy.store(false, Ordering::SeqCst);
    }

    fn emit(&self, line: &[u8]) {
        let n = line.len();
        if self.total.fetch_add(n, Ordering::Relaxed) + n > self.max {
            // Keep draining (a closed pipe would make the tool fail with EPIPE and hide the
            // real reason); the executor stops the worker.
            self.overflow.store(true, Ordering::Relaxed);
            return;
        }
        let _ = std::io::stderr().lock().write_all(line);
        {
            let mut tail = self.tail.lock().unwrap_or_else(PoisonError::into_inner);
            tail.extend_from_slice(line);
            if tail.len() > TAIL {
                let cut = tail.len() - TAIL;
                tail.drain(..cut);
            }
        }
        let notes = self
            .notes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some(notes) = notes {
            let text = String::from_utf8_lossy(line);
            notes(Note::Log(text.trim_end_matches(['\n', '\r']).to_owned()));
        }
    }
}

/// Signals "finished" when dropped, whichever way the thread ends.
struct DropSignal(mpsc::Sender<()>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

//! `exec`'s side: send the call to the project's server, if one listens and takes it.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use super::wire::{Ask, Call, ExecCall, Message, Status};
use crate::runtime::Response;

/// How a forwarded call ended.
pub enum Forwarded {
    /// The server's answer (the tool's log lines went to stderr before it).
    Answer(Box<Response>),
    /// SIGINT/SIGTERM: the call was cancelled in the server.
    Interrupted,
    /// The server took the call but ended before answering (the tool may have run).
    Broken(String),
}

/// How long a cancelled call waits for the server to confirm the tool's processes are stopped.
const CANCEL_WAIT: Duration = Duration::from_secs(5);

/// Connects to the project's server; `Err` says why there is none to talk to (a socket left by
/// a dead server is removed on the way).
fn connect(root: &std::path::Path) -> Result<UnixStream, String> {
    let dir = super::socket_dir();
    let path = super::socket_path(root);
    match UnixStream::connect(&path) {
        Ok(stream) => {
            // Only a directory of our own vouches for whoever listens in it.
            super::check_dir(&dir)?;
            Ok(stream)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err("no server of this project is listening".into())
        }
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            if super::check_dir(&dir).is_ok() {
                let _ = std::fs::remove_file(&path);
                Err(format!(
                    "removed {}, left by a server that is gone",
                    path.display()
                ))
            } else {
                Err(format!("{} refused the connection", path.display()))
            }
        }
        Err(e) => Err(format!("cannot connect to {}: {e}", path.display())),
    }
}

fn ask(stream: &mut UnixStream, ask: &Ask) -> Result<(), String> {
    let mut line = serde_json::to_vec(ask).map_err(|e| e.to_string())?;
    line.push(b'\n');
    stream
        .write_all(&line)
        .map_err(|e| format!("cannot send the call: {e}"))
}

/// Sends `call` to the project's server. `Err`: it was not run there (no server, or it refused);
/// the reason is for `-v`, and the caller runs the call one-shot.
pub fn forward(call: Call) -> Result<Forwarded, String> {
    let mut stream = connect(&call.root)?;
    Ok(match converse(&mut stream, &Ask::Call(Box::new(call)))? {
        Ended::Said(Message::Answer(response)) => Forwarded::Answer(response),
        Ended::Said(_) => Forwarded::Broken("the server's answer did not parse".into()),
        Ended::Interrupted => Forwarded::Interrupted,
        Ended::Broken(reason) => Forwarded::Broken(reason),
    })
}

/// Why an [`ExecCall`] was not run by a server.
pub enum NotRun {
    /// There is no server to talk to (said why): looking again would find none either.
    NoServer(String),
    /// A server did not take the call (said why).
    NotTaken(String),
}

/// How a forwarded [`ExecCall`] ended.
pub enum Ran {
    /// The server's answer (the tool's log lines went to stderr before it).
    Answer(Box<super::wire::Ran>),
    /// SIGINT/SIGTERM: the call was cancelled in the server.
    Interrupted,
    /// The server took the call but ended before answering (the tool may have run).
    Broken(String),
}

/// Sends `exec`'s arguments (`call`, made once a server answers) to the server of the project in
/// `root`.
pub fn forward_exec(
    root: &std::path::Path,
    call: impl FnOnce() -> ExecCall,
) -> Result<Ran, NotRun> {
    let mut stream = connect(root).map_err(NotRun::NoServer)?;
    Ok(
        match converse(&mut stream, &Ask::Exec(Box::new(call()))).map_err(NotRun::NotTaken)? {
            Ended::Said(Message::Ran(ran)) => Ran::Answer(ran),
            Ended::Said(_) => Ran::Broken("the server's answer did not parse".into()),
            Ended::Interrupted => Ran::Interrupted,
            Ended::Broken(reason) => Ran::Broken(reason),
        },
    )
}

/// How a conversation about one call ended.
enum Ended {
    /// The last message ([`Message::Answer`] or [`Message::Ran`]).
    Said(Message),
    /// SIGINT/SIGTERM: the call was cancelled in the server.
    Interrupted,
    /// The server took the call but ended before answering.
    Broken(String),
}

/// SIGINT or SIGTERM arrived during a call (see [`converse`]).
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Asks for one call and passes the tool's log lines on to stderr until the answer. `Err`: the
/// server did not take the call.
fn converse(stream: &mut UnixStream, asked: &Ask) -> Result<Ended, String> {
    use std::os::fd::AsRawFd;
    use std::sync::atomic::Ordering;
    // Ctrl-C hangs up the writing half: the server cancels the call and answers, within
    // CANCEL_WAIT or the read gives up. Done in the handler itself, with system calls only: a
    // thread waiting for the signal cost a clone, a stack and an allocator arena on every call.
    let fd = stream.as_raw_fd();
    // compozy's own flag first: it stays when the hang-up is unregistered below, so that a
    // Ctrl-C after a refused call still stops the one-shot run that follows (signal-hook leaves
    // a signal whose actions are all unregistered ignored, not to its default).
    let _ = crate::runtime::interrupted();
    let hangup = move || {
        use nix::sys::socket::{Shutdown, setsockopt, shutdown, sockopt::ReceiveTimeout};
        use nix::sys::time::TimeVal;
        INTERRUPTED.store(true, Ordering::SeqCst);
        // SAFETY: `fd` stays open until the handler is unregistered (below, before `stream` can
        // be dropped by the caller).
        let socket = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        let wait = TimeVal::new(i64::try_from(CANCEL_WAIT.as_secs()).unwrap_or(5), 0);
        let _ = setsockopt(&socket, ReceiveTimeout, &wait);
        let _ = shutdown(fd, Shutdown::Write);
    };
    let handlers: Vec<_> = [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM]
        .into_iter()
        .filter_map(|signal| {
            // SAFETY: the action is async-signal-safe: an atomic store and two system calls, no
            // allocation, no lock.
            unsafe { signal_hook::low_level::register(signal, hangup) }.ok()
        })
        .collect();
    let outcome = exchange(stream, asked);
    for id in handlers {
        signal_hook::low_level::unregister(id);
    }
    let was_interrupted = INTERRUPTED.load(Ordering::SeqCst);
    let cancelled = |response: &Response| {
        response
            .error
            .as_ref()
            .is_some_and(|e| e.name == "CancelledError")
    };
    match outcome {
        Ok(Ended::Said(Message::Answer(response))) if was_interrupted && cancelled(&response) => {
            Ok(Ended::Interrupted)
        }
        Ok(Ended::Said(Message::Ran(ran))) if was_interrupted && cancelled(&ran.response) => {
            Ok(Ended::Interrupted)
        }
        Ok(Ended::Broken(_)) | Err(_) if was_interrupted => Ok(Ended::Interrupted),
        other => other,
    }
}

fn exchange(stream: &mut UnixStream, asked: &Ask) -> Result<Ended, String> {
    ask(stream, asked)?;
    let read = stream.try_clone().map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(read);
    let mut line = Vec::new();
    let mut started = false;
    let stderr = std::io::stderr();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line);
        let message = match n {
            Ok(0) | Err(_) if !started => return Err("the server hung up".into()),
            Ok(0) => {
                return Ok(Ended::Broken("the server hung up before answering".into()));
            }
            Err(e) => return Ok(Ended::Broken(format!("lost the server: {e}"))),
            Ok(_) => serde_json::from_slice::<Message>(&line),
        };
        match message {
            Ok(Message::Log(text)) => {
                started = true;
                let mut err = stderr.lock();
                let _ = err
                    .write_all(text.as_bytes())
                    .and_then(|()| err.write_all(b"\n"));
            }
            Ok(last @ (Message::Answer(_) | Message::Ran(_))) => return Ok(Ended::Said(last)),
            Ok(Message::Refused(reason)) => return Err(format!("the server refused: {reason}")),
            Ok(Message::Status(_)) | Err(_) if !started => {
                return Err("the server's answer did not parse".into());
            }
            Ok(Message::Status(_)) | Err(_) => {
                return Ok(Ended::Broken("the server's answer did not parse".into()));
            }
        }
    }
}

/// The server of the project in `root`, if one listens (`compozy daemon status`).
pub fn status(root: &std::path::Path) -> Result<Status, String> {
    let mut stream = connect(root)?;
    ask(&mut stream, &Ask::Status)?;
    let mut line = String::new();
    BufReader::new(stream)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    match serde_json::from_str::<Message>(&line) {
        Ok(Message::Status(status)) => Ok(status),
        Ok(Message::Refused(reason)) => Err(reason),
        _ => Err("the server's answer did not parse".into()),
    }
}

/// Asks the project's server to stop; `Ok` once it has.
pub fn stop(root: &std::path::Path) -> Result<(), String> {
    let mut stream = connect(root)?;
    ask(&mut stream, &Ask::Stop)?;
    let mut rest = Vec::new();
    let _ = std::io::Read::read_to_end(&mut stream, &mut rest);
    Ok(())
}

//! `exec`'s side: send the call to the project's server, if one listens and takes it.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use super::wire::{Ask, Call, Message, Status};
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
    // Ctrl-C hangs up the writing half: the server cancels the call and answers.
    let interrupt = stream.try_clone().ok().and_then(|hangup| {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]).ok()?;
        let handle = signals.handle();
        std::thread::spawn(move || {
            if signals.forever().next().is_some() {
                let _ = hangup.set_read_timeout(Some(CANCEL_WAIT));
                let _ = hangup.shutdown(std::net::Shutdown::Write);
            }
        });
        Some(handle)
    });
    let outcome = exchange(&mut stream, call);
    let was_interrupted = stream.read_timeout().is_ok_and(|timeout| timeout.is_some());
    if let Some(handle) = &interrupt {
        handle.close();
    }
    match outcome {
        Ok(Forwarded::Answer(response))
            if was_interrupted
                && response
                    .error
                    .as_ref()
                    .is_some_and(|e| e.name == "CancelledError") =>
        {
            Ok(Forwarded::Interrupted)
        }
        Ok(Forwarded::Broken(_)) if was_interrupted => Ok(Forwarded::Interrupted),
        other => other,
    }
}

fn exchange(stream: &mut UnixStream, call: Call) -> Result<Forwarded, String> {
    ask(stream, &Ask::Call(Box::new(call)))?;
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
                return Ok(Forwarded::Broken(
                    "the server hung up before answering".into(),
                ));
            }
            Err(e) => return Ok(Forwarded::Broken(format!("lost the server: {e}"))),
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
            Ok(Message::Answer(response)) => return Ok(Forwarded::Answer(response)),
            Ok(Message::Refused(reason)) => return Err(format!("the server refused: {reason}")),
            Ok(Message::Status(_)) | Err(_) if !started => {
                return Err("the server's answer did not parse".into());
            }
            Ok(Message::Status(_)) | Err(_) => {
                return Ok(Forwarded::Broken(
                    "the server's answer did not parse".into(),
                ));
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

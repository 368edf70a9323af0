//! The newline-delimited JSON front end over the pool: requests on stdin, answers on stdout.

use std::io::Write;
use std::sync::{Arc, Mutex};

use crate::runtime::{Pool, Response, Server};

/// Writes answers as they complete, one JSON line each, whole lines only.
fn writer() -> impl Fn(Response) + Send + Sync + Clone + 'static {
    let stdout = Arc::new(Mutex::new(std::io::stdout()));
    move |response: Response| {
        let mut line = serde_json::to_vec(&response).unwrap_or_else(|e| {
            format!(r#"{{"id":null,"result":null,"error":{{"name":"InternalError","message":"cannot encode the answer: {e}"}}}}"#).into_bytes()
        });
        line.push(b'\n');
        let mut out = stdout
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let _ = out.write_all(&line).and_then(|()| out.flush());
    }
}

/// Hands stdin to the pool's thread, which reads the requests itself, and waits until stdin has
/// closed and every line was handled (callers then drain the pool with [`Pool::shutdown`]).
pub(in crate::cli) fn serve_stdin(pool: &Pool, server: Arc<Mutex<Server>>) {
    use std::os::fd::AsFd;
    let stdin = match std::io::stdin().as_fd().try_clone_to_owned() {
        Ok(fd) => fd,
        Err(e) => {
            tracing::error!("cannot read stdin: {e}");
            return;
        }
    };
    let reply = writer();
    let ended = pool.read_lines(
        stdin,
        Box::new(move |line| {
            server
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .handle_line(line, Box::new(reply.clone()));
        }),
    );
    let _ = ended.recv();
}

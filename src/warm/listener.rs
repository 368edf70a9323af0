//! The server's side: a Unix socket that accepts calls from `exec` of the same user and runs
//! them on the pool, for code loaded from the project's current files only.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::wire::{Ask, Call, ExecCall, Input, Message, Ran, Status};
use crate::config::Project;
use crate::runtime::pool::Job;
use crate::runtime::{Note, Pool, Request, Server};

/// How long a client may take to send its request line.
const ASK_WAIT: Duration = Duration::from_secs(10);

/// Hands a reloaded project to every front end of the server (and the pool).
pub type Reload = Arc<dyn Fn(Arc<Project>) + Send + Sync>;

/// A listening socket; removed when dropped or when the process ends on a signal
/// ([`remove_socket`]).
pub struct Listener {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    pool: Pool,
    /// Runs forwarded calls under the project's policies.
    server: Arc<Mutex<Server>>,
    reload: Reload,
    /// `bun`/`node` when the pool runs JavaScript tools.
    runtime: Option<String>,
    limits: (usize, usize),
    command: String,
    state: Mutex<Loaded>,
    /// Whether the project's files are those of a fingerprint, for calls from `exec`'s arguments.
    freshness: Mutex<super::fresh::Freshness>,
}

/// The project the pool runs, and the fingerprint of the files it was loaded from (`None`:
/// unknown, every call is checked against the stored project first).
struct Loaded {
    project: Arc<Project>,
    fingerprint: Option<u64>,
}

/// The socket this process listens on, and its inode (a later server's socket is not ours).
static LISTENING: Mutex<Option<(PathBuf, u64)>> = Mutex::new(None);

/// Removes this process's socket (before an exit that skips destructors).
pub fn remove_socket() {
    let taken = LISTENING
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    if let Some((path, ino)) = taken
        && std::fs::symlink_metadata(&path).is_ok_and(|m| m.ino() == ino)
    {
        let _ = std::fs::remove_file(&path);
    }
}

/// Why a server does not listen.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("another compozy server of this project already listens on {0}")]
    Taken(PathBuf),
    #[error("{0}")]
    Dir(String),
    #[error("cannot listen on {path}: {source}")]
    Bind {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What a server needs to listen for a project.
pub struct Setup {
    /// The pool calls run on.
    pub pool: Pool,
    /// The front end whose policies (rate limits, cache, …) forwarded calls go through.
    pub server: Arc<Mutex<Server>>,
    /// What every front end does with a reloaded project.
    pub reload: Reload,
    /// `bun`/`node` when the pool runs JavaScript tools.
    pub runtime: Option<String>,
    /// The pool's caps.
    pub limits: (usize, usize),
    /// The command serving (for `compozy daemon status`).
    pub command: String,
}

impl Listener {
    /// Listens on the socket of `project` (see [`super::socket_path`]); a socket left by a dead
    /// server is removed first, a live one is left alone.
    pub fn start(project: Arc<Project>, setup: Setup) -> Result<Self, ListenError> {
        super::prepare_dir().map_err(ListenError::Dir)?;
        let path = super::socket_path(&project.root);
        if std::fs::symlink_metadata(&path).is_ok() {
            if UnixStream::connect(&path).is_ok() {
                return Err(ListenError::Taken(path));
            }
            tracing::info!(
                "removing the socket of a server that is gone: {}",
                path.display()
            );
            let _ = std::fs::remove_file(&path);
        }
        // Bound under another name and linked into place once listening and private: a client
        // never finds a socket that refuses it, nor one with looser permissions.
        let temporary = path.with_extension(format!("{}.tmp", std::process::id()));
        let _ = std::fs::remove_file(&temporary);
        let bind = |source| ListenError::Bind {
            path: path.clone(),
            source,
        };
        let listener = UnixListener::bind(&temporary).map_err(bind)?;
        // A link, not a rename: of two servers starting at once, the second finds the name
        // taken (a rename would silently replace the first one's socket).
        let linked = std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600))
            .and_then(|()| std::fs::hard_link(&temporary, &path));
        let _ = std::fs::remove_file(&temporary);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(ListenError::Taken(path));
            }
            Err(e) => return Err(bind(e)),
        }
        let ino = std::fs::symlink_metadata(&path).map_err(bind)?.ino();
        if let Some(dir) = path.parent().map(Path::to_path_buf) {
            std::thread::spawn(move || sweep(&dir));
        }
        *LISTENING.lock().unwrap_or_else(PoisonError::into_inner) = Some((path.clone(), ino));
        let fingerprint = crate::fresh_digest(&project.root);
        let freshness = Mutex::new(super::fresh::Freshness::new(&project.root));
        let inner = Arc::new(Inner {
            path,
            pool: setup.pool,
            server: setup.server,
            reload: setup.reload,
            runtime: setup.runtime,
            limits: setup.limits,
            command: setup.command,
            state: Mutex::new(Loaded {
                project,
                fingerprint,
            }),
            freshness,
        });
        let accepting = Arc::clone(&inner);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let inner = Arc::clone(&accepting);
                std::thread::spawn(move || handle(&inner, stream));
            }
        });
        Ok(Self { inner })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The front ends switched to `project`, regenerated just now.
    pub fn reloaded(&self, project: Arc<Project>) {
        let fingerprint = crate::fresh_digest(&project.root);
        *self.inner.lock() = Loaded {
            project,
            fingerprint,
        };
    }
}

/// Removes the sockets of other projects' servers that are gone (killed, crashed): a socket
/// that refuses a connection has no server behind it, as servers bind under another name and
/// rename a socket into place only once it listens.
fn sweep(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "sock")
            && let Err(e) = UnixStream::connect(&path)
            && e.kind() == std::io::ErrorKind::ConnectionRefused
        {
            tracing::debug!(
                "removing the socket of a server that is gone: {}",
                path.display()
            );
            let _ = std::fs::remove_file(&path);
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        remove_socket();
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Loaded> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn send(stream: &mut UnixStream, message: &Message) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(message).map_err(std::io::Error::other)?;
    line.push(b'\n');
    stream.write_all(&line)
}

/// The peer's uid, when it runs as this process's user.
fn same_user(stream: &UnixStream) -> Option<u32> {
    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
    getsockopt(stream, PeerCredentials)
        .ok()
        .map(|cred| cred.uid())
        .filter(|uid| *uid == nix::unistd::geteuid().as_raw())
}

fn handle(inner: &Inner, mut stream: UnixStream) {
    let Some(uid) = same_user(&stream) else {
        tracing::warn!(
            "refused a connection to {} from another user",
            inner.path.display()
        );
        let _ = send(
            &mut stream,
            &Message::Refused("the server runs as another user".into()),
        );
        return;
    };
    let Ok(read) = stream.try_clone() else { return };
    // A client that connects and says nothing (another server checking that this one is alive)
    // does not keep a thread forever.
    let _ = stream.set_read_timeout(Some(ASK_WAIT));
    let mut reader = BufReader::new(read);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let _ = stream.set_read_timeout(None);
    match serde_json::from_str::<Ask>(&line) {
        Ok(Ask::Call(call)) => match refusal(inner, &call) {
            Some(reason) => refuse(&mut stream, &reason),
            None => {
                let request = Request {
                    id: serde_json::Value::Null,
                    tool_id: call.tool_id,
                    tool_exec_id: call.tool_exec_id,
                    input: call.input,
                    config: call.config,
                    env: Some(Arc::new(call.env)),
                    timeout_ms: call.timeout_ms,
                    progress: false,
                    traceparent: call.traceparent,
                };
                run(inner, request, uid, stream, reader, |response| {
                    Message::Answer(Box::new(response))
                });
            }
        },
        Ok(Ask::Exec(call)) => match prepare(inner, &call) {
            Err(reason) => refuse(&mut stream, &reason),
            Ok((project, request, timeout)) => {
                // The key of the tool that runs (`weather@2` names `weather`).
                let tool_id = request.tool_id.clone();
                run(inner, request, uid, stream, reader, move |response| {
                    let invalid_output = match (&response.error, project.tool(&tool_id)) {
                        (None, Some(tool)) => crate::call::check_output(tool, &response).err(),
                        _ => None,
                    };
                    Message::Ran(Box::new(Ran {
                        response,
                        timeout,
                        invalid_output,
                    }))
                });
            }
        },
        Ok(Ask::Status) => {
            let loaded = inner.lock();
            let fresh = loaded.fingerprint.is_some()
                && loaded.fingerprint == crate::fresh_digest(&loaded.project.root);
            let status = Status {
                pid: std::process::id(),
                command: inner.command.clone(),
                root: loaded.project.root.clone(),
                tools: loaded.project.tools.len(),
                fresh,
            };
            drop(loaded);
            let _ = send(&mut stream, &Message::Status(status));
        }
        Ok(Ask::Stop) => {
            tracing::info!("stopping: asked to by `compozy daemon stop`");
            let _ = send(&mut stream, &Message::Refused("stopping".into()));
            remove_socket();
            inner.pool.kill_all();
            std::process::exit(0);
        }
        Err(e) => {
            let _ = send(&mut stream, &Message::Refused(format!("not a call: {e}")));
        }
    }
}

fn refuse(stream: &mut UnixStream, reason: &str) {
    tracing::debug!("refused a forwarded call: {reason}");
    let _ = send(stream, &Message::Refused(reason.to_owned()));
}

/// Why this server will not run a call of compozy `version` for the project in `root` with
/// `limits`, whatever the call.
fn mismatch(inner: &Inner, version: &str, limits: (usize, usize), root: &Path) -> Option<String> {
    if version != env!("CARGO_PKG_VERSION") {
        return Some(format!(
            "the server is compozy {}, the caller {version}",
            env!("CARGO_PKG_VERSION"),
        ));
    }
    if limits != inner.limits {
        return Some("the caller's output caps differ from the server's".into());
    }
    if inner.pool.is_closing() {
        return Some("the server is stopping".into());
    }
    if root != inner.lock().project.root {
        return Some("another project".into());
    }
    None
}

/// The project as loaded from the files whose fingerprint has the digest `fingerprint` (found
/// fresh just now by the caller or by this server): the one loaded, or, when the files changed
/// since, their stored project, to which the server switches first.
fn loaded_from(inner: &Inner, fingerprint: u64) -> Result<Arc<Project>, String> {
    let loaded = inner.lock();
    if loaded.fingerprint == Some(fingerprint) {
        return Ok(Arc::clone(&loaded.project));
    }
    let root = loaded.project.root.clone();
    drop(loaded);
    // The files changed since the server loaded them: reload from the stored project, when it is
    // the one the caller found fresh.
    let compiled = crate::generate::Compiled::load(&root);
    if crate::fresh_digest(&root) != Some(fingerprint) {
        return Err("the server's code is not the project's current files".into());
    }
    let Some(project) = compiled.and_then(|c| c.project()) else {
        return Err("the stored project did not load".into());
    };
    tracing::info!("reloading for a forwarded call: the project's files changed");
    let project = Arc::new(project);
    (inner.reload)(Arc::clone(&project));
    *inner.lock() = Loaded {
        project: Arc::clone(&project),
        fingerprint: Some(fingerprint),
    };
    Ok(project)
}

/// Why this server will not run `call` now; `None`: it will (after reloading, if the project's
/// files changed and their stored project is what the caller saw).
fn refusal(inner: &Inner, call: &Call) -> Option<String> {
    if let Some(reason) = mismatch(inner, &call.version, call.limits, &call.root) {
        return Some(reason);
    }
    if call.runtime.is_some() && call.runtime != inner.runtime {
        return Some(format!(
            "the call runs on {}, the server on {}",
            call.runtime.as_deref().unwrap_or("its own program"),
            inner.runtime.as_deref().unwrap_or("no Bun or Node")
        ));
    }
    loaded_from(inner, call.fingerprint).err()
}

/// `exec`'s call checked and prepared as `exec` does it one-shot, for the project's current
/// files (checked here, by their fingerprint): the project, the request and its deadline. `Err`
/// when this server will not run it, also when `exec` would report anything (a problem with the
/// call, a warning, no runtime): `exec` then runs one-shot, and reports it.
fn prepare(inner: &Inner, call: &ExecCall) -> Result<(Arc<Project>, Request, Duration), String> {
    if let Some(reason) = mismatch(inner, &call.version, call.limits, &call.root) {
        return Err(reason);
    }
    let fingerprint = (inner.freshness.lock())
        .unwrap_or_else(PoisonError::into_inner)
        .digest()
        .ok_or(super::NOT_FRESH)?;
    let project = loaded_from(inner, fingerprint)?;
    let args = crate::call::Args {
        tool_id: &call.tool_id,
        config: call.config.as_deref(),
        timeout: call.timeout.as_deref(),
        env: &call.env,
        process_env: &call.process_env,
    };
    let input = || match &call.input {
        Input::Arg(text) => crate::call::parse_json("--input", text),
        Input::File(text) => crate::call::parse_read_input("--input-file", text),
        Input::Empty => Ok(serde_json::Value::Object(Default::default())),
    };
    let prepared = crate::call::prepare(&project, &args, |_| {}, input)
        .map_err(|problem| format!("exec reports a problem with the call: {problem}"))?;
    if crate::config::versions::deprecation(prepared.tool).is_some() {
        return Err("exec warns that the tool is deprecated".into());
    }
    if prepared.tool.command.is_none() {
        let runtime = &project.runtime;
        let kind = call.runtime.unwrap_or(runtime.kind);
        if kind == crate::config::RuntimeKind::Bun
            && runtime.deno_permissions.is_empty()
            && runtime.permissions.is_some()
        {
            return Err("exec warns that Bun does not enforce the permissions".into());
        }
        let found = crate::runtime::find_in(kind, &project.root, Some(&call.process_env))
            .map_err(|e| format!("exec reports: {e}"))?;
        let found = found.describe();
        if inner.runtime.as_deref() != Some(found.as_str()) {
            return Err(format!(
                "the call runs on {found}, the server on {}",
                inner.runtime.as_deref().unwrap_or("no Bun or Node")
            ));
        }
    }
    let request = Request {
        id: serde_json::Value::Null,
        tool_id: prepared.tool.id.clone(),
        tool_exec_id: call.tool_exec_id.clone(),
        input: prepared.input,
        config: prepared.config,
        env: Some(Arc::new(prepared.env.to_map())),
        timeout_ms: u64::try_from(prepared.timeout.as_millis()).unwrap_or(u64::MAX),
        progress: false,
        // OpenTelemetry's environment carrier, as one-shot `exec` reads it.
        traceparent: call
            .process_env
            .get("TRACEPARENT")
            .filter(|t| crate::runtime::parse_traceparent(t).is_some())
            .cloned(),
    };
    let timeout = prepared.timeout;
    Ok((project, request, timeout))
}

/// Runs `request` on the pool under the server's policies, as a call of the user `uid`, passing
/// the tool's log lines on, and ends with `last(answer)`.
fn run(
    inner: &Inner,
    request: Request,
    uid: u32,
    mut stream: UnixStream,
    mut reader: BufReader<UnixStream>,
    last: impl FnOnce(crate::runtime::Response) -> Message + Send + 'static,
) {
    let (tx, rx) = std::sync::mpsc::channel::<Message>();
    let logs = tx.clone();
    let tool_exec_id = request.tool_exec_id.clone();
    let timeout = Duration::from_millis(request.timeout_ms);
    let job = Job {
        request,
        timeout,
        reply: Box::new(move |response| {
            let _ = tx.send(last(response));
        }),
        notes: Some(Arc::new(move |note| {
            if let Note::Log(line) = note {
                let _ = logs.send(Message::Log(line));
            }
        })),
        timeout_in_request: false,
    };
    // Under the policies, as the server's own callers; the caller is the peer's user.
    inner
        .server
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .submit_prepared(job, Some(&crate::runtime::caller::of_uid(uid)));
    // A client that hangs up (Ctrl-C on exec) cancels its call: the tool's group is stopped (a
    // queued one never starts).
    let answered = Arc::new(AtomicBool::new(false));
    let watching = Arc::clone(&answered);
    let server = Arc::clone(&inner.server);
    std::thread::spawn(move || {
        let mut rest = Vec::new();
        let _ = std::io::Read::read_to_end(&mut reader, &mut rest);
        if !watching.load(Ordering::SeqCst) {
            server
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .cancel(&tool_exec_id);
        }
    });
    for message in rx {
        let last = matches!(message, Message::Answer(_) | Message::Ran(_));
        if last {
            answered.store(true, Ordering::SeqCst);
        }
        if send(&mut stream, &message).is_err() || last {
            break;
        }
    }
}

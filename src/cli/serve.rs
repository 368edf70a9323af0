//! `compozy serve`: a warm pool answering newline-delimited JSON on stdin/stdout.

use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::args::ServeArgs;
use super::output::Output;
use crate::config::RuntimeKind;
use crate::diagnostic::Problem;
use crate::exit::ExitCode;
use crate::runtime::pool::Size;
use crate::runtime::{self, Limits, LocalDriver, Pool, Response, Server};

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

/// Stops every worker and exits on SIGINT/SIGTERM.
pub(super) fn exit_on_signal(pool: Pool) {
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGINT, SIGTERM};
        match signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) {
            Ok(mut signals) => {
                std::thread::spawn(move || {
                    if signals.forever().next().is_some() {
                        pool.kill_all();
                        std::process::exit(i32::from(ExitCode::Interrupted.code()));
                    }
                });
            }
            Err(e) => tracing::warn!("cannot handle SIGINT/SIGTERM: {e}"),
        }
    }
}

/// Starts the pool for a freshly generated project; with what it runs on, in words (for the
/// ready line).
pub(super) fn start_pool(
    project: Arc<crate::config::Project>,
    kind: Option<super::args::RuntimeArg>,
    workers: Option<usize>,
    out: &Output,
) -> Result<(Pool, String), ExitCode> {
    let (carriers, size, described) = pool_runtime(&project, kind, workers, out)?;
    Pool::start(project, carriers, size, Limits::from_env())
        .map(|pool| (pool, described))
        .map_err(|e| failed(e, out))
}

/// Starts the pool like [`start_pool`], driven by the returned task (see [`Pool::start_local`]).
pub(super) fn start_local_pool(
    project: Arc<crate::config::Project>,
    kind: Option<super::args::RuntimeArg>,
    workers: Option<usize>,
    out: &Output,
) -> Result<(Pool, LocalDriver, String), ExitCode> {
    let (carriers, size, described) = pool_runtime(&project, kind, workers, out)?;
    Pool::start_local(project, carriers, size, Limits::from_env())
        .map(|(pool, driver)| (pool, driver, described))
        .map_err(|e| failed(e, out))
}

/// What the pool's workers run on (Bun or Node only for a project with JavaScript tools), the
/// size of the pool, and both in words.
fn pool_runtime(
    project: &crate::config::Project,
    kind: Option<super::args::RuntimeArg>,
    workers: Option<usize>,
    out: &Output,
) -> Result<(runtime::Carriers, Size, String), ExitCode> {
    let size = pool_size(workers).map_err(|problem| {
        out.problems([&problem]);
        ExitCode::Error
    })?;
    let runtime = if runtime::needs_js(project) {
        let kind = kind.map_or(project.runtime.kind, RuntimeKind::from);
        if kind == RuntimeKind::Bun
            && project.runtime.deno_permissions.is_empty()
            && let Some(permissions) = &project.runtime.permissions
        {
            out.problems([&crate::generate::permissions_not_enforced(permissions)]);
        }
        Some(runtime::find(kind, &project.root).map_err(|e| failed(e, out))?)
    } else {
        None
    };
    let tools = project.tools.len();
    let on = runtime
        .as_ref()
        .map_or_else(|| "their own programs".to_owned(), |r| r.describe());
    let workers = match size {
        Size { max: 1, .. } => format!("1 worker on {on}"),
        Size { max, warm, .. } if warm >= max => format!("{max} workers on {on}"),
        Size { max, warm, .. } => format!(
            "{warm} worker{} on {on}, up to {max} on demand",
            if warm == 1 { "" } else { "s" }
        ),
    };
    let described = format!(
        "{tools} tool{}, {workers}",
        if tools == 1 { "" } else { "s" }
    );
    Ok((
        runtime::Carriers::new(runtime.map(Arc::from)),
        size,
        described,
    ))
}

/// `--workers` (default: the number of cores), with `COMPOZY_WARM_WORKERS` and
/// `COMPOZY_WORKER_IDLE`.
fn pool_size(workers: Option<usize>) -> Result<Size, Problem> {
    let max = workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
        .max(1);
    let mut size = Size::up_to(max);
    if let Some(value) = env_setting(WARM) {
        size.warm = match value.parse::<usize>() {
            Ok(n) if n >= 1 => n.min(max),
            _ => return Err(Problem::new(PoolSettingError::Warm { value })),
        };
    }
    if let Some(value) = env_setting(IDLE) {
        size.idle = humantime::parse_duration(&value).map_err(|e| {
            Problem::new(PoolSettingError::Idle {
                value: value.clone(),
                reason: e.to_string(),
            })
        })?;
    }
    Ok(size)
}

const WARM: &str = "COMPOZY_WARM_WORKERS";
const IDLE: &str = "COMPOZY_WORKER_IDLE";

/// A variable's value, trimmed; `None` when unset or blank.
fn env_setting(name: &str) -> Option<String> {
    let value = std::env::var(name).ok()?;
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// A bad pool setting in the environment.
#[derive(Debug, thiserror::Error)]
pub enum PoolSettingError {
    #[error("invalid {WARM} `{value}`: expected a number of workers, 1 or more")]
    Warm { value: String },
    #[error("invalid {IDLE} `{value}`: {reason}")]
    Idle { value: String, reason: String },
}

impl crate::diagnostic::Explain for PoolSettingError {
    fn code(&self) -> &'static str {
        match self {
            Self::Warm { .. } => "serve::warm-workers",
            Self::Idle { .. } => "serve::worker-idle",
        }
    }

    fn help(&self) -> Option<String> {
        Some(match self {
            Self::Warm { .. } => format!(
                "set {WARM} to how many workers start at once and are never stopped for being \
                 idle (default 1), or unset it"
            ),
            Self::Idle { .. } => format!(
                "set {IDLE} to a duration with a unit, such as 500ms, 60s or 5m (default 60s), or \
                 unset it"
            ),
        })
    }
}

fn failed(error: runtime::RuntimeError, out: &Output) -> ExitCode {
    let code = error.exit_code();
    out.problems([&Problem::new(error)]);
    code
}

/// Hands stdin to the pool's thread, which reads the requests itself, and waits until stdin has
/// closed and every line was handled (callers then drain the pool with [`Pool::shutdown`]).
pub(super) fn serve_stdin(pool: &Pool, server: Arc<Mutex<Server>>) {
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

/// Runs `serve`.
pub fn run(args: &ServeArgs, out: &Output, cwd: &Path) -> ExitCode {
    let project = match super::fresh_project(args.project.project.as_deref(), out, cwd) {
        Ok(p) => Arc::new(p),
        Err(problems) => {
            out.problems(&problems.0);
            return ExitCode::Error;
        }
    };
    let pool = match start_pool(project, args.runtime, args.workers, out) {
        Ok((pool, described)) => {
            // A person at a terminal sees that it listens, and what to type.
            out.summary(&format!(
                "compozy: serving {described}; send one JSON request per line, e.g. \
                 {{\"tool_id\": \"…\", \"input\": {{}}}} (Ctrl-D ends)"
            ));
            pool
        }
        Err(code) => return code,
    };
    exit_on_signal(pool.clone());
    let server = Arc::new(Mutex::new(Server::new(pool.clone())));
    serve_stdin(&pool, server);
    pool.shutdown();
    ExitCode::Ok
}

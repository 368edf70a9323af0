//! Starting a project's pool: what its workers run on (Bun, Node, or the tools' own programs),
//! how many there are, and the pool settings read from the environment.

use std::sync::Arc;

use crate::cli::output::Output;
use crate::config::RuntimeKind;
use crate::diagnostic::Problem;
use crate::exit::ExitCode;
use crate::runtime::pool::Size;
use crate::runtime::{self, Limits, LocalDriver, Pool};

/// Starts the pool for a freshly generated project; with what it runs on, in words (for the
/// ready line).
pub(in crate::cli) fn start_pool(
    project: Arc<crate::config::Project>,
    kind: Option<crate::cli::args::RuntimeArg>,
    workers: Option<usize>,
    out: &Output,
) -> Result<(Pool, String), ExitCode> {
    let (carriers, size, described) = pool_runtime(&project, kind, workers, out)?;
    Pool::start(project, carriers, size, Limits::from_env())
        .map(|pool| (pool, described))
        .map_err(|e| failed(e, out))
}

/// Starts the pool like [`start_pool`], driven by the returned task (see [`Pool::start_local`]).
pub(in crate::cli) fn start_local_pool(
    project: Arc<crate::config::Project>,
    kind: Option<crate::cli::args::RuntimeArg>,
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
    kind: Option<crate::cli::args::RuntimeArg>,
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

//! What can go wrong while running a tool.

use std::time::Duration;

use crate::diagnostic::Explain;
use crate::exit::ExitCode;

/// A runtime or execution problem (the tool's own errors are [`super::ToolError`]).
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{name} was not found (looked at {looked})")]
    NotFound {
        name: &'static str,
        looked: String,
        /// The project root, where `npm i -D NAME` puts a binary compozy finds.
        project: String,
        /// `COMPOZY_BUN`/`COMPOZY_NODE` named a path that is not an executable.
        from_env: bool,
    },
    #[error("{path} is {name} {version}, which is too old: {requirement}")]
    TooOld {
        name: &'static str,
        path: String,
        version: String,
        requirement: &'static str,
        /// The project root, as for `NotFound`.
        project: String,
        /// The binary came from `COMPOZY_BUN`/`COMPOZY_NODE`.
        from_env: bool,
    },
    #[error("cannot tell the version of {path}: {reason}")]
    Version { path: String, reason: String },
    #[error("cannot start {path}: {source}")]
    Spawn {
        path: String,
        source: std::io::Error,
    },
    #[error("tool `{tool}` did not finish within {}", humantime::format_duration(*.timeout))]
    Timeout { tool: String, timeout: Duration },
    #[error("the worker exited ({status}) before answering")]
    WorkerExited { status: String },
    #[error("the result is larger than the limit of {limit} bytes")]
    ResultTooLarge { limit: usize },
    #[error("the tool wrote more than {limit} bytes of log output")]
    LogTooLarge { limit: usize },
    #[error("the worker's protocol channel (fd 3) carried a line that is not the answer: {reason}")]
    BadResponse { reason: String },
    #[error("the tool's program broke the `stdio` protocol: {reason}")]
    Protocol { reason: String },
    #[error(
        "tool `{tool}` runs on Bun or Node, but none was looked for: the project had only process tools when this server started"
    )]
    NoRuntime { tool: String },
    #[error("interrupted; the tool's processes were stopped")]
    Interrupted,
    #[error("the call was cancelled; the tool's processes were stopped")]
    Cancelled,
    #[error("i/o error while talking to the worker: {0}")]
    Io(#[from] std::io::Error),
}

impl RuntimeError {
    /// The exit code `exec` ends with for this error.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::NotFound { .. } | Self::TooOld { .. } | Self::Version { .. } => {
                ExitCode::RuntimeNotFound
            }
            Self::Spawn { .. } => ExitCode::RuntimeNotFound,
            Self::Timeout { .. } => ExitCode::Timeout,
            Self::Interrupted | Self::Cancelled => ExitCode::Interrupted,
            _ => ExitCode::Failure,
        }
    }
}

impl Explain for RuntimeError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "runtime::not-found",
            Self::TooOld { .. } => "runtime::too-old",
            Self::Version { .. } => "runtime::version",
            Self::Spawn { .. } => "runtime::spawn",
            Self::Timeout { .. } => "runtime::timeout",
            Self::WorkerExited { .. } => "runtime::worker-exited",
            Self::ResultTooLarge { .. } => "runtime::result-too-large",
            Self::LogTooLarge { .. } => "runtime::log-too-large",
            Self::BadResponse { .. } => "runtime::bad-response",
            Self::Protocol { .. } => "runtime::protocol",
            Self::NoRuntime { .. } => "runtime::no-runtime",
            Self::Interrupted => "runtime::interrupted",
            Self::Cancelled => "runtime::cancelled",
            Self::Io(_) => "runtime::io",
        }
    }

    fn help(&self) -> Option<String> {
        Some(match self {
            Self::NotFound {
                name,
                from_env: true,
                ..
            } => format!(
                "point COMPOZY_{} at an executable {name} binary, or unset it to look in PATH and \
                 node_modules/.bin",
                name.to_uppercase()
            ),
            Self::NotFound { name, project, .. } => format!(
                "run `npm i -D {name}` in {project} (compozy finds node_modules/.bin/{name} there), \
                 or set COMPOZY_{}=/path/to/{name}",
                name.to_uppercase()
            ),
            Self::TooOld {
                name,
                from_env: true,
                ..
            } => format!(
                "point COMPOZY_{} at a newer {name}, or unset it to look in PATH and \
                 node_modules/.bin",
                name.to_uppercase()
            ),
            Self::TooOld { name, project, .. } => format!(
                "run `npm i -D {name}` in {project} (compozy takes the first {name} that is recent \
                 enough, node_modules/.bin included), or set COMPOZY_{}=/path/to/{name}",
                name.to_uppercase()
            ),
            Self::Version { .. } | Self::Spawn { .. } => {
                "check that the program (the runtime, or a process tool's command) exists and runs on this machine; `compozy gen` checks a process tool's command".into()
            }
            Self::Timeout { .. } => {
                "the tool and every process it started were stopped; raise the tool's `timeout:`, or pass a larger --timeout".into()
            }
            Self::WorkerExited { .. } => {
                "a tool that calls process.exit() ends its worker; return a value or throw an error instead".into()
            }
            Self::ResultTooLarge { .. } => {
                "return less data, or raise COMPOZY_MAX_RESULT_BYTES".into()
            }
            Self::LogTooLarge { .. } => "log less, or raise COMPOZY_MAX_LOG_BYTES".into(),
            Self::BadResponse { .. } => {
                "fd 3 is the worker's protocol channel: a tool must not write to it (use stdout or stderr); otherwise regenerate the workers with `compozy gen`".into()
            }
            Self::Protocol { .. } => {
                "stdout carries the result, exactly one JSON value: write logs to stderr".into()
            }
            Self::NoRuntime { .. } => "restart the server to run the project's new TypeScript tools".into(),
            Self::Interrupted | Self::Cancelled | Self::Io(_) => return None,
        })
    }
}

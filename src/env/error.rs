//! What can be wrong with a tool's environment.

use crate::diagnostic::Explain;

/// An environment problem.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("`{0}` may not be set by a request")]
    Forbidden(String),
    #[error("invalid environment variable name `{0}`")]
    InvalidName(String),
    #[error("`--env {0}` is not of the form KEY=VALUE")]
    NotKeyValue(String),
    #[error("cannot read `{path}`: {reason}")]
    ReadEnvFile { path: String, reason: String },
    #[error("invalid glob `{glob}` in runtime.env_passthrough: {reason}")]
    InvalidGlob { glob: String, reason: String },
}

impl Explain for EnvError {
    fn code(&self) -> &'static str {
        match self {
            Self::Forbidden(_) => "env::forbidden",
            Self::InvalidName(_) => "env::name",
            Self::NotKeyValue(_) => "env::key-value",
            Self::ReadEnvFile { .. } => "env::read",
            Self::InvalidGlob { .. } => "env::glob",
        }
    }

    fn help(&self) -> Option<String> {
        Some(match self {
            Self::Forbidden(_) => "LD_PRELOAD, LD_LIBRARY_PATH, DYLD_*, NODE_OPTIONS and BUN_OPTIONS change how the runtime itself loads; they cannot come from a request".into(),
            Self::InvalidName(_) => "names match [A-Za-z_][A-Za-z0-9_]*".into(),
            Self::NotKeyValue(_) => "write --env NAME=value".into(),
            Self::ReadEnvFile { .. } => "check the file's permissions, or remove it from runtime.env_files".into(),
            Self::InvalidGlob { .. } => "fix the glob in runtime.env_passthrough".into(),
        })
    }
}

//! What can go wrong while generating or writing `.compozy/`.

use crate::diagnostic::Explain;

/// A generation problem.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    #[error("template `{name}` failed to render: {reason}")]
    Template { name: String, reason: String },
    #[error("cannot write `{path}`: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("permissions are not enforced under Bun: {flags}")]
    PermissionsIgnoredByBun { flags: String },
}

impl Explain for GenError {
    fn code(&self) -> &'static str {
        match self {
            Self::Template { .. } => "gen::template",
            Self::Write { .. } => "gen::write",
            Self::Read { .. } => "gen::read",
            Self::PermissionsIgnoredByBun { .. } => "gen::permissions-not-enforced",
        }
    }

    fn help(&self) -> Option<String> {
        Some(match self {
            Self::Template { .. } => "this is a bug in compozy; please report it".into(),
            Self::Write { .. } | Self::Read { .. } => {
                "check the permissions of the .compozy directory".into()
            }
            Self::PermissionsIgnoredByBun { .. } => {
                "Bun has no permission model; use `runtime.type: node` (or `--runtime node`) to enforce them".into()
            }
        })
    }
}

//! What can go wrong while scaffolding a project.

use crate::diagnostic::Explain;

/// A problem of `compozy init`.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error("{paths} already exist{}; nothing was written", if *.count == 1 { "s" } else { "" })]
    Exists { paths: String, count: usize },
    #[error("`{path}` is not a directory")]
    NotADirectory { path: String },
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write `{path}`: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("template `{name}` failed to render: {reason}")]
    Template { name: String, reason: String },
}

impl Explain for ScaffoldError {
    fn code(&self) -> &'static str {
        match self {
            Self::Exists { .. } => "init::exists",
            Self::NotADirectory { .. } => "init::not-a-directory",
            Self::Read { .. } => "init::read",
            Self::Write { .. } => "init::write",
            Self::Template { .. } => "init::template",
        }
    }

    fn help(&self) -> Option<String> {
        Some(match self {
            Self::Exists { .. } => {
                "`compozy init` never overwrites a file: move them away, or give it a new \
                 directory (`compozy init DIR`)"
                    .into()
            }
            Self::NotADirectory { .. } => "give `compozy init` a directory, or a new path".into(),
            Self::Read { .. } | Self::Write { .. } => "check the directory's permissions".into(),
            Self::Template { .. } => "this is a bug in compozy; please report it".into(),
        })
    }
}

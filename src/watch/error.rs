//! What can go wrong while watching.

use crate::diagnostic::Explain;

/// A watcher problem.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("the system's limit on watched directories was reached while watching {path}")]
    WatchLimit { path: String },
    #[error("the system's limit on file watchers (inotify instances) was reached")]
    InstanceLimit,
    #[error("cannot watch {path}: {reason}")]
    Watch { path: String, reason: String },
}

impl Explain for WatchError {
    fn code(&self) -> &'static str {
        match self {
            Self::WatchLimit { .. } => "watch::limit",
            Self::InstanceLimit => "watch::instances",
            Self::Watch { .. } => "watch::watch",
        }
    }

    fn help(&self) -> Option<String> {
        Some(match self {
            Self::WatchLimit { .. } => "raise fs.inotify.max_user_watches, e.g. `sudo sysctl fs.inotify.max_user_watches=524288` (add it to /etc/sysctl.conf to keep it), or add large directories to .gitignore".into(),
            Self::InstanceLimit => "raise fs.inotify.max_user_instances, e.g. `sudo sysctl fs.inotify.max_user_instances=1024`, or stop other watchers".into(),
            Self::Watch { .. } => "check that the directory exists and is readable".into(),
        })
    }
}

impl WatchError {
    /// Classifies a notify error for `path`.
    pub fn from_notify(error: &notify::Error, path: &std::path::Path) -> Self {
        let path = path.display().to_string();
        match &error.kind {
            notify::ErrorKind::MaxFilesWatch => Self::WatchLimit { path },
            notify::ErrorKind::Io(e) if e.raw_os_error() == Some(24) => Self::InstanceLimit,
            _ => Self::Watch {
                path,
                reason: error.to_string(),
            },
        }
    }
}

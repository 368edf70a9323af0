//! Bun: the worker runs with Bun's own `.env` loading switched off.

use std::path::Path;

use super::discover::{self, Found};
use super::error::RuntimeError;
use super::{Carrier, Runtime, WorkerCommand};
use crate::config::{Project, RuntimeKind};

/// Bun 1.1 introduced `--no-env-file`, which compozy relies on.
const REQUIREMENT: &str = "compozy needs Bun 1.1 or newer";

/// A Bun binary.
#[derive(Debug, Clone)]
pub struct Bun {
    found: Found,
}

impl Bun {
    /// Finds a usable `bun` for the project.
    pub fn find(root: &Path) -> Result<Self, RuntimeError> {
        Self::find_in(root, None)
    }

    /// [`Self::find`], with another process's environment.
    pub fn find_in(root: &Path, env: discover::Env<'_>) -> Result<Self, RuntimeError> {
        discover::find("bun", root, env, REQUIREMENT, |v| v >= (1, 1, 0))
            .map(|found| Self { found })
    }
}

impl Runtime for Bun {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Bun
    }

    fn version(&self) -> Option<(u64, u64, u64)> {
        Some(self.found.version)
    }
}

impl Carrier for Bun {
    fn worker_command(&self, project: &Project, persistent: bool) -> WorkerCommand {
        let mut cwd = std::ffi::OsString::from("--cwd=");
        cwd.push(&project.root);
        let mut args: Vec<std::ffi::OsString> = vec!["--no-env-file".into(), cwd];
        // `runtime.preload:`, loaded before the worker.
        for module in &project.runtime.preload {
            args.push("--preload".into());
            args.push(module.abs.clone().into());
        }
        args.push(project.worker(RuntimeKind::Bun).into());
        args.push(
            if persistent {
                "--persistent"
            } else {
                "--held-stdin"
            }
            .into(),
        );
        WorkerCommand {
            program: self.found.path.clone(),
            args,
            cwd: None,
            protocol: crate::config::Protocol::Compozy,
            holds_stdin: !persistent,
        }
    }

    fn key(&self) -> String {
        super::JS_KEY.to_owned()
    }
}

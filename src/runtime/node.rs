//! Node: TypeScript through native type stripping; permissions through Node's permission model.

use std::ffi::OsString;
use std::path::Path;

use super::discover::{self, Found};
use super::error::RuntimeError;
use super::{Carrier, Runtime, WorkerCommand};
use crate::config::{NodePermission, Project, RuntimeKind};

const REQUIREMENT: &str =
    "compozy needs a Node that strips TypeScript types: 22.6 or newer (22.18+ or 23.6+ natively)";

/// A Node binary.
#[derive(Debug, Clone)]
pub struct Node {
    found: Found,
}

impl Node {
    /// Finds a usable `node` for the project.
    pub fn find(root: &Path) -> Result<Self, RuntimeError> {
        Self::find_in(root, None)
    }

    /// [`Self::find`], with another process's environment.
    pub fn find_in(root: &Path, env: discover::Env<'_>) -> Result<Self, RuntimeError> {
        discover::find("node", root, env, REQUIREMENT, |v| v >= (22, 6, 0))
            .map(|found| Self { found })
    }

    /// 22.6–22.17 strip types only behind a flag; 22.18+ and 23.6+ do it by default.
    fn needs_strip_flag(&self) -> bool {
        let v = self.found.version;
        v < (22, 18, 0) || ((23, 0, 0)..(23, 6, 0)).contains(&v)
    }
}

/// The `node` flags that enforce `permissions` (always able to read the project's code).
pub fn permission_flags(project: &Project, permissions: &[NodePermission]) -> Vec<String> {
    let absolute = |p: &str| {
        if p == "*" {
            "*".to_owned()
        } else {
            crate::paths::normalize(&project.root.join(p))
                .display()
                .to_string()
        }
    };
    let mut flags = vec![
        "--permission".to_owned(),
        format!("--allow-fs-read={}", project.root.display()),
    ];
    for permission in permissions {
        flags.push(match permission {
            NodePermission::FsRead(p) => format!("--allow-fs-read={}", absolute(p)),
            NodePermission::FsWrite(p) => format!("--allow-fs-write={}", absolute(p)),
            other => other.as_flag(),
        });
    }
    flags
}

/// A `file://` URL of an absolute path, with the characters a URL cannot hold escaped.
fn file_url(path: &Path) -> String {
    let mut url = String::from("file://");
    for b in path.to_string_lossy().bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            url.push(char::from(b));
        } else {
            url.push_str(&format!("%{b:02X}"));
        }
    }
    url
}

impl Runtime for Node {
    fn kind(&self) -> RuntimeKind {
        RuntimeKind::Node
    }

    fn version(&self) -> Option<(u64, u64, u64)> {
        Some(self.found.version)
    }
}

impl Carrier for Node {
    fn worker_command(&self, project: &Project, persistent: bool) -> WorkerCommand {
        let mut args: Vec<OsString> = Vec::new();
        if self.needs_strip_flag() {
            args.push("--experimental-strip-types".into());
        }
        // Type stripping prints an ExperimentalWarning on every start in Node 22.
        args.push("--disable-warning=ExperimentalWarning".into());
        // A tool module with `import`/`export` under a package.json without `"type"` makes Node
        // warn, telling the user to edit that package.json; but compozy's worker only ever loads
        // tools as ES modules. The warning is printed on a later tick: a one-shot worker has
        // exited by then, a persistent one (`serve`, `mcp`) has not, so without this flag the
        // same project was quiet under `exec` and noisy under `serve`.
        args.push("--disable-warning=MODULE_TYPELESS_PACKAGE_JSON".into());
        if let Some(permissions) = &project.runtime.permissions {
            args.extend(
                permission_flags(project, permissions)
                    .into_iter()
                    .map(Into::into),
            );
        }
        // `runtime.preload:`, loaded before the worker (`--import` takes a URL or a specifier).
        for module in &project.runtime.preload {
            args.push("--import".into());
            args.push(file_url(&module.abs).into());
        }
        args.push(project.worker(RuntimeKind::Node).into());
        // Node has no `--cwd`: the worker changes to this directory before it loads any tool.
        let mut cwd = OsString::from("--cwd=");
        cwd.push(&project.root);
        args.push(cwd);
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

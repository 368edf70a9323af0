//! Stage 1: find, load and validate `compozy.yaml` and the standalone tool files.
//!
//! The result is a [`Project`]: plain data that later stages read without going back to YAML.

mod discover;
mod entry_plugins;
mod error;
mod keys;
mod layout;
mod load;
pub mod mcp;
mod permissions;
pub mod plugins;
mod raw;
mod read;
mod refs;
mod schema;
mod validate;
pub mod versions;
mod wasm;
mod with;
pub(crate) mod yaml;
mod yaml_hints;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

pub use discover::{CONFIG_FILE, DEFAULT_INCLUDE, SKIPPED_DIRS, find_root, glob_set, project_root};
pub use error::ConfigError;
pub use load::{load, load_lenient};
pub use permissions::{DenoPermission, NodePermission};
pub use validate::{is_env_name, timeout_problem};
pub use wasm::{WASI_MODULE, check_module as check_wasm_module};

use crate::source::SourceFile;

/// The runtime a project's tools run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    /// Bun (the default).
    Bun,
    /// Node.js with native TypeScript type stripping.
    Node,
}

impl RuntimeKind {
    /// The runtime's command name.
    pub fn name(self) -> &'static str {
        match self {
            RuntimeKind::Bun => "bun",
            RuntimeKind::Node => "node",
        }
    }
}

/// How a process tool talks to compozy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// compozy's worker protocol: a request line on stdin, progress and the answer on fd 3.
    Compozy,
    /// Any program: the input as JSON on stdin, the result as one JSON value on stdout.
    Stdio,
}

/// `execute: {command: [...], protocol, persistent}`: a tool that is a program.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Command {
    /// The program, an absolute path (found relative to the YAML file, or on PATH).
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// How it talks.
    pub protocol: Protocol,
    /// Whether one process answers many requests (`serve`, `mcp`); only with `compozy`.
    pub persistent: bool,
    /// A WebAssembly module run by compozy itself (`program` is the `.wasm` file), with what
    /// its sandbox grants; `None` for a program.
    #[serde(default)]
    pub wasm: Option<WasmGrants>,
}

/// What a WebAssembly tool may reach: nothing but these.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WasmGrants {
    /// Directories opened to it, each inside the project root.
    pub dirs: Vec<WasmDir>,
    /// The environment variables it sees (from the tool's environment).
    pub env: Vec<String>,
    /// The most linear memory it may have, in bytes.
    pub memory: u64,
}

/// A directory a WebAssembly tool may read (or write).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WasmDir {
    /// Where it is on disk (canonical, inside the project root).
    pub host: PathBuf,
    /// Where the module sees it: `/` and its root-relative path (`./data` is `/data`).
    pub guest: String,
    /// Whether it may create, write or remove files there.
    pub write: bool,
}

impl WasmGrants {
    /// The memory cap when `memory:` is not given: 256 MiB.
    pub const DEFAULT_MEMORY: u64 = 256 << 20;
}

/// Whether `gen` writes the entrypoint or checks a hand-written one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum EntrypointMode {
    /// The entrypoint lies under `.compozy/` and is generated.
    Generated,
    /// The entrypoint is the user's own module; every tool id must be exported from it.
    HandWritten,
}

/// A file inside the project.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProjectPath {
    /// Absolute path on disk.
    pub abs: PathBuf,
    /// Root-relative path with `/` separators (stable across machines).
    pub rel: String,
}

/// `runtime:` after validation.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RuntimeConfig {
    /// bun or node.
    pub kind: RuntimeKind,
    /// The module that exports every tool id.
    pub entrypoint: ProjectPath,
    /// Generated or hand-written entrypoint.
    pub mode: EntrypointMode,
    /// Node permission-model grants, when `permissions:` is given (even empty: then the tool may
    /// only read the project). `None`: no sandbox. Never enforced under Bun.
    pub permissions: Option<Vec<NodePermission>>,
    /// The entrypoint was not named but found where Compozy projects keep it (`gen` says so).
    #[serde(default)]
    pub entrypoint_found: bool,
    /// The `permissions` written as Deno flags (`gen` explains what they mean here).
    #[serde(default)]
    pub deno_permissions: Vec<String>,
    /// Default tool timeout.
    pub timeout: Duration,
    /// `.env` files in priority order (highest first), when given explicitly.
    pub env_files: Option<Vec<String>>,
    /// Globs of process variables passed through to tools.
    pub env_passthrough: Vec<String>,
    /// Env for every tool.
    pub env: BTreeMap<String, String>,
    /// The directory of the workers (root-relative) when they are not those of `.compozy/`: a
    /// run without the tools that have problems uses workers of its own (see
    /// `generate::prepare_partial`).
    #[serde(default)]
    pub worker_dir: Option<String>,
    /// `preload:`: modules every worker loads before anything else (Bun's `--preload`, Node's
    /// `--import`).
    #[serde(default)]
    pub preload: Vec<ProjectPath>,
}

/// Where a tool was declared.
#[derive(Debug, Clone)]
pub struct Declared {
    /// The YAML file.
    pub file: SourceFile,
    /// 1-based line of the tool entry.
    pub line: usize,
    /// 1-based column of the tool entry.
    pub column: usize,
}

/// One tool after validation.
#[derive(Debug, Clone)]
pub struct Tool {
    /// Unique key: the declared id, or `ID@MAJOR` for an older major version kept beside a newer
    /// one (see [`versions`]). Entrypoints export the tool under it.
    pub id: String,
    /// Human description.
    pub description: Option<String>,
    /// `version:` (semver); `None` is 0.0.0, where every change is allowed.
    pub version: Option<semver::Version>,
    /// `deprecated:`: what callers are told (MCP description, a warning on each call).
    pub deprecated: Option<String>,
    /// The module that implements it (`execute`), when given.
    pub module: Option<ProjectPath>,
    /// Where `execute` was written, for diagnostics that point at it.
    pub module_declared: Option<Declared>,
    /// The program that implements it (`execute: {command: …}`), instead of a module.
    pub command: Option<Command>,
    /// Per-tool timeout overriding the runtime's.
    pub timeout: Option<Duration>,
    /// JSON Schema of the input.
    pub input: Option<serde_json::Value>,
    /// JSON Schema of the output.
    pub output: Option<serde_json::Value>,
    /// Default input merged under each call's input.
    pub with: Option<serde_json::Value>,
    /// Static config, the tool's second argument.
    pub config: Option<serde_json::Value>,
    /// Env for this tool.
    pub env: BTreeMap<String, String>,
    /// Where the tool entry is.
    pub declared: Declared,
    /// What MCP hosts are told about it, and the scopes a caller needs.
    pub mcp: mcp::ToolMeta,
}

#[cfg(test)]
impl Tool {
    /// A tool with only an id, declared at `t.yaml:1:1`, for unit tests.
    pub(crate) fn bare(id: &str) -> Self {
        Self {
            id: id.into(),
            description: None,
            version: None,
            deprecated: None,
            module: None,
            module_declared: None,
            command: None,
            timeout: None,
            input: None,
            output: None,
            with: None,
            config: None,
            env: Default::default(),
            declared: Declared {
                file: crate::source::SourceFile::new(
                    "t.yaml".into(),
                    "t.yaml".into(),
                    String::new(),
                ),
                line: 1,
                column: 1,
            },
            mcp: Default::default(),
        }
    }
}

impl Tool {
    /// The id as declared (the key without `@MAJOR`).
    pub fn base_id(&self) -> &str {
        versions::base_id(&self.id)
    }

    /// Its major version (0 without `version:`).
    pub fn major(&self) -> u64 {
        self.version.as_ref().map_or(0, |v| v.major)
    }

    /// Whether a newer major of the same id is declared beside it.
    pub fn is_older_major(&self) -> bool {
        self.id.len() != self.base_id().len()
    }
}

/// A loaded, validated project.
#[derive(Debug, Clone)]
pub struct Project {
    /// The directory of `compozy.yaml` (canonical).
    pub root: PathBuf,
    /// `name:`.
    pub name: Option<String>,
    /// `runtime:`.
    pub runtime: RuntimeConfig,
    /// Every tool, sorted by id.
    pub tools: Vec<Tool>,
    /// Every YAML file that was read (root-relative), for watchers and caches.
    pub config_files: Vec<ProjectPath>,
    /// Every directory autoload walked.
    pub config_dirs: Vec<PathBuf>,
    /// `auth:` (who may call over HTTP).
    pub auth: Option<mcp::Auth>,
    /// `plugins:`, outermost first.
    pub plugins: Vec<plugins::Plugin>,
    /// The built-in policies of `plugins:` (`use: builtin:…`), applied before a worker is taken.
    pub policies: Vec<plugins::Policy>,
}

impl Project {
    /// The tool with this id.
    pub fn tool(&self, id: &str) -> Option<&Tool> {
        self.tools
            .binary_search_by(|t| t.id.as_str().cmp(id))
            .ok()
            .map(|i| &self.tools[i])
    }

    /// The tool a caller names: its key (`ID`, or `ID@MAJOR` of an older major), or `ID@MAJOR`
    /// of the newest major. See [`versions`].
    pub fn resolve(&self, name: &str) -> Result<&Tool, versions::NotFound> {
        versions::resolve(self, name)
    }

    /// The worker a runtime runs (`bun` → `bun_worker.ts`, `node` → `node_worker.mjs`).
    pub fn worker(&self, kind: RuntimeKind) -> PathBuf {
        let file = match kind {
            RuntimeKind::Bun => crate::codegen::BUN_WORKER,
            RuntimeKind::Node => crate::codegen::NODE_WORKER,
        };
        match &self.runtime.worker_dir {
            Some(dir) => {
                let name = file.rsplit('/').next().unwrap_or(file);
                self.root.join(dir).join(name)
            }
            None => self.root.join(file),
        }
    }

    /// The directory generated files go to.
    pub fn output_dir(&self) -> PathBuf {
        self.root.join(crate::codegen::OUTPUT_DIR)
    }
}

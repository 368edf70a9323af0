//! The YAML shapes exactly as written, with source locations; `read` builds them from the YAML
//! tree and `validate` turns them into a [`Project`](super::Project).

use std::collections::BTreeMap;

use serde_saphyr::Spanned;

use super::keys;
use super::yaml::{Entry, Node};
use crate::source::SourceFile;

/// `compozy.yaml`.
#[derive(Debug, Default)]
pub struct RawProject {
    pub name: Option<Spanned<String>>,
    pub runtime: Option<RawRuntime>,
    pub autoload: Option<Spanned<RawAutoload>>,
    /// `tools:` as written: references are resolved before the tools are read.
    pub tools: Vec<Node>,
    /// `workflows: [{source}]`.
    pub workflows: Vec<Spanned<String>>,
    /// `schemas:`, JSON Schemas with an `id` each.
    pub schemas: Vec<Node>,
    /// `auth:` as written (`mcp::auth` reads it).
    pub auth: Option<Node>,
    /// `plugins:` as written (`plugins::read` reads it).
    pub plugins: Option<Node>,
}

impl RawProject {
    /// Every key of `compozy.yaml`, compozy's and Compozy's.
    pub fn keys() -> Vec<&'static str> {
        [keys::PROJECT_OWN, keys::PROJECT_OTHER].concat()
    }
}

/// `runtime:` in `compozy.yaml`.
#[derive(Debug, Default)]
pub struct RawRuntime {
    pub kind: Option<Spanned<String>>,
    pub entrypoint: Option<Spanned<String>>,
    pub permissions: Option<Vec<Spanned<String>>>,
    pub timeout: Option<Spanned<Scalar>>,
    pub env_files: Option<Vec<Spanned<String>>>,
    pub env_passthrough: Option<Vec<Spanned<String>>>,
    pub env: Option<BTreeMap<String, Spanned<Scalar>>>,
    /// Compozy's name for the default tool timeout.
    pub tool_execution_timeout: Option<Spanned<Scalar>>,
    /// `preload:`, modules every worker loads first.
    pub preload: Option<Vec<Spanned<String>>>,
}

impl RawRuntime {
    /// Every key of `runtime:`.
    pub fn keys() -> Vec<&'static str> {
        [keys::RUNTIME_OWN, keys::RUNTIME_OTHER].concat()
    }
}

/// `autoload:` in `compozy.yaml`.
#[derive(Debug, Default)]
pub struct RawAutoload {
    /// `enabled: false` turns autoload off.
    pub enabled: Option<bool>,
    /// Compozy's `strict`: problems of autoloaded resource files are errors, not warnings.
    pub strict: Option<bool>,
    pub include: Option<Vec<Spanned<String>>>,
    pub exclude: Option<Vec<Spanned<String>>>,
}

impl RawAutoload {
    /// The keys of `autoload:`.
    pub const KEYS: &[&str] = keys::AUTOLOAD;
}

/// One tool, inline or in a standalone file. A standalone file may instead hold `tools: [...]`.
#[derive(Debug, Default)]
pub struct RawTool {
    pub id: Option<Spanned<String>>,
    pub description: Option<String>,
    /// `version:` as written (semver, checked later).
    pub version: Option<Spanned<String>>,
    /// `deprecated:`, the message callers are told.
    pub deprecated: Option<String>,
    pub execute: Option<Spanned<String>>,
    /// `execute:` as a mapping (`{command: [...], protocol, persistent}`): a process tool.
    pub command: Option<Spanned<RawCommand>>,
    pub timeout: Option<Spanned<Scalar>>,
    pub input: Option<Node>,
    pub output: Option<Node>,
    /// `with:` as written (the key and its mapping), checked against `input:` later.
    pub with: Option<Entry>,
    pub config: Option<serde_json::Value>,
    pub env: Option<BTreeMap<String, Spanned<Scalar>>>,
    pub tools: Option<Vec<Spanned<RawTool>>>,
    /// `title`, `annotations`, `icons` and `scopes` as written (`mcp::tool_meta` reads them).
    pub mcp: Vec<super::yaml::Entry>,
    /// The files `input` and `output` were written in, when a reference brought them from
    /// another file than the tool's.
    pub schema_files: [Option<SourceFile>; 2],
    /// Some of its keys were unknown or had values of the wrong type (already reported): the
    /// tool is still checked, but problems that follow from those (a misspelt `execute` is a
    /// missing one) are not reported again, and the tool is not generated.
    pub misread: bool,
}

impl RawTool {
    /// Every key of a tool.
    pub fn keys() -> Vec<&'static str> {
        [keys::TOOL_OWN, keys::TOOL_OTHER].concat()
    }
}

/// `execute: {command: [./bin/x, arg], protocol: compozy | stdio, persistent: true}`.
#[derive(Debug, Default)]
pub struct RawCommand {
    /// The program and its arguments (a single string is the program alone).
    pub command: Vec<Spanned<String>>,
    pub protocol: Option<Spanned<String>>,
    pub persistent: Option<Spanned<bool>>,
    /// `wasm: ./x.wasm`: a WebAssembly module instead of a program.
    pub wasm: Option<Spanned<String>>,
    /// `dirs:` of a WebAssembly tool: each directory, and whether it is writable.
    pub dirs: Vec<(Spanned<String>, Option<Spanned<bool>>)>,
    /// `env:` of a WebAssembly tool: the variables it sees.
    pub env: Vec<Spanned<String>>,
    /// `memory:` of a WebAssembly tool, as written (`64MiB`).
    pub memory: Option<Spanned<String>>,
}

impl RawCommand {
    /// The keys of `execute:` as a mapping.
    pub const KEYS: &[&str] = &[
        "command",
        "protocol",
        "persistent",
        "wasm",
        "dirs",
        "env",
        "memory",
    ];
}

/// A YAML scalar where a string is expected but numbers and booleans are tolerated (`PORT: 8080`).
#[derive(Debug, Clone)]
pub enum Scalar {
    String(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    /// The scalar as the string a process environment would hold.
    pub fn to_env_string(&self) -> String {
        match self {
            Scalar::String(s) => s.clone(),
            Scalar::Integer(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

//! What can be wrong with a project's configuration.

use std::path::PathBuf;

use crate::diagnostic::Explain;

/// A configuration problem; [`Problem`](crate::diagnostic::Problem) adds the location.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no compozy.yaml found in {} or any parent directory", .0.display())]
    NotFound(PathBuf),
    #[error("--project {}: {source}", .path.display())]
    BadProjectDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{message}")]
    Yaml { message: String },
    #[error("line {line} is indented with a tab")]
    TabIndent { line: usize },
    #[error("{message}")]
    UnclosedFlow { message: String, close: char },
    #[error("unknown key `{key}` in {place}")]
    UnknownKey {
        key: String,
        place: String,
        help: String,
    },
    #[error("{what} must be {expected}, not {found}")]
    WrongType {
        what: String,
        expected: &'static str,
        found: &'static str,
    },
    #[error("a tool has no `id`")]
    MissingId,
    #[error("`tools:` cannot be nested inside a tool")]
    NestedTools,
    #[error("a file with `tools:` cannot also declare tool fields (`{field}`)")]
    MixedToolFile { field: &'static str },
    #[error("invalid tool id `{id}`: {reason}")]
    InvalidId { id: String, reason: &'static str },
    #[error("{}", duplicate(id, *major))]
    DuplicateId { id: String, major: Option<u64> },
    #[error("the tool `{name}` has the name MCP lists `{key}` under")]
    McpNameTaken { name: String, key: String },
    #[error("invalid duration `{value}`: {reason}")]
    InvalidDuration { value: String, reason: String },
    #[error("invalid version `{value}`: {reason}")]
    InvalidVersion { value: String, reason: String },
    #[error("unknown runtime `{0}`")]
    UnknownRuntime(String),
    #[error("invalid environment variable name `{0}`")]
    InvalidEnvName(String),
    #[error("invalid glob `{glob}`: {reason}")]
    InvalidGlob { glob: String, reason: String },
    #[error("the project has no tools: {why}")]
    NoTools { why: String },
    #[error("invalid JSON Schema at `{path}`: {reason}")]
    InvalidSchema {
        path: String,
        reason: String,
        help: Option<String>,
    },
    #[error("unknown JSON Schema keyword `{keyword}` in `{path}`")]
    UnknownKeyword {
        keyword: String,
        path: String,
        help: Option<String>,
    },
    #[error("`{path}` does not fit the tool's `input:` schema: {reason}")]
    InvalidWith {
        path: String,
        reason: String,
        help: Option<String>,
    },
    #[error("`{path}` is not a property of the tool's `input:` schema")]
    UnknownWithKey { path: String, help: String },
    #[error("tool `{id}` has no `execute`")]
    MissingExecute { id: String },
    #[error("`{path}` points outside the project root")]
    OutsideRoot { path: String },
    #[error("`{path}` does not exist")]
    MissingModule { path: String },
    #[error("`{path}` is not a TypeScript or JavaScript module")]
    BadExtension { path: String },
    #[error("the entrypoint `{path}` must stay inside the project root")]
    EntrypointOutsideRoot { path: String },
    #[error("the entrypoint `{path}` does not exist")]
    MissingEntrypoint { path: String },
    #[error("unknown permission `{0}`")]
    UnknownPermission(String),
    #[error("cannot resolve `{reference}`: {reason}")]
    BadReference {
        reference: String,
        reason: String,
        help: String,
    },
    #[error("workflow source `{source_path}` cannot be read: {reason}")]
    MissingWorkflow { source_path: String, reason: String },
    #[error(
        "using `{path}` as the entrypoint: the tools have no `execute:` and `runtime.entrypoint` is not set"
    )]
    EntrypointFound { path: String },
    #[error(
        "this looks like a Deno-era Compozy project: `{file}` is Deno's configuration (its import map included), which Bun and Node ignore"
    )]
    DenoProject { file: String },
    #[error("a schema under `schemas:` has no `id`")]
    SchemaWithoutId,
    #[error("unknown schema `{id}`")]
    UnknownSchema { id: String, help: String },
    #[error("unknown resource kind `{kind}`; the file is skipped")]
    UnknownResource { kind: String, help: String },
    #[error("the command `{path}` of tool `{id}` {reason}")]
    BadCommand {
        id: String,
        path: String,
        reason: String,
        help: String,
    },
    #[error("`execute:` of tool `{id}` {reason}")]
    BadExecute {
        id: String,
        reason: String,
        help: String,
    },
    #[error("`{name}` is declared as a tool file but the file is empty")]
    EmptyToolFile { name: String },
    /// A problem with what MCP hosts are told (`title`, `annotations`, `icons`, `scopes`) or with
    /// `auth:`.
    #[error("{message}")]
    Mcp { message: String, help: String },
    /// A problem with `plugins:`.
    #[error("{message}")]
    Plugin { message: String, help: String },
}

fn duplicate(id: &str, major: Option<u64>) -> String {
    match major {
        None => format!("tool id `{id}` is declared more than once"),
        Some(major) => format!("two declarations of `{id}` with major {major}"),
    }
}

impl Explain for ConfigError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "config::not-found",
            Self::BadProjectDir { .. } => "config::project-dir",
            Self::Read { .. } => "config::read",
            Self::Yaml { .. } | Self::TabIndent { .. } | Self::UnclosedFlow { .. } => {
                "config::yaml"
            }
            Self::UnknownKey { .. } => "config::unknown-key",
            Self::WrongType { .. } => "config::wrong-type",
            Self::MissingId => "config::missing-id",
            Self::NestedTools => "config::nested-tools",
            Self::MixedToolFile { .. } => "config::mixed-tool-file",
            Self::InvalidId { .. } => "config::invalid-id",
            Self::DuplicateId { .. } => "config::duplicate-id",
            Self::McpNameTaken { .. } => "config::mcp-name-taken",
            Self::InvalidDuration { .. } => "config::duration",
            Self::InvalidVersion { .. } => "config::version",
            Self::UnknownRuntime(_) => "config::runtime",
            Self::InvalidEnvName(_) => "config::env-name",
            Self::InvalidGlob { .. } => "config::glob",
            Self::NoTools { .. } => "config::no-tools",
            Self::InvalidSchema { .. } => "config::schema",
            Self::UnknownKeyword { .. } => "config::schema-keyword",
            Self::InvalidWith { .. } => "config::with",
            Self::UnknownWithKey { .. } => "config::with-key",
            Self::MissingExecute { .. } => "config::missing-execute",
            Self::BadCommand { .. } => "config::command",
            Self::BadExecute { .. } => "config::execute",
            Self::OutsideRoot { .. } => "config::outside-root",
            Self::MissingModule { .. } => "config::missing-module",
            Self::BadExtension { .. } => "config::extension",
            Self::EntrypointOutsideRoot { .. } => "config::entrypoint-outside-root",
            Self::MissingEntrypoint { .. } => "config::missing-entrypoint",
            Self::EmptyToolFile { .. } => "config::empty-tool-file",
            Self::Mcp { .. } => "config::mcp",
            Self::Plugin { .. } => "config::plugin",
            Self::BadReference { .. } => "config::reference",
            Self::MissingWorkflow { .. } => "config::workflow",
            Self::SchemaWithoutId => "config::schema-id",
            Self::DenoProject { .. } => "config::deno-project",
            Self::EntrypointFound { .. } => "config::entrypoint-found",
            Self::UnknownSchema { .. } => "config::unknown-schema",
            Self::UnknownResource { .. } => "config::resource",
            Self::UnknownPermission(_) => "config::permission",
        }
    }

    fn help(&self) -> Option<String> {
        Some(match self {
            Self::NotFound(_) => {
                "run `compozy init` to start a project here, or pass --project DIR (the \
                 directory of an existing compozy.yaml)"
                    .into()
            }
            Self::BadProjectDir { .. } => "pass an existing directory to --project".into(),
            Self::Read { .. } => "check that the file exists and is readable".into(),
            Self::Yaml { .. } => {
                "see the configuration reference in the README (`compozy.yaml`, tool files)".into()
            }
            Self::TabIndent { .. } => {
                "indent with spaces: YAML does not allow tabs in indentation".into()
            }
            Self::UnclosedFlow { close, .. } => format!(
                "close it with `{close}`, or quote the value (`\"[…\"`) if the bracket is text"
            ),
            Self::UnknownKey { help, .. } => help.clone(),
            Self::WrongType { .. } => {
                "see the configuration reference in the README (`compozy.yaml`, tool files)".into()
            }
            Self::MissingId => "add `id: my_tool` to the tool".into(),
            Self::NestedTools => "declare every tool at the top level of the file".into(),
            Self::MixedToolFile { .. } => {
                "a tool file holds either one tool or `tools: [...]`, not both".into()
            }
            Self::InvalidId { .. } => {
                "ids match [A-Za-z0-9_][A-Za-z0-9_.\\-/]* and contain no `..`".into()
            }
            Self::DuplicateId { major: None, .. } => "rename one of the tools, or remove one; ids are unique \
                                         per project (\"first\" is in the order compozy reads: the \
                                         `tools:` of compozy.yaml, then the tool files by path)"
                .into(),
            Self::DuplicateId { major: Some(m), .. } => format!(
                "declarations of one id are served side by side only when their major versions \
                 differ: give one of them another major version (`version: {}.0.0`), rename it, or \
                 remove it",
                m + 1
            ),
            Self::McpNameTaken { name, key } => format!(
                "MCP lists an older major version `ID@MAJOR` as `ID.vMAJOR`; rename the tool \
                 `{name}`, or drop the older major `{key}`"
            ),
            Self::InvalidDuration { .. } => {
                "write a duration with a unit, such as 500ms, 30s or 2m".into()
            }
            Self::InvalidVersion { .. } => {
                "write a semantic version: MAJOR.MINOR.PATCH, such as 1.0.0 or 2.1.3".into()
            }
            Self::UnknownRuntime(_) => "use `bun` or `node`".into(),
            Self::InvalidEnvName(_) => "names match [A-Za-z_][A-Za-z0-9_]*".into(),
            Self::InvalidGlob { .. } => "fix the glob pattern (see globset syntax)".into(),
            Self::NoTools { .. } => {
                "add a tool file (e.g. tools/hello.yaml with `id:` and `execute:`), list tools under \
                 `tools:` in compozy.yaml, or fix `autoload.include`; `compozy init DIR` writes a \
                 working example"
                    .into()
            }
            Self::InvalidSchema { help, .. } => help.clone().unwrap_or_else(|| {
                "what each keyword takes: https://json-schema.org/understanding-json-schema/reference"
                    .into()
            }),
            Self::UnknownKeyword { help, .. } => help.clone().unwrap_or_else(|| {
                "unknown keywords are errors, so that a typo cannot switch a check off; \
                 name your own annotations `x-…`"
                    .into()
            }),
            Self::InvalidWith { help, .. } => help.clone().unwrap_or_else(|| {
                "`with:` holds default input values; each must fit the tool's `input:` schema \
                 (fix the value, or the schema)"
                    .into()
            }),
            Self::UnknownWithKey { help, .. } => help.clone(),
            Self::MissingExecute { .. } => {
                "add `execute: ./path/to/tool.ts` (relative to this YAML file), or point runtime.entrypoint at a hand-written entrypoint".into()
            }
            Self::OutsideRoot { .. } => {
                "move the module inside the project (the directory of compozy.yaml)".into()
            }
            Self::MissingModule { .. } => {
                "paths are relative to the YAML file that declares the tool; check the spelling"
                    .into()
            }
            Self::BadExtension { .. } => {
                "use one of .ts .tsx .mts .cts .js .mjs .cjs".into()
            }
            Self::EntrypointOutsideRoot { .. } => {
                "point runtime.entrypoint at a file inside the project".into()
            }
            Self::MissingEntrypoint { .. } => {
                "create the entrypoint, or remove runtime.entrypoint to let `compozy gen` write .compozy/tools.ts".into()
            }
            Self::EmptyToolFile { .. } => "add a tool, or exclude the file in autoload.exclude".into(),
            Self::BadReference { help, .. } => help.clone(),
            Self::BadCommand { help, .. } | Self::BadExecute { help, .. } => help.clone(),
            Self::MissingWorkflow { .. } => {
                "`source:` paths are relative to compozy.yaml; fix the path or remove the entry".into()
            }
            Self::EntrypointFound { path } => format!(
                "add `runtime: {{ entrypoint: {path} }}` to compozy.yaml to say so (and silence this)"
            ),
            Self::DenoProject { .. } => "run `compozy migrate` to give the tools their `execute:` paths and rewrite Deno's specifiers and APIs for Bun and Node (`--check` shows the changes first)".into(),
            Self::SchemaWithoutId => {
                "add `id: my_schema` so that tools can name it (`input: my_schema`)".into()
            }
            Self::UnknownSchema { help, .. } => help.clone(),
            Self::UnknownResource { help, .. } => help.clone(),
            Self::Mcp { help, .. } => help.clone(),
            Self::Plugin { help, .. } => help.clone(),
            Self::UnknownPermission(_) => format!(
                "known permissions: Node's {}; Deno's {}",
                super::permissions::KNOWN,
                super::permissions::KNOWN_DENO
            ),
        })
    }
}

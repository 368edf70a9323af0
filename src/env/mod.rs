//! The environment a tool runs with, and where each variable comes from (SPEC §6).
//!
//! Lowest to highest precedence: a minimal base of compozy's own environment plus
//! `runtime.env_passthrough` matches; `.env` files read as Bun reads them ([`dotenv`]); the
//! project's `runtime.env` and the tool's `env:`; the request's env.

pub mod dotenv;
mod error;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use error::EnvError;

use crate::config::{Project, Tool};

/// Variables of compozy's environment that every tool gets (plus `LC_*`).
pub const BASE: &[&str] = &[
    "PATH", "HOME", "USER", "LANG", "TZ", "TMPDIR", "TERM", "SHELL", "NODE_ENV",
];

/// Where a variable's value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// The minimal base inherited from compozy's environment.
    Inherited,
    /// Passed through by a `runtime.env_passthrough` glob.
    Passthrough {
        /// The glob that matched.
        glob: String,
    },
    /// A `.env` file.
    EnvFile {
        /// Root-relative path of the file.
        file: String,
    },
    /// `runtime.env` in compozy.yaml.
    RuntimeEnv,
    /// The tool's `env:`.
    ToolEnv,
    /// The request (`--env` on exec).
    Request,
}

impl Source {
    /// True for values that come from the project's own files (shown unmasked by inspect).
    pub fn declared_in_project(&self) -> bool {
        !matches!(self, Source::Inherited | Source::Passthrough { .. })
    }
}

/// A tool's environment with the source of each variable.
#[derive(Debug, Clone, Default)]
pub struct ToolEnv {
    /// Name → (value, source).
    pub vars: BTreeMap<String, (String, Source)>,
}

impl ToolEnv {
    /// Name → value, as a child process gets it.
    pub fn values(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, (v, _))| (k.as_str(), v.as_str()))
    }

    /// Name → value, without the sources.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.values()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }
}

/// compozy's own environment, the base of every tool's: a variable whose name or value is not
/// UTF-8 is left out (said under -vv), where `std::env::vars` would panic.
pub fn process_env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(
            |(name, value)| match (name.into_string(), value.into_string()) {
                (Ok(name), Ok(value)) => Some((name, value)),
                (name, _) => {
                    tracing::debug!("left out a variable that is not UTF-8: {name:?}");
                    None
                }
            },
        )
        .collect()
}

/// True for request variables that would change how the runtime itself loads.
pub fn is_forbidden(name: &str) -> bool {
    matches!(
        name,
        "LD_PRELOAD" | "LD_LIBRARY_PATH" | "NODE_OPTIONS" | "BUN_OPTIONS"
    ) || name.starts_with("DYLD_")
}

/// Parses `--env K=V` arguments, refusing forbidden or malformed names.
pub fn parse_request_env(pairs: &[String]) -> Result<BTreeMap<String, String>, EnvError> {
    let mut env = BTreeMap::new();
    for pair in pairs {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| EnvError::NotKeyValue(pair.clone()))?;
        check_request_name(name)?;
        env.insert(name.to_owned(), value.to_owned());
    }
    Ok(env)
}

/// Checks one request variable name.
pub fn check_request_name(name: &str) -> Result<(), EnvError> {
    if !crate::config::is_env_name(name) {
        return Err(EnvError::InvalidName(name.to_owned()));
    }
    if is_forbidden(name) {
        return Err(EnvError::Forbidden(name.to_owned()));
    }
    Ok(())
}

/// The `.env` files read for a project, highest priority first (root-relative).
pub fn env_files(project: &Project, process_env: &BTreeMap<String, String>) -> Vec<String> {
    match &project.runtime.env_files {
        Some(files) => files.clone(),
        None => {
            let mode = dotenv::Mode::from_env(
                process_env.get("BUN_ENV").map(String::as_str),
                process_env.get("NODE_ENV").map(String::as_str),
            );
            dotenv::default_files(mode)
        }
    }
}

/// Computes the environment of `tool` (without the request's part, see [`with_request`]).
pub fn resolve(
    project: &Project,
    tool: &Tool,
    process_env: &BTreeMap<String, String>,
) -> Result<ToolEnv, EnvError> {
    let mut env = ToolEnv::default();
    for (name, value) in process_env {
        if BASE.contains(&name.as_str()) || name.starts_with("LC_") {
            env.vars
                .insert(name.clone(), (value.clone(), Source::Inherited));
        }
    }
    if !project.runtime.env_passthrough.is_empty() {
        let globs: Vec<globset::GlobMatcher> = project
            .runtime
            .env_passthrough
            .iter()
            .map(|g| {
                globset::Glob::new(g)
                    .map(|g| g.compile_matcher())
                    .map_err(|e| EnvError::InvalidGlob {
                        glob: g.clone(),
                        reason: e.kind().to_string(),
                    })
            })
            .collect::<Result<_, _>>()?;
        for (name, value) in process_env {
            if env.vars.contains_key(name) {
                continue;
            }
            if let Some(i) = globs.iter().position(|g| g.is_match(name)) {
                let glob = project.runtime.env_passthrough[i].clone();
                env.vars
                    .insert(name.clone(), (value.clone(), Source::Passthrough { glob }));
            }
        }
    }

    // As in Bun, a variable already in the (passed-through) environment is not overridden by a
    // file, and `${VAR}` in a file sees it.
    let files = env_files(project, process_env);
    let paths: Vec<PathBuf> = files.iter().map(|f| project.root.join(f)).collect();
    let inherited = env.to_map();
    let loaded = dotenv::load(&paths, &inherited).map_err(|e| EnvError::ReadEnvFile {
        path: files.join(", "),
        reason: e.to_string(),
    })?;
    for (name, (value, index)) in loaded {
        let file = display(&paths[index], &project.root);
        env.vars.insert(name, (value, Source::EnvFile { file }));
    }

    for (name, value) in &project.runtime.env {
        env.vars
            .insert(name.clone(), (value.clone(), Source::RuntimeEnv));
    }
    for (name, value) in &tool.env {
        env.vars
            .insert(name.clone(), (value.clone(), Source::ToolEnv));
    }
    Ok(env)
}

/// Adds the request's variables on top.
pub fn with_request(mut env: ToolEnv, request: &BTreeMap<String, String>) -> ToolEnv {
    for (name, value) in request {
        env.vars
            .insert(name.clone(), (value.clone(), Source::Request));
    }
    env
}

fn display(path: &Path, root: &Path) -> String {
    crate::paths::display_path(path, root)
}

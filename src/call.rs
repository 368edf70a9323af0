//! One call of a tool as `compozy exec` makes it: the tool, its input with the `with:` defaults
//! and checked against its schema, its config, its deadline and environment, and the check of its
//! result. `exec` prepares a call with this before it runs one-shot, and a warm server with the
//! same code when `exec` hands it the arguments (see [`crate::warm`]): the two ways cannot differ.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::config::versions::NotFound;
use crate::config::{Project, Tool};
use crate::diagnostic::{Explain, Problem};
use crate::env::ToolEnv;
use crate::runtime::{Response, check_schema, merge_defaults};

/// A problem with the call itself (input, config, env, tool id): exit 2, the tool does not run.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("unknown tool `{id}`")]
    UnknownTool {
        id: String,
        /// The closest ids, best first.
        suggestions: Vec<String>,
        /// How many tools the project has.
        count: usize,
    },
    #[error("tool `{id}` was removed; call `{replaced_by}` instead")]
    Removed { id: String, replaced_by: String },
    /// `ID@x`, or `ID@9` of a tool without that major version.
    #[error("{0}")]
    NoSuchMajor(NotFound),
    #[error("{what} is not valid JSON: {reason}")]
    BadJson { what: &'static str, reason: String },
    #[error("cannot read {path}: {reason}")]
    ReadInput { path: String, reason: String },
    #[error("the input does not match the schema of `{tool}`: {reason}")]
    InvalidInput { tool: String, reason: String },
    #[error("the result of `{tool}`{changed_by} {reason}\nit returned {returned}")]
    InvalidOutput {
        tool: String,
        /// ` (changed by ./plugins/x.ts)` when a plugin changed the result, else empty.
        changed_by: String,
        reason: String,
        /// The result (its start, when long).
        returned: String,
    },
    #[error("invalid --timeout `{value}`: {reason}")]
    BadTimeout { value: String, reason: String },
}

impl ExecError {
    /// `id` is not a tool of `project`: with the closest ids, never the whole list.
    pub fn unknown_tool(id: &str, project: &Project) -> Self {
        let ids = project.tools.iter().map(|t| t.id.as_str());
        Self::UnknownTool {
            id: id.to_owned(),
            suggestions: crate::suggest::closest(id, ids)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            count: project.tools.len(),
        }
    }
}

impl Explain for ExecError {
    fn code(&self) -> &'static str {
        match self {
            Self::UnknownTool { .. } => "exec::unknown-tool",
            Self::Removed { .. } => "exec::removed-tool",
            Self::NoSuchMajor(NotFound::BadMajor { .. }) => "exec::bad-major",
            Self::NoSuchMajor(_) => "exec::unknown-major",
            Self::BadJson { .. } => "exec::json",
            Self::ReadInput { .. } => "exec::read",
            Self::InvalidInput { .. } => "exec::invalid-input",
            Self::InvalidOutput { .. } => "exec::invalid-output",
            Self::BadTimeout { .. } => "exec::timeout-value",
        }
    }

    fn help(&self) -> Option<String> {
        match self {
            Self::UnknownTool { count: 0, .. } => Some("the project declares no tools".into()),
            Self::Removed { .. } => Some("compozy.lock records what replaces it".into()),
            Self::NoSuchMajor(NotFound::NoMajor { majors, .. }) => Some(format!(
                "call one of them: {}",
                majors
                    .iter()
                    .map(|(_, name)| format!("`compozy exec {name}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
            Self::NoSuchMajor(_) => Some(
                "`compozy exec ID` runs the newest major version of a tool, `compozy exec ID@MAJOR` another one".into(),
            ),
            Self::UnknownTool {
                id, suggestions, ..
            } if !suggestions.is_empty() => {
                crate::suggest::did_you_mean(id, suggestions.iter().map(String::as_str))
            }
            Self::UnknownTool { count, .. } => Some(format!(
                "the project has {count} tools; `compozy inspect` lists them"
            )),
            Self::BadJson {
                what: "--config", ..
            } => Some("pass a JSON value, e.g. --config '{\"retries\":3}'".into()),
            Self::BadJson {
                what: "--input", ..
            } => Some("pass a JSON value, e.g. --input '{\"city\":\"Oslo\"}'".into()),
            Self::BadJson { .. } => Some("write one JSON value, e.g. {\"city\":\"Oslo\"}".into()),
            Self::InvalidInput { .. } => {
                Some("fix the input; see `input:` in the tool's config".into())
            }
            Self::InvalidOutput { .. } => Some("fix the tool, or its `output:` schema".into()),
            Self::BadTimeout { .. } => {
                Some("write a duration with a unit, such as 500ms, 30s or 2m".into())
            }
            Self::ReadInput { .. } => None,
        }
    }
}

/// `text` as the JSON value of the option `what`.
pub fn parse_json(what: &'static str, text: &str) -> Result<Value, ExecError> {
    serde_json::from_str(text).map_err(|e| ExecError::BadJson {
        what,
        reason: e.to_string(),
    })
}

/// The input read from a file or stdin (named by `what`): nothing but blanks is `{}`.
pub fn parse_read_input(what: &'static str, text: &str) -> Result<Value, ExecError> {
    if text.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    parse_json(what, text)
}

/// What `exec` was given, besides the input (read by the caller, in its place in the order of
/// the checks).
pub struct Args<'a> {
    /// The tool's id.
    pub tool_id: &'a str,
    /// `--config`.
    pub config: Option<&'a str>,
    /// `--timeout`.
    pub timeout: Option<&'a str>,
    /// `--env K=V`.
    pub env: &'a [String],
    /// The caller's own environment.
    pub process_env: &'a BTreeMap<String, String>,
}

/// A call ready to run.
pub struct Prepared<'p> {
    /// The tool.
    pub tool: &'p Tool,
    /// The input, with the tool's `with:` defaults, checked against its schema.
    pub input: Value,
    /// `--config`, else the tool's `config:`.
    pub config: Value,
    /// The deadline.
    pub timeout: Duration,
    /// The tool's whole environment.
    pub env: ToolEnv,
}

/// Checks and prepares a call of `project`, in the order `exec` reports problems in: the tool
/// (`ID`, or `ID@MAJOR` of a tool kept in several major versions; `found` is told which, before
/// anything else is checked), the input (`read_input` runs only once the tool is known), config,
/// deadline, environment.
pub fn prepare<'p>(
    project: &'p Project,
    args: &Args<'_>,
    found: impl FnOnce(&Tool),
    read_input: impl FnOnce() -> Result<Value, ExecError>,
) -> Result<Prepared<'p>, Problem> {
    let tool = match project.resolve(args.tool_id) {
        Ok(tool) => tool,
        Err(not_found) => {
            if let Some(to) = crate::generate::lock::replacement(&project.root, args.tool_id) {
                return Err(Problem::new(ExecError::Removed {
                    id: args.tool_id.to_owned(),
                    replaced_by: to,
                }));
            }
            return Err(Problem::new(match not_found {
                NotFound::Unknown => ExecError::unknown_tool(args.tool_id, project),
                other => ExecError::NoSuchMajor(other),
            }));
        }
    };
    found(tool);
    let input = merge_defaults(tool.with.as_ref(), read_input().map_err(Problem::new)?);
    if let Err(reason) = check_schema(tool.input.as_ref(), &input) {
        // A value under `x-compozy-sensitive: true` is never quoted.
        let reason = crate::runtime::redact(
            reason,
            &crate::runtime::sensitive_values(tool.input.as_ref(), &input),
        );
        return Err(Problem::new(ExecError::InvalidInput {
            tool: tool.id.clone(),
            reason,
        }));
    }
    let config = match args.config {
        Some(json) => parse_json("--config", json).map_err(Problem::new)?,
        None => tool
            .config
            .clone()
            .unwrap_or(Value::Object(Default::default())),
    };
    let timeout = match args.timeout {
        Some(text) => humantime::parse_duration(text)
            .map_err(|e| e.to_string())
            .and_then(|d| crate::config::timeout_problem(d).map_or(Ok(d), Err))
            .map_err(|reason| {
                Problem::new(ExecError::BadTimeout {
                    value: text.to_owned(),
                    reason,
                })
            })?,
        None => tool.timeout.unwrap_or(project.runtime.timeout),
    };
    let request_env = crate::env::parse_request_env(args.env).map_err(Problem::new)?;
    let env = crate::env::resolve(project, tool, args.process_env)
        .map(|env| crate::env::with_request(env, &request_env))
        .map_err(Problem::new)?;
    Ok(Prepared {
        tool,
        input,
        config,
        timeout,
        env,
    })
}

/// Checks a tool's successful result against its `output:` schema (and, for `returns: content`,
/// that it is MCP content); `Err` says what is wrong with it.
pub fn check_output(tool: &Tool, response: &Response) -> Result<(), String> {
    if tool.output.is_none() && !tool.mcp.returns_content {
        return Ok(());
    }
    let result = response.result_value().map_err(|e| e.to_string())?;
    output_problem(
        &result,
        tool.mcp.returns_content,
        tool.output.is_some(),
        |value| check_schema(tool.output.as_ref(), value),
    )
}

/// What is wrong with a tool's `result`, in the words that complete "the result of `tool` …",
/// for `exec` and the servers alike: `schema` checks a value against the `output:` schema (there
/// is one when `has_schema`); `returns_content`: the result must be MCP content, whose
/// `structuredContent` is what `output:` describes.
pub fn output_problem(
    result: &Value,
    returns_content: bool,
    has_schema: bool,
    schema: impl Fn(&Value) -> Result<(), String>,
) -> Result<(), String> {
    if !returns_content {
        return schema(result).map_err(|e| format!("does not match its output schema: {e}"));
    }
    let (_, structured) =
        crate::mcp::content::split(result).map_err(|e| format!("is not valid MCP content: {e}"))?;
    match (has_schema, structured) {
        (false, _) => Ok(()),
        (true, Some(s)) => schema(s).map_err(|e| {
            format!("is not valid MCP content: its `structuredContent` does not match the output schema: {e}")
        }),
        (true, None) => Err("is not valid MCP content: the tool has an `output:` schema, so its \
                             result needs `structuredContent`"
            .into()),
    }
}

//! `compozy exec TOOL_ID`: run one tool in a fresh worker and print its result.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::path::Path;

use serde_json::Value;

use super::args::ExecArgs;
use super::output::Output;
use crate::config::RuntimeKind;
use crate::config::versions::NotFound;
use crate::diagnostic::{Explain, Problem};
use crate::exit::ExitCode;
use crate::runtime::{self, Limits, Request, check_schema, merge_defaults};
use crate::warm::client::Forwarded;

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
    pub fn unknown_tool(id: &str, project: &crate::config::Project) -> Self {
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

fn parse_json(what: &'static str, text: &str) -> Result<Value, ExecError> {
    serde_json::from_str(text).map_err(|e| ExecError::BadJson {
        what,
        reason: e.to_string(),
    })
}

fn read_input(args: &ExecArgs, cwd: &Path, out: &Output) -> Result<Value, ExecError> {
    if let Some(json) = &args.input {
        return parse_json("--input", json);
    }
    let (text, what) = match &args.input_file {
        Some(path) if path.as_os_str() != "-" => {
            let text =
                std::fs::read_to_string(cwd.join(path)).map_err(|e| ExecError::ReadInput {
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
            (text, "--input-file")
        }
        _ => {
            let stdin = std::io::stdin();
            if args.input_file.is_none() && stdin.is_terminal() {
                return Ok(Value::Object(Default::default()));
            }
            // A pipe that stays open (`sleep 3 | compozy exec …`) is waited for: -v says why.
            out.detail(
                "compozy: reading the input from stdin until it closes (--input '{}' reads none)",
            );
            let mut text = String::new();
            stdin
                .lock()
                .read_to_string(&mut text)
                .map_err(|e| ExecError::ReadInput {
                    path: "stdin".into(),
                    reason: e.to_string(),
                })?;
            (text, "the input on stdin")
        }
    };
    if text.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    parse_json(what, &text)
}

/// Whether `exec` sends its call to a running server of the project ([`crate::warm`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Forward {
    /// When one listens and takes it (the default).
    Auto,
    /// Never.
    Off,
    /// Always: a call that cannot be forwarded is an error.
    Require,
}

fn forward_mode() -> Forward {
    match std::env::var(crate::warm::FORWARD_VAR).as_deref() {
        Ok("off" | "0" | "never") => Forward::Off,
        Ok("require" | "always") => Forward::Require,
        _ => Forward::Auto,
    }
}

/// The call runs one-shot (`Ok(None)`), said under -v; with `COMPOZY_FORWARD=require` it is an
/// error instead.
fn not_forwarded(mode: Forward, reason: &str, out: &Output) -> Result<Option<Forwarded>, ExitCode> {
    if mode == Forward::Require {
        eprintln!(
            "compozy: cannot forward the call ({}=require): {reason}",
            crate::warm::FORWARD_VAR
        );
        return Err(ExitCode::Failure);
    }
    out.detail(&format!("compozy: running one-shot: {reason}"));
    Ok(None)
}

/// A server's answer as a one-shot run would have ended: the pool's own failures (deadline,
/// caps, a worker that died) become the errors exec reports for them.
fn from_server(
    response: runtime::Response,
    tool: &str,
    timeout: std::time::Duration,
    limits: &Limits,
) -> Result<runtime::Response, runtime::RuntimeError> {
    use runtime::RuntimeError;
    let Some(error) = &response.error else {
        return Ok(response);
    };
    let message = error.message.as_str();
    Err(match error.name.as_str() {
        "TimeoutError" => RuntimeError::Timeout {
            tool: tool.to_owned(),
            timeout,
        },
        "LimitExceededError" if message.starts_with("the result is larger") => {
            RuntimeError::ResultTooLarge {
                limit: limits.max_result_bytes,
            }
        }
        "LimitExceededError" => RuntimeError::LogTooLarge {
            limit: limits.max_log_bytes,
        },
        "WorkerExitedError" => RuntimeError::WorkerExited {
            status: message
                .strip_prefix("the worker exited (")
                .and_then(|rest| rest.split_once(") before answering"))
                .map_or_else(|| message.to_owned(), |(status, _)| status.to_owned()),
        },
        "CancelledError" => RuntimeError::Cancelled,
        "ProtocolError" => {
            let prefix = "the tool's program broke the `stdio` protocol: ";
            let reason = message.strip_prefix(prefix).unwrap_or(message);
            let help = Explain::help(&RuntimeError::Protocol {
                reason: String::new(),
            });
            let reason = help
                .and_then(|h| reason.strip_suffix(&format!(" ({h})")).map(str::to_owned))
                .unwrap_or_else(|| reason.to_owned());
            RuntimeError::Protocol { reason }
        }
        "WorkerError" => RuntimeError::BadResponse {
            reason: message.to_owned(),
        },
        // The tool's own error: printed as one-shot prints it.
        _ => return Ok(response),
    })
}

/// Runs `exec`.
pub fn run(args: &ExecArgs, out: &Output, cwd: &Path) -> ExitCode {
    let fail = |problem: Problem| {
        out.problems([&problem]);
        ExitCode::Error
    };
    let (project, fingerprint) =
        match super::fresh_project_for(args.project.project.as_deref(), out, cwd, &args.tool_id) {
            Ok(p) => p,
            Err(problems) => {
                out.problems(&problems.0);
                return ExitCode::Error;
            }
        };
    let tool = match project.resolve(&args.tool_id) {
        Ok(tool) => tool,
        Err(not_found) => {
            if let Some(to) = crate::generate::lock::replacement(&project.root, &args.tool_id) {
                return fail(Problem::new(ExecError::Removed {
                    id: args.tool_id.clone(),
                    replaced_by: to,
                }));
            }
            return fail(Problem::new(match not_found {
                NotFound::Unknown => ExecError::unknown_tool(&args.tool_id, &project),
                other => ExecError::NoSuchMajor(other),
            }));
        }
    };
    if let Some(warning) = crate::config::versions::deprecation(tool) {
        out.status(&format!("compozy: warning: {warning}"));
    }

    let input = match read_input(args, cwd, out) {
        Ok(input) => merge_defaults(tool.with.as_ref(), input),
        Err(e) => return fail(Problem::new(e)),
    };
    if let Err(reason) = check_schema(tool.input.as_ref(), &input) {
        let reason = runtime::redact(
            reason,
            &runtime::sensitive_values(tool.input.as_ref(), &input),
        );
        return fail(Problem::new(ExecError::InvalidInput {
            tool: tool.id.clone(),
            reason,
        }));
    }
    let config = match &args.config {
        Some(json) => match parse_json("--config", json) {
            Ok(v) => v,
            Err(e) => return fail(Problem::new(e)),
        },
        None => tool
            .config
            .clone()
            .unwrap_or(Value::Object(Default::default())),
    };
    let timeout = match &args.timeout {
        Some(text) => match humantime::parse_duration(text)
            .map_err(|e| e.to_string())
            .and_then(|d| crate::config::timeout_problem(d).map_or(Ok(d), Err))
        {
            Ok(d) => d,
            Err(reason) => {
                return fail(Problem::new(ExecError::BadTimeout {
                    value: text.clone(),
                    reason,
                }));
            }
        },
        None => tool.timeout.unwrap_or(project.runtime.timeout),
    };
    let request_env = match crate::env::parse_request_env(&args.env) {
        Ok(env) => env,
        Err(e) => return fail(Problem::new(e)),
    };
    let process_env: BTreeMap<String, String> = std::env::vars().collect();
    let env = match crate::env::resolve(&project, tool, &process_env) {
        Ok(env) => crate::env::with_request(env, &request_env),
        Err(e) => return fail(Problem::new(e)),
    };

    // A process tool is its own carrier: no Bun or Node is looked for.
    let (carrier, runtime_name): (Box<dyn runtime::Carrier>, _) = match &tool.command {
        Some(command) => match runtime::WasmCarrier::new(&tool.id, command) {
            Some(wasm) => (Box::new(wasm), None),
            None => (
                Box::new(runtime::ProcessCarrier::new(&tool.id, command)),
                None,
            ),
        },
        None => {
            let kind = args.runtime.map_or(project.runtime.kind, RuntimeKind::from);
            if kind == RuntimeKind::Bun
                && project.runtime.deno_permissions.is_empty()
                && let Some(permissions) = &project.runtime.permissions
            {
                out.problems([&crate::generate::permissions_not_enforced(permissions)]);
            }
            match runtime::find(kind, &project.root) {
                Ok(r) => {
                    let name = r.describe();
                    (r, Some(name))
                }
                Err(e) => {
                    let code = e.exit_code();
                    out.problems([&Problem::new(e)]);
                    return code;
                }
            }
        }
    };

    let mut request = Request {
        id: Value::Null,
        tool_id: tool.id.clone(),
        tool_exec_id: runtime::new_exec_id(),
        input,
        config,
        // The worker process is started with exactly this environment; sending it again would
        // only make the worker rebuild process.env on its hot start-up path.
        env: None,
        timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        progress: false,
        // The environment carrier of W3C trace context (OpenTelemetry's `TRACEPARENT`): the
        // tool continues the caller's trace.
        traceparent: std::env::var("TRACEPARENT")
            .ok()
            .filter(|t| runtime::parse_traceparent(t).is_some()),
    };
    let limits = Limits::from_env();
    let forwarded = match (fingerprint, forward_mode()) {
        (_, Forward::Off) => None,
        (None, mode) => {
            match not_forwarded(mode, "the project changed since it was last generated", out) {
                Ok(none) => none,
                Err(code) => return code,
            }
        }
        (Some(fingerprint), mode) => {
            let call = crate::warm::wire::Call {
                version: env!("CARGO_PKG_VERSION").to_owned(),
                root: project.root.clone(),
                fingerprint,
                runtime: runtime_name,
                limits: (limits.max_result_bytes, limits.max_log_bytes),
                tool_id: request.tool_id.clone(),
                tool_exec_id: request.tool_exec_id.clone(),
                input: request.input.clone(),
                config: request.config.clone(),
                env: env.to_map(),
                timeout_ms: request.timeout_ms,
                traceparent: request.traceparent.clone(),
            };
            match crate::warm::client::forward(call) {
                Ok(forwarded) => Some(forwarded),
                Err(reason) => match not_forwarded(mode, &reason, out) {
                    Ok(none) => none,
                    Err(code) => return code,
                },
            }
        }
    };
    // The built-in policies, when the call runs here: the server applies its own to a
    // forwarded call.
    let policies = (forwarded.is_none() && !project.policies.is_empty()).then(|| {
        let code = fingerprint.or_else(|| crate::fresh_digest(&project.root));
        runtime::Policies::once(std::sync::Arc::new(project.clone()), code)
    });
    let caller = runtime::caller::local();
    let env_map = if policies.is_some() {
        env.to_map()
    } else {
        BTreeMap::new()
    };
    let record = policies.as_ref().map(|p| {
        if let Some(dir) = p.state_path() {
            out.detail(&format!("compozy: policy state in {}", dir.display()));
        }
        let reply = p.audited(&request, Some(&caller), Box::new(|_| {}));
        p.traced(&mut request, Some(&caller), reply)
    });
    let started = std::time::Instant::now();
    let mut from_cache = false;
    let outcome = match forwarded {
        None => match &policies {
            None => carrier.execute(&project, &request, &env, &limits, timeout),
            Some(p) => under_policies(p, &request, &caller, &env_map, &mut from_cache, || {
                carrier.execute(&project, &request, &env, &limits, timeout)
            }),
        },
        Some(Forwarded::Answer(response)) => {
            out.detail("compozy: answered by the project's running server");
            from_server(*response, &tool.id, timeout, &limits)
        }
        Some(Forwarded::Interrupted) => Err(runtime::RuntimeError::Interrupted),
        Some(Forwarded::Broken(reason)) => {
            eprintln!("compozy: the project's server ended the call before answering: {reason}");
            return ExitCode::Failure;
        }
    };
    let (code, answer) = report(outcome, tool, &request, started, out);
    if let (Some(p), Some(record)) = (&policies, record) {
        if code == ExitCode::Ok && !from_cache {
            p.keep(&request, Some(&caller), &env_map, &answer);
        }
        record(answer);
        runtime::flush_spans(std::time::Duration::from_secs(2));
    }
    code
}

/// Runs `run` under the built-in policies of one-shot `exec`, in the order a server applies
/// them: a cached answer (`from_cache`), else a token from every rate limit (a
/// `RateLimitedError` answer without one), a place under the concurrency cap (waited for; Ctrl-C
/// while waiting is an interruption), and runs again after an infrastructure failure, each run
/// in a fresh process, up to the retry's `attempts`.
fn under_policies(
    policies: &runtime::Policies,
    request: &Request,
    caller: &str,
    env: &BTreeMap<String, String>,
    from_cache: &mut bool,
    run: impl Fn() -> Result<runtime::Response, runtime::RuntimeError>,
) -> Result<runtime::Response, runtime::RuntimeError> {
    if let Some(cached) = policies.cached(request, Some(caller), Some(env)) {
        *from_cache = true;
        return Ok(cached);
    }
    if let Some(message) = policies.rate_limited(&request.tool_id) {
        return Ok(runtime::Response::failure(
            Value::Null,
            Some(request.tool_id.clone()),
            Some(request.tool_exec_id.clone()),
            "RateLimitedError",
            message,
            std::time::Duration::ZERO,
        ));
    }
    let _slot = policies.slot(&request.tool_id, runtime::interrupted())?;
    let mut outcome = run();
    for left in (1..policies.attempts(&request.tool_id)).rev() {
        let failed = match &outcome {
            Err(e) => runtime::pool::failure(request, e, std::time::Duration::ZERO, false),
            Ok(_) => break,
        };
        let name = failed.error.as_ref().map_or("", |e| e.name.as_str());
        if !runtime::infrastructure(name) {
            break;
        }
        tracing::info!(tool = %request.tool_id, attempts_left = left, "retrying after {name}");
        outcome = run();
    }
    outcome
}

/// Prints the outcome of the call as exec does, and returns the exit code with the answer as
/// a server would have given it (for the audit log, the spans and the cache).
fn report(
    outcome: Result<runtime::Response, runtime::RuntimeError>,
    tool: &crate::config::Tool,
    request: &Request,
    started: std::time::Instant,
    out: &Output,
) -> (ExitCode, runtime::Response) {
    let failed = |name: &str, message: String| {
        runtime::Response::failure(
            Value::Null,
            Some(request.tool_id.clone()),
            Some(request.tool_exec_id.clone()),
            name,
            message,
            started.elapsed(),
        )
    };
    let response = match outcome {
        Ok(r) => r,
        Err(e) => {
            let code = e.exit_code();
            let answer = runtime::pool::failure(request, &e, started.elapsed(), false);
            out.problems([&Problem::new(e)]);
            return (code, answer);
        }
    };
    if let Some(error) = &response.error {
        // Printed as is: a stack trace must stay copyable, not wrapped into a frame.
        let details = match &error.stack {
            Some(stack) if stack.contains(&error.message) => stack.clone(),
            Some(stack) if !stack.is_empty() => {
                format!("{}: {}\n{stack}", error.name, error.message)
            }
            _ => format!("{}: {}", error.name, error.message),
        };
        eprintln!("compozy: tool `{}` failed:\n{details}", tool.id);
        return (ExitCode::Failure, response);
    }
    if tool.output.is_some() || tool.mcp.returns_content {
        let checked = response
            .result_value()
            .map_err(|e| e.to_string())
            .and_then(|result| {
                let schema = |value: &serde_json::Value| {
                    check_schema(tool.output.as_ref(), value)
                        .map_err(|e| format!("does not match its output schema: {e}"))
                };
                if !tool.mcp.returns_content {
                    return schema(&result);
                }
                // `returns: content`: MCP content, whose `structuredContent` is what `output:`
                // describes.
                let (_, structured) = crate::mcp::content::split(&result)
                    .map_err(|e| format!("is not valid MCP content: {e}"))?;
                match (tool.output.as_ref(), structured) {
                    (None, _) => Ok(()),
                    (Some(_), Some(s)) => schema(s),
                    (Some(_), None) => Err("needs `structuredContent`: the tool has an \
                                            `output:` schema"
                        .into()),
                }
            });
        if let Err(reason) = checked {
            let error = ExecError::InvalidOutput {
                tool: tool.id.clone(),
                changed_by: response.metadata.changed_by_note(),
                reason,
                returned: runtime::excerpt(response.result.get()),
            };
            let answer = failed("InvalidOutputError", error.to_string());
            out.problems([&Problem::new(error)]);
            return (ExitCode::Failure, answer);
        }
    }
    // The result exactly as the tool's worker serialised it.
    let mut stdout = std::io::stdout().lock();
    let written = std::io::Write::write_all(&mut stdout, response.result.get().as_bytes())
        .and_then(|()| std::io::Write::write_all(&mut stdout, b"\n"))
        .and_then(|()| std::io::Write::flush(&mut stdout));
    let code = match written {
        Ok(()) => ExitCode::Ok,
        // A closed stdout (`| head`) is the reader's choice, not a failure of the tool.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::Ok,
        Err(e) => {
            eprintln!("compozy: cannot write the result: {e}");
            ExitCode::Failure
        }
    };
    (code, response)
}

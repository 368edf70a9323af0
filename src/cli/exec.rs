//! `compozy exec TOOL_ID`: run one tool in a fresh worker and print its result.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read};
use std::path::Path;

use serde_json::Value;

use super::args::ExecArgs;
use super::output::Output;
use crate::call::{parse_json, parse_read_input};
use crate::config::RuntimeKind;
use crate::diagnostic::{Explain, Problem};
use crate::exit::ExitCode;
use crate::runtime::{self, Limits, Request};
use crate::warm::client::Forwarded;

pub use crate::call::ExecError;

/// The input: `--input`, `--input-file`, stdin when it is not a terminal, else `{}`.
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
    parse_read_input(what, &text)
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

/// How a call handed to the project's server went ([`warm`]).
enum Warm {
    /// Answered, with this exit code.
    Done(ExitCode),
    /// No server to talk to (said why): the call runs one-shot without looking again.
    NoServer(String),
    /// Not run there (said why, under -vv): the one-shot way takes over, and may still forward
    /// the call it prepared itself.
    NotTaken(String),
}

/// The quick way to a warm server: `exec`'s arguments go to the project's server as they are,
/// and the server, which has the project loaded, checks that its files are current and prepares
/// the call with the code of the one-shot way ([`crate::call`]). Nothing of the project is read
/// here, so a forwarded call costs little more than starting compozy. A call the server would
/// have to report a problem for is refused, and the one-shot way reports it.
fn warm(args: &ExecArgs, out: &Output, cwd: &Path) -> Warm {
    use crate::warm::client::{NotRun, Ran};
    use crate::warm::wire::{ExecCall, Input};
    let input = match (&args.input, &args.input_file) {
        (Some(text), _) => Input::Arg(text.clone()),
        (None, Some(path)) if path.as_os_str() != "-" => {
            match std::fs::read_to_string(cwd.join(path)) {
                Ok(text) => Input::File(text),
                Err(e) => return Warm::NotTaken(format!("cannot read the input: {e}")),
            }
        }
        // The one-shot way reads stdin after the checks that come before it: so must a call
        // with its input on stdin, which takes that way.
        (None, None) if std::io::stdin().is_terminal() => Input::Empty,
        (None, _) => return Warm::NotTaken("the input is on stdin".into()),
    };
    let Ok(root) = crate::config::project_root(args.project.project.as_deref(), cwd) else {
        return Warm::NotTaken("no project here".into());
    };
    let limits = Limits::from_env();
    let call = || ExecCall {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        root: root.clone(),
        limits: (limits.max_result_bytes, limits.max_log_bytes),
        tool_id: args.tool_id.clone(),
        tool_exec_id: runtime::new_exec_id(),
        input,
        config: args.config.clone(),
        timeout: args.timeout.clone(),
        env: args.env.clone(),
        runtime: args.runtime.map(RuntimeKind::from),
        process_env: crate::env::process_env(),
    };
    let ran = match crate::warm::client::forward_exec(&root, call) {
        Ok(Ran::Answer(ran)) => *ran,
        Ok(Ran::Interrupted) => {
            let interrupted = Err(runtime::RuntimeError::Interrupted);
            return Warm::Done(finish(out, &args.tool_id, interrupted, |_| Ok(())));
        }
        Ok(Ran::Broken(reason)) => {
            eprintln!("compozy: the project's server ended the call before answering: {reason}");
            return Warm::Done(ExitCode::Failure);
        }
        Err(NotRun::NoServer(reason)) => return Warm::NoServer(reason),
        Err(NotRun::NotTaken(reason)) => return Warm::NotTaken(reason),
    };
    out.detail("compozy: answered by the project's running server");
    // The key of the tool that ran, as one-shot names it (`weather@2` is `weather`).
    let tool_id = (ran.response.metadata.tool_id.clone()).unwrap_or_else(|| args.tool_id.clone());
    let outcome = from_server(ran.response, &tool_id, ran.timeout, &limits);
    let invalid_output = ran.invalid_output;
    Warm::Done(finish(out, &tool_id, outcome, |_| {
        invalid_output.map_or(Ok(()), Err)
    }))
}

/// Hands the call to the project's warm server, before anything else is set up ([`warm`]).
/// `Err`: it did not answer; with why, when there is no server to talk to (for [`run`]).
pub fn warm_first(args: &ExecArgs, out: &Output, cwd: &Path) -> Result<ExitCode, Option<String>> {
    if forward_mode() == Forward::Off {
        return Err(None);
    }
    match warm(args, out, cwd) {
        Warm::Done(code) => Ok(code),
        Warm::NoServer(reason) => Err(Some(reason)),
        Warm::NotTaken(reason) => {
            if out.verbose > 1 {
                eprintln!("compozy: the project's server did not take the call at once: {reason}");
            }
            Err(None)
        }
    }
}

/// Runs `exec` once [`warm_first`] did not answer (`no_server`: there is no server, said why).
pub fn run(args: &ExecArgs, out: &Output, cwd: &Path, no_server: Option<String>) -> ExitCode {
    one_shot(args, out, cwd, forward_mode(), no_server)
}

/// `exec`'s own way: the project loaded here, the call checked and prepared here, then run
/// one-shot, or forwarded ready to run to the project's server (`no_server`: there is none).
fn one_shot(
    args: &ExecArgs,
    out: &Output,
    cwd: &Path,
    mode: Forward,
    no_server: Option<String>,
) -> ExitCode {
    let (project, fingerprint) =
        match super::fresh_project_for(args.project.project.as_deref(), out, cwd, &args.tool_id) {
            Ok(p) => p,
            Err(problems) => {
                out.problems(&problems.0);
                return ExitCode::Error;
            }
        };
    let process_env = crate::env::process_env();
    let call_args = crate::call::Args {
        tool_id: &args.tool_id,
        config: args.config.as_deref(),
        timeout: args.timeout.as_deref(),
        env: &args.env,
        process_env: &process_env,
    };
    let deprecated = |tool: &crate::config::Tool| {
        if let Some(warning) = crate::config::versions::deprecation(tool) {
            out.status(&format!("compozy: warning: {warning}"));
        }
    };
    let input = || read_input(args, cwd, out);
    let prepared = match crate::call::prepare(&project, &call_args, deprecated, input) {
        Ok(prepared) => prepared,
        Err(problem) => {
            out.problems([&problem]);
            return ExitCode::Error;
        }
    };
    let crate::call::Prepared {
        tool,
        input,
        config,
        timeout,
        env,
    } = prepared;

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
        traceparent: process_env
            .get("TRACEPARENT")
            .filter(|t| runtime::parse_traceparent(t).is_some())
            .cloned(),
    };
    let limits = Limits::from_env();
    let forwarded = match (fingerprint, mode) {
        (_, Forward::Off) => None,
        (_, mode) if let Some(reason) = &no_server => match not_forwarded(mode, reason, out) {
            Ok(none) => none,
            Err(code) => return code,
        },
        (None, mode) => match not_forwarded(mode, crate::warm::NOT_FRESH, out) {
            Ok(none) => none,
            Err(code) => return code,
        },
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
    let checked = match &outcome {
        Ok(response) if response.error.is_none() => crate::call::check_output(tool, response),
        _ => Ok(()),
    };
    let Some((policies, record)) = policies.zip(record) else {
        return finish(out, &tool.id, outcome, |_| checked);
    };
    // The answer as a server would have given it, for the audit log, the spans and the cache.
    let answer = match &outcome {
        Err(e) => runtime::pool::failure(&request, e, started.elapsed(), false),
        Ok(response) => match &checked {
            Err(reason) => runtime::Response::failure(
                Value::Null,
                Some(request.tool_id.clone()),
                Some(request.tool_exec_id.clone()),
                "InvalidOutputError",
                ExecError::InvalidOutput {
                    tool: tool.id.clone(),
                    changed_by: response.metadata.changed_by_note(),
                    reason: reason.clone(),
                    returned: runtime::excerpt(response.result.get()),
                }
                .to_string(),
                started.elapsed(),
            ),
            Ok(()) => response.clone(),
        },
    };
    let code = finish(out, &tool.id, outcome, |_| checked);
    if code == ExitCode::Ok && !from_cache {
        policies.keep(&request, Some(&caller), &env_map, &answer);
    }
    record(answer);
    runtime::flush_spans(std::time::Duration::from_secs(2));
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

/// Reports how the call ended, as one-shot and forwarded calls alike do: a failure of the run, the
/// tool's own error, a result its `output:` schema refuses (`check`), else the result on stdout.
fn finish(
    out: &Output,
    tool_id: &str,
    outcome: Result<runtime::Response, runtime::RuntimeError>,
    check: impl FnOnce(&runtime::Response) -> Result<(), String>,
) -> ExitCode {
    let response = match outcome {
        Ok(r) => r,
        Err(e) => {
            let code = e.exit_code();
            out.problems([&Problem::new(e)]);
            return code;
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
        eprintln!("compozy: tool `{tool_id}` failed:\n{details}");
        return ExitCode::Failure;
    }
    if let Err(reason) = check(&response) {
        out.problems([&Problem::new(ExecError::InvalidOutput {
            tool: tool_id.to_owned(),
            changed_by: response.metadata.changed_by_note(),
            reason,
            returned: runtime::excerpt(response.result.get()),
        })]);
        return ExitCode::Failure;
    }
    // The result exactly as the tool's worker serialised it.
    let mut stdout = std::io::stdout().lock();
    let written = std::io::Write::write_all(&mut stdout, response.result.get().as_bytes())
        .and_then(|()| std::io::Write::write_all(&mut stdout, b"\n"))
        .and_then(|()| std::io::Write::flush(&mut stdout));
    match written {
        Ok(()) => ExitCode::Ok,
        // A closed stdout (`| head`) is the reader's choice, not a failure of the tool.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::Ok,
        Err(e) => {
            eprintln!("compozy: cannot write the result: {e}");
            ExitCode::Failure
        }
    }
}

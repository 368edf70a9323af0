//! `serve`'s request handling: a line of NDJSON in, a validated request to the pool, an answer
//! line out. Only `tool_id` is required; everything else has a default.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::input::{Validators, merge_defaults};
use super::pool::{Job, Pool, Reply};
use super::protocol::{Notes, Request, Response, new_exec_id};
use crate::config::Project;
use crate::config::versions::NotFound;
use crate::env::ToolEnv;

/// Turns request lines into pool jobs for one project (until [`Server::reload`]).
pub struct Server {
    pool: Pool,
    project: Arc<Project>,
    process_env: BTreeMap<String, String>,
    /// Each tool's resolved environment, and the map its requests carry.
    envs: HashMap<String, (ToolEnv, Arc<BTreeMap<String, String>>)>,
    validators: Validators,
    /// The built-in policies (rate limits, concurrency caps), in front of the pool.
    policies: super::policy::Policies,
    /// The policies of the code before a reload, while calls still wait in their queues (those
    /// calls run on, and may be cancelled).
    retired: Vec<super::policy::Policies>,
}

fn reject(id: Value, tool_id: Option<&str>, name: &str, message: String) -> Box<Response> {
    Box::new(Response::failure(
        id,
        tool_id.map(str::to_owned),
        None,
        name,
        message,
        Duration::ZERO,
    ))
}

/// Turns a successful answer whose result breaks the `output` schema (`validator`), or for a
/// `returns: content` tool is not MCP content, into an error answer (see
/// [`crate::call::output_problem`]).
fn judged(
    response: Response,
    validator: Option<&jsonschema::Validator>,
    content: bool,
) -> Response {
    if response.error.is_some() || (validator.is_none() && !content) {
        return response;
    }
    let checked = response
        .result_value()
        .map_err(|e| e.to_string())
        .and_then(|result| {
            crate::call::output_problem(&result, content, validator.is_some(), |value| {
                validator.map_or(Ok(()), |v| super::input::check(v, value))
            })
        });
    match checked {
        Ok(()) => response,
        Err(what) => invalid_output(response, &what),
    }
}

/// The error answer for a refused result (`what` completes "the result of `tool` …"), showing what the
/// tool returned, with the tool's own time as its worker measured it.
fn invalid_output(response: Response, what: &str) -> Response {
    let tool = response.metadata.tool_id.clone().unwrap_or_default();
    let changed_by = response.metadata.changed_by_note();
    let mut failed = Response::failure(
        response.id,
        response.metadata.tool_id,
        response.metadata.tool_exec_id,
        "InvalidOutputError",
        format!(
            "the result of `{tool}`{} {what} (it returned {})",
            changed_by,
            super::protocol::excerpt(response.result.get())
        ),
        Duration::ZERO,
    );
    failed.metadata.execution_time_ms = response.metadata.execution_time_ms;
    failed
}

/// One call from a front end (serve's NDJSON, MCP): only `tool_id` is required; the rest
/// defaults as `serve` documents.
#[derive(Debug, Default)]
pub struct Call {
    /// Echoed back in the answer.
    pub id: Value,
    /// The tool to call.
    pub tool_id: String,
    /// Generated when absent.
    pub tool_exec_id: Option<String>,
    /// The tool's input before `with:` defaults (`{}` when absent).
    pub input: Option<Value>,
    /// The tool's `config:` when absent.
    pub config: Option<Value>,
    /// The tool's timeout when absent.
    pub timeout: Option<Duration>,
    /// Variables the request adds to the tool's environment.
    pub env: BTreeMap<String, String>,
    /// Whether the caller wants `ctx.progress` reports.
    pub progress: bool,
    /// The caller's W3C trace context (MCP's `_meta.traceparent`, serve's `traceparent`): the
    /// parent of the call's span under `builtin:trace`; an invalid one is ignored.
    pub traceparent: Option<String>,
    /// Whether the caller's protocol sets `timeout` per call (serve's `timeout_ms`): a timeout's
    /// answer then suggests it.
    pub timeout_in_request: bool,
    /// Who makes the call (see [`super::caller`]), for the policies: `None` when unknown.
    pub caller: Option<String>,
}

/// Why a call was refused before it reached a worker.
#[derive(Debug, Clone, PartialEq)]
pub enum Refusal {
    /// The request itself is malformed.
    InvalidRequest(String),
    /// No tool has this id; the closest ids, best first.
    UnknownTool {
        /// The id asked for.
        id: String,
        /// The closest ids of the project.
        suggestions: Vec<String>,
    },
    /// The tool has no such major version (`ID@9`); the message lists those it has.
    NoSuchMajor(String),
    /// No tool has this id any more: its entry in `compozy.lock` names what replaced it.
    Removed {
        /// The id asked for.
        id: String,
        /// The tool to call instead.
        replaced_by: String,
    },
    /// The input breaks the tool's input schema (every violation, with JSON pointers).
    InvalidInput {
        /// The tool.
        tool: String,
        /// What is wrong.
        reason: String,
    },
}

impl Refusal {
    /// The error name an answer carries (`InvalidRequestError`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "InvalidRequestError",
            Self::UnknownTool { .. } | Self::NoSuchMajor(_) | Self::Removed { .. } => {
                "UnknownToolError"
            }
            Self::InvalidInput { .. } => "InvalidInputError",
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::InvalidRequest(message) => f.write_str(message),
            Self::UnknownTool { id, suggestions } => {
                write!(f, "unknown tool `{id}`")?;
                let quoted: Vec<String> = suggestions.iter().map(|s| format!("`{s}`")).collect();
                match quoted.as_slice() {
                    [] => Ok(()),
                    [one] => write!(f, "; did you mean {one}?"),
                    [init @ .., last] => write!(f, "; did you mean {} or {last}?", init.join(", ")),
                }
            }
            Self::Removed { id, replaced_by } => {
                f.write_str(&crate::generate::lock::removed_message(id, replaced_by))
            }
            Self::NoSuchMajor(message) => f.write_str(message),
            Self::InvalidInput { tool, reason } => {
                write!(
                    f,
                    "the input does not match the schema of `{tool}`: {reason}"
                )
            }
        }
    }
}

impl Server {
    /// A server feeding `pool`.
    pub fn new(pool: Pool) -> Self {
        Self {
            project: pool.project(),
            policies: super::policy::Policies::new(pool.project()),
            retired: Vec::new(),
            pool,
            process_env: crate::env::process_env(),
            envs: HashMap::new(),
            validators: Validators::default(),
        }
    }

    /// Switches to a regenerated project and hot-reloads the workers.
    pub fn reload(&mut self, project: Arc<Project>) {
        self.envs.clear();
        self.validators = Validators::default();
        self.project = Arc::clone(&project);
        let old = std::mem::replace(
            &mut self.policies,
            super::policy::Policies::new(Arc::clone(&project)),
        );
        self.retired.push(old);
        self.retired.retain(super::policy::Policies::has_waiting);
        self.pool.reload(project);
    }

    /// The project calls are checked against.
    pub fn project(&self) -> Arc<Project> {
        Arc::clone(&self.project)
    }

    /// The pool calls run on.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Handles one line; `reply` gets its answer (possibly later, on a pool thread). A cancel
    /// line (`{"cancel": "<tool_exec_id>"}`) stops that call, which answers for itself: the
    /// line gets no answer of its own unless it is malformed.
    pub fn handle_line(&mut self, line: &str, reply: Reply) {
        match cancel_line(line) {
            Some(Ok(tool_exec_id)) => return self.cancel(&tool_exec_id),
            Some(Err(response)) => return reply(*response),
            None => {}
        }
        let mut call = match parse_line(line) {
            Ok(call) => call,
            Err(response) => return reply(*response),
        };
        // `serve` reads its own stdin: the local user calls.
        call.caller = Some(super::caller::local());
        let (id, tool_id) = (call.id.clone(), call.tool_id.clone());
        if let Err((refusal, reply)) = self.submit(call, reply, None) {
            reply(*reject(
                id,
                Some(&tool_id),
                refusal.name(),
                refusal.to_string(),
            ));
        }
    }

    /// Checks `call` (tool id, `with:` defaults, input schema, env) and queues it on the pool;
    /// `reply` gets the answer (a result that breaks the `output` schema becomes an
    /// `InvalidOutputError`), `notes` the call's log lines and progress. A refused call gets its
    /// `reply` back, unused.
    pub fn submit(
        &mut self,
        call: Call,
        reply: Reply,
        notes: Option<Notes>,
    ) -> Result<(), (Refusal, Reply)> {
        let timeout_in_request = call.timeout_in_request;
        let caller = call.caller.clone();
        // Request variables make a map of the call's own, which the cache names by content.
        let own_env = !call.env.is_empty();
        let (request, timeout) = match self.prepare(call) {
            Ok(prepared) => prepared,
            Err(refusal) => return Err((refusal, reply)),
        };
        let job = Job {
            request,
            timeout,
            reply,
            notes,
            timeout_in_request,
        };
        self.dispatch(job, caller.as_deref(), true, own_env);
        Ok(())
    }

    /// Runs a call that `exec` checked and prepared itself (forwarded over the project's socket)
    /// under the policies; its answer is not checked against the `output` schema, which `exec`
    /// does as it does for a one-shot answer.
    pub fn submit_prepared(&mut self, job: Job, caller: Option<&str>) {
        self.dispatch(job, caller, false, true);
    }

    /// Stops the call with execution id `tool_exec_id`: taken out of the concurrency queue when
    /// it waits there (it never starts), else as [`Pool::cancel`] does.
    pub fn cancel(&self, tool_exec_id: &str) {
        let queued = std::iter::once(&self.policies)
            .chain(&self.retired)
            .any(|policies| policies.cancel(tool_exec_id));
        if !queued {
            self.pool.cancel(tool_exec_id);
        }
    }

    /// Queues `job` on the pool through the policies; with `check`, a result that breaks the
    /// tool's `output` schema becomes an `InvalidOutputError`. `own_env`: the request's
    /// environment map is the call's own, not the one the server shares among a tool's calls.
    fn dispatch(&mut self, job: Job, caller: Option<&str>, check: bool, own_env: bool) {
        let Job {
            mut request,
            timeout,
            reply,
            notes,
            timeout_in_request,
        } = job;
        tracing::debug!(
            tool = %request.tool_id,
            exec_id = %request.tool_exec_id,
            input = %super::input::redacted(
                self.project.tool(&request.tool_id).and_then(|t| t.input.as_ref()),
                &request.input,
            ),
            "call"
        );
        if self.policies.is_empty() && check {
            let reply = self.checked(&request.tool_id, reply);
            self.pool.submit(Job {
                request,
                timeout,
                reply,
                notes,
                timeout_in_request,
            });
            return;
        }
        // A forwarded call's answer goes back as it is, and its caller checks the output: what
        // the caller will report is what the audit log records and the cache keeps.
        let judge = (!check).then(|| {
            let (output, content) = self.output_checks(&request.tool_id);
            Arc::new(move |response: &Response| {
                judged(response.clone(), output.as_deref(), content)
            })
        });
        let reply = match &judge {
            Some(judge) if self.policies.audits(&request.tool_id) => {
                let audit = self.policies.audited(&request, caller, Box::new(|_| {}));
                let judge = Arc::clone(judge);
                Box::new(move |response: Response| {
                    audit(judge(&response));
                    reply(response);
                })
            }
            _ => self.policies.audited(&request, caller, reply),
        };
        let reply = self.policies.traced(&mut request, caller, reply);
        // A map of the call's own (a forwarded call's, or one with request variables) is named by
        // its content; the tool's shared one by its address.
        let env = request.env.clone().filter(|_| own_env);
        let env = env.as_deref();
        // A cached answer takes no worker; a fresh one is kept once its output is checked.
        if let Some(cached) = self.policies.cached(&request, caller, env) {
            reply(cached);
            return;
        }
        let reply = match judge {
            None => {
                let reply = self
                    .policies
                    .keeping(&request, caller, env, |_| true, reply);
                self.checked(&request.tool_id, reply)
            }
            // The caller checks the output: only an answer that passes is kept.
            Some(judge) => self.policies.keeping(
                &request,
                caller,
                env,
                move |response| judge(response).error.is_none(),
                reply,
            ),
        };
        let job = Job {
            request,
            timeout,
            reply,
            notes,
            timeout_in_request,
        };
        // Over a rate limit: an error result, and no worker taken.
        if let Some(message) = self.policies.rate_limited(&job.request.tool_id) {
            let request = job.request;
            (job.reply)(Response::failure(
                request.id,
                Some(request.tool_id),
                Some(request.tool_exec_id),
                "RateLimitedError",
                message,
                Duration::ZERO,
            ));
            return;
        }
        let attempts = self.policies.attempts(&job.request.tool_id);
        let job = self.policies.retrying(&self.pool, job, attempts);
        self.policies.submit(&self.pool, job);
    }

    /// The `output` schema's validator of `tool_id`, and whether it `returns: content`.
    fn output_checks(&mut self, tool_id: &str) -> (Option<Arc<jsonschema::Validator>>, bool) {
        let project = Arc::clone(&self.project);
        let output = project.tool(tool_id).and_then(|tool| {
            self.validators
                .get(&tool.id, "output", tool.output.as_ref())
        });
        let content = project
            .tool(tool_id)
            .is_some_and(|tool| tool.mcp.returns_content);
        (output, content)
    }

    /// Wraps `reply` so that a result that breaks the tool's `output` schema (or is not MCP
    /// content, for `returns: content`) becomes an error, as exec does.
    fn checked(&mut self, tool_id: &str, reply: Reply) -> Reply {
        match self.output_checks(tool_id) {
            (None, false) => reply,
            (validator, content) => Box::new(move |response: Response| {
                reply(judged(response, validator.as_deref(), content))
            }),
        }
    }

    fn prepare(&mut self, call: Call) -> Result<(Request, Duration), Refusal> {
        let project = Arc::clone(&self.project);
        let tool = match project.resolve(&call.tool_id) {
            Ok(tool) => tool,
            Err(not_found) => {
                if let Some(replaced_by) =
                    crate::generate::lock::replacement(&project.root, &call.tool_id)
                {
                    return Err(Refusal::Removed {
                        id: call.tool_id,
                        replaced_by,
                    });
                }
                return Err(match not_found {
                    NotFound::Unknown => {
                        let suggestions = crate::suggest::closest(
                            &call.tool_id,
                            project.tools.iter().map(|t| t.id.as_str()),
                        );
                        Refusal::UnknownTool {
                            id: call.tool_id,
                            suggestions: suggestions.into_iter().map(str::to_owned).collect(),
                        }
                    }
                    bad @ NotFound::BadMajor { .. } => Refusal::InvalidRequest(bad.to_string()),
                    other => Refusal::NoSuchMajor(other.to_string()),
                });
            }
        };
        if let Some(warning) = crate::config::versions::deprecation(tool) {
            tracing::warn!("{warning}");
        }
        let input = merge_defaults(
            tool.with.as_ref(),
            call.input.unwrap_or(Value::Object(Map::new())),
        );
        if let Err(reason) =
            super::input::check_input(&mut self.validators, &tool.id, tool.input.as_ref(), &input)
        {
            return Err(Refusal::InvalidInput {
                tool: tool.id.clone(),
                reason,
            });
        }
        let config = call
            .config
            .or_else(|| tool.config.clone())
            .unwrap_or(Value::Object(Map::new()));
        let timeout = call
            .timeout
            .unwrap_or_else(|| tool.timeout.unwrap_or(project.runtime.timeout));
        for name in call.env.keys() {
            crate::env::check_request_name(name)
                .map_err(|e| Refusal::InvalidRequest(e.to_string()))?;
        }
        let (base, map) = match self.envs.get(&tool.id) {
            Some(env) => env,
            None => {
                let env = crate::env::resolve(&project, tool, &self.process_env)
                    .map_err(|e| Refusal::InvalidRequest(e.to_string()))?;
                let map = Arc::new(env.to_map());
                self.envs.entry(tool.id.clone()).or_insert((env, map))
            }
        };
        // Most requests bring no variables of their own: they share the tool's map.
        let env = if call.env.is_empty() {
            Arc::clone(map)
        } else {
            Arc::new(crate::env::with_request(base.clone(), &call.env).to_map())
        };
        Ok((
            Request {
                id: call.id,
                // Its key: `weather@2` of the newest major is `weather` to the pool and workers.
                tool_id: tool.id.clone(),
                tool_exec_id: call.tool_exec_id.unwrap_or_else(new_exec_id),
                input,
                config,
                env: Some(env),
                timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                progress: call.progress,
                traceparent: call
                    .traceparent
                    .filter(|t| super::trace::parse_traceparent(t).is_some()),
            },
            timeout,
        ))
    }
}

/// The call a cancel line (`{"cancel": "<tool_exec_id>"}`, and an optional `id`) names; `None`
/// for any other line.
fn cancel_line(line: &str) -> Option<Result<String, Box<Response>>> {
    // Only a line that may be one is parsed here; requests go straight on.
    if !line.contains("\"cancel\"") {
        return None;
    }
    let Ok(Value::Object(mut fields)) = serde_json::from_str::<Value>(line) else {
        return None;
    };
    if fields.contains_key("tool_id") {
        return None;
    }
    let target = fields.remove("cancel")?;
    let id = fields.remove("id").unwrap_or(Value::Null);
    match (target, fields.keys().next()) {
        (Value::String(tool_exec_id), None) => Some(Ok(tool_exec_id)),
        (_, Some(unknown)) => Some(Err(reject(
            id,
            None,
            "InvalidRequestError",
            format!(
                "unknown field `{unknown}` in a cancel line; it is {{\"cancel\": \"<tool_exec_id>\"}}"
            ),
        ))),
        (_, None) => Some(Err(reject(
            id,
            None,
            "InvalidRequestError",
            "`cancel` takes the `tool_exec_id` of the call to stop, as a string".into(),
        ))),
    }
}

/// The fields of a `serve` request.
const FIELDS: [&str; 8] = [
    "id",
    "tool_id",
    "tool_exec_id",
    "input",
    "config",
    "env",
    "timeout_ms",
    "traceparent",
];

fn quoted(names: [&str; 8]) -> String {
    let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    names.join(", ")
}

/// Reads a request line of `serve` into a [`Call`]; a malformed one gets its error answer.
#[doc(hidden)]
pub fn parse_line(line: &str) -> Result<Call, Box<Response>> {
    let value: Value = serde_json::from_str(line).map_err(|e| {
        reject(
            Value::Null,
            None,
            "InvalidRequestError",
            format!("the line is not JSON: {e}"),
        )
    })?;
    let Value::Object(mut fields) = value else {
        return Err(reject(
            Value::Null,
            None,
            "InvalidRequestError",
            "a request is a JSON object with at least `tool_id`".into(),
        ));
    };
    let id = fields.remove("id").unwrap_or(Value::Null);
    let bad = |message: String| reject(id.clone(), None, "InvalidRequestError", message);
    let tool_id = match fields.remove("tool_id") {
        Some(Value::String(s)) => s,
        Some(_) => return Err(bad("`tool_id` must be a string".into())),
        None => {
            // `tool`, `toolId`: the field is there under another name.
            let misnamed = fields.keys().find(|k| {
                !FIELDS.contains(&k.as_str()) && crate::suggest::closest(k, ["tool_id"]).len() == 1
            });
            return Err(bad(match misnamed {
                Some(key) => format!(
                    "`tool_id` is required; `{key}` is not a field: did you mean `tool_id`?"
                ),
                None => "`tool_id` is required".into(),
            }));
        }
    };
    let bad = |message: String| reject(id.clone(), Some(&tool_id), "InvalidRequestError", message);
    let tool_exec_id = match fields.remove("tool_exec_id") {
        Some(Value::String(s)) => Some(s),
        None | Some(Value::Null) => None,
        Some(_) => return Err(bad("`tool_exec_id` must be a string".into())),
    };
    let timeout = match fields.remove("timeout_ms") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(ms) if ms > 0 => Some(Duration::from_millis(ms)),
            _ => return Err(bad("`timeout_ms` must be a positive integer".into())),
        },
    };
    let mut env = BTreeMap::new();
    match fields.remove("env") {
        None | Some(Value::Null) => {}
        Some(Value::Object(vars)) => {
            for (name, value) in vars {
                let Value::String(value) = value else {
                    return Err(bad(format!("env `{name}` must be a string")));
                };
                env.insert(name, value);
            }
        }
        Some(_) => return Err(bad("`env` must be an object of strings".into())),
    }
    let traceparent = match fields.remove("traceparent") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if super::trace::parse_traceparent(&s).is_some() => Some(s),
        Some(_) => {
            return Err(bad(
                "`traceparent` must be a W3C trace context, `00-<32 hex>-<16 hex>-<2 hex>`".into(),
            ));
        }
    };
    let input = fields.remove("input");
    let config = fields.remove("config");
    if let Some(unknown) = fields.keys().next() {
        let hint = crate::suggest::did_you_mean(unknown, FIELDS)
            .unwrap_or_else(|| format!("the fields are {}", quoted(FIELDS)));
        return Err(bad(format!("unknown field `{unknown}`; {hint}")));
    }
    Ok(Call {
        id,
        tool_id,
        tool_exec_id,
        input,
        config,
        timeout,
        env,
        progress: false,
        traceparent,
        timeout_in_request: true,
        caller: None,
    })
}

//! `serve`'s request handling: a line of NDJSON in, a validated request to the pool, an answer
//! line out. Only `tool_id` is required; everything else has a default.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::input::{Validators, merge_defaults};
use super::pool::{Job, Pool, Reply};
use super::protocol::{Request, Response, new_exec_id};
use crate::config::Project;
use crate::env::ToolEnv;

/// Turns request lines into pool jobs for one project (until [`Server::reload`]).
pub struct Server {
    pool: Pool,
    project: Arc<Project>,
    process_env: BTreeMap<String, String>,
    /// Each tool's resolved environment, and the map its requests carry.
    envs: HashMap<String, (ToolEnv, Arc<BTreeMap<String, String>>)>,
    validators: Validators,
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

/// Turns a successful answer whose result breaks the `output` schema into an error answer.
fn check_output(response: Response, validator: &jsonschema::Validator) -> Response {
    if response.error.is_some() {
        return response;
    }
    let checked = response
        .result_value()
        .map_err(|e| e.to_string())
        .and_then(|result| super::input::check(validator, &result));
    match checked {
        Ok(()) => response,
        Err(reason) => {
            let tool = response.metadata.tool_id.clone().unwrap_or_default();
            Response::failure(
                response.id,
                response.metadata.tool_id,
                response.metadata.tool_exec_id,
                "InvalidOutputError",
                format!("the result of `{tool}` does not match its output schema: {reason}"),
                Duration::from_secs_f64(response.metadata.execution_time_ms / 1000.0),
            )
        }
    }
}

impl Server {
    /// A server feeding `pool`.
    pub fn new(pool: Pool) -> Self {
        Self {
            project: pool.project(),
            pool,
            process_env: std::env::vars().collect(),
            envs: HashMap::new(),
            validators: Validators::default(),
        }
    }

    /// Switches to a regenerated project and hot-reloads the workers.
    pub fn reload(&mut self, project: Arc<Project>) {
        self.envs.clear();
        self.validators = Validators::default();
        self.project = Arc::clone(&project);
        self.pool.reload(project);
    }

    /// Handles one line; `reply` gets its answer (possibly later, on a pool thread).
    pub fn handle_line(&mut self, line: &str, reply: Reply) {
        match self.prepare(line) {
            Ok((request, timeout)) => {
                // As exec does: a result that breaks the tool's `output` schema is an error.
                let project = Arc::clone(&self.project);
                let output = project.tool(&request.tool_id).and_then(|tool| {
                    self.validators
                        .get(&tool.id, "output", tool.output.as_ref())
                });
                let reply: Reply = match output {
                    None => reply,
                    Some(validator) => Box::new(move |response: Response| {
                        reply(check_output(response, &validator))
                    }),
                };
                self.pool.submit(Job {
                    request,
                    timeout,
                    reply,
                });
            }
            Err(response) => reply(*response),
        }
    }

    fn prepare(&mut self, line: &str) -> Result<(Request, Duration), Box<Response>> {
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
            None => return Err(bad("`tool_id` is required".into())),
        };
        let project = Arc::clone(&self.project);
        let Some(tool) = project.tool(&tool_id) else {
            let available: Vec<&str> = project.tools.iter().map(|t| t.id.as_str()).collect();
            return Err(reject(
                id,
                Some(&tool_id),
                "UnknownToolError",
                format!(
                    "unknown tool `{tool_id}`; available tools: {}",
                    available.join(", ")
                ),
            ));
        };
        let bad =
            |message: String| reject(id.clone(), Some(&tool_id), "InvalidRequestError", message);
        let tool_exec_id = match fields.remove("tool_exec_id") {
            Some(Value::String(s)) => s,
            None | Some(Value::Null) => new_exec_id(),
            Some(_) => return Err(bad("`tool_exec_id` must be a string".into())),
        };
        let input = merge_defaults(
            tool.with.as_ref(),
            fields.remove("input").unwrap_or(Value::Object(Map::new())),
        );
        if let Err(reason) = self
            .validators
            .check(&tool.id, "input", tool.input.as_ref(), &input)
        {
            return Err(reject(
                id,
                Some(&tool_id),
                "InvalidInputError",
                format!("the input does not match the schema of `{tool_id}`: {reason}"),
            ));
        }
        let config = fields
            .remove("config")
            .or_else(|| tool.config.clone())
            .unwrap_or(Value::Object(Map::new()));
        let timeout = match fields.remove("timeout_ms") {
            None | Some(Value::Null) => tool.timeout.unwrap_or(project.runtime.timeout),
            Some(v) => match v.as_u64() {
                Some(ms) if ms > 0 => Duration::from_millis(ms),
                _ => return Err(bad("`timeout_ms` must be a positive integer".into())),
            },
        };
        let mut request_env = BTreeMap::new();
        match fields.remove("env") {
            None | Some(Value::Null) => {}
            Some(Value::Object(env)) => {
                for (name, value) in env {
                    let Value::String(value) = value else {
                        return Err(bad(format!("env `{name}` must be a string")));
                    };
                    crate::env::check_request_name(&name).map_err(|e| bad(e.to_string()))?;
                    request_env.insert(name, value);
                }
            }
            Some(_) => return Err(bad("`env` must be an object of strings".into())),
        }
        if let Some(unknown) = fields.keys().next() {
            return Err(bad(format!("unknown field `{unknown}`")));
        }
        let (base, map) = match self.envs.get(&tool.id) {
            Some(env) => env,
            None => {
                let env = crate::env::resolve(&project, tool, &self.process_env)
                    .map_err(|e| bad(e.to_string()))?;
                let map = Arc::new(env.to_map());
                self.envs.entry(tool.id.clone()).or_insert((env, map))
            }
        };
        // Most requests bring no variables of their own: they share the tool's map.
        let env = if request_env.is_empty() {
            Arc::clone(map)
        } else {
            Arc::new(crate::env::with_request(base.clone(), &request_env).to_map())
        };
        Ok((
            Request {
                id,
                tool_id,
                tool_exec_id,
                input,
                config,
                env: Some(env),
                timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            },
            timeout,
        ))
    }
}

//! Carriers: what starts a worker process for a tool. A Bun worker, a Node worker and a process
//! tool differ only here; the pool, the deadline, the environment, the caps and cancellation are
//! written once, over [`WorkerCommand`] and the two wire protocols ([`Protocol`]).

use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;

use super::error::RuntimeError;
use super::protocol::{Metadata, Request, Response, millis};
use super::worker::{GRACE, WorkerProcess};
use super::{Limits, Runtime, WorkerCommand};
use crate::config::{Command, Project, Protocol};
use crate::env::ToolEnv;

/// How long an answer waits at most for the program's stderr to be passed on.
const LOG_SYNC: Duration = Duration::from_secs(1);

/// Starts the worker processes of some tools.
pub trait Carrier: Send + Sync + std::fmt::Debug {
    /// The command that starts a worker (`persistent`: to serve many requests).
    fn worker_command(&self, project: &Project, persistent: bool) -> WorkerCommand;

    /// How its workers talk.
    fn protocol(&self) -> Protocol {
        Protocol::Compozy
    }

    /// Whether one worker answers many requests; otherwise each request gets a process of its
    /// own, which ends with its answer.
    fn persistent(&self) -> bool {
        true
    }

    /// Which workers are interchangeable: a warm worker serves a request whose carrier has the
    /// same key.
    fn key(&self) -> String;

    /// The carrier that runs its requests inside compozy, without a worker process (a
    /// WebAssembly module): the pool runs them on a thread of their own.
    fn in_process(&self) -> Option<&super::wasm::WasmCarrier> {
        None
    }

    /// Runs one request in a fresh worker, within `timeout`.
    fn execute(
        &self,
        project: &Project,
        request: &Request,
        env: &ToolEnv,
        limits: &Limits,
        timeout: Duration,
    ) -> Result<Response, RuntimeError> {
        let env: Vec<(String, String)> = env.to_map().into_iter().collect();
        let mut cmd = self.worker_command(project, false);
        // A tool that plugins wrap may ask whether the input they changed is valid: its worker
        // reads its request as a line, and stdin stays open for the answers.
        let checks = project
            .tool(&request.tool_id)
            .is_some_and(|tool| crate::config::plugins::wraps(&project.plugins, tool));
        if checks {
            cmd.args.push("--checks".into());
        }
        super::oneshot::run(
            &cmd,
            request,
            &env,
            limits,
            timeout,
            checks.then_some(project),
        )
    }
}

/// A tool that is a program (`execute: {command: …}`).
#[derive(Debug, Clone)]
pub struct ProcessCarrier {
    tool: String,
    command: Command,
}

impl ProcessCarrier {
    /// The carrier of `tool`, run as `command`.
    pub fn new(tool: &str, command: &Command) -> Self {
        Self {
            tool: tool.to_owned(),
            command: command.clone(),
        }
    }
}

impl Carrier for ProcessCarrier {
    fn worker_command(&self, project: &Project, _persistent: bool) -> WorkerCommand {
        WorkerCommand {
            program: self.command.program.clone(),
            args: self.command.args.iter().map(Into::into).collect(),
            cwd: Some(project.root.clone()),
            protocol: self.command.protocol,
            holds_stdin: false,
        }
    }

    fn protocol(&self) -> Protocol {
        self.command.protocol
    }

    fn persistent(&self) -> bool {
        self.command.persistent && self.command.protocol == Protocol::Compozy
    }

    fn key(&self) -> String {
        format!("tool:{}", self.tool)
    }
}

/// Which carrier runs each tool of a project: its program, or the JavaScript runtime (found
/// only for a project that has JavaScript tools).
#[derive(Debug, Clone, Default)]
pub struct Carriers {
    js: Option<Arc<dyn Runtime>>,
}

impl Carriers {
    /// Carriers whose JavaScript tools run on `js`.
    pub fn new(js: Option<Arc<dyn Runtime>>) -> Self {
        Self { js }
    }

    /// The JavaScript runtime, when there is one.
    pub fn js(&self) -> Option<&Arc<dyn Runtime>> {
        self.js.as_ref()
    }

    /// The carrier of tool `tool_id` (an unknown id gets the JavaScript runtime's).
    pub fn for_tool(
        &self,
        project: &Project,
        tool_id: &str,
    ) -> Result<Arc<dyn Carrier>, RuntimeError> {
        if let Some(command) = project.tool(tool_id).and_then(|t| t.command.as_ref()) {
            return Ok(match super::wasm::WasmCarrier::new(tool_id, command) {
                Some(wasm) => Arc::new(wasm),
                None => Arc::new(ProcessCarrier::new(tool_id, command)),
            });
        }
        match &self.js {
            Some(js) => Ok(Arc::clone(js) as Arc<dyn Carrier>),
            None => Err(RuntimeError::NoRuntime {
                tool: tool_id.to_owned(),
            }),
        }
    }

    /// The key of [`Carriers::for_tool`]'s carrier, without making it.
    pub fn key_of(project: &Project, tool_id: &str) -> String {
        match project.tool(tool_id) {
            Some(tool) if tool.command.as_ref().is_some_and(|c| c.wasm.is_some()) => {
                format!("wasm:{tool_id}")
            }
            Some(tool) if tool.command.is_some() => format!("tool:{tool_id}"),
            _ => JS_KEY.to_owned(),
        }
    }
}

/// The key of the JavaScript runtimes' workers.
pub const JS_KEY: &str = "js";

/// Whether `project` has a tool that runs on Bun or Node.
pub fn needs_js(project: &Project) -> bool {
    project.tools.iter().any(|t| t.command.is_none())
}

/// What a worker of `protocol` is sent for `request`: the request line, or (`stdio`) the input.
pub fn encode(protocol: Protocol, request: &Request, newline: bool) -> std::io::Result<Vec<u8>> {
    let mut line = match protocol {
        Protocol::Compozy => serde_json::to_vec(request)?,
        Protocol::Stdio => serde_json::to_vec(&request.input)?,
    };
    if newline || protocol == Protocol::Stdio {
        line.push(b'\n');
    }
    Ok(line)
}

/// How a `stdio` program (or module) ended.
pub enum Exit {
    /// Status 0.
    Success,
    /// Anything else, described (`it exited with status 3`).
    Failed(String),
}

/// The answer of a `stdio` program that closed its stdout after writing `output`: its exit
/// status decides between the result (exactly one JSON value) and an error (its stderr's tail).
pub fn stdio_answer(
    output: &[u8],
    worker: &mut WorkerProcess,
    request: &Request,
) -> Result<Response, RuntimeError> {
    use nix::sys::wait::WaitStatus;
    let status = worker.wait_status(GRACE);
    let elapsed = worker.started().elapsed();
    // Its last stderr lines are in the pipe by now: the forwarder passes them on (and keeps
    // their tail) before the answer.
    worker.sync_logs(LOG_SYNC);
    let exit = match status {
        Some(WaitStatus::Exited(_, 0)) => Exit::Success,
        Some(status) => Exit::Failed(super::worker::describe(status)),
        None => {
            return Err(RuntimeError::Protocol {
                reason: "it closed its stdout but did not exit".into(),
            });
        }
    };
    let tail = worker.log_tail();
    stdio_result(output, exit, &tail, request, elapsed)
}

/// The answer of a `stdio` program or module that ended as `exit` after writing `output` to
/// stdout and `stderr_tail` last to stderr.
pub fn stdio_result(
    output: &[u8],
    exit: Exit,
    stderr_tail: &str,
    request: &Request,
    elapsed: Duration,
) -> Result<Response, RuntimeError> {
    if let Exit::Failed(how) = exit {
        let tail = stderr_tail.trim();
        let message = if tail.is_empty() {
            format!("{how}, with nothing on stderr")
        } else {
            tail.to_owned()
        };
        let mut response = Response::failure(
            request.id.clone(),
            Some(request.tool_id.clone()),
            Some(request.tool_exec_id.clone()),
            "ExitError",
            message,
            elapsed,
        );
        if let Some(error) = &mut response.error {
            error.stack = Some(format!("{}: {} ({how})", error.name, error.message));
        }
        return Ok(response);
    }
    let text = output.trim_ascii();
    let result: Box<RawValue> = serde_json::from_slice(text).map_err(|e| {
        let shown = String::from_utf8_lossy(&text[..text.len().min(80)]).into_owned();
        let reason = if text.is_empty() {
            "its stdout was empty".to_owned()
        } else {
            format!("its stdout is not one JSON value ({e}); it starts with {shown:?}")
        };
        RuntimeError::Protocol { reason }
    })?;
    Ok(Response {
        id: request.id.clone(),
        result,
        error: None,
        metadata: Metadata {
            tool_id: Some(request.tool_id.clone()),
            tool_exec_id: Some(request.tool_exec_id.clone()),
            execution_time_ms: millis(elapsed),
            changed_by: None,
        },
    })
}

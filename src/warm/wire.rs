//! What `exec` and a warm server say to each other: one JSON line each way to ask, then lines of
//! [`Message`] until the answer.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::runtime::Response;

/// What a client asks.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ask {
    /// Run one call.
    Call(Box<Call>),
    /// Check, prepare and run one call from `exec`'s arguments (answered with [`Message::Ran`]).
    Exec(Box<ExecCall>),
    /// Say who you are (`compozy daemon status`).
    Status,
    /// Stop (`compozy daemon stop`).
    Stop,
}

/// One call, checked and prepared by `exec` exactly as for a one-shot run: the server only runs
/// it, so that the two ways cannot differ in validation, defaults or environment.
#[derive(Debug, Serialize, Deserialize)]
pub struct Call {
    /// The compozy version of the client; another version is refused.
    pub version: String,
    /// The project root.
    pub root: PathBuf,
    /// The digest of the fingerprint `exec` found the project fresh with (see
    /// [`crate::generate::Fresh::digest`]): the server answers only for the same files.
    pub fingerprint: u64,
    /// `bun` or `node` for a JavaScript tool, `None` for a process tool.
    pub runtime: Option<String>,
    /// The caps `exec` would apply (largest result, largest log output).
    pub limits: (usize, usize),
    /// The tool.
    pub tool_id: String,
    /// The execution id (cancelled by it).
    pub tool_exec_id: String,
    /// The input, with the tool's `with:` defaults merged and checked against its schema.
    pub input: Value,
    /// The tool's config, or `--config`.
    pub config: Value,
    /// The whole environment of the tool, resolved from the caller's own environment.
    pub env: BTreeMap<String, String>,
    /// The deadline, in milliseconds.
    pub timeout_ms: u64,
    /// The caller's W3C trace context (`TRACEPARENT` in exec's environment), for
    /// `ctx.traceparent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

/// `exec`'s arguments, as they were given: the server checks and prepares the call with exactly
/// the code `exec` runs one-shot ([`crate::call::prepare`]), for the project's current files. It
/// refuses the call when anything would be reported (a problem, a warning), and `exec` then takes
/// its one-shot way, which reports it.
#[derive(Debug, Serialize, Deserialize)]
pub struct ExecCall {
    /// The compozy version of the client; another version is refused.
    pub version: String,
    /// The project root.
    pub root: PathBuf,
    /// The caps `exec` would apply (largest result, largest log output).
    pub limits: (usize, usize),
    /// The tool's id.
    pub tool_id: String,
    /// The execution id (cancelled by it).
    pub tool_exec_id: String,
    /// The input as given.
    pub input: Input,
    /// `--config`.
    pub config: Option<String>,
    /// `--timeout`.
    pub timeout: Option<String>,
    /// `--env K=V`.
    pub env: Vec<String>,
    /// `--runtime`.
    pub runtime: Option<crate::config::RuntimeKind>,
    /// The caller's own environment (the tool's base environment, and where `exec` would look for
    /// Bun or Node).
    pub process_env: BTreeMap<String, String>,
}

/// The input of an [`ExecCall`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Input {
    /// `--input`.
    Arg(String),
    /// The text of `--input-file`.
    File(String),
    /// None (stdin is a terminal): `{}`.
    Empty,
}

/// The end of an [`ExecCall`]: the answer, and what `exec` needs to report it as one-shot does.
#[derive(Debug, Serialize, Deserialize)]
pub struct Ran {
    /// The pool's answer.
    pub response: Response,
    /// The call's deadline.
    pub timeout: std::time::Duration,
    /// What is wrong with a successful result (see [`crate::call::check_output`]).
    pub invalid_output: Option<String>,
}

/// What a server sends back.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Message {
    /// A line the tool wrote to its stdout or stderr.
    Log(String),
    /// The answer; the last message of a call.
    Answer(Box<Response>),
    /// The answer to an [`Ask::Exec`]; its last message.
    Ran(Box<Ran>),
    /// The server will not run this call (stale code, another runtime…): run it one-shot.
    Refused(String),
    /// Who answers (`Status`).
    Status(Status),
}

/// A server, as `compozy daemon status` shows it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Status {
    /// Its process id.
    pub pid: u32,
    /// Its command (`serve`, `mcp`, `watch --serve`, `daemon`).
    pub command: String,
    /// The project root.
    pub root: PathBuf,
    /// How many tools it serves.
    pub tools: usize,
    /// Whether it can answer calls for the project's current files.
    pub fresh: bool,
}

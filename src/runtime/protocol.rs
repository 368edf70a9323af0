//! The worker protocol (SPEC §4): one JSON request in, one JSON response out.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

/// What a worker is asked to do.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    /// Echoed back in the response.
    pub id: Value,
    /// The tool to call.
    pub tool_id: String,
    /// Unique per execution.
    pub tool_exec_id: String,
    /// The tool's first argument (`with:` defaults already merged in).
    pub input: Value,
    /// The tool's second argument.
    pub config: Value,
    /// The tool's whole environment (it replaces the worker's: one worker serves many tools);
    /// `None` keeps the environment of the previous request. Shared: a server hands the same
    /// map to every request of a tool, and the pool recognises it without comparing it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Arc<BTreeMap<String, String>>>,
    /// The deadline, enforced by the executor.
    pub timeout_ms: u64,
    /// Whether the caller wants `ctx.progress` reports (as `{"progress": …}` lines on fd 3
    /// before the answer); otherwise `ctx.progress` does nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub progress: bool,
    /// The W3C trace context the tool continues (`ctx.traceparent`): the call's span under
    /// `builtin:trace`, else the caller's own, when it sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

/// What a running request reports before its answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Note {
    /// A line the tool wrote to its stdout or stderr (without the newline).
    Log(String),
    /// A `ctx.progress(progress, total?, message?)` call.
    Progress(Progress),
}

/// A `ctx.progress` report, as the worker writes it on fd 3: `{"progress": {…}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// How far the call has got (increasing).
    pub progress: f64,
    /// The total, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<f64>,
    /// A message for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The line prefix that marks a progress report on fd 3 (an answer starts with `{"id":`).
pub const PROGRESS_PREFIX: &[u8] = br#"{"progress":"#;

/// Parses a progress line (one that starts with [`PROGRESS_PREFIX`]).
pub fn parse_progress(line: &[u8]) -> Option<Progress> {
    #[derive(Deserialize)]
    struct Line {
        progress: Progress,
    }
    serde_json::from_slice::<Line>(line)
        .ok()
        .map(|l| l.progress)
}

/// The line prefix of a worker's question on fd 3 (before its answer): is the input a plugin
/// changed valid? `{"check":{"input":…,"changed_by":"./plugins/x.ts"}}`. Only a tool that
/// plugins wrap can ask it, and only when they changed its input.
pub const CHECK_PREFIX: &[u8] = br#"{"check":"#;

/// A worker's question (a line that starts with [`CHECK_PREFIX`]).
#[derive(Debug, Deserialize)]
pub struct Check {
    /// The input the tool would get.
    pub input: Value,
    /// The plugins that changed it (`use:` as written, outermost first, `, `-separated).
    pub changed_by: String,
}

/// Reads a worker's question (a line that starts with [`CHECK_PREFIX`]).
pub fn parse_check(line: &[u8]) -> Option<Check> {
    #[derive(Deserialize)]
    struct Line {
        check: Check,
    }
    serde_json::from_slice::<Line>(line).ok().map(|l| l.check)
}

/// The answer to a [`Check`], a line for the worker's stdin: `{"check":null}` when the input is
/// valid, else `{"check":"MESSAGE"}`, the `InvalidInputError` the worker throws.
pub fn check_answer(refusal: Option<&str>) -> Vec<u8> {
    let mut line = serde_json::to_vec(&serde_json::json!({ "check": refusal }))
        .unwrap_or_else(|_| br#"{"check":"the check failed"}"#.to_vec());
    line.push(b'\n');
    line
}

/// Where a request's [`Note`]s go (called on pool and log threads).
pub type Notes = Arc<dyn Fn(Note) + Send + Sync>;

/// A tool's error, as the worker reports it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ToolError {
    /// The error's class name (`TypeError`, a custom class…).
    pub name: String,
    /// The message.
    pub message: String,
    /// The stack trace (its lines point at the `.ts` source).
    pub stack: Option<String>,
    /// The tool.
    pub tool_id: Option<String>,
    /// The execution.
    pub tool_exec_id: Option<String>,
    /// When it happened (ISO 8601).
    pub timestamp: String,
}

/// Timing of one execution.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Metadata {
    /// The tool.
    pub tool_id: Option<String>,
    /// The execution.
    pub tool_exec_id: Option<String>,
    /// Time spent in the tool, measured by the worker.
    pub execution_time_ms: f64,
    /// The plugins (`use:` as written, innermost first, `, `-separated) that changed the
    /// result, when any did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_by: Option<String>,
}

impl Metadata {
    /// What completes a message about the result: ` (changed by ./plugins/x.ts)`, or nothing.
    pub fn changed_by_note(&self) -> String {
        self.changed_by
            .as_deref()
            .map_or_else(String::new, |p| format!(" (changed by {p})"))
    }
}

/// A worker's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Response {
    /// The request's `id`.
    pub id: Value,
    /// The tool's result (`null` on error), as the worker wrote it: passed on without being
    /// parsed into a tree and written out again (see [`Response::result_value`]).
    pub result: Box<RawValue>,
    /// The tool's error, if it failed.
    pub error: Option<ToolError>,
    /// Timing.
    pub metadata: Metadata,
}

/// A new execution id: unique within this machine and time.
pub fn new_exec_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // `process::id` is a system call each time; the pid does not change.
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{nanos:x}-{:x}-{:x}",
        PID.get_or_init(std::process::id),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Reads an answer line and checks that it answers `request`: a line that is not protocol JSON,
/// or that names another execution (something other than the worker wrote on fd 3, such as the
/// tool itself), is refused, never taken as the result.
pub fn parse_answer(line: &[u8], request: &Request) -> Result<Response, String> {
    let response: Response = serde_json::from_slice(line).map_err(|e| {
        let shown = String::from_utf8_lossy(&line[..line.len().min(80)]).into_owned();
        format!("{e} (the line starts with {shown:?})")
    })?;
    // The execution id, not `id`: a JSON number's form may change on its way through JavaScript.
    if response.metadata.tool_exec_id.as_deref() != Some(request.tool_exec_id.as_str()) {
        return Err(format!(
            "it answers another execution (tool_exec_id {})",
            response.metadata.tool_exec_id.as_deref().unwrap_or("null")
        ));
    }
    Ok(response)
}

/// `elapsed` in milliseconds, to the microsecond as the workers write it (`1003.159`, not
/// `1003.1588399999999`).
pub fn millis(elapsed: std::time::Duration) -> f64 {
    // Whole microseconds divided once: the shortest decimal form has at most three decimals.
    elapsed.as_micros() as f64 / 1000.0
}

/// The start of a result's JSON, for a message about it (at most about 200 characters).
pub fn excerpt(json: &str) -> String {
    const MOST: usize = 200;
    match json.char_indices().nth(MOST) {
        Some((cut, _)) => format!("{}… ({} bytes)", &json[..cut], json.len()),
        None => json.to_owned(),
    }
}

impl Response {
    /// The result as a JSON tree (for a schema check).
    pub fn result_value(&self) -> serde_json::Result<Value> {
        serde_json::from_str(self.result.get())
    }

    /// An error answer produced by compozy itself (timeout, crashed worker, invalid request).
    pub fn failure(
        id: Value,
        tool_id: Option<String>,
        tool_exec_id: Option<String>,
        name: &str,
        message: String,
        elapsed: std::time::Duration,
    ) -> Self {
        Self {
            id,
            result: RawValue::NULL.to_owned(),
            error: Some(ToolError {
                name: name.to_owned(),
                message,
                stack: None,
                tool_id: tool_id.clone(),
                tool_exec_id: tool_exec_id.clone(),
                timestamp: humantime::format_rfc3339_millis(std::time::SystemTime::now())
                    .to_string(),
            }),
            metadata: Metadata {
                tool_id,
                tool_exec_id,
                execution_time_ms: millis(elapsed),
                changed_by: None,
            },
        }
    }
}

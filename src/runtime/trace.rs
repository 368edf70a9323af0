//! `builtin:trace`: OpenTelemetry spans of tool calls, posted as OTLP/HTTP JSON.
//!
//! Two spans per call, following the GenAI semantic conventions for tool execution: the call
//! (`execute_tool TOOL`, kind SERVER) and, inside it, the worker's run of the tool (kind
//! INTERNAL, as long as the worker measured). They are posted from one background thread per
//! endpoint, so a slow or absent collector never delays an answer.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::protocol::Response;

/// How long one post may take before it is given up.
const POST_LIMIT: Duration = Duration::from_secs(2);

/// `n` random bytes as lowercase hex (from the standard library's randomly keyed hasher).
fn random_hex(bytes: usize) -> String {
    let mut out = String::with_capacity(bytes * 2);
    while out.len() < bytes * 2 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(nanos());
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(bytes * 2);
    out
}

fn nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

fn attribute(key: &str, value: &str) -> Value {
    json!({"key": key, "value": {"stringValue": value}})
}

/// Spans handed to an exporter and not yet posted (or given up), for [`flush`].
static PENDING: AtomicUsize = AtomicUsize::new(0);

/// Waits until every span handed to an exporter was posted or given up, for at most `limit`: a
/// one-shot `exec` ends right after its call.
pub fn flush(limit: Duration) {
    let until = std::time::Instant::now() + limit;
    while PENDING.load(Ordering::SeqCst) > 0 && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Each endpoint and the channel to its exporter thread.
type Exporters = Mutex<Vec<(String, Sender<String>)>>;

/// The exporter of each endpoint: a channel to its thread.
fn sender(endpoint: &str) -> Sender<String> {
    static SENDERS: OnceLock<Exporters> = OnceLock::new();
    let senders = SENDERS.get_or_init(Mutex::default);
    let mut senders = senders
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, s)) = senders.iter().find(|(e, _)| e == endpoint) {
        return s.clone();
    }
    let (tx, rx) = channel::<String>();
    let url = endpoint.to_owned();
    let spawned = std::thread::Builder::new()
        .name("compozy-trace".into())
        .spawn(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .timeout_global(Some(POST_LIMIT))
                .http_status_as_error(false)
                .build()
                .into();
            let mut warned = false;
            for body in rx {
                let posted = agent
                    .post(&url)
                    .header("Content-Type", "application/json")
                    .send(body.as_str());
                let problem = match posted {
                    Ok(r) if r.status().is_success() => None,
                    Ok(r) => Some(format!("it answered {}", r.status())),
                    Err(e) => Some(e.to_string()),
                };
                if let Some(problem) = problem
                    && !warned
                {
                    warned = true;
                    tracing::warn!("cannot post spans to {url}: {problem}");
                }
                PENDING.fetch_sub(1, Ordering::SeqCst);
            }
        });
    if spawned.is_err() {
        tracing::warn!("cannot start the span exporter for {endpoint}");
    }
    senders.push((endpoint.to_owned(), tx.clone()));
    tx
}

/// A W3C `traceparent` (`00-TRACE_ID-SPAN_ID-FLAGS`, lowercase hex, neither id all zeros):
/// its trace id, span id and flags; `None` for anything else.
pub fn parse_traceparent(text: &str) -> Option<(&str, &str, &str)> {
    let mut parts = text.trim().split('-');
    let (version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    // A later version may add fields after these four; version ff is invalid.
    let ok = hex(version, 2)
        && version != "ff"
        && (version != "00" || parts.next().is_none())
        && hex(trace, 32)
        && hex(span, 16)
        && hex(flags, 2)
        && trace.bytes().any(|b| b != b'0')
        && span.bytes().any(|b| b != b'0');
    ok.then_some((trace, span, flags))
}

/// The ids of a call's span: its trace (the caller's, or a new one), its own id, and its parent
/// (the caller's span, when it sent a valid `traceparent`).
pub struct SpanIds {
    trace_id: String,
    span_id: String,
    parent: Option<String>,
    flags: String,
}

impl SpanIds {
    /// A new span, the child of `traceparent` when it is a valid one.
    pub fn new(traceparent: Option<&str>) -> Self {
        match traceparent.and_then(parse_traceparent) {
            Some((trace, span, flags)) => Self {
                trace_id: trace.to_owned(),
                span_id: random_hex(8),
                parent: Some(span.to_owned()),
                flags: flags.to_owned(),
            },
            None => Self {
                trace_id: random_hex(16),
                span_id: random_hex(8),
                parent: None,
                flags: "01".to_owned(),
            },
        }
    }

    /// The span's own context, for the tool to continue the trace (`ctx.traceparent`).
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-{}", self.trace_id, self.span_id, self.flags)
    }
}

/// Wraps `reply` so that the call's spans (`ids`) are posted to each of `endpoints` once it is
/// answered.
pub fn traced(
    endpoints: Vec<String>,
    tool_id: String,
    exec_id: String,
    caller: Option<String>,
    ids: SpanIds,
    reply: super::pool::Reply,
) -> super::pool::Reply {
    let start = nanos();
    let SpanIds {
        trace_id,
        span_id: call_span,
        parent,
        ..
    } = ids;
    Box::new(move |response: Response| {
        let end = nanos();
        let run = Duration::from_secs_f64(response.metadata.execution_time_ms.max(0.0) / 1000.0);
        let run_start = end.saturating_sub(run.as_nanos()).max(start);
        let error = response.error.as_ref().map(|e| e.name.clone());
        let status = match &error {
            Some(name) => json!({"code": 2, "message": name}),
            None => json!({"code": 1}),
        };
        let mut attributes = vec![
            attribute("gen_ai.operation.name", "execute_tool"),
            attribute("gen_ai.tool.name", &tool_id),
            attribute("gen_ai.tool.call.id", &exec_id),
            attribute("mcp.method.name", "tools/call"),
        ];
        if let Some(name) = &error {
            attributes.push(attribute("error.type", name));
        }
        if let Some(caller) = &caller {
            attributes.push(attribute("enduser.id", caller));
        }
        let mut call = json!({
                "traceId": trace_id,
                "spanId": call_span,
                "name": format!("execute_tool {tool_id}"),
                "kind": 2,
                "startTimeUnixNano": start.to_string(),
                "endTimeUnixNano": end.to_string(),
                "attributes": attributes,
                "status": status,
        });
        if let Some(parent) = &parent {
            call["parentSpanId"] = json!(parent);
        }
        let spans = json!([
            call,
            {
                "traceId": trace_id,
                "spanId": random_hex(8),
                "parentSpanId": call_span,
                "name": format!("worker run {tool_id}"),
                "kind": 1,
                "startTimeUnixNano": run_start.to_string(),
                "endTimeUnixNano": end.to_string(),
                "attributes": [attribute("gen_ai.tool.name", &tool_id)],
                "status": status,
            },
        ]);
        let body = json!({
            "resourceSpans": [{
                "resource": {"attributes": [attribute("service.name", "compozy")]},
                "scopeSpans": [{
                    "scope": {"name": "compozy", "version": env!("CARGO_PKG_VERSION")},
                    "spans": spans,
                }],
            }],
        })
        .to_string();
        for endpoint in &endpoints {
            // A closed channel means the exporter could not start: already warned.
            PENDING.fetch_add(1, Ordering::SeqCst);
            if sender(endpoint).send(body.clone()).is_err() {
                PENDING.fetch_sub(1, Ordering::SeqCst);
            }
        }
        reply(response);
    })
}

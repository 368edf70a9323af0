//! The built-in policies of `plugins:` (`use: builtin:rate-limit`, `builtin:concurrency`,
//! `builtin:cache`), applied in front of the pool: a call a policy refuses, holds back or
//! answers from the cache takes no worker.
//!
//! They are state of the server (`serve`, `mcp`, `watch --serve`), shared by every caller and
//! every worker of its pool. `exec` runs one call per process, which no limit of at least one
//! call can refuse or hold back.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::pool::{Job, Pool};
use super::protocol::Response;
use crate::config::Project;
use crate::config::plugins::PolicyKind;

/// A token bucket: `capacity` calls at once, refilled at `rate` calls per second.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Calls of one tool running under a concurrency cap, and those waiting their turn.
#[derive(Default)]
struct Gate {
    running: usize,
    waiting: VecDeque<Job>,
}

/// A cached answer and when it expires.
struct Entry {
    response: Response,
    until: Instant,
    /// The environment the key names by address.
    _env: Option<Arc<std::collections::BTreeMap<String, String>>>,
}

/// At most this many cached answers per project; past it, expired ones are dropped, and a new
/// answer is not kept while none has expired.
const CACHE_ENTRIES: usize = 10_000;

#[derive(Default)]
struct State {
    /// By cache key (see [`Policies::cache_key`]).
    cache: HashMap<String, Entry>,
    /// By (policy index, tool id or "" for a global bucket).
    buckets: HashMap<(usize, String), Bucket>,
    /// By tool id.
    gates: HashMap<String, Gate>,
}

/// The policies of one project and their state.
#[derive(Clone)]
pub struct Policies {
    project: Arc<Project>,
    state: Arc<Mutex<State>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Policies {
    /// The policies of `project`, with fresh state.
    pub fn new(project: Arc<Project>) -> Self {
        Self {
            project,
            state: Arc::default(),
        }
    }

    /// Whether any policy is declared (without one, calls go straight to the pool).
    pub fn is_empty(&self) -> bool {
        self.project.policies.is_empty()
    }

    /// Takes a token from every rate limit that applies to `tool_id`; when one has none left,
    /// takes none and says when to retry.
    pub fn rate_limited(&self, tool_id: &str) -> Option<String> {
        let tool = self.project.tool(tool_id)?;
        let now = Instant::now();
        let mut state = lock(&self.state);
        let mut take = Vec::new();
        for (i, policy) in self.project.policies.iter().enumerate() {
            let PolicyKind::RateLimit { limit, per, global } = &policy.kind else {
                continue;
            };
            if !policy.applies_to(tool) {
                continue;
            }
            let key = (
                i,
                if *global {
                    String::new()
                } else {
                    tool.id.clone()
                },
            );
            let capacity = f64::from(*limit);
            let rate = capacity / per.as_secs_f64();
            let bucket = state.buckets.entry(key.clone()).or_insert(Bucket {
                tokens: capacity,
                at: now,
            });
            bucket.tokens =
                (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * rate).min(capacity);
            bucket.at = now;
            if bucket.tokens < 1.0 {
                let wait = Duration::from_secs_f64((1.0 - bucket.tokens) / rate);
                let whose = if *global {
                    "the tools it covers".to_owned()
                } else {
                    format!("`{}`", tool.id)
                };
                return Some(format!(
                    "rate limit reached: {limit} calls per {} for {whose} ({}); retry in {}",
                    humantime::format_duration(*per),
                    policy.label,
                    retry_in(wait)
                ));
            }
            take.push(key);
        }
        for key in take {
            if let Some(bucket) = state.buckets.get_mut(&key) {
                bucket.tokens -= 1.0;
            }
        }
        None
    }

    /// The shortest cache lifetime that applies to `tool_id`, when a cache does. No cache
    /// applies where callers are told apart (`auth:`) until calls carry who made them: an answer
    /// is never given to another caller than the one it was made for.
    fn ttl(&self, tool_id: &str) -> Option<Duration> {
        if self.project.auth.is_some() {
            return None;
        }
        self.applying(tool_id, |kind| match kind {
            PolicyKind::Cache { ttl } => Some(*ttl),
            _ => None,
        })
        .min()
    }

    /// What `pick` takes from each policy that applies to `tool_id` (none for an unknown tool).
    fn applying<'a, T: 'a>(
        &'a self,
        tool_id: &str,
        pick: impl Fn(&'a PolicyKind) -> Option<T> + 'a,
    ) -> impl Iterator<Item = T> + 'a {
        let tool = self.project.tool(tool_id);
        self.project
            .policies
            .iter()
            .filter(move |p| tool.is_some_and(|tool| p.applies_to(tool)))
            .filter_map(move |p| pick(&p.kind))
    }

    /// The key of a call's answer: the tool, its input and config in canonical JSON (object keys
    /// sorted), and its environment. The environment map is shared by every call of a tool with
    /// the same variables, so it is named by its address, which the entry keeps alive (and so
    /// unique) by holding the map. The project's code is not part of it: a hot reload starts a
    /// new [`Policies`], with an empty cache.
    fn cache_key(request: &super::protocol::Request) -> String {
        let env = request
            .env
            .as_ref()
            .map_or(0, |env| Arc::as_ptr(env) as usize);
        let key = serde_json::json!([
            request.tool_id,
            canonical(&request.input),
            canonical(&request.config),
            env,
        ]);
        key.to_string()
    }

    /// The cached answer to `request`, when there is a fresh one.
    pub fn cached(&self, request: &super::protocol::Request) -> Option<Response> {
        self.ttl(&request.tool_id)?;
        let key = Self::cache_key(request);
        let mut state = lock(&self.state);
        let entry = state.cache.get(&key)?;
        if entry.until <= Instant::now() {
            state.cache.remove(&key);
            return None;
        }
        let mut response = entry.response.clone();
        response.id = request.id.clone();
        response.metadata.tool_exec_id = Some(request.tool_exec_id.clone());
        Some(response)
    }

    /// Wraps `reply` so that a successful answer to `request` is kept, when a cache applies.
    pub fn keeping(
        &self,
        request: &super::protocol::Request,
        reply: super::pool::Reply,
    ) -> super::pool::Reply {
        let Some(ttl) = self.ttl(&request.tool_id) else {
            return reply;
        };
        let key = Self::cache_key(request);
        let env = request.env.clone();
        let state = Arc::clone(&self.state);
        Box::new(move |response: Response| {
            if response.error.is_none() {
                let now = Instant::now();
                let mut state = lock(&state);
                if state.cache.len() >= CACHE_ENTRIES {
                    state.cache.retain(|_, e| e.until > now);
                }
                if state.cache.len() < CACHE_ENTRIES {
                    state.cache.insert(
                        key,
                        Entry {
                            response: response.clone(),
                            until: now + ttl,
                            _env: env,
                        },
                    );
                }
            }
            reply(response);
        })
    }

    /// Wraps `reply` so that the call's spans are posted to each trace endpoint that applies;
    /// the call's span is the child of the caller's `request.traceparent`, which becomes the
    /// span's own context for the tool.
    pub fn traced(
        &self,
        request: &mut super::protocol::Request,
        reply: super::pool::Reply,
    ) -> super::pool::Reply {
        let endpoints: Vec<String> = self
            .applying(&request.tool_id, |kind| match kind {
                PolicyKind::Trace { endpoint } => Some(endpoint.clone()),
                _ => None,
            })
            .collect();
        if endpoints.is_empty() {
            return reply;
        }
        let ids = super::trace::SpanIds::new(request.traceparent.as_deref());
        request.traceparent = Some(ids.traceparent());
        super::trace::traced(
            endpoints,
            request.tool_id.clone(),
            request.tool_exec_id.clone(),
            ids,
            reply,
        )
    }

    /// Wraps `reply` so that every answer to `request` (a refused, cached or failed one too)
    /// appends one line to each audit log that applies: time, tool, caller, exec id, outcome,
    /// duration and the input's top-level keys (never its values).
    pub fn audited(
        &self,
        request: &super::protocol::Request,
        reply: super::pool::Reply,
    ) -> super::pool::Reply {
        let paths: Vec<std::path::PathBuf> = self
            .applying(&request.tool_id, |kind| match kind {
                PolicyKind::Audit { path } => Some(path.clone()),
                _ => None,
            })
            .collect();
        if paths.is_empty() {
            return reply;
        }
        let keys: Vec<String> = match &request.input {
            serde_json::Value::Object(map) => map.keys().cloned().collect(),
            _ => Vec::new(),
        };
        let (tool_id, exec_id) = (request.tool_id.clone(), request.tool_exec_id.clone());
        let (time, started) = (now_rfc3339(), Instant::now());
        let state = Arc::clone(&self.state);
        Box::new(move |response: Response| {
            let outcome = match &response.error {
                None => "ok".to_owned(),
                Some(e) => format!("error:{}", e.name),
            };
            let line = serde_json::json!({
                "time": time,
                "tool": tool_id,
                "version": null,
                "caller": null,
                "exec_id": exec_id,
                "outcome": outcome,
                "duration_ms": super::protocol::millis(started.elapsed()),
                "argument_keys": keys,
            });
            let mut text = line.to_string();
            text.push('\n');
            {
                // One writer at a time: lines of concurrent calls never interleave.
                let _state = lock(&state);
                for path in &paths {
                    if let Err(e) = append(path, text.as_bytes()) {
                        tracing::warn!("cannot write the audit log {}: {e}", path.display());
                    }
                }
            }
            reply(response);
        })
    }

    /// How many runs in all a call of `tool_id` may have (the smallest of the retries that
    /// apply; 1 without one).
    pub fn attempts(&self, tool_id: &str) -> u32 {
        self.applying(tool_id, |kind| match kind {
            PolicyKind::Retry { attempts } => Some(*attempts),
            _ => None,
        })
        .min()
        .unwrap_or(1)
    }

    /// Wraps `job`'s reply so that an infrastructure failure (the worker crashed, or the
    /// deadline passed and the worker was killed) submits the call again, up to `attempts`
    /// runs in all. The failed worker is gone by then, so the next run is on another worker.
    /// The tool's own errors are answers, never retried.
    pub fn retrying(&self, pool: &Pool, mut job: Job, attempts: u32) -> Job {
        if attempts <= 1 {
            return job;
        }
        let request = job.request.clone();
        let (timeout, notes, timeout_in_request) =
            (job.timeout, job.notes.clone(), job.timeout_in_request);
        let reply = job.reply;
        let this = self.clone();
        let handle = pool.clone();
        job.reply = Box::new(move |response: Response| {
            let infrastructure = response
                .error
                .as_ref()
                .is_some_and(|e| matches!(e.name.as_str(), "WorkerExitedError" | "TimeoutError"));
            if !infrastructure {
                return reply(response);
            }
            tracing::info!(
                tool = %request.tool_id,
                attempts_left = attempts - 1,
                "retrying after {}",
                response.error.as_ref().map_or("", |e| e.name.as_str())
            );
            let again = Job {
                request,
                timeout,
                reply,
                notes,
                timeout_in_request,
            };
            let again = this.retrying(&handle, again, attempts - 1);
            this.submit(&handle, again);
        });
        job
    }

    /// The smallest concurrency cap that applies to `tool_id`.
    fn cap(&self, tool_id: &str) -> Option<usize> {
        self.applying(tool_id, |kind| match kind {
            PolicyKind::Concurrency { max } => Some(*max),
            _ => None,
        })
        .min()
    }

    /// Queues `job` on `pool`, or holds it back while its tool's concurrency cap is reached.
    pub fn submit(&self, pool: &Pool, job: Job) {
        let Some(max) = self.cap(&job.request.tool_id) else {
            pool.submit(job);
            return;
        };
        let tool = job.request.tool_id.clone();
        {
            let mut state = lock(&self.state);
            let gate = state.gates.entry(tool.clone()).or_default();
            if gate.running >= max {
                gate.waiting.push_back(job);
                return;
            }
            gate.running += 1;
        }
        self.start(pool.clone(), tool, job);
    }

    /// Runs `job`, which holds a place under its tool's cap; its answer hands the place on.
    fn start(&self, pool: Pool, tool: String, mut job: Job) {
        let reply = job.reply;
        let this = self.clone();
        let handle = pool.clone();
        job.reply = Box::new(move |response: Response| {
            reply(response);
            let next = {
                let mut state = lock(&this.state);
                let gate = state.gates.entry(tool.clone()).or_default();
                let next = gate.waiting.pop_front();
                if next.is_none() {
                    gate.running = gate.running.saturating_sub(1);
                }
                next
            };
            if let Some(next) = next {
                this.start(handle, tool, next);
            }
        });
        pool.submit(job);
    }
}

fn append(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(bytes)
}

/// `value` with every object's keys sorted, so that equal inputs give equal keys.
fn canonical(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), canonical(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// The time now, as RFC 3339 with milliseconds.
fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// A wait for people: `1.2s`, `45s`, `3m 20s`.
fn retry_in(wait: Duration) -> String {
    if wait < Duration::from_secs(10) {
        format!("{:.1}s", wait.as_secs_f64().max(0.1))
    } else {
        humantime::format_duration(Duration::from_secs(wait.as_secs() + 1)).to_string()
    }
}

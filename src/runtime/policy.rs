//! The built-in policies of `plugins:` (`use: builtin:rate-limit`, `builtin:concurrency`,
//! `builtin:cache`), applied in front of the pool: a call a policy refuses, holds back or
//! answers from the cache takes no worker.
//!
//! A server (`serve`, `mcp`, `watch --serve`, `daemon`) keeps its concurrency queue and its
//! cache in memory, shared by every caller and every worker of its pool; its rate limits live in
//! the project's state directory ([`super::policy_state`]), which one-shot `exec` uses for all
//! three, so that a rate limit is one limit. The logic of each policy is here, once; only where
//! its state is kept differs.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::policy_state::{Slot, StateDir, StoredBucket, now_ms};
use super::pool::{Job, Pool};
use super::protocol::Response;
use crate::config::Project;
use crate::config::plugins::PolicyKind;

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
    /// By bucket key (see [`Policies::rate_limited`]), when there is no state directory.
    buckets: HashMap<String, StoredBucket>,
    /// By tool id.
    gates: HashMap<String, Gate>,
}

/// The policies of one project and their state.
#[derive(Clone)]
pub struct Policies {
    project: Arc<Project>,
    state: Arc<Mutex<State>>,
    /// The project's state directory: its rate limits, and for one-shot `exec` ([`Self::once`])
    /// its concurrency places and cache too. `None`: all in memory.
    files: Option<Arc<StateDir>>,
    /// One-shot `exec`: the digest of the files the project's code was generated from, for the
    /// cache key (`None` for a server, whose cache a hot reload empties).
    once: Option<Option<u64>>,
}

/// Whether an answer's error is a failure of the infrastructure (the worker crashed, or the
/// deadline passed and it was killed), which a retry may run again; any other error is an
/// answer.
pub fn infrastructure(name: &str) -> bool {
    matches!(name, "WorkerExitedError" | "TimeoutError")
}

/// The state directory of `project`, when one of its policies keeps state there: a rate limit,
/// or with `all` (one-shot `exec`) a concurrency cap or a cache too.
fn state_dir(project: &Project, all: bool) -> Option<Arc<StateDir>> {
    let needed = project.policies.iter().any(|p| match p.kind {
        PolicyKind::RateLimit { .. } => true,
        PolicyKind::Concurrency { .. } | PolicyKind::Cache { .. } => all,
        _ => false,
    });
    if !needed {
        return None;
    }
    match StateDir::open(&project.root) {
        Ok(dir) => Some(Arc::new(dir)),
        Err(e) => {
            tracing::warn!("the policies keep their state in memory: {e}");
            None
        }
    }
}

/// Refills the bucket `key` (of `capacity` tokens, `rate` per second) to `now` and returns how
/// long until it holds a token, or zero when it holds one (a token bucket's whole logic, for
/// either store).
fn refill(
    buckets: &mut HashMap<String, StoredBucket>,
    key: &str,
    capacity: f64,
    rate: f64,
    now: u64,
) -> Duration {
    let bucket = buckets.entry(key.to_owned()).or_insert(StoredBucket {
        tokens: capacity,
        at_ms: now,
    });
    let elapsed = now.saturating_sub(bucket.at_ms) as f64 / 1000.0;
    bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
    bucket.at_ms = now;
    if bucket.tokens < 1.0 {
        Duration::from_secs_f64((1.0 - bucket.tokens) / rate)
    } else {
        Duration::ZERO
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Policies {
    /// The policies of a server of `project`: fresh state in memory, and the rate limits of the
    /// project's state directory.
    pub fn new(project: Arc<Project>) -> Self {
        Self {
            files: state_dir(&project, false),
            project,
            state: Arc::default(),
            once: None,
        }
    }

    /// The policies of one-shot `exec` of `project`, generated from files of digest `code`
    /// (`None`: unknown, nothing is cached): all their state in the project's state directory.
    pub fn once(project: Arc<Project>, code: Option<u64>) -> Self {
        Self {
            files: state_dir(&project, true),
            project,
            state: Arc::default(),
            once: Some(code),
        }
    }

    /// The state directory, when the policies use one.
    pub fn state_path(&self) -> Option<&std::path::Path> {
        self.files.as_deref().map(StateDir::path)
    }

    /// Whether any policy is declared (without one, calls go straight to the pool).
    pub fn is_empty(&self) -> bool {
        self.project.policies.is_empty()
    }

    /// Takes a token from every rate limit that applies to `tool_id`; when one has none left,
    /// takes none and says when to retry.
    pub fn rate_limited(&self, tool_id: &str) -> Option<String> {
        let tool = self.project.tool(tool_id)?;
        // (bucket key, capacity, rate per second, policy)
        let mut wanted: Vec<(String, f64, f64, &crate::config::plugins::Policy)> = Vec::new();
        for policy in &self.project.policies {
            let PolicyKind::RateLimit { limit, per, global } = &policy.kind else {
                continue;
            };
            if !policy.applies_to(tool) {
                continue;
            }
            // The policy as written, not its place: an edit elsewhere (another policy added
            // above it too) keeps its buckets, a changed limit starts a fresh one. Two identical
            // policies are told apart by their order among themselves.
            let mut key = serde_json::json!([
                policy.label,
                limit,
                per.as_millis().to_string(),
                policy.tools,
                policy.annotations,
                if *global { "" } else { tool.id.as_str() },
            ])
            .to_string();
            let same = wanted.iter().filter(|(k, ..)| k.starts_with(&key)).count();
            if same > 0 {
                key.push_str(&format!("#{same}"));
            }
            let capacity = f64::from(*limit);
            wanted.push((key, capacity, capacity / per.as_secs_f64(), policy));
        }
        if wanted.is_empty() {
            return None;
        }
        let decide = |buckets: &mut HashMap<String, StoredBucket>| {
            let now = now_ms();
            for (key, capacity, rate, policy) in &wanted {
                let wait = refill(buckets, key, *capacity, *rate, now);
                if !wait.is_zero() {
                    return Some((*policy, wait));
                }
            }
            for (key, ..) in &wanted {
                if let Some(bucket) = buckets.get_mut(key) {
                    bucket.tokens -= 1.0;
                }
            }
            None
        };
        let refused = match &self.files {
            Some(files) => match files.with_buckets(decide) {
                Ok(refused) => refused,
                Err(e) => {
                    tracing::warn!(
                        "cannot read the rate limits in {}: {e}; counting in memory",
                        files.path().display()
                    );
                    decide(&mut lock(&self.state).buckets)
                }
            },
            None => decide(&mut lock(&self.state).buckets),
        };
        let (policy, wait) = refused?;
        let PolicyKind::RateLimit { limit, per, global } = &policy.kind else {
            return None;
        };
        let whose = if *global {
            "the tools it covers".to_owned()
        } else {
            format!("`{}`", tool.id)
        };
        Some(format!(
            "rate limit reached: {limit} calls per {} for {whose} ({}); retry in {}",
            humantime::format_duration(*per),
            policy.label,
            retry_in(wait)
        ))
    }

    /// The shortest cache lifetime that applies to `tool_id`, when a cache does.
    fn ttl(&self, tool_id: &str) -> Option<Duration> {
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

    /// The key of a call's answer: the tool, its caller, its input and config in canonical JSON
    /// (object keys sorted), and its environment. In a server, a call without request variables
    /// gets the environment map the server shares among a tool's calls, named by its address,
    /// which the entry keeps alive (and so unique) by holding the map; the code is not part of
    /// the key, as a hot reload starts new [`Policies`] with an empty cache. An environment given
    /// as `env` (one-shot `exec`, calls forwarded by `exec` and calls with request variables,
    /// each with a map of its own) is named by its digest; for one-shot `exec` the code is named
    /// by the digest of the files it was generated from.
    fn cache_key(
        &self,
        request: &super::protocol::Request,
        caller: Option<&str>,
        env: Option<&BTreeMap<String, String>>,
    ) -> Option<String> {
        let code = match self.once {
            None => serde_json::Value::Null,
            Some(code) => serde_json::json!(code?.to_string()),
        };
        let env = match env {
            Some(env) => serde_json::json!(super::policy_state::digest(
                &serde_json::to_string(env).ok()?
            )),
            None if self.once.is_some() => return None,
            None => serde_json::json!(
                request
                    .env
                    .as_ref()
                    .map_or(0, |env| Arc::as_ptr(env) as usize)
            ),
        };
        let key = serde_json::json!([
            request.tool_id,
            code,
            caller,
            canonical(&request.input),
            canonical(&request.config),
            env,
        ]);
        Some(key.to_string())
    }

    /// The cached answer to `request` from `caller` (with the tool's environment `env` when it
    /// is named by its content, see [`Self::cache_key`]), when there is a fresh one.
    pub fn cached(
        &self,
        request: &super::protocol::Request,
        caller: Option<&str>,
        env: Option<&BTreeMap<String, String>>,
    ) -> Option<Response> {
        self.ttl(&request.tool_id)?;
        let key = self.cache_key(request, caller, env)?;
        let mut response = if self.once.is_some() {
            self.files.as_ref()?.cached(&key)?
        } else {
            let mut state = lock(&self.state);
            let entry = state.cache.get(&key)?;
            if entry.until <= Instant::now() {
                state.cache.remove(&key);
                return None;
            }
            entry.response.clone()
        };
        response.id = request.id.clone();
        response.metadata.tool_exec_id = Some(request.tool_exec_id.clone());
        if let Some(error) = response.error.as_mut() {
            error.tool_exec_id = Some(request.tool_exec_id.clone());
        }
        Some(response)
    }

    /// Keeps `response`, a successful answer to `request` whose output was checked, for one-shot
    /// `exec`, when a cache applies.
    pub fn keep(
        &self,
        request: &super::protocol::Request,
        caller: Option<&str>,
        env: &BTreeMap<String, String>,
        response: &Response,
    ) {
        let (Some(ttl), Some(files)) = (self.ttl(&request.tool_id), &self.files) else {
            return;
        };
        if response.error.is_some() {
            return;
        }
        if let Some(key) = self.cache_key(request, caller, Some(env))
            && let Err(e) = files.keep(&key, response, ttl)
        {
            tracing::warn!("cannot keep the answer in {}: {e}", files.path().display());
        }
    }

    /// Wraps `reply` so that a successful answer to `request` from `caller` (its environment
    /// named by `env`'s content when given, see [`Self::cache_key`]) is kept, when a cache
    /// applies and `valid` says its result is one to keep.
    pub fn keeping(
        &self,
        request: &super::protocol::Request,
        caller: Option<&str>,
        env: Option<&BTreeMap<String, String>>,
        valid: impl Fn(&Response) -> bool + Send + 'static,
        reply: super::pool::Reply,
    ) -> super::pool::Reply {
        let Some(ttl) = self.ttl(&request.tool_id) else {
            return reply;
        };
        let Some(key) = self.cache_key(request, caller, env) else {
            return reply;
        };
        let env = request.env.clone();
        let state = Arc::clone(&self.state);
        Box::new(move |response: Response| {
            if response.error.is_none() && valid(&response) {
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
        caller: Option<&str>,
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
            caller.map(str::to_owned),
            ids,
            reply,
        )
    }

    /// Whether an audit log applies to `tool_id`.
    pub fn audits(&self, tool_id: &str) -> bool {
        self.applying(tool_id, |kind| {
            matches!(kind, PolicyKind::Audit { .. }).then_some(())
        })
        .next()
        .is_some()
    }

    /// Wraps `reply` so that every answer to `request` (a refused, cached or failed one too)
    /// appends one line to each audit log that applies: time, tool, its version (`null` without
    /// `version:`), caller, exec id, outcome, duration and the input's top-level keys (never
    /// its values).
    pub fn audited(
        &self,
        request: &super::protocol::Request,
        caller: Option<&str>,
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
        // `version:` of the declaration that answers (each major kept side by side has its own).
        let version = self
            .project
            .tool(&request.tool_id)
            .and_then(|tool| tool.version.as_ref())
            .map(ToString::to_string);
        let caller = caller.map(str::to_owned);
        let (time, started) = (now_rfc3339(), Instant::now());
        Box::new(move |response: Response| {
            let outcome = match &response.error {
                None => "ok".to_owned(),
                Some(e) => format!("error:{}", e.name),
            };
            let line = serde_json::json!({
                "time": time,
                "tool": tool_id,
                "version": version,
                "caller": caller,
                "exec_id": exec_id,
                "outcome": outcome,
                "duration_ms": super::protocol::millis(started.elapsed()),
                "argument_keys": keys,
            });
            let mut text = line.to_string();
            text.push('\n');
            // One writer at a time, under `flock` (each append opens the file anew, so threads
            // of one process exclude each other too): lines never interleave. The policies'
            // lock is not held across the write, which may wait.
            for path in &paths {
                if let Err(e) = append(path, text.as_bytes()) {
                    tracing::warn!("cannot write the audit log {}: {e}", path.display());
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
            let again = response
                .error
                .as_ref()
                .is_some_and(|e| infrastructure(&e.name));
            if !again {
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

    /// Takes a place under the concurrency cap of `tool_id` in the state directory (one-shot
    /// `exec`), waiting while every place is held; `Ok(None)` when no cap applies, an
    /// interruption when `interrupted` was set while waiting.
    pub fn slot(
        &self,
        tool_id: &str,
        interrupted: &AtomicBool,
    ) -> Result<Option<Slot>, super::RuntimeError> {
        let (Some(max), Some(files)) = (self.cap(tool_id), &self.files) else {
            return Ok(None);
        };
        match files.slot(tool_id, max, interrupted) {
            Ok(Some(slot)) => Ok(Some(slot)),
            Ok(None) => Err(super::RuntimeError::Interrupted),
            Err(e) => {
                tracing::warn!(
                    "cannot take a place under the concurrency cap in {}: {e}; running anyway",
                    files.path().display()
                );
                Ok(None)
            }
        }
    }

    /// Whether a call waits in a concurrency queue.
    pub fn has_waiting(&self) -> bool {
        lock(&self.state)
            .gates
            .values()
            .any(|gate| !gate.waiting.is_empty())
    }

    /// Takes the call with execution id `tool_exec_id` out of the concurrency queue, when it is
    /// waiting there: it never starts, and its reply gets a `CancelledError`. Returns whether
    /// it was there.
    pub fn cancel(&self, tool_exec_id: &str) -> bool {
        let job = {
            let mut state = lock(&self.state);
            state.gates.values_mut().find_map(|gate| {
                let at = gate
                    .waiting
                    .iter()
                    .position(|job| job.request.tool_exec_id == tool_exec_id)?;
                gate.waiting.remove(at)
            })
        };
        let Some(job) = job else {
            return false;
        };
        let request = job.request;
        (job.reply)(Response::failure(
            request.id,
            Some(request.tool_id),
            Some(request.tool_exec_id),
            "CancelledError",
            super::RuntimeError::Cancelled.to_string(),
            Duration::ZERO,
        ));
        true
    }
}

fn append(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    // Processes (a server, one-shot `exec`s) append to the same log: one line at a time.
    let mut file = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, errno)| std::io::Error::from(errno))?;
    file.write_all(bytes)
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

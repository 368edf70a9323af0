//! The MCP request handler: `tools/list` from the project, `tools/call` on the pool.
// rmcp marks the logging types deprecated (SEP-2577), but both eras still carry
// `notifications/message`, and hosts show them.
#![allow(deprecated)]

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, CustomRequest,
    CustomResult, DiscoverResult, ErrorCode, Implementation, ListToolsResult, LoggingLevel,
    LoggingMessageNotificationParam, PaginatedRequestParams, ProgressNotificationParam,
    ProgressToken, ServerCapabilities, ServerConfig, SetLevelRequestParams, SubscriptionFilter,
    Tool,
};
use rmcp::service::{
    NotificationContext, Peer, RequestContext, SubscriptionContext, SubscriptionSink,
};
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use super::result::to_result;
use super::tools;
use crate::config::Project;
use crate::runtime::{Call, Note, Notes, Refusal, Response, Server, new_exec_id};

/// How long a notification may take to go out before it is given up (a client that stopped
/// reading must not hold up the answer).
const NOTIFY_LIMIT: Duration = Duration::from_secs(1);

/// How often a call with a progress token that reports no progress gets a heartbeat, unless
/// `COMPOZY_MCP_HEARTBEAT` says otherwise: clients time out at 60 s by default unless progress
/// arrives.
const HEARTBEAT: Duration = Duration::from_secs(10);

/// `COMPOZY_MCP_HEARTBEAT` (a duration, `0` for none), or [`HEARTBEAT`].
fn heartbeat_interval() -> Option<Duration> {
    let Ok(value) = std::env::var("COMPOZY_MCP_HEARTBEAT") else {
        return Some(HEARTBEAT);
    };
    let value = value.trim();
    if value == "0" {
        return None;
    }
    match humantime::parse_duration(value) {
        Ok(d) if d.is_zero() => None,
        Ok(d) => Some(d),
        Err(e) => {
            tracing::warn!(
                "COMPOZY_MCP_HEARTBEAT={value:?} is not a duration ({e}); using {}s",
                HEARTBEAT.as_secs()
            );
            Some(HEARTBEAT)
        }
    }
}

/// The method a request line over the size cap is replaced with (see `stdio`), so that its
/// sender gets an error instead of no answer.
pub(super) const TOO_LARGE_METHOD: &str = "compozy/requestTooLarge";

/// The `_meta` key of the `server/discover` that stands in for a stdio request sent before the
/// client said which protocol era it speaks (see `stdio`): rmcp would refuse that request with a
/// 2026-era message about `_meta` that never mentions `initialize`. A discover request is the
/// one rmcp passes to the handler before the era is chosen, and leaves either era open.
pub(super) const UNINITIALIZED_KEY: &str = "compozy/notInitialized";

/// Who makes a call: over HTTP, the subject of its token (`auth:`), or nobody known without
/// `auth:`; over stdio, the local user who started the server.
fn caller(context: &RequestContext<RoleServer>) -> Option<String> {
    match context.extensions.get::<http::request::Parts>() {
        Some(parts) => parts
            .extensions
            .get::<super::auth::CallerId>()
            .map(|id| id.0.clone()),
        None => Some(crate::runtime::caller::local()),
    }
}

/// What every handler (one per HTTP request, one for stdio) shares.
pub struct Shared {
    server: Arc<Mutex<Server>>,
    tools: RwLock<Arc<Vec<Tool>>>,
    /// The level `logging/setLevel` set (2025 era; a 2026 request carries its own).
    log_level: Mutex<Option<LoggingLevel>>,
    /// Clients of the 2025 era, told when the tool list changes.
    peers: Mutex<Vec<Peer<RoleServer>>>,
    /// Subscriptions of the 2026 era, likewise.
    sinks: Mutex<Vec<SubscriptionSink>>,
    /// How long a call with a progress token may go without a progress notification.
    heartbeat: Option<Duration>,
}

impl Shared {
    /// Handlers for the tools of `server`'s project.
    pub fn new(server: Arc<Mutex<Server>>) -> Arc<Self> {
        let project = lock(&server).project();
        let shared = Arc::new(Self {
            server,
            tools: RwLock::new(Arc::new(Vec::new())),
            log_level: Mutex::new(None),
            peers: Mutex::new(Vec::new()),
            sinks: Mutex::new(Vec::new()),
            heartbeat: heartbeat_interval(),
        });
        shared.set_tools(&project);
        shared
    }

    /// Lists `project`'s tools from now on (warning about those MCP cannot list); true when the
    /// list changed.
    pub fn set_tools(&self, project: &Project) -> bool {
        let (listed, left_out) = tools::list(project);
        for tool in left_out {
            tracing::warn!("tool `{}` is not served over MCP: {}", tool.id, tool.reason);
        }
        let listed: Vec<Tool> = listed.into_iter().filter_map(to_tool).collect();
        let mut current = self.tools.write().unwrap_or_else(PoisonError::into_inner);
        let changed = **current != listed;
        *current = Arc::new(listed);
        changed
    }

    /// Reloads the workers on `project` and tells subscribed clients when the tool list changed.
    pub async fn reload(&self, project: Arc<Project>) {
        let changed = self.set_tools(&project);
        lock(&self.server).reload(project);
        if changed {
            self.announce_list_changed().await;
        }
    }

    async fn announce_list_changed(&self) {
        let peers: Vec<Peer<RoleServer>> = {
            let mut peers = self.peers.lock().unwrap_or_else(PoisonError::into_inner);
            peers.retain(|p| !p.is_transport_closed());
            peers.clone()
        };
        for peer in peers {
            let _ = tokio::time::timeout(NOTIFY_LIMIT, peer.notify_tool_list_changed()).await;
        }
        let sinks: Vec<SubscriptionSink> = self
            .sinks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut dead = Vec::new();
        for sink in sinks {
            match tokio::time::timeout(NOTIFY_LIMIT, sink.notify_tool_list_changed()).await {
                Ok(Ok(())) => {}
                _ => dead.push(sink.id().clone()),
            }
        }
        if !dead.is_empty() {
            self.sinks
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|s| !dead.contains(s.id()));
        }
    }
}

fn lock(server: &Mutex<Server>) -> std::sync::MutexGuard<'_, Server> {
    server.lock().unwrap_or_else(PoisonError::into_inner)
}

fn to_tool(descriptor: Value) -> Option<Tool> {
    match serde_json::from_value::<Tool>(descriptor) {
        Ok(tool) => Some(tool),
        Err(e) => {
            tracing::warn!("cannot describe a tool over MCP: {e}");
            None
        }
    }
}

/// The MCP server: a cheap handle (rmcp builds one per HTTP request).
#[derive(Clone)]
pub struct Handler {
    shared: Arc<Shared>,
}

impl Handler {
    /// A handler over `shared`.
    pub fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Whether a tool's log lines go to this request's client: at level `info`, when the client's
    /// level (per request in the 2026 era, from `logging/setLevel` before) lets `info` through.
    fn wants_logs(&self, ctx: &RequestContext<RoleServer>) -> bool {
        let level = ctx.meta.log_level().or_else(|| {
            *self
                .shared
                .log_level
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        });
        level.is_none_or(|level| level as u8 <= LoggingLevel::Info as u8)
    }
}

/// Where a call's notes go: into a channel the call drains between its notifications.
fn notes_channel() -> (Notes, mpsc::UnboundedReceiver<Note>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let notes: Notes = Arc::new(move |note| {
        let _ = tx.send(note);
    });
    (notes, rx)
}

impl ServerHandler for Handler {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_logging()
                .enable_tools()
                .enable_tool_list_changed()
                .build(),
        )
        .with_server_info(Implementation::new("compozy", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "Tools of a compozy project. Each tool's input is checked against its JSON Schema \
             before it runs; a failed call answers with isError and says why.",
        )
    }

    async fn discover(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<DiscoverResult, McpError> {
        if let Some(asked) = context.meta.get(UNINITIALIZED_KEY) {
            let asked = asked.as_str().unwrap_or("this request");
            return Err(McpError::invalid_params(
                format!(
                    "`{asked}` before `initialize`: a 2025-11-25 client sends `initialize` (then \
                     `notifications/initialized`) first; a 2026-07-28 client sends \
                     `io.modelcontextprotocol/protocolVersion` and \
                     `io.modelcontextprotocol/clientCapabilities` in each request's `_meta`"
                ),
                None,
            ));
        }
        Ok(DiscoverResult::from_server_info(
            self.supported_protocol_versions().into_owned(),
            self.get_info(),
        ))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let tools = Arc::clone(
            &self
                .shared
                .tools
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        );
        Ok(ListToolsResult::with_all_items(tools.as_ref().clone()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.shared
            .tools
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|t| t.name == name)
            .cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let progress_token = context.meta.get_progress_token();
        let wants_logs = self.wants_logs(&context);
        let (notes, mut noted) = if wants_logs || progress_token.is_some() {
            let (notes, rx) = notes_channel();
            (Some(notes), Some(rx))
        } else {
            (None, None)
        };
        let (reply, answer) = oneshot::channel::<Response>();
        let exec_id = new_exec_id();
        // `weather.v1` is the older major `weather@1`.
        let key = crate::config::versions::key_of_mcp_name(
            &lock(&self.shared.server).project(),
            &request.name,
        );
        let call = Call {
            id: Value::Null,
            tool_id: key.clone(),
            tool_exec_id: Some(exec_id.clone()),
            input: request.arguments.map(Value::Object),
            progress: progress_token.is_some(),
            caller: caller(&context),
            // W3C trace context in `_meta`, as the MCP semantic conventions of OpenTelemetry
            // carry it.
            traceparent: context
                .meta
                .get("traceparent")
                .and_then(Value::as_str)
                .map(str::to_owned),
            ..Call::default()
        };
        let submitted = lock(&self.shared.server).submit(
            call,
            Box::new(move |response| {
                let _ = reply.send(response);
            }),
            notes,
        );
        if let Err((refusal, _)) = submitted {
            let refusal = in_mcp_names(refusal);
            return match refusal {
                Refusal::UnknownTool {
                    ref suggestions, ..
                } => Err(McpError::invalid_params(
                    refusal.to_string(),
                    Some(json!({ "suggestions": suggestions })),
                )),
                Refusal::NoSuchMajor(_) => Err(McpError::invalid_params(refusal.to_string(), None)),
                // A removed tool whose lock entry names its replacement says what to call
                // instead, as a result the model reads.
                Refusal::Removed { .. }
                | Refusal::InvalidInput { .. }
                | Refusal::InvalidRequest(_) => {
                    Ok(CallToolResult::error(vec![ContentBlock::text(refusal.to_string())]).into())
                }
            };
        }

        // Heartbeats: only for a call whose client asked for progress.
        let heartbeat = self.shared.heartbeat.filter(|_| progress_token.is_some());
        let mut forward = Forwarder {
            peer: context.peer.clone(),
            token: progress_token,
            logs: wants_logs,
            tool: request.name.to_string(),
            progressed: false,
            last: None,
            started: tokio::time::Instant::now(),
            last_sent: tokio::time::Instant::now(),
        };
        let mut answer = answer;
        let response = loop {
            let beat = async {
                match heartbeat {
                    Some(every) => tokio::time::sleep_until(forward.last_sent + every).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                () = context.ct.cancelled() => {
                    // `notifications/cancelled`, or the HTTP client went away: stop the tool's
                    // processes; rmcp sends no answer for a cancelled request.
                    lock(&self.shared.server).cancel(&exec_id);
                    return Err(McpError::internal_error("the call was cancelled", None));
                }
                Some(note) = async { match noted.as_mut() { Some(rx) => rx.recv().await, None => None } } => {
                    forward.send(note).await;
                }
                response = &mut answer => match response {
                    Ok(response) => break response,
                    Err(_) => return Err(McpError::internal_error("the pool dropped the call", None)),
                },
                () = beat => forward.heartbeat().await,
            }
        };
        // The pool passes on a call's notes before its answer: whatever is queued goes first.
        if let Some(rx) = noted.as_mut() {
            while let Ok(note) = rx.try_recv() {
                forward.send(note).await;
            }
        }
        if forward.progressed {
            // Clients handle notifications a turn after responses: a progress report that
            // arrives in the same read as the answer would find its handler gone.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let returns_content = lock(&self.shared.server)
            .project()
            .resolve(&key)
            .is_ok_and(|t| t.mcp.returns_content);
        Ok(to_result(&response, returns_content).into())
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), McpError> {
        *self
            .shared
            .log_level
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(request.level);
        Ok(())
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        self.shared
            .peers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(context.peer);
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(requested.supported_by(&self.get_info().capabilities))
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), McpError> {
        let sink = context.sink().clone();
        let id = sink.id().clone();
        self.shared
            .sinks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(sink);
        context.cancelled().await;
        self.shared
            .sinks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|s| s.id() != &id);
        Ok(())
    }

    async fn on_custom_request(
        &self,
        request: CustomRequest,
        _context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, McpError> {
        // rmcp routes a known method whose params do not parse here too: that is -32602.
        const KNOWN: &[&str] = &[
            "initialize",
            "ping",
            "tools/list",
            "tools/call",
            "logging/setLevel",
            "server/discover",
            "subscriptions/listen",
        ];
        let method = request.method;
        if method == TOO_LARGE_METHOD {
            let size = request
                .params
                .as_ref()
                .and_then(|p| p.get("size"))
                .cloned()
                .unwrap_or(Value::Null);
            let limit = request
                .params
                .as_ref()
                .and_then(|p| p.get("limit"))
                .cloned()
                .unwrap_or(Value::Null);
            return Err(McpError::new(
                ErrorCode::INVALID_REQUEST,
                format!(
                    "the request line has {size} bytes, more than the limit of {limit} \
                     (COMPOZY_MAX_REQUEST_BYTES)"
                ),
                None,
            ));
        }
        if KNOWN.contains(&method.as_str()) {
            return Err(McpError::invalid_params(
                format!("invalid params for `{method}`"),
                None,
            ));
        }
        Err(McpError::new(
            ErrorCode::METHOD_NOT_FOUND,
            format!("unknown method `{method}`"),
            None,
        ))
    }
}

/// Sends one call's notes to its client as `notifications/progress` and `notifications/message`.
struct Forwarder {
    peer: Peer<RoleServer>,
    token: Option<ProgressToken>,
    logs: bool,
    tool: String,
    /// Whether a progress report went out.
    progressed: bool,
    /// The last progress value and total sent.
    last: Option<(f64, Option<f64>)>,
    /// When the call started, and when its last progress report went out.
    started: tokio::time::Instant,
    last_sent: tokio::time::Instant,
}

impl Forwarder {
    async fn send(&mut self, note: Note) {
        // A client that stopped reading (stdin closed) must not hold up the answer.
        match note {
            Note::Progress(p) => {
                let Some(token) = self.token.clone() else {
                    return;
                };
                let mut param = ProgressNotificationParam::new(token, p.progress);
                if let Some(total) = p.total {
                    param = param.with_total(total);
                }
                if let Some(message) = p.message {
                    param = param.with_message(message);
                }
                self.last = Some((p.progress, p.total));
                self.notify(param).await;
            }
            Note::Log(line) if self.logs => {
                let param = LoggingMessageNotificationParam::new(LoggingLevel::Info, json!(line))
                    .with_logger(self.tool.clone());
                let _ = tokio::time::timeout(NOTIFY_LIMIT, self.peer.notify_logging_message(param))
                    .await;
            }
            Note::Log(_) => {}
        }
    }

    /// A progress report for a call that has reported none for a while: the last value (the
    /// protocol wants each one higher, so a thousandth more), its total, and how long the call
    /// has run; clients that reset their timeout on progress keep waiting.
    async fn heartbeat(&mut self) {
        let Some(token) = self.token.clone() else {
            return;
        };
        let (last, total) = self.last.unwrap_or((0.0, None));
        let progress = last + 0.001;
        let mut param = ProgressNotificationParam::new(token, progress).with_message(format!(
            "still running ({}s)",
            self.started.elapsed().as_secs()
        ));
        if let Some(total) = total {
            param = param.with_total(total);
        }
        self.last = Some((progress, total));
        self.notify(param).await;
    }

    async fn notify(&mut self, param: ProgressNotificationParam) {
        self.progressed = true;
        self.last_sent = tokio::time::Instant::now();
        let _ = tokio::time::timeout(NOTIFY_LIMIT, self.peer.notify_progress(param)).await;
    }
}

/// A refusal with its tools named as an MCP client knows them (`weather.v1` for `weather@1`).
fn in_mcp_names(refusal: Refusal) -> Refusal {
    use crate::config::versions::mcp_name_of_key as name;
    match refusal {
        Refusal::UnknownTool { id, suggestions } => Refusal::UnknownTool {
            id: name(&id),
            suggestions: suggestions.iter().map(|s| name(s)).collect(),
        },
        Refusal::Removed { id, replaced_by } => Refusal::Removed {
            id: name(&id),
            replaced_by: name(&replaced_by),
        },
        other => other,
    }
}

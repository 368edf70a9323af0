//! The keys of Compozy's configuration files, taken from Compozy's own config types (the project,
//! workflow, tool, agent, task, MCP, memory and knowledge structs, and the global settings that
//! Compozy also reads from compozy.yaml), over every released version.
//!
//! compozy reads the keys it acts on (tools, schemas, workflows, runtime, autoload) and knows the
//! others so that a real Compozy project opens as it is; a key in none of these lists is a typo
//! and gets a "did you mean".

/// Keys of compozy.yaml that compozy acts on.
pub const PROJECT_OWN: &[&str] = &[
    "name",
    "runtime",
    "autoload",
    "tools",
    "workflows",
    "schemas",
    "auth",
    "plugins",
];

/// Keys of compozy.yaml that belong to Compozy's orchestration: known, and left alone.
pub const PROJECT_OTHER: &[&str] = &[
    "version",
    "description",
    "author",
    "models",
    "providers",
    "config",
    "embedders",
    "vector_dbs",
    "knowledge_bases",
    "knowledge",
    "memories",
    "monitoring",
    "cache",
    "dependencies",
    "environments",
    "max_nesting_depth",
    "env",
    // Compozy's server settings, read from the same file.
    "mode",
    "server",
    "database",
    "temporal",
    "stream",
    "tasks",
    "limits",
    "ratelimit",
    "memory",
    "llm",
    "cli",
    "redis",
    "worker",
    "mcp_proxy",
    "attachments",
    "webhooks",
    "CWD",
];

/// Keys of `runtime:` that compozy acts on.
pub const RUNTIME_OWN: &[&str] = &[
    "type",
    "entrypoint",
    "permissions",
    "timeout",
    "tool_execution_timeout",
    "env_files",
    "env_passthrough",
    "env",
    "preload",
];

/// Keys of `runtime:` that only Compozy's server reads.
pub const RUNTIME_OTHER: &[&str] = &[
    "task_execution_timeout_default",
    "task_execution_timeout_max",
    "environment",
    "log_level",
    "dispatcher_heartbeat_interval",
    "dispatcher_heartbeat_ttl",
    "dispatcher_stale_threshold",
    "async_token_counter_workers",
    "async_token_counter_buffer_size",
    "runtime_type",
    "entrypoint_path",
    "bun_permissions",
    "native_tools",
    "max_memory_mb",
];

/// Keys of `autoload:`.
pub const AUTOLOAD: &[&str] = &["enabled", "strict", "include", "exclude", "watch_enabled"];

/// Keys of a tool that compozy acts on.
pub const TOOL_OWN: &[&str] = &[
    "id",
    "description",
    "execute",
    "timeout",
    "input",
    "output",
    "with",
    "config",
    "env",
    "tools",
    "resource",
    "title",
    "annotations",
    "icons",
    "scopes",
    "returns",
    "version",
    "deprecated",
];

/// Keys of a tool that only Compozy's first versions had (`use: tool(file=…)`).
pub const TOOL_OTHER: &[&str] = &["use"];

/// Keys of a workflow file that compozy acts on.
pub const WORKFLOW_OWN: &[&str] = &["tools", "schemas", "tasks"];

/// Keys of a workflow file that belong to Compozy's orchestration.
pub const WORKFLOW_OTHER: &[&str] = &[
    "resource",
    "id",
    "version",
    "description",
    "config",
    "author",
    "agents",
    "knowledge_bases",
    "knowledge",
    "mcps",
    "triggers",
    "trigger",
    "outputs",
    "schedule",
    "env",
];

const AGENT: &[&str] = &[
    "resource",
    "id",
    "description",
    "version",
    "model",
    "config",
    "instructions",
    "actions",
    "tools",
    "mcps",
    "max_iterations",
    "memory",
    "memories",
    "memory_key",
    "json_mode",
    "attachments",
    "with",
    "env",
    "knowledge",
    "input",
    "output",
    "use",
];

const TASK: &[&str] = &[
    "resource",
    "id",
    "type",
    "config",
    "agent",
    "tool",
    "executor",
    "input",
    "output",
    "with",
    "outputs",
    "env",
    "knowledge",
    "on_success",
    "on_error",
    "sleep",
    "final",
    "file_path",
    "timeout",
    "retries",
    "condition",
    "attachments",
    "tools",
    "mcps",
    "max_iterations",
    "memory",
    "model_config",
    "action",
    "prompt",
    "routes",
    "strategy",
    "max_workers",
    "items",
    "filter",
    "item_var",
    "index_var",
    "mode",
    "batch",
    "signal",
    "wait_for",
    "processor",
    "on_timeout",
    "operation",
    "memory_ref",
    "key_template",
    "payload",
    "batch_size",
    "max_keys",
    "flush_config",
    "health_config",
    "stats_config",
    "clear_config",
    "tasks",
    "task",
    "use",
    "CWD",
];

const MCP: &[&str] = &[
    "resource",
    "id",
    "url",
    "command",
    "args",
    "headers",
    "env",
    "proto",
    "transport",
    "start_timeout",
    "max_sessions",
];

const MEMORY: &[&str] = &[
    "resource",
    "id",
    "description",
    "version",
    "type",
    "max_tokens",
    "max_messages",
    "max_context_ratio",
    "token_allocation",
    "flushing",
    "persistence",
    "privacy_policy",
    "locking",
    "token_provider",
    "default_key_template",
];

const MODEL: &[&str] = &[
    "resource",
    "id",
    "provider",
    "model",
    "api_key",
    "api_url",
    "params",
    "organization",
    "default",
    "max_tool_iterations",
    "rate_limit",
    "context_window",
];

const KNOWLEDGE_BASE: &[&str] = &[
    "resource",
    "id",
    "description",
    "embedder",
    "vector_db",
    "ingest",
    "sources",
    "chunking",
    "preprocess",
    "retrieval",
    "metadata",
];

const EMBEDDER: &[&str] = &["resource", "id", "provider", "model", "api_key", "config"];

const VECTOR_DB: &[&str] = &["resource", "id", "type", "config"];

/// The kinds of autoloaded resource files (`resource:`), with their keys; `None` for kinds
/// whose keys are free (a schema is any JSON Schema).
pub fn resource_keys(kind: &str) -> Option<Option<Vec<&'static str>>> {
    let keys = |lists: &[&[&'static str]]| Some(lists.concat());
    Some(match kind {
        "tool" => keys(&[TOOL_OWN, TOOL_OTHER]),
        "workflow" => keys(&[WORKFLOW_OWN, WORKFLOW_OTHER]),
        "project" => keys(&[PROJECT_OWN, PROJECT_OTHER]),
        "agent" => keys(&[AGENT]),
        "task" => keys(&[TASK]),
        "mcp" => keys(&[MCP]),
        "memory" => keys(&[MEMORY]),
        "model" => keys(&[MODEL]),
        "knowledge_base" | "knowledge-base" | "knowledgebase" => keys(&[KNOWLEDGE_BASE]),
        "embedder" | "knowledge_embedder" => keys(&[EMBEDDER]),
        "vector_db" | "vector-db" | "vectordb" | "knowledge_vector_db" => keys(&[VECTOR_DB]),
        "schema" => None,
        _ => return None,
    })
}

/// The resource kinds, for messages.
pub const RESOURCE_KINDS: &[&str] = &[
    "tool",
    "workflow",
    "agent",
    "task",
    "mcp",
    "memory",
    "model",
    "schema",
    "project",
    "knowledge_base",
    "embedder",
    "vector_db",
];

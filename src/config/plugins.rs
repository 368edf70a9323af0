//! `plugins:` in `compozy.yaml`: JavaScript middleware around tool calls, in declared order (the
//! first entry is the outermost), each with an optional static filter.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::ConfigError;
use super::yaml::{Kind, Node, line_col};
use super::{ProjectPath, Tool};
use crate::diagnostic::{Problem, Problems};
use crate::source::SourceFile;

/// The keys of one `plugins:` entry.
pub const KEYS: &[&str] = &["use", "tools", "annotations", "config"];

/// The annotations a filter may name, as MCP writes them.
const HINTS: &[&str] = &[
    "readOnlyHint",
    "destructiveHint",
    "idempotentHint",
    "openWorldHint",
];

/// One `plugins:` entry after validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plugin {
    /// `use:` as written (`./plugins/x.ts`): how messages name the plugin.
    pub label: String,
    /// The module.
    pub module: ProjectPath,
    /// `tools:` globs over tool ids (none: every tool).
    pub tools: Vec<String>,
    /// `annotations:`: hints a tool must have, with these values.
    pub annotations: Vec<(String, bool)>,
    /// `config:`, the argument of the plugin's `setup`.
    pub config: serde_json::Value,
    /// Line and column of the entry in `compozy.yaml`.
    pub at: (usize, usize),
}

/// The built-in policies compozy applies itself, before a worker is taken.
pub const BUILTINS: &[&str] = &[
    "rate-limit",
    "concurrency",
    "cache",
    "retry",
    "audit",
    "trace",
];

/// A built-in policy (`use: builtin:NAME`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum PolicyKind {
    /// A token bucket of `limit` calls per `per`, for each tool (or for all it matches, `global`).
    RateLimit {
        limit: u32,
        per: std::time::Duration,
        global: bool,
    },
    /// At most `max` calls of each tool at once; the others wait their turn.
    Concurrency { max: usize },
    /// Successful results of read-only or idempotent tools, kept for `ttl`.
    Cache { ttl: std::time::Duration },
    /// Runs a read-only or idempotent tool again, up to `attempts` runs in all, when its worker
    /// crashed or its deadline passed.
    Retry { attempts: u32 },
    /// One JSON line per call appended to `path` (absolute).
    Audit { path: std::path::PathBuf },
    /// OpenTelemetry spans posted as OTLP/HTTP JSON to `endpoint` (its `/v1/traces`).
    Trace { endpoint: String },
}

/// One `use: builtin:…` entry after validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// `use:` as written.
    pub label: String,
    /// What it does.
    pub kind: PolicyKind,
    /// `tools:` globs (none: every tool).
    pub tools: Vec<String>,
    /// `annotations:` hints a tool must have.
    pub annotations: Vec<(String, bool)>,
    /// Line and column of the entry.
    pub at: (usize, usize),
}

impl Policy {
    /// Whether the policy applies to calls of `tool`.
    pub fn applies_to(&self, tool: &Tool) -> bool {
        matches(&self.tools, &self.annotations, tool)
    }
}

impl Plugin {
    /// Whether the plugin wraps calls of `tool`.
    pub fn applies_to(&self, tool: &Tool) -> bool {
        matches(&self.tools, &self.annotations, tool)
    }
}

/// Whether any of `plugins` wraps calls of `tool` (a JavaScript tool: plugins run in its worker).
pub fn wraps(plugins: &[Plugin], tool: &Tool) -> bool {
    tool.command.is_none() && plugins.iter().any(|p| p.applies_to(tool))
}

/// A glob names a tool by its id, which takes in every major version kept side by side, or by
/// the key of one older major (`weather@1`).
fn matches(tools: &[String], annotations: &[(String, bool)], tool: &Tool) -> bool {
    let globs_match = tools.is_empty()
        || super::discover::glob_set(tools)
            .is_ok_and(|set| set.is_match(&tool.id) || set.is_match(tool.base_id()));
    globs_match
        && annotations.iter().all(|(hint, want)| {
            let a = &tool.mcp.annotations;
            let have = match hint.as_str() {
                "readOnlyHint" => a.read_only,
                "destructiveHint" => a.destructive,
                "idempotentHint" => a.idempotent,
                _ => a.open_world,
            };
            have.unwrap_or(false) == *want
        })
}

fn problem(file: &SourceFile, node: &Node, message: String, help: impl Into<String>) -> Problem {
    let (line, column) = line_col(node.at);
    Problem::new(ConfigError::Plugin {
        message,
        help: help.into(),
    })
    .at_line(file, line.max(1), column.max(1), "here")
}

/// What one `plugins:` entry is.
enum Read {
    Plugin(Plugin),
    Policy(Policy),
}

/// Reads `plugins:`: the JavaScript plugins and the built-in policies, each in declared order;
/// problems go to `problems`, and an entry with problems is left out.
pub fn read(
    node: &Node,
    file: &SourceFile,
    root: &Path,
    problems: &mut Problems,
) -> (Vec<Plugin>, Vec<Policy>) {
    let items = match &node.kind {
        Kind::Null => return (Vec::new(), Vec::new()),
        Kind::Seq(items) => items,
        _ => {
            problems.push(problem(
                file,
                node,
                "`plugins:` must be a list".into(),
                "write `plugins: [{use: ./plugins/x.ts}]`",
            ));
            return (Vec::new(), Vec::new());
        }
    };
    let mut plugins = Vec::new();
    let mut policies = Vec::new();
    for item in items {
        match entry(item, file, root, problems) {
            Some(Read::Plugin(p)) => plugins.push(p),
            Some(Read::Policy(p)) => policies.push(p),
            None => {}
        }
    }
    (plugins, policies)
}

/// The options of each built-in, besides `use`, `tools` and `annotations`.
fn builtin_keys(name: &str) -> &'static [&'static str] {
    match name {
        "rate-limit" => &["limit", "per", "scope"],
        "cache" => &["ttl"],
        "retry" => &["attempts"],
        "audit" => &["path"],
        "trace" => &["endpoint"],
        _ => &["max"],
    }
}

fn entry(node: &Node, file: &SourceFile, root: &Path, problems: &mut Problems) -> Option<Read> {
    let Kind::Map(entries) = &node.kind else {
        problems.push(problem(
            file,
            node,
            "a plugin must be a mapping".into(),
            "write `- {use: ./plugins/x.ts, tools: [\"crm.*\"], config: {…}}`",
        ));
        return None;
    };
    let before = problems.0.len();
    let builtin = entries.iter().find_map(|e| match &e.value.kind {
        Kind::String(s) if e.key == "use" => s.strip_prefix("builtin:").map(str::to_owned),
        _ => None,
    });
    let mut options = Vec::new();
    let mut label = None;
    let mut tools = Vec::new();
    let mut annotations = Vec::new();
    let mut config = serde_json::Value::Object(serde_json::Map::new());
    for e in entries {
        match e.key.as_str() {
            "use" => match &e.value.kind {
                Kind::String(s) => label = Some(s.clone()),
                _ => problems.push(problem(
                    file,
                    &e.value,
                    "`use:` of a plugin must be a module path".into(),
                    "write `use: ./plugins/x.ts`",
                )),
            },
            "tools" => {
                let globs: Option<Vec<String>> = match &e.value.kind {
                    Kind::String(s) => Some(vec![s.clone()]),
                    Kind::Seq(items) => items
                        .iter()
                        .map(|i| match &i.kind {
                            Kind::String(s) => Some(s.clone()),
                            _ => None,
                        })
                        .collect(),
                    _ => None,
                };
                match globs {
                    Some(globs) => {
                        if let Err((i, reason)) = super::discover::glob_set(&globs) {
                            problems.push(problem(
                                file,
                                &e.value,
                                format!(
                                    "`{}` is not a valid glob: {reason}",
                                    globs.get(i).map_or("", String::as_str)
                                ),
                                "write globs over tool ids, such as `crm.*`",
                            ));
                        }
                        tools = globs;
                    }
                    None => problems.push(problem(
                        file,
                        &e.value,
                        "`tools:` of a plugin must be a list of globs over tool ids".into(),
                        "write `tools: [\"crm.*\", search]`",
                    )),
                }
            }
            "annotations" => {
                let Kind::Map(hints) = &e.value.kind else {
                    problems.push(problem(
                        file,
                        &e.value,
                        "`annotations:` of a plugin must be a mapping of hints".into(),
                        "write `annotations: {readOnlyHint: true}`",
                    ));
                    continue;
                };
                for h in hints {
                    if !HINTS.contains(&h.key.as_str()) {
                        let help = crate::suggest::did_you_mean(&h.key, HINTS.iter().copied())
                            .unwrap_or_else(|| format!("the hints are {}", HINTS.join(", ")));
                        problems.push(problem(
                            file,
                            &h.value,
                            format!("unknown annotation `{}` in a plugin's filter", h.key),
                            help,
                        ));
                    } else if let Kind::Bool(b) = h.value.kind {
                        annotations.push((h.key.clone(), b));
                    } else {
                        problems.push(problem(
                            file,
                            &h.value,
                            format!("`{}` must be `true` or `false`", h.key),
                            "write e.g. `readOnlyHint: true`",
                        ));
                    }
                }
            }
            "config" if builtin.is_none() => config = e.value.to_json(),
            key if builtin
                .as_deref()
                .is_some_and(|b| builtin_keys(b).contains(&key)) =>
            {
                options.push(e);
            }
            key => {
                let keys: Vec<&str> = match builtin.as_deref() {
                    Some(b) if BUILTINS.contains(&b) => ["use", "tools", "annotations"]
                        .into_iter()
                        .chain(builtin_keys(b).iter().copied())
                        .collect(),
                    _ => KEYS.to_vec(),
                };
                let help = crate::suggest::did_you_mean(key, keys.iter().copied())
                    .unwrap_or_else(|| format!("the keys of this plugin are {}", keys.join(", ")));
                problems.push(problem(
                    file,
                    &e.value,
                    format!("unknown key `{key}` in a plugin"),
                    help,
                ));
            }
        }
    }
    let Some(label) = label else {
        problems.push(problem(
            file,
            node,
            "a plugin has no `use:`".into(),
            "name its module: `use: ./plugins/x.ts`",
        ));
        return None;
    };
    if let Some(name) = builtin {
        let kind = policy(&name, &options, node, file, problems)?;
        return (problems.0.len() == before).then_some(Read::Policy(Policy {
            label,
            kind,
            tools,
            annotations,
            at: line_col(node.at),
        }));
    }
    let abs = crate::paths::normalize(&file.path.parent().unwrap_or(root).join(&label));
    let rel = match abs.strip_prefix(root) {
        Ok(rel) => rel.to_string_lossy().replace('\\', "/"),
        Err(_) => {
            problems.push(problem(
                file,
                node,
                format!("the plugin `{label}` lies outside the project"),
                "keep plugin modules inside the project's directory",
            ));
            return None;
        }
    };
    if !abs.is_file() {
        problems.push(problem(
            file,
            node,
            format!("the plugin module `{label}` does not exist"),
            format!("create `{rel}`, or correct the path (relative to the YAML file)"),
        ));
        return None;
    }
    (problems.0.len() == before).then_some(Read::Plugin(Plugin {
        label,
        module: ProjectPath { abs, rel },
        tools,
        annotations,
        config,
        at: line_col(node.at),
    }))
}

/// The options of `builtin:NAME`.
fn policy(
    name: &str,
    options: &[&super::yaml::Entry],
    node: &Node,
    file: &SourceFile,
    problems: &mut Problems,
) -> Option<PolicyKind> {
    let get = |key: &str| options.iter().find(|e| e.key == key).map(|e| &e.value);
    let duration = |key: &str, default: u64, problems: &mut Problems| match get(key) {
        None => Some(std::time::Duration::from_secs(default)),
        Some(v) => match v
            .scalar_text(&file.text)
            .map(|t| humantime::parse_duration(t.trim()))
        {
            Some(Ok(d)) if !d.is_zero() => Some(d),
            _ => {
                problems.push(problem(
                    file,
                    v,
                    format!("`{key}` of `builtin:{name}` must be a duration above zero"),
                    "write a duration with a unit, such as `1s`, `1m` or `1h`",
                ));
                None
            }
        },
    };
    let positive = |key: &str, problems: &mut Problems| -> Option<u64> {
        match get(key).map(|v| &v.kind) {
            Some(Kind::Int(i)) if *i > 0 => u64::try_from(*i).ok(),
            Some(Kind::UInt(u)) if *u > 0 => Some(*u),
            Some(_) => {
                problems.push(problem(
                    file,
                    get(key).unwrap_or(node),
                    format!("`{key}` of `builtin:{name}` must be a whole number above 0"),
                    format!("write e.g. `{key}: 3`"),
                ));
                None
            }
            None => {
                problems.push(problem(
                    file,
                    node,
                    format!("`builtin:{name}` needs `{key}`"),
                    format!("write e.g. `{key}: 3`"),
                ));
                None
            }
        }
    };
    match name {
        "rate-limit" => {
            let limit = positive("limit", problems).map(|l| u32::try_from(l).unwrap_or(u32::MAX));
            let per = match get("per") {
                None => Some(std::time::Duration::from_secs(1)),
                Some(v) => match v
                    .scalar_text(&file.text)
                    .map(|t| humantime::parse_duration(t.trim()))
                {
                    Some(Ok(d)) if !d.is_zero() => Some(d),
                    _ => {
                        problems.push(problem(
                            file,
                            v,
                            "`per` of `builtin:rate-limit` must be a duration above zero".into(),
                            "write a duration with a unit, such as `1s`, `1m` or `1h`",
                        ));
                        None
                    }
                },
            };
            let global = match get("scope").map(|v| &v.kind) {
                None => Some(false),
                Some(Kind::String(s)) if s == "tool" => Some(false),
                Some(Kind::String(s)) if s == "global" => Some(true),
                Some(_) => {
                    problems.push(problem(
                        file,
                        get("scope").unwrap_or(node),
                        "`scope` of `builtin:rate-limit` is `tool` or `global`".into(),
                        "`tool` (the default): a bucket per tool; `global`: one for every tool it \
                         matches",
                    ));
                    None
                }
            };
            Some(PolicyKind::RateLimit {
                limit: limit?,
                per: per?,
                global: global?,
            })
        }
        "cache" => duration("ttl", 300, problems).map(|ttl| PolicyKind::Cache { ttl }),
        "audit" => {
            let path = match get("path").map(|v| &v.kind) {
                None => ".compozy/audit.jsonl".to_owned(),
                Some(Kind::String(p)) => p.clone(),
                Some(_) => {
                    problems.push(problem(
                        file,
                        get("path").unwrap_or(node),
                        "`path` of `builtin:audit` must be a file path".into(),
                        "write e.g. `path: .compozy/audit.jsonl`",
                    ));
                    return None;
                }
            };
            let base = file.path.parent().unwrap_or(std::path::Path::new("."));
            Some(PolicyKind::Audit {
                path: crate::paths::normalize(&base.join(path)),
            })
        }
        "trace" => match get("endpoint").map(|v| &v.kind) {
            None => Some(PolicyKind::Trace {
                endpoint: "http://127.0.0.1:4318/v1/traces".into(),
            }),
            Some(Kind::String(url))
                if url.starts_with("http://") || url.starts_with("https://") =>
            {
                let url = url.trim_end_matches('/');
                Some(PolicyKind::Trace {
                    endpoint: if url.ends_with("/v1/traces") {
                        url.to_owned()
                    } else {
                        format!("{url}/v1/traces")
                    },
                })
            }
            Some(_) => {
                problems.push(problem(
                    file,
                    get("endpoint").unwrap_or(node),
                    "`endpoint` of `builtin:trace` must be an http:// or https:// URL".into(),
                    "write the OTLP/HTTP collector's URL, e.g. `endpoint: http://127.0.0.1:4318`",
                ));
                None
            }
        },
        "retry" => positive("attempts", problems).map(|a| PolicyKind::Retry {
            attempts: u32::try_from(a).unwrap_or(u32::MAX),
        }),
        "concurrency" => positive("max", problems).map(|max| PolicyKind::Concurrency {
            max: usize::try_from(max).unwrap_or(usize::MAX),
        }),
        other => {
            let help = crate::suggest::did_you_mean(other, BUILTINS.iter().copied())
                .unwrap_or_else(|| format!("the built-in policies are {}", BUILTINS.join(", ")));
            problems.push(problem(
                file,
                node,
                format!("unknown built-in policy `builtin:{other}`"),
                help,
            ));
            None
        }
    }
}

/// Reports each tool a cache or a retry applies to that is neither read-only nor idempotent.
pub fn check_cached(
    policies: &[Policy],
    tools: &[Tool],
    file: &SourceFile,
    problems: &mut Problems,
) {
    for p in policies {
        let (verb, what) = match p.kind {
            PolicyKind::Cache { .. } => ("cache", "cache's"),
            PolicyKind::Retry { .. } => ("retry", "retry's"),
            _ => continue,
        };
        for tool in tools.iter().filter(|t| p.applies_to(t)) {
            let a = &tool.mcp.annotations;
            if a.read_only != Some(true) && a.idempotent != Some(true) {
                problems.push(
                    Problem::new(ConfigError::Plugin {
                        message: format!(
                            "`{}` would {verb} tool `{}`, which is neither read-only nor idempotent",
                            p.label, tool.id
                        ),
                        help: format!(
                            "if calling `{}` twice is the same as calling it once, annotate it \
                             (`annotations: {{readOnlyHint: true}}` or `{{idempotentHint: true}}`); \
                             otherwise narrow the {what} `tools:` or `annotations:`",
                            tool.id
                        ),
                    })
                    .at_line(file, p.at.0.max(1), p.at.1.max(1), "this policy")
                    .with_related(Problem::note(format!("`{}` is declared here", tool.id)).at_line(
                        &tool.declared.file,
                        tool.declared.line,
                        tool.declared.column,
                        "declared here",
                    )),
                );
            }
        }
    }
}

/// Warns of each plugin or policy whose filter matches none of `tools`.
pub fn warn_unused(
    plugins: &[Plugin],
    policies: &[Policy],
    tools: &[Tool],
    file: &SourceFile,
    problems: &mut Problems,
) {
    let entries = plugins
        .iter()
        .map(|p| (&p.label, p.at, &p.tools, &p.annotations))
        .chain(
            policies
                .iter()
                .map(|p| (&p.label, p.at, &p.tools, &p.annotations)),
        );
    for (label, at, globs, hints) in entries {
        if !tools.is_empty() && !tools.iter().any(|t| matches(globs, hints, t)) {
            problems.push(
                Problem::new(ConfigError::Plugin {
                    message: format!("the filter of plugin `{label}` matches no tool"),
                    help: "check its `tools:` globs and `annotations:` against the tools' ids and \
                           annotations"
                        .into(),
                })
                .at_line(file, at.0.max(1), at.1.max(1), "this plugin")
                .warning(),
            );
        }
    }
}

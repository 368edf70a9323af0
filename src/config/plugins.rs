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

impl Plugin {
    /// Whether the plugin wraps calls of `tool`.
    pub fn applies_to(&self, tool: &Tool) -> bool {
        let globs_match = self.tools.is_empty()
            || super::discover::glob_set(&self.tools).is_ok_and(|set| set.is_match(&tool.id));
        globs_match
            && self.annotations.iter().all(|(hint, want)| {
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
}

fn problem(file: &SourceFile, node: &Node, message: String, help: impl Into<String>) -> Problem {
    let (line, column) = line_col(node.at);
    Problem::new(ConfigError::Plugin {
        message,
        help: help.into(),
    })
    .at_line(file, line.max(1), column.max(1), "here")
}

/// Reads `plugins:`; problems go to `problems`, and an entry with problems is left out.
pub fn read(node: &Node, file: &SourceFile, root: &Path, problems: &mut Problems) -> Vec<Plugin> {
    let items = match &node.kind {
        Kind::Null => return Vec::new(),
        Kind::Seq(items) => items,
        _ => {
            problems.push(problem(
                file,
                node,
                "`plugins:` must be a list".into(),
                "write `plugins: [{use: ./plugins/x.ts}]`",
            ));
            return Vec::new();
        }
    };
    let mut plugins = Vec::new();
    for item in items {
        if let Some(p) = entry(item, file, root, problems) {
            plugins.push(p);
        }
    }
    plugins
}

fn entry(node: &Node, file: &SourceFile, root: &Path, problems: &mut Problems) -> Option<Plugin> {
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
            "config" => config = e.value.to_json(),
            key => {
                let help = crate::suggest::did_you_mean(key, KEYS.iter().copied())
                    .unwrap_or_else(|| format!("the keys of a plugin are {}", KEYS.join(", ")));
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
    if let Some(name) = label.strip_prefix("builtin:") {
        problems.push(problem(
            file,
            node,
            format!("the built-in policy `{name}` is not available in this version of compozy"),
            "write the policy as a JavaScript plugin module (`use: ./plugins/x.ts`)",
        ));
        return None;
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
    (problems.0.len() == before).then_some(Plugin {
        label,
        module: ProjectPath { abs, rel },
        tools,
        annotations,
        config,
        at: line_col(node.at),
    })
}

/// Warns of each plugin whose filter matches none of `tools`.
pub fn warn_unused(plugins: &[Plugin], tools: &[Tool], file: &SourceFile, problems: &mut Problems) {
    for p in plugins {
        if !tools.is_empty() && !tools.iter().any(|t| p.applies_to(t)) {
            problems.push(
                Problem::new(ConfigError::Plugin {
                    message: format!("the filter of plugin `{}` matches no tool", p.label),
                    help: "check its `tools:` globs and `annotations:` against the tools' ids and \
                           annotations"
                        .into(),
                })
                .at_line(file, p.at.0.max(1), p.at.1.max(1), "this plugin")
                .warning(),
            );
        }
    }
}

//! `compozy inspect [FILE...]`: what compozy sees in modules and configs.

use serde::Serialize;

use super::args::{Format, InspectArgs};
use super::output::{Output, print_json};
use crate::analyze::{self, Analyzer};
use crate::config;
use crate::diagnostic::Problem;
use crate::exit::ExitCode;

#[derive(Serialize)]
struct JsonModule {
    path: String,
    values: Vec<String>,
    types: Vec<String>,
    error: Option<String>,
}

#[derive(Serialize)]
struct JsonTool {
    id: String,
    file: String,
    line: usize,
    module: Option<String>,
    export: Option<String>,
    /// A process tool's program and arguments.
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<Vec<String>>,
    /// A process tool's protocol.
    #[serde(skip_serializing_if = "Option::is_none")]
    protocol: Option<config::Protocol>,
    /// What a WebAssembly tool's sandbox grants.
    #[serde(skip_serializing_if = "Option::is_none")]
    wasm: Option<config::WasmGrants>,
    /// What MCP clients are told about the tool, beyond its name and description.
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    /// The behaviour hints written, under their MCP names (`readOnlyHint`, …).
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    annotations: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    icons: Vec<JsonIcon>,
    /// The OAuth scopes a caller's token must carry (`compozy mcp --http` with `auth:`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    scopes: Vec<String>,
    /// `content` for a tool declared with `returns: content`.
    #[serde(skip_serializing_if = "Option::is_none")]
    returns: Option<&'static str>,
    /// `version:`.
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    /// The name MCP lists it under, when that is not its id (an older major: `ID.vMAJOR`).
    #[serde(skip_serializing_if = "Option::is_none")]
    mcp_name: Option<String>,
    /// `deprecated:`.
    #[serde(skip_serializing_if = "Option::is_none")]
    deprecated: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonIcon {
    /// The URI as written, or the project file (sent inline as a `data:` URI).
    src: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    mime_type: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    sizes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    theme: Option<String>,
}

/// The hints written, under their MCP names, in the protocol's order.
fn annotations(hints: &config::mcp::Annotations) -> serde_json::Map<String, serde_json::Value> {
    [
        ("readOnlyHint", hints.read_only),
        ("destructiveHint", hints.destructive),
        ("idempotentHint", hints.idempotent),
        ("openWorldHint", hints.open_world),
    ]
    .into_iter()
    .filter_map(|(name, hint)| hint.map(|h| (name.to_owned(), serde_json::Value::Bool(h))))
    .collect()
}

fn icons(meta: &config::mcp::ToolMeta, root: &std::path::Path) -> Vec<JsonIcon> {
    meta.icons
        .iter()
        .map(|icon| JsonIcon {
            src: match &icon.src {
                config::mcp::IconSource::Uri(uri) => uri.clone(),
                config::mcp::IconSource::File(path) => {
                    let rel = path.strip_prefix(root).unwrap_or(path);
                    format!("./{}", rel.display()).replace('\\', "/")
                }
            },
            mime_type: icon.mime_type.clone(),
            sizes: icon.sizes.clone(),
            theme: icon.theme.clone(),
        })
        .collect()
}

#[derive(Serialize)]
struct JsonVar {
    name: String,
    /// The value, or `null` when masked.
    value: Option<String>,
    source: crate::env::Source,
}

#[derive(Serialize)]
struct Report {
    modules: Vec<JsonModule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<Vec<JsonTool>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    env: Option<Vec<JsonVar>>,
}

/// The environment `tool_id` would get; values that do not come from the project are masked, so
/// that the executor's own secrets are not printed.
fn tool_env(project: &crate::config::Project, tool_id: &str) -> Result<Vec<JsonVar>, Problem> {
    let tool = project.resolve(tool_id).map_err(|not_found| {
        Problem::new(match not_found {
            crate::config::versions::NotFound::Unknown => {
                super::exec::ExecError::unknown_tool(tool_id, project)
            }
            other => super::exec::ExecError::NoSuchMajor(other),
        })
    })?;
    let process_env = crate::env::process_env();
    let env = crate::env::resolve(project, tool, &process_env).map_err(Problem::new)?;
    Ok(env
        .vars
        .into_iter()
        .map(|(name, (value, source))| JsonVar {
            name,
            value: source.declared_in_project().then_some(value),
            source,
        })
        .collect())
}

/// Runs `inspect`.
pub fn run(args: &InspectArgs, out: &Output, cwd: &std::path::Path) -> ExitCode {
    // A project is needed unless FILEs are given; then it is used when there is one.
    let wants_project =
        args.project.project.is_some() || args.files.is_empty() || args.env.is_some();
    let has_project = wants_project || config::find_root(cwd).is_some();
    let project = if has_project {
        match config::load(args.project.project.as_deref(), cwd) {
            Ok(p) => Some(p),
            Err(problems) => return super::generate::report_errors(args.format, out, &problems),
        }
    } else {
        None
    };

    let tools = match &project {
        Some(project) => match analyze::check(project) {
            Ok(analysis) => Some(
                project
                    .tools
                    .iter()
                    .map(|tool| {
                        let binding = analysis.bindings.iter().find(|b| b.id == tool.id);
                        JsonTool {
                            id: tool.id.clone(),
                            file: tool.declared.file.name.clone(),
                            line: tool.declared.line,
                            module: binding.map(|b| b.module.clone()),
                            export: binding.map(|b| b.export.clone()),
                            command: tool.command.as_ref().map(|c| {
                                std::iter::once(c.program.display().to_string())
                                    .chain(c.args.iter().cloned())
                                    .collect()
                            }),
                            protocol: tool.command.as_ref().map(|c| c.protocol),
                            wasm: tool.command.as_ref().and_then(|c| c.wasm.clone()),
                            title: tool.mcp.title.clone(),
                            annotations: annotations(&tool.mcp.annotations),
                            icons: icons(&tool.mcp, &project.root),
                            scopes: tool.mcp.scopes.clone(),
                            returns: tool.mcp.returns_content.then_some("content"),
                            version: tool.version.as_ref().map(ToString::to_string),
                            mcp_name: Some(config::versions::mcp_name(tool))
                                .filter(|name| *name != tool.id),
                            deprecated: tool.deprecated.clone(),
                        }
                    })
                    .collect::<Vec<_>>(),
            ),
            Err(problems) => return super::generate::report_errors(args.format, out, &problems),
        },
        None => None,
    };

    let base = project
        .as_ref()
        .map_or_else(|| cwd.to_path_buf(), |p| p.root.clone());
    let mut analyzer = Analyzer::new(base);
    let modules: Vec<JsonModule> = args
        .files
        .iter()
        .map(|file| {
            let path = std::path::absolute(cwd.join(file)).unwrap_or_else(|_| cwd.join(file));
            let shown = file.to_string_lossy().replace('\\', "/");
            match analyzer.module(&crate::paths::normalize(&path)) {
                Ok(info) => JsonModule {
                    path: shown,
                    values: info.values,
                    types: info.types,
                    error: None,
                },
                Err(failure) => JsonModule {
                    path: shown,
                    values: Vec::new(),
                    types: Vec::new(),
                    error: Some(failure.to_problem().headline()),
                },
            }
        })
        .collect();

    let env = match (&args.env, &project) {
        (Some(tool_id), Some(project)) => match tool_env(project, tool_id) {
            Ok(vars) => Some(vars),
            Err(problem) => {
                return super::generate::report_errors(args.format, out, &problem.into());
            }
        },
        _ => None,
    };
    let report = Report {
        modules,
        tools,
        env,
    };
    match args.format {
        Format::Json => print_json(&report),
        Format::Human => print_human(&report),
    }
    ExitCode::Ok
}

fn print_human(report: &Report) {
    use std::fmt::Write;
    let mut text = String::new();
    // `--env TOOL_ID` asks about one tool: the table of all of them would bury the answer.
    if let Some(tools) = report.tools.as_ref().filter(|_| report.env.is_none()) {
        let _ = writeln!(text, "tools ({}):", tools.len());
        let width = tools.iter().map(|t| t.id.len()).max().unwrap_or(0);
        for t in tools {
            let target = match (&t.module, &t.export, &t.command, t.protocol) {
                (Some(m), Some(e), _, _) => format!("{m} → {e}"),
                (_, _, Some(command), _) if t.wasm.is_some() => {
                    let grants = t.wasm.as_ref().map(wasm_grants).unwrap_or_default();
                    format!("wasm {} ({grants})", command.join(" "))
                }
                (_, _, Some(command), Some(protocol)) => {
                    let protocol = match protocol {
                        config::Protocol::Compozy => "compozy",
                        config::Protocol::Stdio => "stdio",
                    };
                    format!("$ {} ({protocol})", command.join(" "))
                }
                _ => "-".into(),
            };
            let _ = writeln!(text, "  {:width$}  {target}  ({}:{})", t.id, t.file, t.line);
            if let Some(versions) = version_line(t) {
                let _ = writeln!(text, "  {:width$}  {versions}", "");
            }
            if let Some(mcp) = mcp_line(t) {
                let _ = writeln!(text, "  {:width$}  {mcp}", "");
            }
        }
    }
    if let Some(vars) = &report.env {
        let _ = writeln!(text, "environment ({} variables):", vars.len());
        let width = vars.iter().map(|v| v.name.len()).max().unwrap_or(0);
        for var in vars {
            let value = var.value.as_deref().unwrap_or("•••• (masked)");
            let source = match &var.source {
                crate::env::Source::Inherited => "inherited from compozy's environment".to_owned(),
                crate::env::Source::Passthrough { glob } => format!("env_passthrough {glob}"),
                crate::env::Source::EnvFile { file } => file.clone(),
                crate::env::Source::RuntimeEnv => "runtime.env".to_owned(),
                crate::env::Source::ToolEnv => "tool env".to_owned(),
                crate::env::Source::Request => "request".to_owned(),
            };
            let _ = writeln!(text, "  {:width$}  {value}  ({source})", var.name);
        }
    }
    for m in &report.modules {
        let _ = writeln!(text, "{}", m.path);
        match &m.error {
            Some(e) => {
                let _ = writeln!(text, "  error:  {e}");
            }
            None => {
                let _ = writeln!(text, "  values: {}", join_or_dash(&m.values));
                let _ = writeln!(text, "  types:  {}", join_or_dash(&m.types));
            }
        }
    }
    print!("{text}");
}

/// A tool's version, the MCP name of an older major and its deprecation, on one line; `None`
/// when it has none of them.
fn version_line(t: &JsonTool) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(version) = &t.version {
        parts.push(format!("version {version}"));
    }
    if let Some(name) = &t.mcp_name {
        parts.push(format!("MCP name {name}"));
    }
    if let Some(message) = &t.deprecated {
        parts.push(format!("deprecated: {message}"));
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}

/// What MCP clients are told about a tool beyond its description, on one line; `None` when
/// nothing is declared.
fn mcp_line(t: &JsonTool) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(title) = &t.title {
        parts.push(format!("title {title:?}"));
    }
    if !t.annotations.is_empty() {
        let hints: Vec<String> = t
            .annotations
            .iter()
            .map(|(name, value)| format!("{name}: {value}"))
            .collect();
        parts.push(hints.join(", "));
    }
    if !t.icons.is_empty() {
        let srcs: Vec<&str> = t.icons.iter().map(|i| i.src.as_str()).collect();
        parts.push(format!("icons {}", srcs.join(" ")));
    }
    if !t.scopes.is_empty() {
        parts.push(format!("scopes {}", t.scopes.join(" ")));
    }
    if let Some(returns) = t.returns {
        parts.push(format!("returns {returns}"));
    }
    (!parts.is_empty()).then(|| format!("mcp: {}", parts.join(" · ")))
}

fn join_or_dash(names: &[String]) -> String {
    if names.is_empty() {
        "-".into()
    } else {
        names.join(", ")
    }
}

/// A WebAssembly tool's grants in a line: `/data (read-only), env LANG, memory 256 MiB`.
fn wasm_grants(grants: &config::WasmGrants) -> String {
    let mut parts: Vec<String> = grants
        .dirs
        .iter()
        .map(|d| {
            format!(
                "{} ({})",
                d.guest,
                if d.write { "writable" } else { "read-only" }
            )
        })
        .collect();
    if !grants.env.is_empty() {
        parts.push(format!("env {}", grants.env.join(", ")));
    }
    parts.push(if grants.memory.is_multiple_of(1 << 20) {
        format!("memory {} MiB", grants.memory >> 20)
    } else {
        format!("memory {} KiB", grants.memory >> 10)
    });
    parts.join(", ")
}

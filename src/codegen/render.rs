//! Rendering the templates in `templates/` (compiled into the binary) for one project.

use minijinja::Environment;
use serde::Serialize;

use super::error::GenError;
use super::ts_types::{self, Declarations};
use super::{BUN_WORKER, HEADER, NODE_WORKER, OUTPUT_DIR, TYPES};
use crate::analyze::{Analysis, is_js_identifier};
use crate::config::{EntrypointMode, Project};
use crate::paths::import_specifier;

/// One file to be written under the project root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// Root-relative path, `/`-separated.
    pub rel: String,
    /// Full contents (LF line endings).
    pub contents: String,
}

#[derive(Serialize)]
struct EntryTool {
    local: String,
    export: String,
    export_name: String,
    import: String,
}

/// A tool whose signature `tools.ts` checks.
#[derive(Serialize)]
struct CheckedTool {
    id: String,
    local: String,
}

#[derive(Serialize)]
struct TypedTool {
    key: String,
    input: String,
    output: String,
    config: String,
}

const TOOLS_TEMPLATE: &str = include_str!("../../templates/tools.ts.j2");
const WORKER_TEMPLATE: &str = include_str!("../../templates/worker.j2");
const TYPES_TEMPLATE: &str = include_str!("../../templates/types.ts.j2");

/// FNV-1a over the templates and the type converter's version: output rendered by another build
/// differs even at the same version.
pub const TEMPLATES_HASH: u64 = {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let converter = ts_types::VERSION.to_le_bytes();
    let sources = [
        TOOLS_TEMPLATE.as_bytes(),
        WORKER_TEMPLATE.as_bytes(),
        TYPES_TEMPLATE.as_bytes(),
        &converter,
    ];
    let mut s = 0;
    while s < sources.len() {
        let bytes = sources[s];
        let mut i = 0;
        while i < bytes.len() {
            hash ^= bytes[i] as u64;
            hash = hash.wrapping_mul(0x0100_0000_01b3);
            i += 1;
        }
        s += 1;
    }
    hash
};

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    match minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build()
    {
        Ok(syntax) => env.set_syntax(syntax),
        Err(e) => tracing::error!("template syntax configuration is invalid: {e}"),
    }
    // Templates are fixed at build time; a failure here is a bug caught by the snapshot tests.
    for (name, source) in [
        ("tools.ts.j2", TOOLS_TEMPLATE),
        ("worker.j2", WORKER_TEMPLATE),
        ("types.ts.j2", TYPES_TEMPLATE),
    ] {
        if let Err(e) = env.add_template(name, source) {
            tracing::error!("template {name} does not compile: {e}");
        }
    }
    env
}

fn render(env: &Environment<'_>, name: &str, ctx: minijinja::Value) -> Result<String, GenError> {
    let template = env.get_template(name).map_err(|e| GenError::Template {
        name: name.into(),
        reason: e.to_string(),
    })?;
    let text = template.render(ctx).map_err(|e| GenError::Template {
        name: name.into(),
        reason: e.to_string(),
    })?;
    debug_assert!(text.starts_with(HEADER));
    Ok(text)
}

fn dir_of(rel: &str) -> &str {
    rel.rfind('/').map_or("", |i| &rel[..i])
}

/// Renders every file `gen` writes for `project`, sorted by path.
pub fn render_project(
    project: &Project,
    analysis: &Analysis,
) -> Result<Vec<GeneratedFile>, GenError> {
    let env = environment();
    let mut files = Vec::new();
    let entry_rel = &project.runtime.entrypoint.rel;

    if project.runtime.mode == EntrypointMode::Generated {
        let from = dir_of(entry_rel);
        let tools: Vec<EntryTool> = analysis
            .bindings
            .iter()
            .enumerate()
            .map(|(i, b)| EntryTool {
                local: format!("tool_{i}"),
                export: b.export.clone(),
                export_name: if is_js_identifier(&b.id) {
                    b.id.clone()
                } else {
                    format!("\"{}\"", b.id)
                },
                import: import_specifier(from, &b.module),
            })
            .collect();
        // JavaScript modules are left out: their parameters are `any` unless annotated, and
        // their inferred results would be reported without the author having typed anything.
        let checked: Vec<CheckedTool> = analysis
            .bindings
            .iter()
            .zip(&tools)
            .filter(|(b, _)| is_typescript(&b.module))
            .map(|(b, t)| CheckedTool {
                id: b.id.clone(),
                local: t.local.clone(),
            })
            .collect();
        files.push(GeneratedFile {
            rel: entry_rel.clone(),
            contents: render(
                &env,
                "tools.ts.j2",
                minijinja::context! {
                    tools => minijinja::Value::from(minijinja::value::Serde(&tools)),
                    checked => minijinja::Value::from(minijinja::value::Serde(&checked)),
                    types_import => import_specifier(from, TYPES),
                },
            )?,
        });
    }

    files.push(GeneratedFile {
        rel: TYPES.to_owned(),
        contents: render_types(&env, project)?,
    });

    files.extend(workers(&env, project, analysis, OUTPUT_DIR)?);
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(files)
}

/// The two workers alone, for a directory `dir` (root-relative) other than `.compozy/`: a run
/// without the tools that have problems starts workers of its own and leaves `.compozy/` as it is.
pub fn render_workers(
    project: &Project,
    analysis: &Analysis,
    dir: &str,
) -> Result<Vec<GeneratedFile>, GenError> {
    workers(&environment(), project, analysis, dir)
}

fn workers(
    env: &Environment<'_>,
    project: &Project,
    analysis: &Analysis,
    dir: &str,
) -> Result<Vec<GeneratedFile>, GenError> {
    let table = worker_table(project, analysis, dir);
    let plugins = plugin_table(project, dir);
    let mut files = Vec::with_capacity(2);
    for (rel, runtime, title) in [(BUN_WORKER, "bun", "Bun"), (NODE_WORKER, "node", "Node")] {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        files.push(GeneratedFile {
            rel: format!("{dir}/{name}"),
            contents: render(
                env,
                "worker.j2",
                minijinja::context! { table => &table, plugins => &plugins, runtime, runtime_title => title },
            )?,
        });
    }
    Ok(files)
}

/// The workers' table of tools: a JSON object, one tool a line, of `[module specifier, export
/// name]` by id (the export name `null` in hand-written entrypoint mode, where the tool is the
/// entrypoint's export named by its id), escaped for a JavaScript template literal.
fn worker_table(project: &Project, analysis: &Analysis, dir: &str) -> String {
    let entries: Vec<String> = analysis
        .bindings
        .iter()
        .map(|b| {
            let export = match project.runtime.mode {
                EntrypointMode::Generated => Some(b.export.as_str()),
                EntrypointMode::HandWritten => None,
            };
            let specifier = import_specifier(dir, &b.module);
            // The plugins that wrap the tool, outermost first; none: no third element.
            let chain: Vec<usize> = match project.tool(&b.id) {
                Some(tool) => (project.plugins.iter().enumerate())
                    .filter(|(_, p)| p.applies_to(tool))
                    .map(|(i, _)| i)
                    .collect(),
                None => Vec::new(),
            };
            let entry = if chain.is_empty() {
                serde_json::json!([specifier, export])
            } else {
                serde_json::json!([specifier, export, chain])
            };
            // Serialising strings cannot fail.
            let key = serde_json::to_string(&b.id).unwrap_or_default();
            format!("  {key}: {entry}")
        })
        .collect();
    let json = if entries.is_empty() {
        "{}".to_owned()
    } else {
        format!("{{\n{}\n}}", entries.join(",\n"))
    };
    template_literal(&json)
}

/// The workers' table of plugins: `[module specifier, \`use:\` as written, config]` each, in
/// declared order, escaped for a JavaScript template literal.
fn plugin_table(project: &Project, dir: &str) -> String {
    let entries: Vec<serde_json::Value> = project
        .plugins
        .iter()
        .map(|p| serde_json::json!([import_specifier(dir, &p.module.rel), p.label, p.config]))
        .collect();
    template_literal(&serde_json::Value::Array(entries).to_string())
}

fn template_literal(json: &str) -> String {
    json.replace('\\', "\\\\")
        .replace('`', "\\`")
        .replace("${", "\\${")
}

fn is_typescript(module: &str) -> bool {
    [".ts", ".tsx", ".mts", ".cts"]
        .iter()
        .any(|ext| module.ends_with(ext))
}

/// `.compozy/types.ts`: every tool's input, output and config types.
fn render_types(env: &Environment<'_>, project: &Project) -> Result<String, GenError> {
    let mut decls = Declarations::default();
    let mut tools = Vec::with_capacity(project.tools.len());
    for tool in &project.tools {
        // `with:` is merged into every object input before it is checked: its keys are present.
        let present: Vec<&str> = match &tool.with {
            Some(serde_json::Value::Object(with)) => with.keys().map(String::as_str).collect(),
            _ => Vec::new(),
        };
        let input = match &tool.input {
            Some(schema) => ts_types::schema_type(
                schema,
                &present,
                &helper_prefix(&tool.id, "input"),
                2,
                &mut decls,
            ),
            None => "unknown".to_owned(),
        };
        let output = match &tool.output {
            Some(schema) => ts_types::schema_type(
                schema,
                &[],
                &helper_prefix(&tool.id, "output"),
                2,
                &mut decls,
            ),
            None => "unknown".to_owned(),
        };
        // `returns: content`: MCP content, whose `structuredContent` is what `output:` describes.
        let output = match (tool.mcp.returns_content, &tool.output) {
            (false, _) => output,
            (true, Some(_)) => format!("ToolContentWith<{output}>"),
            (true, None) => "ToolContent".to_owned(),
        };
        // Without `config:` the worker passes `{}`, typed `{}` (not the exact empty object,
        // whose index signature would make `config.anything` a silent `never`): reading a field
        // is then an error, and a function taking any object type without required fields is
        // accepted.
        let config = match &tool.config {
            Some(config) => ts_types::value_type(config, 2),
            None => "{}".to_owned(),
        };
        tools.push(TypedTool {
            key: if is_js_identifier(&tool.id) {
                tool.id.clone()
            } else {
                format!("\"{}\"", tool.id)
            },
            input,
            output,
            config,
        });
    }
    let declarations: Vec<(String, String)> = decls
        .items()
        .iter()
        .map(|d| (d.name.clone(), d.body.clone()))
        .collect();
    render(
        env,
        "types.ts.j2",
        minijinja::context! {
            tools => minijinja::Value::from(minijinja::value::Serde(&tools)),
            declarations => minijinja::Value::from(minijinja::value::Serde(
                &declarations
                    .iter()
                    .map(|(name, body)| minijinja::context! { name => name, body => body })
                    .collect::<Vec<_>>()
            )),
        },
    )
}

/// The start of the names of a tool's helper types: `Tool$<id>$<side>`, where the characters of
/// an id that may not appear in a name are written `$` and their hex code (`math.add` →
/// `Tool$math$2eadd$input`). Distinct ids give distinct names, never those of the fixed exports.
fn helper_prefix(id: &str, side: &str) -> String {
    let mut out = String::from("Tool$");
    for c in id.chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else {
            out.push_str(&format!("${:02x}", u32::from(c)));
        }
    }
    out.push('$');
    out.push_str(side);
    out
}

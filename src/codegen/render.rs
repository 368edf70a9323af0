//! Rendering the templates in `templates/` (compiled into the binary) for one project.

use minijinja::Environment;
use serde::Serialize;

use super::error::GenError;
use super::{BUN_WORKER, HEADER, NODE_WORKER, OUTPUT_DIR};
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

#[derive(Serialize)]
struct WorkerTool {
    id: String,
    import: String,
    access: String,
}

const TOOLS_TEMPLATE: &str = include_str!("../../templates/tools.ts.j2");
const WORKER_TEMPLATE: &str = include_str!("../../templates/worker.j2");

/// FNV-1a over the templates: output rendered by another build differs even at the same version.
pub const TEMPLATES_HASH: u64 = {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let sources = [TOOLS_TEMPLATE.as_bytes(), WORKER_TEMPLATE.as_bytes()];
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
        files.push(GeneratedFile {
            rel: entry_rel.clone(),
            contents: render(&env, "tools.ts.j2", minijinja::context! { tools => minijinja::Value::from(minijinja::value::Serde(&tools)) })?,
        });
    }

    let tools: Vec<WorkerTool> = analysis
        .bindings
        .iter()
        .map(|b| {
            let id_literal = format!("\"{}\"", b.id);
            WorkerTool {
                id: b.id.clone(),
                import: import_specifier(OUTPUT_DIR, &b.module),
                access: match project.runtime.mode {
                    EntrypointMode::Generated => format!("m.{}", b.export),
                    EntrypointMode::HandWritten => format!(
                        "(Object.hasOwn(m, {id_literal}) ? m[{id_literal}] : m.default?.[{id_literal}])"
                    ),
                },
            }
        })
        .collect();
    for (rel, runtime, title) in [(BUN_WORKER, "bun", "Bun"), (NODE_WORKER, "node", "Node")] {
        files.push(GeneratedFile {
            rel: rel.to_owned(),
            contents: render(
                &env,
                "worker.j2",
                minijinja::context! { tools => minijinja::Value::from(minijinja::value::Serde(&tools)), runtime, runtime_title => title },
            )?,
        });
    }
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(files)
}

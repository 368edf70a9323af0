//! Where a project declares its tools: `tools:` of compozy.yaml, of each workflow file
//! (`workflows: [{source}]`) and of the tasks in it, and the autoloaded files (compozy's tool
//! files and Compozy's `resource:` files). References are resolved here, so that every tool
//! reaches validation as a plain mapping placed in the file it was written in.

use std::path::Path;

use serde_saphyr::{Location, Spanned};

use super::error::ConfigError;
use super::keys;
use super::raw::{RawProject, RawTool};
use super::read;
use super::refs::{Docs, Placed, Resolver, strip_id};
use super::yaml::{Kind, Node, line_col};
use crate::diagnostic::{Problem, Problems};
use crate::paths::normalize;
use crate::source::SourceFile;

/// One tool as declared, in the file it was written in.
pub type Declaration = (SourceFile, Spanned<RawTool>);

/// Every tool the project declares, in the order Compozy indexes them: compozy.yaml, each
/// workflow's `tools:`, the autoloaded files; then the tools the workflows' tasks write out
/// whose ids nothing else declares.
pub fn declarations(
    root: &Path,
    docs: &mut Docs,
    global: usize,
    raw: &RawProject,
    autoloaded: &[usize],
    problems: &mut Problems,
) -> Vec<Declaration> {
    let mut found = Vec::new();
    let mut r = Resolver::new(docs);

    for schema in &raw.schemas {
        register_schema(&mut r, schema, global, problems);
    }
    let mut workflows = Vec::new();
    for source in &raw.workflows {
        if let Some(doc) = workflow_doc(root, &mut r, global, source, problems) {
            let Some(tree) = r.docs().doc(doc).tree.clone() else {
                continue;
            };
            let file = r.docs().file(doc).clone();
            let wf = read::workflow(&file, &tree, problems);
            for schema in &wf.schemas {
                register_schema(&mut r, schema, doc, problems);
            }
            workflows.push((doc, wf));
        }
    }
    // As in Compozy, `autoload: {enabled: true}` without `strict: true` only warns about the
    // resource files it cannot use.
    let strict = raw
        .autoload
        .as_ref()
        .is_none_or(|a| a.value.strict.unwrap_or(a.value.enabled.is_none()));
    let mut tool_files = Vec::new();
    for &doc in autoloaded {
        // A workflow source the autoload globs also match is a workflow, not a tool file.
        if workflows.iter().any(|(w, _)| *w == doc) {
            continue;
        }
        let Some(tree) = r.docs().doc(doc).tree.clone() else {
            continue;
        };
        if classify(&mut r, doc, &tree, strict, problems) {
            tool_files.push((doc, tree));
        }
    }

    for node in &raw.tools {
        declare(&mut r, node, global, global, problems, &mut found);
    }
    for (doc, wf) in &workflows {
        for node in &wf.tools {
            declare(&mut r, node, *doc, *doc, problems, &mut found);
        }
    }
    for (doc, tree) in tool_files {
        tool_file(&mut r, doc, &tree, problems, &mut found);
    }
    // A tool a task writes out is a declaration only when nothing else declares its id: written
    // with a task's own `with:` or `config:`, it is that task's variant of a declared tool.
    let mut in_tasks = Vec::new();
    for (doc, wf) in &workflows {
        for task in &wf.tasks {
            tasks(&mut r, task, *doc, *doc, problems, &mut in_tasks, 0);
        }
    }
    let declared: std::collections::HashSet<String> = found
        .iter()
        .filter_map(|(_, t)| t.value.id.as_ref().map(|id| id.value.clone()))
        .collect();
    found.extend(in_tasks.into_iter().filter(|(_, t)| {
        t.value
            .id
            .as_ref()
            .is_none_or(|id| !declared.contains(&id.value))
    }));
    found
}

/// Reads the workflow file `source` names; `None` (reported) when it cannot be read.
fn workflow_doc(
    root: &Path,
    r: &mut Resolver<'_>,
    global: usize,
    source: &Spanned<String>,
    problems: &mut Problems,
) -> Option<usize> {
    let config = r.docs().file(global).clone();
    let (line, column) = line_col(source.referenced);
    let path = normalize(&root.join(&source.value));
    let fail = |reason: String| {
        Problem::new(ConfigError::MissingWorkflow {
            source_path: source.value.clone(),
            reason,
        })
        .at_line(&config, line.max(1), column.max(1), "this workflow")
    };
    if !path.starts_with(root) {
        problems.push(fail("it is outside the project".into()));
        return None;
    }
    if !path.is_file() {
        problems.push(fail("it does not exist".into()));
        return None;
    }
    match r.docs().load(&path) {
        Ok(doc) => Some(doc),
        Err(problem) => {
            problems.0.extend(problem);
            None
        }
    }
}

/// Makes a `schemas:` item findable by its id.
fn register_schema(r: &mut Resolver<'_>, node: &Node, doc: usize, problems: &mut Problems) {
    let node = match r.deep(node, doc, doc) {
        Ok(node) => node,
        Err(problem) => return problems.push(problem),
    };
    match node.get("id").map(|id| &id.kind) {
        Some(Kind::String(id)) => r.docs().add_schema(&id.clone(), doc, node),
        _ => {
            let file = r.docs().file(doc).clone();
            let (line, column) = line_col(node.at);
            problems.push(Problem::new(ConfigError::SchemaWithoutId).at_line(
                &file,
                line.max(1),
                column.max(1),
                "this schema",
            ));
        }
    }
}

/// Sorts an autoloaded file by its `resource:`; `true` for a tool file (no `resource:`, or
/// `resource: tool`). Other kinds have their keys checked and are made reachable by
/// `resource::KIND::…` references.
fn classify(
    r: &mut Resolver<'_>,
    doc: usize,
    tree: &Node,
    strict: bool,
    problems: &mut Problems,
) -> bool {
    let file = r.docs().file(doc).clone();
    let kind = match tree.get("resource").map(|n| &n.kind) {
        None => return true,
        Some(Kind::String(kind)) => kind.clone(),
        Some(_) => return true,
    };
    let id = match tree.get("id").map(|n| &n.kind) {
        Some(Kind::String(id)) => Some(id.clone()),
        _ => None,
    };
    if kind == "tool" {
        if let Some(id) = &id {
            r.docs().add_resource(&kind, id, doc);
        }
        return true;
    }
    match keys::resource_keys(&kind) {
        Some(Some(known)) => {
            let mut found = Problems::default();
            read::resource(&file, tree, &kind, &known, &mut found);
            problems.0.extend(
                found
                    .0
                    .into_iter()
                    .map(|p| if strict { p } else { p.warning() }),
            );
        }
        Some(None) => {
            if let Some(id) = &id {
                r.docs().add_schema(id, doc, strip_id(tree.clone()));
            }
        }
        None => {
            let at = tree.get("resource").map_or(tree.at, |n| n.at);
            let (line, column) = line_col(at);
            let help = crate::suggest::did_you_mean(&kind, keys::RESOURCE_KINDS.iter().copied());
            problems.push(
                Problem::new(ConfigError::UnknownResource {
                    kind: kind.clone(),
                    help: help.unwrap_or_else(|| {
                        format!("the kinds are {}", keys::RESOURCE_KINDS.join(", "))
                    }),
                })
                .warning()
                .at_line(&file, line.max(1), column.max(1), "this kind"),
            );
        }
    }
    if let Some(id) = &id {
        r.docs().add_resource(&kind, id, doc);
    }
    false
}

/// A standalone tool file: one tool, or `tools: [...]`.
fn tool_file(
    r: &mut Resolver<'_>,
    doc: usize,
    tree: &Node,
    problems: &mut Problems,
    found: &mut Vec<Declaration>,
) {
    let Some(list) = tree.get("tools") else {
        return declare(r, tree, doc, doc, problems, found);
    };
    let file = r.docs().file(doc).clone();
    if let Some(field) = tree.entries().unwrap_or_default().iter().find_map(|e| {
        keys::TOOL_OWN
            .iter()
            .find(|k| **k == e.key && !matches!(**k, "tools" | "resource"))
    }) {
        problems.push(Problem::new(ConfigError::MixedToolFile { field }).at_line(
            &file,
            1,
            1,
            "this file",
        ));
    }
    match &list.kind {
        Kind::Seq(items) => {
            for item in items {
                declare(r, item, doc, doc, problems, found);
            }
        }
        Kind::Null => {}
        _ => {
            let (line, column) = line_col(list.at);
            problems.push(
                Problem::new(ConfigError::WrongType {
                    what: "`tools`".into(),
                    expected: "a list of tools (`- id: my_tool`)",
                    found: list.what(),
                })
                .at_line(&file, line.max(1), column.max(1), "this value"),
            );
        }
    }
}

/// The tools a task declares: a tool reached through `executor: {type: tool, …}` or written out
/// under `tool:` (a bare `tool: id`, or `{id}` alone, only names a tool declared elsewhere).
/// Nested tasks (`tasks:`, `task:`, `routes:`) are searched too.
fn tasks(
    r: &mut Resolver<'_>,
    node: &Node,
    doc: usize,
    local: usize,
    problems: &mut Problems,
    found: &mut Vec<Declaration>,
    depth: usize,
) {
    if depth > 32 {
        return;
    }
    // A task that `$use`s an agent, a task or an MCP declares no tool: what it points at is
    // Compozy's business, and is not resolved here.
    let uses_other = node
        .get("$use")
        .and_then(|u| match &u.kind {
            Kind::String(text) => Some(!text.trim_start().starts_with("tool(")),
            _ => None,
        })
        .unwrap_or(false);
    let placed = if uses_other {
        let mut node = node.clone();
        if let Kind::Map(entries) = &mut node.kind {
            entries.retain(|e| e.key != "$use");
        }
        Placed { node, doc }
    } else {
        match r.top(node, doc, local) {
            Ok(placed) => placed,
            Err(problem) => return problems.push(problem),
        }
    };
    let (task, tdoc) = (placed.node, placed.doc);
    let Some(entries) = task.entries() else {
        return;
    };
    for e in entries {
        match e.key.as_str() {
            "executor" | "tool" => {
                let Kind::Map(_) = e.value.kind else { continue };
                let written_type = e.value.get("type").map(|t| &t.kind);
                if e.key == "executor"
                    && matches!(written_type, Some(Kind::String(t)) if t != "tool")
                {
                    continue;
                }
                let tool = match r.top(&e.value, tdoc, local) {
                    Ok(tool) => tool,
                    Err(problem) => {
                        problems.push(problem);
                        continue;
                    }
                };
                let is_tool = if e.key == "executor" {
                    matches!(tool.node.get("type").map(|t| &t.kind), Some(Kind::String(t)) if t == "tool")
                } else {
                    !is_selector(&tool.node)
                };
                if is_tool {
                    let mut tool = tool;
                    if e.key == "executor"
                        && let Kind::Map(entries) = &mut tool.node.kind
                    {
                        entries.retain(|e| e.key != "type");
                    }
                    declare_placed(r, tool, local, problems, found);
                }
            }
            "tasks" => {
                if let Kind::Seq(items) = &e.value.kind {
                    for item in items {
                        tasks(r, item, tdoc, local, problems, found, depth + 1);
                    }
                }
            }
            "task" => tasks(r, &e.value, tdoc, local, problems, found, depth + 1),
            "routes" => {
                // Routes that point at a task (`$ref`, or its id) name tasks walked where they
                // are written; following them could go round a loop.
                for route in e.value.entries().unwrap_or_default() {
                    let points =
                        route.value.get("$ref").is_some() || route.value.get("$use").is_some();
                    if let (Kind::Map(_), false) = (&route.value.kind, points) {
                        tasks(r, &route.value, tdoc, local, problems, found, depth + 1);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Whether a task's `tool:` mapping only names a tool (Compozy's selector: an id and nothing
/// that describes the tool).
fn is_selector(node: &Node) -> bool {
    node.entries()
        .unwrap_or_default()
        .iter()
        .all(|e| matches!(e.key.as_str(), "id" | "resource"))
}

/// Declares the tool `node` (written in `doc`), resolving the reference it may be.
fn declare(
    r: &mut Resolver<'_>,
    node: &Node,
    doc: usize,
    local: usize,
    problems: &mut Problems,
    found: &mut Vec<Declaration>,
) {
    // `tools: [save_data]` in a workflow: Compozy's way of naming a tool declared elsewhere.
    if !r.docs().is_global(doc) && matches!(node.kind, Kind::String(_)) {
        return;
    }
    match r.top(node, doc, local) {
        Ok(placed) => declare_placed(r, placed, local, problems, found),
        Err(problem) => problems.push(problem),
    }
}

fn declare_placed(
    r: &mut Resolver<'_>,
    placed: Placed,
    local: usize,
    problems: &mut Problems,
    found: &mut Vec<Declaration>,
) {
    let Placed { mut node, doc } = placed;
    let mut schema_files = [None, None];
    if let Kind::Map(entries) = &mut node.kind {
        for e in entries.iter_mut() {
            let slot = match e.key.as_str() {
                "input" => 0,
                "output" => 1,
                "with" | "config" | "env" => {
                    match r.deep(&e.value, doc, local) {
                        Ok(value) => e.value = value,
                        Err(problem) => problems.push(problem),
                    }
                    continue;
                }
                _ => continue,
            };
            match schema(r, &e.value, doc, local) {
                Ok((value, from)) => {
                    if from != doc {
                        schema_files[slot] = Some(r.docs().file(from).clone());
                    }
                    e.value = value;
                }
                Err(problem) => problems.push(problem),
            }
        }
    }
    let file = r.docs().file(doc).clone();
    let mut raw = read::tool(&file, &node, problems);
    raw.schema_files = schema_files;
    // A tool that is a whole file is shown at its `id:` (as a standalone tool file always was).
    let whole_file = r
        .docs()
        .doc(doc)
        .tree
        .as_ref()
        .is_some_and(|t| same_place(t.at, node.at));
    let at = if whole_file {
        Location::UNKNOWN
    } else {
        node.at
    };
    found.push((file, Spanned::new(raw, at, at)));
}

fn same_place(a: Location, b: Location) -> bool {
    line_col(a) == line_col(b)
}

/// A tool's `input` or `output`: a schema named by id, a reference to one, or a schema written
/// out (whose own references are resolved, JSON Schema's `$ref` aside). Returns the schema and
/// the document it was written in.
fn schema(
    r: &mut Resolver<'_>,
    value: &Node,
    doc: usize,
    local: usize,
) -> Result<(Node, usize), Problem> {
    if let Kind::String(id) = &value.kind {
        return match r.docs().schema(id) {
            Ok(placed) => Ok((placed.node, placed.doc)),
            Err(names) => {
                let file = r.docs().file(doc).clone();
                let (line, column) = line_col(value.at);
                let help = crate::suggest::did_you_mean(id, names.iter().map(String::as_str))
                    .unwrap_or_else(|| {
                        if names.is_empty() {
                            "declare it under `schemas:` (with `id:`) in compozy.yaml or the workflow file, or write the schema out here".into()
                        } else {
                            format!(
                                "the schemas declared are {}",
                                names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                            )
                        }
                    });
                Err(Problem::new(ConfigError::UnknownSchema {
                    id: id.clone(),
                    help,
                })
                .at_line(&file, line.max(1), column.max(1), "this schema id"))
            }
        };
    }
    let top = r.top(value, doc, local)?;
    let referenced = top.doc != doc || !same_place(top.node.at, value.at);
    let node = r.deep(&top.node, top.doc, local)?;
    let node = if referenced { strip_id(node) } else { node };
    Ok((node, top.doc))
}

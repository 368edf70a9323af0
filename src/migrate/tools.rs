//! Where a Deno-era project declares its tools: `tools:` lists (compozy.yaml, workflow and agent
//! files), files with `resource: tool`, standalone tool files with `execute:`, and files that a
//! `tools:` list or a tool executor reaches through `$ref: ./file.yaml`.
//!
//! This reads the YAML on its own (every `*.yaml` of the project, as a tree with positions), so
//! that it works on Compozy's layout whatever compozy's own loader accepts.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::error::MigrateError;
use crate::config::yaml::{self, Kind, Node, line_col};
use crate::diagnostic::{Problem, Problems};
use crate::source::SourceFile;

/// One tool declaration (a tool declared in several places has one per place).
#[derive(Debug, Clone)]
pub struct Decl {
    /// The tool id.
    pub id: String,
    /// Index of the declaring file in [`Found::files`].
    pub file: usize,
    /// 1-based line and column of the `id` key.
    pub id_key: (usize, usize),
    /// Byte offset just past the id's value.
    pub id_end: usize,
    /// The mapping is written in flow style (`{id: x, …}`).
    pub flow: bool,
    /// `execute:` as written, with the line and column of its value.
    pub execute: Option<(String, usize, usize)>,
}

/// The project's YAML files and the tools they declare.
#[derive(Debug, Default)]
pub struct Found {
    /// Every YAML file read, root-relative names.
    pub files: Vec<SourceFile>,
    /// The tool declarations, in file order.
    pub tools: Vec<Decl>,
    /// compozy.yaml names a hand-written entrypoint (`runtime.entrypoint`).
    pub entrypoint: bool,
}

fn offset_end(node: &Node) -> Option<usize> {
    let span = node.defined.span();
    let start = usize::try_from(span.byte_offset()?).ok()?;
    let len = usize::try_from(span.byte_len()?).ok()?;
    Some(start + len)
}

fn offset_start(node: &Node) -> Option<usize> {
    usize::try_from(node.defined.span().byte_offset()?).ok()
}

/// The YAML files of the project, skipping what compozy never scans and what git ignores.
fn yaml_files(root: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = ignore::WalkBuilder::new(root)
        .hidden(true)
        .filter_entry(|e| {
            !e.file_name()
                .to_str()
                .is_some_and(|n| crate::config::SKIPPED_DIRS.contains(&n))
        })
        .build()
        .flatten()
        .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
        .map(ignore::DirEntry::into_path)
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e == "yaml" || e == "yml")
        })
        .collect();
    files.sort();
    files
}

/// Reads the project's YAML and finds its tools. An unreadable YAML file is a warning: its
/// tools are not migrated, and the rest is.
pub fn find(root: &Path, problems: &mut Problems) -> Found {
    let mut found = Found::default();
    let mut trees = Vec::new();
    for path in yaml_files(root) {
        let name = crate::paths::display_path(&path, root);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => {
                problems.push(Problem::new(MigrateError::Read {
                    path: name,
                    message: e.to_string(),
                }));
                continue;
            }
        };
        let file = SourceFile::new(path, name.clone(), text);
        match yaml::parse(&file) {
            Ok(Some(node)) => {
                trees.push((found.files.len(), node));
                found.files.push(file);
            }
            Ok(None) => found.files.push(file),
            Err(p) => problems.push(
                Problem::new(MigrateError::Yaml {
                    file: name,
                    message: p.headline(),
                })
                .warning(),
            ),
        }
    }
    // compozy's own autoload: standalone tool files (`tools/**/*.yaml` by default).
    let autoload = trees
        .iter()
        .find(|(i, _)| found.files[*i].name == crate::config::CONFIG_FILE)
        .and_then(|(_, node)| autoload_globs(Some(node)))
        .or_else(|| autoload_globs(None));
    // Files a `tools:` list or a tool executor names with `$ref: ./file.yaml`.
    let mut referenced = BTreeSet::new();
    // Files whose top mapping is already a tool.
    let mut declared = BTreeSet::new();
    for (index, node) in &trees {
        let file = &found.files[*index];
        let dir = file.path.parent().unwrap_or(root);
        if file.name == crate::config::CONFIG_FILE
            && node
                .get("runtime")
                .and_then(|r| r.get("entrypoint"))
                .is_some_and(|e| matches!(e.kind, Kind::String(_)))
        {
            found.entrypoint = true;
        }
        let autoloaded = autoload.as_ref().is_some_and(|(include, exclude)| {
            include.is_match(&file.name) && !exclude.is_match(&file.name)
        }) && node
            .get("resource")
            .is_none_or(|r| matches!(&r.kind, Kind::String(s) if s == "tool"));
        if (is_tool_file(node) || autoloaded) && node.get("id").is_some() {
            declared.insert(*index);
            found.tools.extend(decl(*index, file, node));
        }
        walk(*index, file, node, dir, &mut found.tools, &mut referenced);
    }
    for (index, node) in &trees {
        let file = &found.files[*index];
        if referenced.contains(&file.path) && !declared.contains(index) && node.get("id").is_some()
        {
            found.tools.extend(decl(*index, file, node));
        }
    }
    found.tools.sort_by_key(|t| (t.file, t.id_key));
    found
}

/// compozy's `autoload.include` / `exclude` globs (its defaults when not written as lists).
fn autoload_globs(config: Option<&Node>) -> Option<(globset::GlobSet, globset::GlobSet)> {
    let list = |key: &str| -> Option<Vec<String>> {
        let Kind::Seq(items) = &config?.get("autoload")?.get(key)?.kind else {
            return None;
        };
        items
            .iter()
            .map(|i| match &i.kind {
                Kind::String(s) => Some(s.clone()),
                _ => None,
            })
            .collect()
    };
    let include = list("include").unwrap_or_else(|| {
        crate::config::DEFAULT_INCLUDE
            .iter()
            .map(|s| (*s).to_owned())
            .collect()
    });
    let exclude = list("exclude").unwrap_or_default();
    Some((
        crate::config::glob_set(&include).ok()?,
        crate::config::glob_set(&exclude).ok()?,
    ))
}

/// A standalone tool file: `execute:` or `resource: tool` at the top.
fn is_tool_file(node: &Node) -> bool {
    node.get("execute").is_some()
        || matches!(node.get("resource").map(|r| &r.kind), Some(Kind::String(s)) if s == "tool")
}

/// Looks for `tools:` lists and tool executors anywhere under `node`.
fn walk(
    index: usize,
    file: &SourceFile,
    node: &Node,
    dir: &Path,
    tools: &mut Vec<Decl>,
    referenced: &mut BTreeSet<PathBuf>,
) {
    let file_ref = |item: &Node| match item.get("$ref").map(|r| &r.kind) {
        Some(Kind::String(s)) if s.ends_with(".yaml") || s.ends_with(".yml") => {
            let path = s.split("::").next().unwrap_or(s);
            Some(crate::paths::normalize(&dir.join(path)))
        }
        _ => None,
    };
    match &node.kind {
        Kind::Map(entries) => {
            for e in entries {
                if e.key == "tools"
                    && let Kind::Seq(items) = &e.value.kind
                {
                    for item in items {
                        if let Some(path) = file_ref(item) {
                            referenced.insert(path);
                        } else if item.get("id").is_some() {
                            tools.extend(decl(index, file, item));
                        }
                    }
                    continue;
                }
                if e.key == "executor"
                    && matches!(e.value.get("type").map(|t| &t.kind), Some(Kind::String(t)) if t == "tool")
                    && let Some(path) = file_ref(&e.value)
                {
                    referenced.insert(path);
                }
                walk(index, file, &e.value, dir, tools, referenced);
            }
        }
        Kind::Seq(items) => {
            for item in items {
                walk(index, file, item, dir, tools, referenced);
            }
        }
        _ => {}
    }
}

/// The declaration of the tool mapping `node`, if it has a string id.
fn decl(index: usize, file: &SourceFile, node: &Node) -> Option<Decl> {
    let entries = node.entries()?;
    let id_entry = entries.iter().find(|e| e.key == "id")?;
    let id = id_entry.value.scalar_text(&file.text)?;
    let execute = entries.iter().find(|e| e.key == "execute").map(|e| {
        let (line, col) = line_col(e.value.at);
        let (key_line, key_col) = line_col(e.key_at);
        match &e.value.kind {
            Kind::String(s) => (s.clone(), line, col),
            // Not a path: shown as written; the plan reports it.
            _ => (String::new(), key_line, key_col),
        }
    });
    let flow = offset_start(node)
        .and_then(|o| file.text.get(o..o + 1))
        .is_some_and(|c| c == "{");
    Some(Decl {
        id,
        file: index,
        id_key: line_col(id_entry.key_at),
        id_end: offset_end(&id_entry.value).unwrap_or(0),
        flow,
        execute,
    })
}

/// The text of `file` with `execute: {path}` added to each tool of `decls` (all in that file).
pub fn with_execute(file: &SourceFile, decls: &[(&Decl, String)]) -> String {
    let text = file.text.as_str();
    let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let mut inserts: Vec<(usize, String)> = decls
        .iter()
        .map(|(decl, path)| {
            let value = yaml_scalar(path);
            if decl.flow {
                (decl.id_end, format!(", execute: {value}"))
            } else {
                let indent = " ".repeat(decl.id_key.1.saturating_sub(1));
                match text[decl.id_end.min(text.len())..].find('\n') {
                    Some(nl) => (
                        decl.id_end + nl + 1,
                        format!("{indent}execute: {value}{newline}"),
                    ),
                    None => (text.len(), format!("{newline}{indent}execute: {value}")),
                }
            }
        })
        .collect();
    inserts.sort_by_key(|(at, _)| *at);
    let mut out = String::with_capacity(text.len() + 64);
    let mut pos = 0;
    for (at, insert) in inserts {
        out.push_str(&text[pos..at]);
        out.push_str(&insert);
        pos = at;
    }
    out.push_str(&text[pos..]);
    out
}

/// A path as a YAML scalar: plain when that reads back as the same string, else double-quoted.
fn yaml_scalar(path: &str) -> String {
    let plain = path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "./_-+@".contains(c));
    if plain {
        path.to_owned()
    } else {
        serde_json::to_string(path).unwrap_or_else(|_| path.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decls(text: &str) -> (SourceFile, Vec<Decl>) {
        let file = SourceFile::new("/p/w.yaml".into(), "w.yaml".into(), text.into());
        let node = yaml::parse(&file).unwrap().unwrap();
        let mut tools = Vec::new();
        walk(
            0,
            &file,
            &node,
            Path::new("/p"),
            &mut tools,
            &mut BTreeSet::new(),
        );
        (file, tools)
    }

    #[test]
    fn execute_lines_go_under_the_id_keeping_everything_else() {
        let text = "# tools\ntools:\n  - id: echo # the echo tool\n    description: Echo\n  - {id: count, description: n}\n  - id: done\n    execute: ./done.ts\n";
        let (file, tools) = decls(text);
        assert_eq!(tools.len(), 3);
        assert!(tools[1].flow);
        assert_eq!(
            tools[2].execute.as_ref().map(|e| e.0.as_str()),
            Some("./done.ts")
        );
        let edits = [
            (&tools[0], "./echo.ts".to_owned()),
            (&tools[1], "./my count.ts".to_owned()),
        ];
        assert_eq!(
            with_execute(&file, &edits),
            "# tools\ntools:\n  - id: echo # the echo tool\n    execute: ./echo.ts\n    description: Echo\n  - {id: count, execute: \"./my count.ts\", description: n}\n  - id: done\n    execute: ./done.ts\n"
        );
    }

    #[test]
    fn the_last_line_without_a_newline() {
        let (file, tools) = decls("tools:\n- id: a");
        assert_eq!(
            with_execute(&file, &[(&tools[0], "./a.ts".into())]),
            "tools:\n- id: a\n  execute: ./a.ts"
        );
    }
}

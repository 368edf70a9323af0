//! `deno.json` (or `deno.jsonc`): the import map through which Compozy's Deno runtime imported
//! each tool by its id, and `deno.lock`: the versions Deno resolved unversioned `npm:` imports to.

use std::path::{Path, PathBuf};

use super::error::MigrateError;
use super::jsonc;
use crate::diagnostic::{Problem, Problems};
use crate::source::SourceFile;

/// The Deno configuration files, in the order Deno looks for them.
pub const DENO_CONFIGS: &[&str] = &["deno.json", "deno.jsonc"];

/// One `"specifier": "target"` of the import map.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The specifier (a tool id, a bare name, or a prefix ending in `/`).
    pub key: String,
    /// What it maps to: a path relative to the map, `npm:…`, `jsr:…`, a URL.
    pub target: String,
    /// Where the entry is written (byte offset of its key).
    pub offset: usize,
}

/// A project's import map.
#[derive(Debug, Clone)]
pub struct ImportMap {
    /// The file holding `imports` (deno.json, or the file its `importMap` names).
    pub file: SourceFile,
    /// The entries, in the order written.
    pub entries: Vec<Entry>,
}

impl ImportMap {
    /// The directory the map's relative targets are resolved from.
    pub fn dir(&self) -> &Path {
        self.file.path.parent().unwrap_or(Path::new("."))
    }

    /// The entry for exactly `key`.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }

    /// The entry that maps `specifier` (exactly, or the longest `prefix/`), with the rest of the
    /// specifier after a prefix.
    pub fn resolve<'a>(&'a self, specifier: &'a str) -> Option<(&'a Entry, &'a str)> {
        if let Some(entry) = self.get(specifier) {
            return Some((entry, ""));
        }
        self.entries
            .iter()
            .filter(|e| e.key.ends_with('/') && specifier.starts_with(e.key.as_str()))
            .max_by_key(|e| e.key.len())
            .map(|e| (e, &specifier[e.key.len()..]))
    }

    /// The target as a path on disk, for a local target (`./`, `../`, `/`).
    pub fn local_target(&self, target: &str) -> Option<PathBuf> {
        let local =
            target.starts_with("./") || target.starts_with("../") || target.starts_with('/');
        local.then(|| crate::paths::normalize(&self.dir().join(target)))
    }

    /// 1-based line and column of an entry.
    pub fn line_col(&self, entry: &Entry) -> (usize, usize) {
        self.file.line_col(entry.offset)
    }
}

fn read(path: &Path, root: &Path) -> Result<Option<SourceFile>, Problem> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(SourceFile::new(
            path.to_path_buf(),
            crate::paths::display_path(path, root),
            text,
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Problem::new(MigrateError::Read {
            path: crate::paths::display_path(path, root),
            message: e.to_string(),
        })),
    }
}

/// Reads the import map of the project at `root` (`None`: no deno.json, or no `imports`).
pub fn load(root: &Path, problems: &mut Problems) -> Option<ImportMap> {
    let mut config = None;
    for name in DENO_CONFIGS {
        match read(&root.join(name), root) {
            Ok(Some(file)) => {
                config = Some(file);
                break;
            }
            Ok(None) => {}
            Err(p) => {
                problems.push(p);
                return None;
            }
        }
    }
    let config = config?;
    let value = match jsonc::parse(&config) {
        Ok(v) => v,
        Err(p) => {
            problems.push(p);
            return None;
        }
    };
    let Some(object) = value.as_object() else {
        problems.push(
            Problem::new(MigrateError::Shape {
                what: config.name.clone(),
                expected: "a JSON object",
                help: "see https://docs.deno.com/runtime/fundamentals/configuration/".into(),
            })
            .at_line(&config, 1, 1, "here"),
        );
        return None;
    };
    // `importMap` names a separate file; Deno ignores it when `imports` is set inline.
    let (file, value) = match (object.get("imports"), object.get("importMap")) {
        (None, Some(serde_json::Value::String(path))) => {
            let path = crate::paths::normalize(&root.join(path));
            match read(&path, root) {
                Ok(Some(file)) => match jsonc::parse(&file) {
                    Ok(v) => (file, v),
                    Err(p) => {
                        problems.push(p);
                        return None;
                    }
                },
                Ok(None) => {
                    let offset = jsonc::key_offset(&config.text, 0, "importMap").unwrap_or(0);
                    let (line, col) = config.line_col(offset);
                    problems.push(
                        Problem::new(MigrateError::EntryMissing {
                            key: "importMap".into(),
                            target: crate::paths::display_path(&path, root),
                        })
                        .at_line(
                            &config,
                            line,
                            col,
                            "the import map file",
                        ),
                    );
                    return None;
                }
                Err(p) => {
                    problems.push(p);
                    return None;
                }
            }
        }
        _ => (config.clone(), value),
    };
    let imports = value.get("imports")?;
    let from = jsonc::key_offset(&file.text, 0, "imports").unwrap_or(0);
    let Some(imports) = imports.as_object() else {
        let (line, col) = file.line_col(from);
        problems.push(
            Problem::new(MigrateError::Shape {
                what: "`imports`".into(),
                expected: "an object mapping specifiers to modules",
                help: "write it as `\"imports\": { \"tool_id\": \"./tool.ts\" }`".into(),
            })
            .at_line(&file, line, col, "here"),
        );
        return None;
    };
    let mut entries = Vec::new();
    for (key, target) in imports {
        let offset = jsonc::key_offset(&file.text, from, key).unwrap_or(from);
        let Some(target) = target.as_str() else {
            let (line, col) = file.line_col(offset);
            problems.push(
                Problem::new(MigrateError::Shape {
                    what: format!("the import map entry `{key}`"),
                    expected: "a string",
                    help: "map the specifier to a path, such as \"./tools/tool.ts\"".into(),
                })
                .at_line(&file, line, col, "here"),
            );
            continue;
        };
        entries.push(Entry {
            key: key.clone(),
            target: target.to_owned(),
            offset,
        });
    }
    Some(ImportMap { file, entries })
}

/// The version Deno resolved `npm:{package}` (with no version) to, from `deno.lock` at `root`.
pub fn locked_version(root: &Path, package: &str) -> Option<String> {
    let text = std::fs::read_to_string(root.join("deno.lock")).ok()?;
    let lock: serde_json::Value = serde_json::from_str(&text).ok()?;
    // Lock file v4+: `"specifiers": {"npm:prettier@*": "3.3.3"}`;
    // v3: `"packages": {"specifiers": {"npm:prettier": "npm:prettier@3.3.3"}}`.
    let tables = [lock.get("specifiers"), lock.pointer("/packages/specifiers")];
    for table in tables.into_iter().flatten() {
        let Some(table) = table.as_object() else {
            continue;
        };
        for key in [format!("npm:{package}"), format!("npm:{package}@*")] {
            if let Some(resolved) = table.get(&key).and_then(|v| v.as_str()) {
                let version = resolved
                    .strip_prefix(&format!("npm:{package}@"))
                    .unwrap_or(resolved);
                // Peer-dependency suffixes (`3.3.3_react@18.0.0`) are not part of the version.
                let version = version.split('_').next().unwrap_or(version);
                return Some(version.to_owned());
            }
        }
    }
    None
}

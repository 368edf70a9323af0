//! The whole migration as a plan (every file's old and new text), then written atomically, or
//! shown as a diff by `--check`. Nothing is written when any error was found.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use super::error::MigrateError;
use super::import_map::{self, ImportMap};
use super::module::{self, Context};
use super::{package_json, tools};
use crate::codegen::{Planned, Status};
use crate::diagnostic::{Problem, Problems, Severity};
use crate::paths::{display_path, import_specifier, normalize, slash_path};
use crate::source::SourceFile;

/// What `compozy migrate` would change.
#[derive(Debug)]
pub struct Migration {
    /// The project root.
    pub root: PathBuf,
    /// The files that change (created or updated), sorted by path.
    pub files: Vec<Planned>,
    /// What is worth a look but does not stop the migration.
    pub warnings: Vec<Problem>,
    /// The npm packages added to package.json.
    pub added_packages: Vec<String>,
    /// How many tool declarations and modules were looked at.
    pub tools: usize,
    /// See `tools`.
    pub modules: usize,
}

impl Migration {
    /// True when there is nothing to migrate (a migrated project, or a second run).
    pub fn is_up_to_date(&self) -> bool {
        self.files.is_empty()
    }

    /// A unified diff of every change, as `gen --check` prints it.
    pub fn unified_diff(&self) -> String {
        crate::codegen::unified_diff(&self.files)
    }

    /// Writes every changed file atomically, keeping each file's permissions.
    pub fn write(&self) -> Result<(), Problems> {
        for file in &self.files {
            let Some(new) = &file.new else { continue };
            let path = self.root.join(&file.rel);
            let mode = file_mode(&path);
            crate::codegen::write_atomic_mode(&path, new.as_bytes(), mode).map_err(|e| {
                Problems::from(Problem::new(MigrateError::Write {
                    path: file.rel.clone(),
                    message: e.to_string(),
                }))
            })?;
        }
        Ok(())
    }
}

#[cfg(unix)]
fn file_mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).map_or(0o644, |m| m.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn file_mode(_: &Path) -> u32 {
    0o644
}

/// The project root: `dir`, or the nearest directory holding compozy.yaml from `cwd` up.
fn root(dir: Option<&Path>, cwd: &Path) -> Result<PathBuf, Problem> {
    let found = match dir {
        Some(dir) => {
            let dir = cwd.join(dir);
            dir.join(crate::config::CONFIG_FILE)
                .is_file()
                .then_some(dir)
        }
        None => crate::config::find_root(cwd),
    };
    let missing = || Problem::new(MigrateError::NotFound(dir.map_or(cwd, |d| d).to_path_buf()));
    let root = found.ok_or_else(missing)?;
    Ok(std::fs::canonicalize(&root).unwrap_or(root))
}

fn read(path: &Path, root: &Path) -> Result<Option<SourceFile>, Problem> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(SourceFile::new(
            path.to_path_buf(),
            display_path(path, root),
            text,
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Problem::new(MigrateError::Read {
            path: display_path(path, root),
            message: e.to_string(),
        })),
    }
}

/// The same file on disk (symlinks resolved when both exist).
fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn entry_note(map: &ImportMap, entry: &import_map::Entry, what: &str) -> Problem {
    let (line, col) = map.line_col(entry);
    Problem::note(what.to_owned()).at_line(&map.file, line, col, "in the import map")
}

/// Plans the migration of the project at `dir` (or found from `cwd`).
pub fn plan(dir: Option<&Path>, cwd: &Path) -> Result<Migration, Problems> {
    let root = root(dir, cwd)?;
    let mut problems = Problems::default();
    let map = import_map::load(&root, &mut problems);
    let found = tools::find(&root, &mut problems);

    // Every local entry of the import map must point somewhere.
    if let Some(map) = &map {
        for entry in &map.entries {
            if let Some(path) = map.local_target(&entry.target)
                && !path.exists()
            {
                let (line, col) = map.line_col(entry);
                problems.push(
                    Problem::new(MigrateError::EntryMissing {
                        key: entry.key.clone(),
                        target: entry.target.clone(),
                    })
                    .at_line(&map.file, line, col, "this entry"),
                );
            }
        }
    }

    // Each tool's module, and the `execute:` lines to add.
    let hand_written = found.entrypoint
        || ["entrypoint.ts", "tools.ts"]
            .iter()
            .any(|f| root.join(f).is_file());
    let mut tool_modules: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
    let mut inserts: BTreeMap<usize, Vec<(&tools::Decl, String)>> = BTreeMap::new();
    for decl in &found.tools {
        let file = &found.files[decl.file];
        let dir = file.path.parent().unwrap_or(&root);
        let entry = map.as_ref().and_then(|m| m.get(&decl.id).map(|e| (m, e)));
        let module = match (&decl.execute, entry) {
            (Some((execute, line, col)), _) if execute.is_empty() => {
                problems.push(
                    Problem::new(MigrateError::Shape {
                        what: format!("`execute` of tool `{}`", decl.id),
                        expected: "the path of the tool's module",
                        help: "write it as `execute: ./tool.ts` (relative to this file)".into(),
                    })
                    .at_line(file, *line, *col, "here"),
                );
                continue;
            }
            (Some((execute, line, col)), entry) => {
                let path = normalize(&dir.join(execute));
                if let Some((map, entry)) = entry
                    && let Some(mapped) = map.local_target(&entry.target)
                    && !same_file(&path, &mapped)
                {
                    problems.push(
                        Problem::new(MigrateError::Conflict {
                            id: decl.id.clone(),
                            execute: execute.clone(),
                            mapped: display_path(&mapped, &root),
                        })
                        .at_line(file, *line, *col, "`execute:`")
                        .with_related(entry_note(
                            map,
                            entry,
                            "what Compozy's Deno runtime imported",
                        )),
                    );
                    continue;
                }
                if !path.is_file() {
                    problems.push(
                        Problem::new(MigrateError::MissingModule {
                            id: decl.id.clone(),
                            module: execute.clone(),
                        })
                        .at_line(file, *line, *col, "here"),
                    );
                    continue;
                }
                path
            }
            (None, Some((map, entry))) => {
                let Some(path) = map.local_target(&entry.target) else {
                    let (line, col) = map.line_col(entry);
                    problems.push(
                        Problem::new(MigrateError::Shape {
                            what: format!("the import map entry of tool `{}`", decl.id),
                            expected: "the path of a module in the project",
                            help: format!(
                                "`{}` is not a local module: write the tool as a module of the \
                                 project and map `{}` to it (`\"./tools/{}.ts\"`)",
                                entry.target, decl.id, decl.id
                            ),
                        })
                        .at_line(&map.file, line, col, "here"),
                    );
                    continue;
                };
                if !path.is_file() {
                    // Reported above, at the entry.
                    continue;
                }
                let from = slash_path(dir.strip_prefix(&root).unwrap_or(dir));
                let to = slash_path(path.strip_prefix(&root).unwrap_or(&path));
                inserts
                    .entry(decl.file)
                    .or_default()
                    .push((decl, import_specifier(&from, &to)));
                path
            }
            (None, None) => {
                if map.is_some() || !hand_written {
                    let (line, col) = decl.id_key;
                    problems.push(
                        Problem::new(MigrateError::NoModule {
                            id: decl.id.clone(),
                            help: format!(
                                "add `execute: ./path/to/{}.ts` (relative to this file), or map \
                                 `{}` to its module in deno.json's `imports`",
                                decl.id, decl.id
                            ),
                        })
                        .at_line(file, line, col, "this tool"),
                    );
                }
                continue;
            }
        };
        tool_modules
            .entry(module)
            .or_default()
            .push(decl.id.clone());
    }

    // The tools' modules and every local module they import.
    let cx = Context {
        root: &root,
        import_map: map.as_ref(),
    };
    let mut files = Vec::new();
    let mut queue: VecDeque<PathBuf> = tool_modules.keys().cloned().collect();
    let mut seen: BTreeSet<PathBuf> = queue.iter().cloned().collect();
    let mut wanted: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut modules = 0;
    while let Some(path) = queue.pop_front() {
        let file = match read(&path, &root) {
            Ok(Some(file)) => file,
            // A local import that does not exist fails on Deno as it will on Bun and Node.
            Ok(None) => continue,
            Err(p) => {
                problems.push(p);
                continue;
            }
        };
        modules += 1;
        let Some(out) = module::rewrite(&file, &cx, &mut problems) else {
            continue;
        };
        for local in out.local {
            if local.is_file() && seen.insert(local.clone()) {
                queue.push_back(local);
            }
        }
        if tool_modules.contains_key(&path) {
            let shape = &out.shape;
            if let (Some(default), Some(_)) = (shape.default, shape.run)
                && !shape.default_is_run
            {
                problems.push(
                    Problem::new(MigrateError::DefaultAndRun {
                        module: file.name.clone(),
                    })
                    .at_span(
                        &file,
                        (default, 0).into(),
                        "`default` was called on Deno",
                    ),
                );
            }
            let (at, name, params) = match shape.default {
                Some(at) => (at, "the default export", shape.default_params),
                None => (shape.run.unwrap_or(0), "`run`", shape.run_params),
            };
            if let Some(params) = params.filter(|p| *p > 1) {
                problems.push(
                    Problem::new(MigrateError::MoreParams {
                        name: name.trim_matches('`').to_owned(),
                        params,
                    })
                    .warning()
                    .at_span(&file, (at, 0).into(), "here"),
                );
            }
        }
        for dep in out.deps {
            let locate = |p: Problem| match (&map, dep.in_map) {
                (Some(map), true) => {
                    let (line, col) = map.file.line_col(dep.offset);
                    p.at_line(&map.file, line, col, "here")
                }
                _ => p.at_span(&file, (dep.offset, dep.spec.len() + 2).into(), "here"),
            };
            let version = match dep.version.clone() {
                Some(v) => v,
                None => match import_map::locked_version(&root, &dep.name) {
                    Some(v) => v,
                    None => {
                        if !wanted.contains_key(&dep.name) {
                            problems.push(locate(
                                Problem::new(MigrateError::Unpinned {
                                    spec: dep.spec.clone(),
                                    package: dep.name.clone(),
                                })
                                .warning(),
                            ));
                        }
                        "latest".to_owned()
                    }
                },
            };
            let place = locate(Problem::note(String::new())).headline();
            let place = place.trim_end_matches([' ', ':']).to_owned();
            match wanted.get(&dep.name) {
                Some((other, first)) if *other != version => {
                    problems.push(locate(
                        Problem::new(MigrateError::VersionClash {
                            package: dep.name.clone(),
                            wanted: version,
                            other: other.clone(),
                        })
                        .with_related(Problem::note(format!("`{other}` at {first}"))),
                    ));
                }
                Some(_) => {}
                None => {
                    wanted.insert(dep.name.clone(), (version, place));
                }
            }
        }
        if out.text != *file.text {
            files.push(Planned {
                rel: file.name.clone(),
                status: Status::Updated,
                old: Some(file.text.to_string()),
                new: Some(out.text),
            });
        }
    }

    // The `execute:` lines.
    for (index, list) in &inserts {
        let file = &found.files[*index];
        files.push(Planned {
            rel: file.name.clone(),
            status: Status::Updated,
            old: Some(file.text.to_string()),
            new: Some(tools::with_execute(file, list)),
        });
    }

    // package.json.
    let deps: Vec<(String, String)> = wanted
        .iter()
        .map(|(name, (version, _))| (name.clone(), version.clone()))
        .collect();
    let package = match read(&root.join("package.json"), &root) {
        Ok(file) => file,
        Err(p) => {
            problems.push(p);
            None
        }
    };
    let mut added_packages = Vec::new();
    if let Some(text) = package_json::edit(package.as_ref(), &deps, &mut problems) {
        added_packages = deps
            .iter()
            .filter(|(name, _)| {
                package
                    .as_ref()
                    .is_none_or(|p| !has_dependency(&p.text, name))
            })
            .map(|(name, version)| format!("{name}@{version}"))
            .collect();
        files.push(Planned {
            rel: "package.json".into(),
            status: if package.is_some() {
                Status::Updated
            } else {
                Status::Created
            },
            old: package.as_ref().map(|p| p.text.to_string()),
            new: Some(text),
        });
    }

    if problems.has_errors() {
        return Err(problems);
    }
    files.sort_by(|a, b| a.rel.cmp(&b.rel));
    let warnings = problems
        .0
        .into_iter()
        .filter(|p| p.severity() == Severity::Warning)
        .collect();
    Ok(Migration {
        root,
        files,
        warnings,
        added_packages,
        tools: found.tools.len(),
        modules,
    })
}

fn has_dependency(package_json: &str, name: &str) -> bool {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(package_json) else {
        return false;
    };
    [
        "dependencies",
        "devDependencies",
        "peerDependencies",
        "optionalDependencies",
    ]
    .iter()
    .any(|s| value.get(*s).and_then(|d| d.get(name)).is_some())
}

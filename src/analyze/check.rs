//! Checking a project's tools against what their modules export.

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::error::AnalyzeError;
use super::resolve::{Analyzer, Failure, ModuleInfo};
use crate::config::{Declared, EntrypointMode, Project};
use crate::diagnostic::{Problem, Problems};

/// How a tool is reached at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolBinding {
    /// The tool id.
    pub id: String,
    /// Root-relative module path (`/`-separated).
    pub module: String,
    /// The export used: `run`, `default`, or (hand-written entrypoint) the id itself.
    pub export: String,
}

/// The outcome of checking a project: one binding per tool, sorted by id.
#[derive(Debug, Clone, Default)]
pub struct Analysis {
    /// Tool bindings, sorted by id.
    pub bindings: Vec<ToolBinding>,
    /// Every module file read, for watchers and caches.
    pub files: Vec<PathBuf>,
}

fn declared_here(tool: &str, declared: &Declared) -> Problem {
    Problem::note(format!("tool `{tool}` is declared here")).at_line(
        &declared.file,
        declared.line,
        declared.column,
        "declared here",
    )
}

fn module_start(problem: Problem, info: &ModuleInfo) -> Problem {
    match &info.source {
        Some(src) => problem.at_line(src, 1, 1, "this module"),
        None => problem,
    }
}

/// Checks every tool of `project`; all problems are reported together.
pub fn check(project: &Project) -> Result<Analysis, Problems> {
    let mut analyzer = Analyzer::new(project.root.clone());
    let mut problems = Problems::default();
    let mut files = BTreeSet::new();
    let mut bindings = Vec::with_capacity(project.tools.len());
    let mut broken: Vec<(PathBuf, Failure, Vec<Problem>)> = Vec::new();
    let mut deno_checked = std::collections::HashSet::new();

    match project.runtime.mode {
        EntrypointMode::Generated => {
            let modules: Vec<PathBuf> = project
                .tools
                .iter()
                .filter_map(|t| t.module.as_ref().map(|m| m.abs.clone()))
                .collect();
            analyzer.preload(&modules);
            for tool in &project.tools {
                let Some(module) = &tool.module else { continue };
                let declared = tool.module_declared.as_ref().unwrap_or(&tool.declared);
                let info = match analyzer.module(&module.abs) {
                    Ok(info) => info,
                    Err(failure) => {
                        // One report per broken module, naming every tool that uses it.
                        let note = declared_here(&tool.id, declared);
                        match broken.iter_mut().find(|(path, _, _)| *path == module.abs) {
                            Some((_, _, notes)) => notes.push(note),
                            None => broken.push((module.abs.clone(), failure, vec![note])),
                        }
                        continue;
                    }
                };
                files.extend(info.files.iter().cloned());
                let first_use = deno_checked.insert(module.abs.clone());
                if first_use {
                    for failure in analyzer.import_problems(&module.abs, false) {
                        problems.push(failure.to_problem());
                    }
                }
                let export = ["run", "default"]
                    .into_iter()
                    .find(|name| info.values.iter().any(|v| v == name));
                match export {
                    Some(export) => bindings.push(ToolBinding {
                        id: tool.id.clone(),
                        module: module.rel.clone(),
                        export: export.to_owned(),
                    }),
                    None => problems.push(
                        module_start(
                            Problem::new(AnalyzeError::NoRunOrDefault {
                                tool: tool.id.clone(),
                                module: module.rel.clone(),
                                exports: info.values.clone(),
                                suggestion: info.functions.first().cloned(),
                            }),
                            &info,
                        )
                        .with_related(declared_here(&tool.id, declared)),
                    ),
                }
            }
        }
        EntrypointMode::HandWritten => {
            let entry = &project.runtime.entrypoint;
            match analyzer.module(&entry.abs) {
                Err(failure) => problems.push(failure.to_problem()),
                Ok(info) => {
                    files.extend(info.files.iter().cloned());
                    for failure in analyzer.import_problems(&entry.abs, true) {
                        problems.push(failure.to_problem());
                    }
                    let keys = info.default_object_keys.as_deref().unwrap_or_default();
                    // A process tool is a program, not an export.
                    for tool in project.tools.iter().filter(|t| t.command.is_none()) {
                        let found = info.values.contains(&tool.id) || keys.contains(&tool.id);
                        if found {
                            bindings.push(ToolBinding {
                                id: tool.id.clone(),
                                module: entry.rel.clone(),
                                export: tool.id.clone(),
                            });
                        } else {
                            problems.push(
                                module_start(
                                    Problem::new(AnalyzeError::MissingToolExport {
                                        tool: tool.id.clone(),
                                        entrypoint: entry.rel.clone(),
                                        exports: info.values.clone(),
                                    }),
                                    &info,
                                )
                                .with_related(declared_here(&tool.id, &tool.declared)),
                            );
                        }
                    }
                }
            }
        }
    }

    // Each plugin module default-exports an object with `callTool` (when that can be seen).
    for plugin in &project.plugins {
        let info = match analyzer.module(&plugin.module.abs) {
            Ok(info) => info,
            Err(failure) => {
                problems.push(failure.to_problem());
                continue;
            }
        };
        files.extend(info.files.iter().cloned());
        let what = if !info.values.iter().any(|v| v == "default") {
            Some(format!(
                "has no default export (it exports {})",
                if info.values.is_empty() {
                    "nothing".to_owned()
                } else {
                    info.values
                        .iter()
                        .map(|v| format!("`{v}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ))
        } else {
            match &info.default_object_keys {
                Some(keys) if !keys.iter().any(|k| k == "callTool") => Some(format!(
                    "default-exports an object without `callTool` (its keys: {})",
                    keys.iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                _ => None,
            }
        };
        if let Some(what) = what {
            problems.push(module_start(
                Problem::new(AnalyzeError::PluginExport {
                    plugin: plugin.label.clone(),
                    what,
                }),
                &info,
            ));
        }
    }

    for (_, failure, notes) in broken {
        problems.push(
            notes
                .into_iter()
                .fold(failure.to_problem(), Problem::with_related),
        );
    }
    if problems.has_errors() {
        return Err(problems);
    }
    Ok(Analysis {
        bindings,
        files: files.into_iter().collect(),
    })
}

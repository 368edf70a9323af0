//! `compozy inspect [FILE...]`: what compozy sees in modules and configs.

use serde::Serialize;

use super::args::{Format, InspectArgs};
use super::output::{Output, print_json};
use crate::analyze::{self, Analyzer};
use crate::config;
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
}

#[derive(Serialize)]
struct Report {
    modules: Vec<JsonModule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<Vec<JsonTool>>,
}

/// Runs `inspect`.
pub fn run(args: &InspectArgs, out: &Output, cwd: &std::path::Path) -> ExitCode {
    // A project is needed unless FILEs are given; then it is used when there is one.
    let wants_project = args.project.project.is_some() || args.files.is_empty();
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

    let report = Report { modules, tools };
    match args.format {
        Format::Json => print_json(&report),
        Format::Human => print_human(&report),
    }
    let _ = out;
    ExitCode::Ok
}

fn print_human(report: &Report) {
    use std::fmt::Write;
    let mut text = String::new();
    if let Some(tools) = &report.tools {
        let _ = writeln!(text, "tools ({}):", tools.len());
        let width = tools.iter().map(|t| t.id.len()).max().unwrap_or(0);
        for t in tools {
            let target = match (&t.module, &t.export) {
                (Some(m), Some(e)) => format!("{m} → {e}"),
                _ => "-".into(),
            };
            let _ = writeln!(text, "  {:width$}  {target}  ({}:{})", t.id, t.file, t.line);
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

fn join_or_dash(names: &[String]) -> String {
    if names.is_empty() {
        "-".into()
    } else {
        names.join(", ")
    }
}

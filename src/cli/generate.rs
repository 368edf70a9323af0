//! `compozy gen [--check]`.

use serde::Serialize;

use super::args::{Format, GenArgs};
use super::output::{Output, print_json, shell_word};
use crate::codegen::Status;
use crate::diagnostic::{JsonProblem, Problems};
use crate::exit::ExitCode;

#[derive(Serialize)]
struct JsonFile<'a> {
    path: &'a str,
    status: Status,
}

#[derive(Serialize)]
struct JsonReport<'a> {
    /// `ok`, `stale` (with --check) or `error`.
    status: &'static str,
    files: Vec<JsonFile<'a>>,
    diff: Option<String>,
    diagnostics: Vec<JsonProblem>,
}

/// Runs `gen`.
pub fn run(args: &GenArgs, out: &Output, cwd: &std::path::Path) -> ExitCode {
    if let Some(fresh) = crate::up_to_date(args.project.project.as_deref(), cwd) {
        match args.format {
            Format::Json => print_json(&JsonReport {
                status: "ok",
                files: fresh
                    .outputs
                    .iter()
                    .map(|path| JsonFile {
                        path,
                        status: Status::Unchanged,
                    })
                    .collect(),
                diff: None,
                diagnostics: Vec::new(),
            }),
            Format::Human => {
                out.detail("compozy: up to date (nothing changed since the last run)");
                out.summary(&summary(fresh.tools, 0, 0));
            }
        }
        return ExitCode::Ok;
    }
    let generation = match crate::prepare(args.project.project.as_deref(), cwd) {
        Ok(g) => g,
        Err(problems) => return report_errors(args.format, out, &problems),
    };

    let stale = !generation.plan.is_up_to_date();
    // Also when nothing is stale: the run records the fingerprint that makes the next one fast.
    if !args.check
        && let Err(problems) = generation.write()
    {
        return report_errors(args.format, out, &problems);
    }

    let code = if args.check && stale {
        ExitCode::Failure
    } else {
        ExitCode::Ok
    };
    match args.format {
        Format::Json => {
            let report = JsonReport {
                status: if code == ExitCode::Ok { "ok" } else { "stale" },
                files: generation
                    .plan
                    .files
                    .iter()
                    .map(|f| JsonFile {
                        path: &f.rel,
                        status: f.status,
                    })
                    .collect(),
                diff: (args.check && stale).then(|| generation.plan.unified_diff()),
                diagnostics: generation
                    .warnings
                    .iter()
                    .chain(&generation.advice)
                    .map(|w| w.to_json())
                    .collect(),
            };
            print_json(&report);
        }
        Format::Human => {
            out.problems(generation.warnings.iter().chain(&generation.advice));
            if args.check && stale {
                print!("{}", generation.plan.unified_diff());
                let stale_files = generation
                    .plan
                    .files
                    .iter()
                    .filter(|f| f.status != Status::Unchanged);
                let (lock, generated): (Vec<_>, Vec<_>) =
                    stale_files.partition(|f| f.rel == crate::generate::lock::LOCK_FILE);
                let what = match (generated.is_empty(), lock.is_empty()) {
                    (false, false) => ".compozy/ and compozy.lock are",
                    (true, false) => "compozy.lock is",
                    _ => ".compozy/ is",
                };
                out.status(&format!(
                    "compozy: {what} out of date; run `{}` to update it",
                    fix_command(args)
                ));
            } else {
                if !args.check {
                    print_changes(&generation.plan, out);
                }
                out.detail(&format!(
                    "compozy: {} tools checked",
                    generation.project.tools.len()
                ));
                let count = |wanted: &[Status]| {
                    let files = &generation.plan.files;
                    files.iter().filter(|f| wanted.contains(&f.status)).count()
                };
                let (written, removed) = if args.check {
                    (0, 0)
                } else {
                    (
                        count(&[Status::Created, Status::Updated]),
                        count(&[Status::Removed]),
                    )
                };
                out.summary(&summary(generation.project.tools.len(), written, removed));
            }
        }
    }
    code
}

/// One line per file written or removed (`compozy: updated .compozy/tools.ts`); the unchanged
/// ones under -v.
pub(super) fn print_changes(plan: &crate::codegen::Plan, out: &Output) {
    for file in &plan.files {
        let verb = match file.status {
            Status::Created => "created",
            Status::Updated => "updated",
            Status::Removed => "removed",
            Status::Unchanged => {
                out.detail(&format!("compozy: unchanged {}", file.rel));
                continue;
            }
        };
        out.status(&format!("compozy: {verb} {}", file.rel));
    }
}

/// The command that brings `.compozy/` up to date, with the `--project` this run was given.
fn fix_command(args: &GenArgs) -> String {
    match &args.project.project {
        Some(dir) => format!(
            "compozy gen --project {}",
            shell_word(&dir.to_string_lossy())
        ),
        None => "compozy gen".to_owned(),
    }
}

/// The closing line on a terminal: `compozy: 3 tools, 2 files written` or `… up to date`.
fn summary(tools: usize, written: usize, removed: usize) -> String {
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut line = format!("compozy: {}", plural(tools, "tool", "tools"));
    if written == 0 && removed == 0 {
        line.push_str(", up to date");
    }
    if written > 0 {
        line.push_str(&format!(", {} written", plural(written, "file", "files")));
    }
    if removed > 0 {
        line.push_str(&format!(", {removed} removed"));
    }
    line
}

/// Prints errors and returns exit code 2.
pub fn report_errors(format: Format, out: &Output, problems: &Problems) -> ExitCode {
    match format {
        Format::Json => print_json(&JsonReport {
            status: "error",
            files: Vec::new(),
            diff: None,
            diagnostics: problems.0.iter().map(|p| p.to_json()).collect(),
        }),
        Format::Human => {
            out.problems(&problems.0);
            let errors = problems.0.len();
            if errors > 1 {
                out.status(&format!(
                    "compozy: {errors} problems found; nothing was written"
                ));
            }
        }
    }
    ExitCode::Error
}

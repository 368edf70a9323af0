//! The watcher → regenerate → reload loop: every relevant change regenerates `.compozy/`, and
//! the new project goes to whoever serves it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use crate::cli::output::Output;
use crate::codegen::Status;
use crate::diagnostic::Problem;
use crate::exit::ExitCode;
use crate::watch::{Change, ProjectWatcher};

/// What one regeneration produced.
pub(in crate::cli) struct Regenerated {
    pub(in crate::cli) project: Arc<crate::config::Project>,
    /// Output files written or removed.
    changed_output: bool,
    /// Files whose change means the workers must reload (modules, configs).
    inputs: Vec<PathBuf>,
}

/// Runs the pipeline once, printing what changed or what is wrong.
pub(in crate::cli) fn regenerate(
    dir: Option<&Path>,
    cwd: &Path,
    out: &Output,
) -> Option<Regenerated> {
    let started = Instant::now();
    let generation = match crate::prepare(dir, cwd) {
        Ok(g) => g,
        Err(problems) => {
            out.problems(&problems.0);
            out.status("compozy: waiting for the next change…");
            return None;
        }
    };
    out.problems(generation.warnings.iter().chain(&generation.advice));
    if let Err(problems) = generation.write() {
        out.problems(&problems.0);
        return None;
    }
    let mut changed_output = false;
    for file in &generation.plan.files {
        let verb = match file.status {
            Status::Created => "created",
            Status::Updated => "updated",
            Status::Removed => "removed",
            Status::Unchanged => continue,
        };
        changed_output = true;
        out.status(&format!("compozy: {verb} {}", file.rel));
    }
    out.detail(&format!("compozy: checked in {:?}", started.elapsed()));
    let mut inputs = generation.analysis.files.clone();
    inputs.extend(
        generation
            .project
            .config_files
            .iter()
            .map(|f| f.abs.clone()),
    );
    // A rebuilt program replaces its warm processes, as an edited module does.
    inputs.extend(
        generation
            .project
            .tools
            .iter()
            .filter_map(|t| t.command.as_ref().map(|c| c.program.clone())),
    );
    Some(Regenerated {
        project: Arc::new(generation.project),
        changed_output,
        inputs,
    })
}

fn is_env_file(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n == ".env" || n.starts_with(".env."))
}

/// The project root `watch` (or `mcp --watch`) works on, and a watcher for it.
pub(in crate::cli) fn start_watcher(
    dir: Option<&Path>,
    cwd: &Path,
    out: &Output,
) -> Result<ProjectWatcher, ExitCode> {
    let root = match crate::config::project_root(dir, cwd) {
        Ok(root) => root,
        Err(e) => {
            out.problems([&Problem::new(e)]);
            return Err(ExitCode::Error);
        }
    };
    ProjectWatcher::new(&root).map_err(|e| {
        out.problems([&Problem::new(e)]);
        ExitCode::Error
    })
}

/// Regenerates on every relevant change until the watcher ends; `reload` gets the new project
/// after each change the workers must see (new output, a module, a config or a `.env` file).
/// A broken edit prints its diagnostics and keeps the last good project.
pub(in crate::cli) fn watch_loop(
    watcher: &mut ProjectWatcher,
    dir: Option<&Path>,
    cwd: &Path,
    out: &Output,
    first: Option<&Regenerated>,
    mut reload: impl FnMut(Arc<crate::config::Project>),
) {
    let mut failing = first.is_none();
    let mut inputs = first.map(|r| r.inputs.clone()).unwrap_or_default();
    out.status(&format!(
        "compozy: watching {} directories under {}",
        watcher.watched().count(),
        watcher.root().display()
    ));
    while let Some(change) = watcher.next_change() {
        let paths = match change {
            Change::Paths(paths) => paths,
            Change::Error(e) => {
                out.problems([&Problem::new(e)]);
                continue;
            }
        };
        for path in &paths {
            out.detail(&format!("compozy: changed {}", path.display()));
        }
        let Some(regenerated) = regenerate(dir, cwd, out) else {
            failing = true;
            continue;
        };
        if std::mem::take(&mut failing) && !regenerated.changed_output {
            out.status("compozy: fixed; .compozy/ is up to date");
        }
        let touches_inputs = paths
            .iter()
            .any(|p| inputs.contains(p) || regenerated.inputs.contains(p) || is_env_file(p));
        inputs = regenerated.inputs;
        if regenerated.changed_output || touches_inputs {
            reload(regenerated.project);
        }
    }
}

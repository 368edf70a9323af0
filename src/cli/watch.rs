//! `compozy watch [--serve]`: regenerate on every relevant change; with `--serve`, also answer
//! requests and hot-reload the workers.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::args::WatchArgs;
use super::output::Output;
use crate::codegen::Status;
use crate::diagnostic::Problem;
use crate::exit::ExitCode;
use crate::runtime::Server;
use crate::watch::{Change, ProjectWatcher};

/// What one regeneration produced.
pub(super) struct Regenerated {
    pub(super) project: Arc<crate::config::Project>,
    /// Output files written or removed.
    changed_output: bool,
    /// Files whose change means the workers must reload (modules, configs).
    inputs: Vec<PathBuf>,
}

/// Runs the pipeline once, printing what changed or what is wrong.
pub(super) fn regenerate(dir: Option<&Path>, cwd: &Path, out: &Output) -> Option<Regenerated> {
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
pub(super) fn start_watcher(
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
pub(super) fn watch_loop(
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

/// Runs `watch`.
pub fn run(args: &WatchArgs, out: &Output, cwd: &Path) -> ExitCode {
    let dir = args.project.project.as_deref();
    let mut watcher = match start_watcher(dir, cwd, out) {
        Ok(w) => w,
        Err(code) => return code,
    };
    let first = regenerate(dir, cwd, out);

    let server = if args.serve {
        let Some(first) = &first else {
            out.status("compozy: fix the errors above to start serving");
            return ExitCode::Error;
        };
        let pool = match super::serve::start_pool(
            Arc::clone(&first.project),
            args.runtime,
            args.workers,
            out,
        ) {
            Ok((pool, _)) => pool,
            Err(code) => return code,
        };
        super::serve::exit_on_signal(pool.clone());
        let server = Arc::new(Mutex::new(Server::new(pool.clone())));
        let serving = Arc::clone(&server);
        std::thread::spawn(move || {
            super::serve::serve_stdin(&pool, serving);
            pool.shutdown();
            std::process::exit(0);
        });
        Some(server)
    } else {
        exit_cleanly_on_signal();
        None
    };

    watch_loop(&mut watcher, dir, cwd, out, first.as_ref(), |project| {
        if let Some(server) = &server {
            server
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .reload(project);
            out.status("compozy: workers reloaded");
        }
    });
    ExitCode::Ok
}

/// Ctrl-C ends a plain watch with exit 0: it is how a watch is meant to end.
fn exit_cleanly_on_signal() {
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGINT, SIGTERM};
        if let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) {
            std::thread::spawn(move || {
                if signals.forever().next().is_some() {
                    std::process::exit(0);
                }
            });
        }
    }
}

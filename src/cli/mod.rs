//! The command-line interface: argument parsing, logging, and one file per command.

mod args;
mod completions;
mod daemon;
mod exec;
mod generate;
mod init;
mod inspect;
mod log_filter;
mod mcp;
mod migrate;
mod output;
mod serve;
mod serving;
mod watch;

pub use args::{Args, Command};
pub use clap::Parser;

use std::path::Path;

use crate::config::Project;
use crate::diagnostic::Problems;
use crate::exit::ExitCode;
use output::Output;

/// Sets up logging (RUST_LOG, else -v/-q) and a panic hook that asks for a bug report.
pub fn init(args: &Args) {
    set_panic_hook();
    init_logging(args);
}

/// A panic hook that asks for a bug report.
fn set_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        // swc's, caught and reported as a syntax error.
        if crate::analyze::in_parser() {
            return;
        }
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        eprintln!(
            "compozy {} hit an internal error{location}: {message}\n\
             This is a bug in compozy, not in your project. Please report it with the command \
             you ran and this message.",
            env!("CARGO_PKG_VERSION")
        );
    }));
}

/// Logging: RUST_LOG, else -v/-q.
fn init_logging(args: &Args) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;

    let default_level = match (args.global.quiet, args.global.verbose) {
        (q, _) if q > 0 => LevelFilter::ERROR,
        (_, 0) => LevelFilter::WARN,
        (_, 1) => LevelFilter::INFO,
        (_, 2) => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    // `Targets` (`RUST_LOG=compozy=debug,info`) rather than `EnvFilter`: the latter compiles its
    // directives into full DFAs and switches that regex feature on for every other regex in the
    // process (globs included), which cost about half a millisecond on each start.
    let from_env = std::env::var("RUST_LOG")
        .ok()
        .and_then(|spec| spec.parse::<Targets>().ok());
    let all_events = from_env.is_some() || default_level >= LevelFilter::DEBUG;
    let filter = from_env.unwrap_or_else(|| {
        // rmcp reports every error answer it sends as a warning; `compozy mcp` has already
        // told the client, so only -v shows them.
        let rmcp = if default_level == LevelFilter::WARN {
            LevelFilter::ERROR
        } else {
            default_level
        };
        Targets::new()
            .with_default(default_level)
            .with_target("rmcp", rmcp)
    });
    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(Output::new(&args.global).color)
        .without_time()
        .with_max_level(LevelFilter::TRACE)
        .finish()
        .with(filter)
        .with((!all_events).then_some(log_filter::NormalEvents))
        .with(log_filter::SensitiveEvents);
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// Sets up (see [`init`]), runs the command and returns the process exit code.
pub fn run(args: Args) -> ExitCode {
    set_panic_hook();
    let out = Output::new(&args.global);
    let cwd = match std::env::current_dir() {
        Ok(cwd) => cwd,
        Err(e) => {
            eprintln!("compozy: cannot read the current directory: {e}");
            return ExitCode::Error;
        }
    };
    // A call the project's warm server answers needs nothing else set up: it is asked first.
    let mut no_server = None;
    if let Command::Exec(a) = &args.command {
        match exec::warm_first(a, &out, &cwd) {
            Ok(code) => return code,
            Err(reason) => no_server = reason,
        }
    }
    init_logging(&args);
    match &args.command {
        Command::Gen(a) => generate::run(a, &out, &cwd),
        Command::Exec(a) => exec::run(a, &out, &cwd, no_server),
        Command::Serve(a) => serve::run(a, &out, &cwd),
        Command::Watch(a) => watch::run(a, &out, &cwd),
        Command::Inspect(a) => inspect::run(a, &out, &cwd),
        Command::Mcp(a) => mcp::run(a, &out, &cwd),
        Command::Daemon(a) => daemon::run(a, &out, &cwd),
        Command::Init(a) => init::run(a, &out, &cwd),
        Command::Migrate(a) => migrate::run(a, &out, &cwd),
        Command::Completions(a) => completions::completions(a),
        Command::Man(a) => completions::man(a, &out),
    }
}

/// Regenerates stale output (as `gen` would) and returns the project; an unchanged project comes
/// from the one stored by the last generation. When some tools have problems, the others are
/// served without them, with a warning naming the files at fault (see
/// [`crate::generate::prepare_partial`]).
fn fresh_project(dir: Option<&Path>, out: &Output, cwd: &Path) -> Result<Project, Problems> {
    if let Some(project) = crate::up_to_date_project(dir, cwd).and_then(|c| c.project()) {
        return Ok(project);
    }
    regenerate(dir, out, cwd).or_else(|problems| {
        partial(dir, out, cwd, "serving the other tools", |_| true).ok_or(problems)
    })
}

/// The project without its tools that have problems, when `fits` it; the warning is shown.
fn partial(
    dir: Option<&Path>,
    out: &Output,
    cwd: &Path,
    running: &str,
    fits: impl FnOnce(&Project) -> bool,
) -> Option<Project> {
    let partial = crate::generate::prepare_partial(dir, cwd, running)?;
    if !fits(&partial.project) {
        return None;
    }
    out.problems([&partial.warning]);
    Some(partial.project)
}

/// [`fresh_project`] for a caller that needs only the tool `tool_id`: an unchanged project's
/// other tools are not even parsed. A project without that tool comes whole (for the error's
/// suggestions). With the digest of the fingerprint that found the project unchanged (`None`
/// when it was regenerated).
fn fresh_project_for(
    dir: Option<&Path>,
    out: &Output,
    cwd: &Path,
    tool_id: &str,
) -> Result<(Project, Option<u64>), Problems> {
    if let Some((compiled, digest)) = crate::up_to_date_project_digest(dir, cwd) {
        let project = if compiled.has(tool_id) {
            compiled.project_with(tool_id)
        } else {
            compiled.project()
        };
        if let Some(project) = project {
            return Ok((project, Some(digest)));
        }
    }
    regenerate(dir, out, cwd)
        .or_else(|problems| {
            let running = format!("running `{tool_id}`");
            partial(dir, out, cwd, &running, |p| p.resolve(tool_id).is_ok()).ok_or(problems)
        })
        .map(|project| (project, None))
}

/// The full pipeline, as `gen` runs it (also when a stored project did not load).
fn regenerate(dir: Option<&Path>, out: &Output, cwd: &Path) -> Result<Project, Problems> {
    let generation = crate::prepare(dir, cwd)?;
    out.problems(&generation.warnings);
    generation.write()?;
    // As `gen` says it: a file that changed under the user's feet is named.
    generate::print_changes(&generation.plan, out);
    Ok(generation.project)
}

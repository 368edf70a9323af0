//! `compozy daemon start|stop|status`: the project's background server, which `exec` forwards
//! its calls to (see [`crate::warm`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::args::{DaemonAction, DaemonArgs, DaemonStartArgs};
use super::output::Output;
use super::serving::{self, Serving};
use crate::diagnostic::Problem;
use crate::exit::ExitCode;

/// How long `daemon start` waits for the server to listen.
const START_WAIT: Duration = Duration::from_secs(30);

/// Runs `daemon`.
pub fn run(args: &DaemonArgs, out: &Output, cwd: &Path) -> ExitCode {
    match &args.action {
        DaemonAction::Start(a) => start(a, out, cwd),
        DaemonAction::Run(a) => serve(a, out, cwd),
        DaemonAction::Stop(a) => match root(a.project.project.as_deref(), cwd, out) {
            Ok(root) => stop(&root, out),
            Err(code) => code,
        },
        DaemonAction::Status(a) => match root(a.project.project.as_deref(), cwd, out) {
            Ok(root) => status(&root, out),
            Err(code) => code,
        },
    }
}

fn root(dir: Option<&Path>, cwd: &Path, out: &Output) -> Result<PathBuf, ExitCode> {
    crate::config::project_root(dir, cwd).map_err(|e| {
        out.problems([&Problem::new(e)]);
        ExitCode::Error
    })
}

fn describe(status: &crate::warm::wire::Status) -> String {
    format!(
        "compozy: `{}` (pid {}) serves {} ({} tool{}), {}",
        status.command,
        status.pid,
        status.root.display(),
        status.tools,
        if status.tools == 1 { "" } else { "s" },
        if status.fresh {
            "up to date"
        } else {
            "reloading on the next call"
        }
    )
}

fn status(root: &Path, out: &Output) -> ExitCode {
    match crate::warm::client::status(root) {
        Ok(status) => {
            println!("{}", describe(&status));
            ExitCode::Ok
        }
        Err(reason) => {
            println!("compozy: no server of {} is listening", root.display());
            out.detail(&format!("compozy: {reason}"));
            ExitCode::Failure
        }
    }
}

fn stop(root: &Path, out: &Output) -> ExitCode {
    let Ok(status) = crate::warm::client::status(root) else {
        out.status(&format!(
            "compozy: no server of {} is listening",
            root.display()
        ));
        return ExitCode::Ok;
    };
    if let Err(reason) = crate::warm::client::stop(root) {
        eprintln!("compozy: cannot stop the server: {reason}");
        return ExitCode::Failure;
    }
    out.status(&format!(
        "compozy: stopped `{}` (pid {})",
        status.command, status.pid
    ));
    ExitCode::Ok
}

/// Starts `compozy daemon run` in the background (its own session, its log beside the socket)
/// and waits until it listens.
fn start(args: &DaemonStartArgs, out: &Output, cwd: &Path) -> ExitCode {
    use std::os::unix::process::CommandExt;
    let root = match root(args.project.project.as_deref(), cwd, out) {
        Ok(root) => root,
        Err(code) => return code,
    };
    if let Ok(status) = crate::warm::client::status(&root) {
        println!("{}", describe(&status));
        return ExitCode::Ok;
    }
    let log_path = crate::warm::socket_path(&root).with_extension("log");
    let log = match crate::warm::prepare_dir().and_then(|_| {
        std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))
    }) {
        Ok(log) => log,
        Err(reason) => {
            eprintln!("compozy: cannot start a server: {reason}");
            return ExitCode::Failure;
        }
    };
    let Ok(exe) = std::env::current_exe() else {
        eprintln!("compozy: cannot start a server: the path of compozy itself is unknown");
        return ExitCode::Failure;
    };
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["-v", "daemon", "run", "--project"])
        .arg(&root)
        .current_dir(&root)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .process_group(0);
    if let Some(workers) = args.workers {
        cmd.args(["--workers", &workers.to_string()]);
    }
    if let Some(runtime) = args.runtime {
        cmd.args([
            "--runtime",
            crate::config::RuntimeKind::from(runtime).name(),
        ]);
    }
    match log.try_clone() {
        Ok(err) => cmd.stderr(err),
        Err(_) => cmd.stderr(std::process::Stdio::null()),
    };
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            eprintln!("compozy: cannot start a server: {e}");
            return ExitCode::Failure;
        }
    };
    let until = Instant::now() + START_WAIT;
    loop {
        if let Ok(status) = crate::warm::client::status(&root) {
            println!("{}", describe(&status));
            out.status("compozy: `compozy daemon stop` stops it");
            return ExitCode::Ok;
        }
        if let Ok(Some(_)) = child.try_wait() {
            let said = std::fs::read_to_string(&log_path).unwrap_or_default();
            eprint!("{said}");
            eprintln!(
                "compozy: the server did not start (its log: {})",
                log_path.display()
            );
            return ExitCode::Failure;
        }
        if Instant::now() > until {
            eprintln!(
                "compozy: the server did not listen within {}s (its log: {})",
                START_WAIT.as_secs(),
                log_path.display()
            );
            return ExitCode::Failure;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The background server: the project watched and regenerated, its pool answering `exec` on the
/// socket only, until `daemon stop` or a signal.
fn serve(args: &DaemonStartArgs, out: &Output, cwd: &Path) -> ExitCode {
    let mut serving = match Serving::load(args.project.project.as_deref(), cwd, out, true) {
        Ok(serving) => serving,
        Err(code) => return code,
    };
    let pool = match serving.start_pool(args.runtime, args.workers) {
        Ok((pool, _)) => pool,
        Err(code) => return code,
    };
    serving::exit_on_signal(pool.clone());
    let (server, reload) = serving::server_over(&pool);
    let Some(listener) = serving.listen(&server, args.runtime, "daemon", Arc::clone(&reload))
    else {
        eprintln!("compozy: not listening (see above): nothing to serve");
        pool.shutdown();
        return ExitCode::Failure;
    };
    if let Some(watch) = serving.take_watch() {
        watch.run(|project| {
            reload(Arc::clone(&project));
            listener.reloaded(project);
            out.status("compozy: workers reloaded");
        });
    }
    pool.shutdown();
    ExitCode::Ok
}

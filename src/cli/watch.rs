//! `compozy watch [--serve]`: regenerate on every relevant change; with `--serve`, also answer
//! requests and hot-reload the workers.

use std::path::Path;
use std::sync::Arc;

use super::args::WatchArgs;
use super::output::Output;
use super::serving::{self, Serving};
use crate::exit::ExitCode;

/// Runs `watch`.
pub fn run(args: &WatchArgs, out: &Output, cwd: &Path) -> ExitCode {
    let dir = args.project.project.as_deref();
    if args.serve {
        return serve(args, out, cwd);
    }
    let mut watcher = match serving::start_watcher(dir, cwd, out) {
        Ok(w) => w,
        Err(code) => return code,
    };
    let first = serving::regenerate(dir, cwd, out);
    serving::exit_cleanly_on_signal();
    serving::watch_loop(&mut watcher, dir, cwd, out, first.as_ref(), |_| {});
    ExitCode::Ok
}

/// Runs `watch --serve`: requests on stdin, answered by workers that reload on every change.
fn serve(args: &WatchArgs, out: &Output, cwd: &Path) -> ExitCode {
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
    let listener = if args.no_listen {
        None
    } else {
        serving.listen(&server, args.runtime, "watch --serve", Arc::clone(&reload))
    };
    let serving_stdin = Arc::clone(&server);
    std::thread::spawn(move || {
        serving::serve_stdin(&pool, serving_stdin);
        // `exec` stops finding this server before its last calls drain.
        crate::warm::listener::remove_socket();
        pool.shutdown();
        std::process::exit(0);
    });
    if let Some(watch) = serving.take_watch() {
        watch.run(|project| {
            reload(Arc::clone(&project));
            if let Some(listener) = &listener {
                listener.reloaded(project);
            }
            out.status("compozy: workers reloaded");
        });
    }
    ExitCode::Ok
}

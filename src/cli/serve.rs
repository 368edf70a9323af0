//! `compozy serve`: a warm pool answering newline-delimited JSON on stdin/stdout.

use std::path::Path;

use super::args::ServeArgs;
use super::output::Output;
use super::serving::{self, Serving};
use crate::exit::ExitCode;

/// Runs `serve`.
pub fn run(args: &ServeArgs, out: &Output, cwd: &Path) -> ExitCode {
    let serving = match Serving::load(args.project.project.as_deref(), cwd, out, false) {
        Ok(serving) => serving,
        Err(code) => return code,
    };
    let pool = match serving.start_pool(args.runtime, args.workers) {
        Ok((pool, described)) => {
            // A person at a terminal sees that it listens, and what to type.
            out.summary(&format!(
                "compozy: serving {described}; send one JSON request per line, e.g. \
                 {{\"tool_id\": \"…\", \"input\": {{}}}} (Ctrl-D ends)"
            ));
            pool
        }
        Err(code) => return code,
    };
    serving::exit_on_signal(pool.clone());
    let (server, reload) = serving::server_over(&pool);
    let _listener =
        (!args.no_listen).then(|| serving.listen(&server, args.runtime, "serve", reload));
    serving::serve_stdin(&pool, std::sync::Arc::clone(&server));
    // `exec` stops finding this server before its last calls drain: it runs one-shot instead.
    crate::warm::listener::remove_socket();
    pool.shutdown();
    ExitCode::Ok
}

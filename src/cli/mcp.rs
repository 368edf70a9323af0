//! `compozy mcp`: the project's tools as an MCP server (stdio, or Streamable HTTP).

use std::os::fd::AsFd;
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::args::McpArgs;
use super::output::Output;
use super::serving::{self, Serving};
use crate::diagnostic::Problem;
use crate::exit::ExitCode;
use crate::mcp::{Handler, Shared};
use crate::runtime::Server;
use crate::warm::listener::Reload;

/// A problem starting the MCP server.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error(
        "refusing to serve MCP on {addr} without authorization: it is not a loopback address, so \
         anyone who can reach it could call every tool"
    )]
    Open { addr: String },
    #[error("cannot check tokens (`auth:` in compozy.yaml): {0}")]
    Auth(String),
}

impl crate::diagnostic::Explain for McpError {
    fn code(&self) -> &'static str {
        match self {
            Self::Listen { .. } => "mcp::listen",
            Self::Runtime(_) => "mcp::runtime",
            Self::Open { .. } => "mcp::open",
            Self::Auth(_) => "mcp::auth",
        }
    }

    fn help(&self) -> Option<String> {
        match self {
            Self::Listen { .. } => {
                Some("pick a free port (or 0 for any), e.g. --http 127.0.0.1:8808".into())
            }
            Self::Runtime(_) => None,
            Self::Open { .. } => Some(
                "add `auth:` to compozy.yaml (static tokens or JWTs, see the README's `compozy \
                 mcp`), bind to 127.0.0.1, or pass --no-auth if a proxy in front decides who may \
                 reach the server"
                    .into(),
            ),
            Self::Auth(_) => {
                Some("set the variables `auth.tokens.env` names, and check `auth.jwt.jwks`".into())
            }
        }
    }
}

/// Runs `mcp`.
pub fn run(args: &McpArgs, out: &Output, cwd: &Path) -> ExitCode {
    // With --watch, the watcher starts before the first generation, so that no edit is missed.
    let mut serving = match Serving::load(args.project.project.as_deref(), cwd, out, args.watch) {
        Ok(serving) => serving,
        Err(code) => return code,
    };
    let project = Arc::clone(&serving.project);
    if !serving.regenerated {
        // `regenerate` printed it already.
        out.problems(&crate::generate::mcp_advice(&project));
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            out.problems([&Problem::new(McpError::Runtime(e))]);
            return ExitCode::Error;
        }
    };
    // The pool's loop runs on the runtime's thread, beside the handlers: a call and its answer
    // cross no thread.
    let (pool, driver, described) = match serving.start_local_pool(args.runtime, args.workers) {
        Ok(started) => started,
        Err(code) => return code,
    };
    let driver = match (&args.http, std::io::stdin().as_fd().try_clone_to_owned()) {
        (None, Ok(stdin)) => driver.interrupt_on(stdin),
        _ => driver,
    };
    let driver = rt.spawn(driver.run());
    serving::exit_on_signal(pool.clone());
    let server = Arc::new(Mutex::new(Server::new(pool.clone())));
    let shared = Shared::new(Arc::clone(&server));

    // The HTTP checks, once they exist (a reload takes the tools' new scopes).
    let gate_slot: Arc<Mutex<Option<Arc<crate::mcp::Gate>>>> = Arc::default();
    let reload: Reload = {
        let handle = rt.handle().clone();
        let shared = Arc::clone(&shared);
        let gate_slot = Arc::clone(&gate_slot);
        Arc::new(move |project| {
            let shared = Arc::clone(&shared);
            if let Some(gate) = gate_slot
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .as_ref()
            {
                gate.set_tools(&project);
            }
            // Waited for: a forwarded call that asked for the reload runs on the new workers.
            let (done, reloaded) = std::sync::mpsc::channel();
            handle.spawn(async move {
                shared.reload(project).await;
                let _ = done.send(());
            });
            let _ = reloaded.recv_timeout(std::time::Duration::from_secs(5));
        })
    };
    let listener = if args.no_listen {
        None
    } else {
        serving
            .listen(&server, args.runtime, "mcp", Arc::clone(&reload))
            .map(Arc::new)
    };
    if let Some(watch) = serving.take_watch() {
        let reload = Arc::clone(&reload);
        let listener = listener.clone();
        let out = *out;
        std::thread::spawn(move || {
            watch.run(|project| {
                reload(Arc::clone(&project));
                if let Some(listener) = &listener {
                    listener.reloaded(project);
                }
                out.status("compozy: workers reloaded");
            });
        });
    }

    let handler = Handler::new(Arc::clone(&shared));
    let code = match &args.http {
        None => {
            // A person who started it by hand sees that it waits for a client.
            out.summary(&format!(
                "compozy: MCP server ready over stdio, {described} (Ctrl-D ends)"
            ));
            match rt.block_on(crate::mcp::serve_stdio(handler)) {
                Ok(()) => ExitCode::Ok,
                Err(e) => {
                    tracing::error!("MCP over stdio: {e}");
                    ExitCode::Failure
                }
            }
        }
        Some(addr) => {
            let listener = match rt.block_on(tokio::net::TcpListener::bind(addr.as_str())) {
                Ok(l) => l,
                Err(source) => {
                    out.problems([&Problem::new(McpError::Listen {
                        addr: addr.clone(),
                        source,
                    })]);
                    pool.shutdown();
                    let _ = rt.block_on(driver);
                    return ExitCode::Error;
                }
            };
            let local = listener.local_addr().ok();
            let gate = match (&project.auth, args.no_auth) {
                (Some(auth), false) => match rt.block_on(crate::mcp::Gate::new(auth, &project)) {
                    Ok(gate) => Some(Arc::new(gate)),
                    Err(e) => {
                        out.problems([&Problem::new(McpError::Auth(e))]);
                        pool.shutdown();
                        let _ = rt.block_on(driver);
                        return ExitCode::Error;
                    }
                },
                _ => None,
            };
            if gate.is_none() && !args.no_auth && !local.is_some_and(|l| l.ip().is_loopback()) {
                out.problems([&Problem::new(McpError::Open { addr: addr.clone() })]);
                pool.shutdown();
                let _ = rt.block_on(driver);
                return ExitCode::Error;
            }
            if let Some(gate) = &gate {
                *gate_slot
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::clone(gate));
            }
            if let Some(local) = local {
                let url = format!("http://{local}{}", crate::mcp::HTTP_PATH);
                // Scripts (port 0) read the URL from this line: it ends with it when piped.
                if out.terminal {
                    out.status(&format!(
                        "compozy: MCP over HTTP at {url} ready, {described} (Ctrl-C ends)"
                    ));
                } else {
                    out.status(&format!("compozy: MCP over HTTP at {url}"));
                }
            }
            match rt.block_on(crate::mcp::serve_http(handler, listener, gate)) {
                Ok(()) => ExitCode::Ok,
                Err(e) => {
                    tracing::error!("MCP over HTTP: {e}");
                    ExitCode::Failure
                }
            }
        }
    };
    // Every call in flight is answered (and every worker stopped) before the runtime goes;
    // `exec` stops finding this server first.
    crate::warm::listener::remove_socket();
    pool.shutdown();
    let _ = rt.block_on(driver);
    drop(listener);
    // Tokio's stdin reader cannot be interrupted: do not wait for it.
    rt.shutdown_background();
    code
}

//! WebAssembly tools: a WASI preview-1 command module run by compozy itself, on wasmi, in a
//! sandbox that grants nothing but what `execute:` lists. Each module is compiled once per
//! process (again when the file changes) and instantiated fresh for every call; the deadline
//! is kept inside the engine, by metering fuel in slices and looking at the clock between them.

mod wasi;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use wasmi::{Engine, Linker, Module, Store, TypedResumableCall};

use super::carrier::{Carrier, Exit, stdio_result};
use super::error::RuntimeError;
use super::protocol::{Request, Response};
use super::{Limits, WorkerCommand};
use crate::config::{Command, Project, Protocol, WasmGrants};
use crate::env::ToolEnv;
use wasi::{Host, Stop};

/// Instructions run between two looks at the clock (about a millisecond or two).
const FUEL_SLICE: u64 = 1 << 20;

/// A tool that is a WebAssembly module (`execute: ./x.wasm`).
#[derive(Debug, Clone)]
pub struct WasmCarrier {
    tool: String,
    module: PathBuf,
    grants: WasmGrants,
}

impl WasmCarrier {
    /// The carrier of `tool`, when `command` is a WebAssembly module.
    pub fn new(tool: &str, command: &Command) -> Option<Self> {
        let grants = command.wasm.clone()?;
        Some(Self {
            tool: tool.to_owned(),
            module: command.program.clone(),
            grants,
        })
    }

    /// Runs `request` in a fresh instance with the variables of `env` it was granted, within
    /// `timeout`; `cancel` (besides SIGINT/SIGTERM) stops it early.
    pub fn run(
        &self,
        request: &Request,
        env: &dyn Fn(&str) -> Option<String>,
        limits: &Limits,
        timeout: Duration,
        cancel: Option<&AtomicBool>,
    ) -> Result<Response, RuntimeError> {
        let started = Instant::now();
        let deadline = started + timeout;
        let (module, linker) = compiled(&self.module)?;
        let mut stdin = serde_json::to_vec(&request.input).map_err(std::io::Error::from)?;
        stdin.push(b'\n');
        let env = self
            .grants
            .env
            .iter()
            .filter_map(|name| env(name).map(|value| format!("{name}={value}")))
            .collect();
        let name = self
            .module
            .file_name()
            .map_or_else(|| self.tool.clone(), |n| n.to_string_lossy().into_owned());
        let host = Host::new(
            stdin,
            &name,
            env,
            &self.grants.dirs,
            self.grants.memory,
            limits.max_result_bytes,
            limits.max_log_bytes,
        );
        let mut store = Store::new(module.engine(), host);
        store.limiter(|host| &mut host.limits);
        let protocol = |reason: String| RuntimeError::Protocol { reason };
        store
            .set_fuel(FUEL_SLICE)
            .map_err(|e| protocol(e.to_string()))?;
        let classify = |e: &wasmi::Error| match e.i32_exit_status() {
            Some(0) => Ok(Exit::Success),
            Some(code) => Ok(Exit::Failed(format!("it exited with status {code}"))),
            None => match e.downcast_ref::<Stop>() {
                Some(Stop::ResultTooLarge) => Err(RuntimeError::ResultTooLarge {
                    limit: limits.max_result_bytes,
                }),
                Some(Stop::LogTooLarge) => Err(RuntimeError::LogTooLarge {
                    limit: limits.max_log_bytes,
                }),
                None => Ok(Exit::Failed(format!("it trapped ({e})"))),
            },
        };
        let exit = match linker.instantiate_and_start(&mut store, &module) {
            Err(e) => classify(&e)?,
            Ok(instance) => {
                let start = instance
                    .get_typed_func::<(), ()>(&store, "_start")
                    .map_err(|e| protocol(format!("its `_start` cannot be called ({e})")))?;
                let interrupt = super::interrupted();
                let mut call = start.call_resumable(&mut store, ());
                loop {
                    match call {
                        Ok(TypedResumableCall::OutOfFuel(paused)) => {
                            if Instant::now() >= deadline {
                                return Err(RuntimeError::Timeout {
                                    tool: self.tool.clone(),
                                    timeout,
                                });
                            }
                            if interrupt.load(Ordering::Relaxed) {
                                return Err(RuntimeError::Interrupted);
                            }
                            if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                                return Err(RuntimeError::Cancelled);
                            }
                            store
                                .set_fuel(FUEL_SLICE)
                                .map_err(|e| protocol(e.to_string()))?;
                            call = paused.resume(&mut store);
                        }
                        Ok(TypedResumableCall::HostTrap(trap)) => {
                            break classify(trap.host_error())?;
                        }
                        Ok(TypedResumableCall::Finished(())) => break Exit::Success,
                        Err(e) => break classify(&e)?,
                    }
                }
            }
        };
        let host = store.into_data();
        let tail = String::from_utf8_lossy(&host.stderr_tail);
        stdio_result(&host.stdout, exit, &tail, request, started.elapsed())
    }
}

impl Carrier for WasmCarrier {
    fn worker_command(&self, _project: &Project, _persistent: bool) -> WorkerCommand {
        // Never started as a process: the pool and `exec` run it in-process.
        WorkerCommand {
            program: self.module.clone(),
            args: Vec::new(),
            cwd: None,
            protocol: Protocol::Stdio,
            holds_stdin: false,
        }
    }

    fn protocol(&self) -> Protocol {
        Protocol::Stdio
    }

    fn persistent(&self) -> bool {
        false
    }

    fn key(&self) -> String {
        format!("wasm:{}", self.tool)
    }

    fn in_process(&self) -> Option<&WasmCarrier> {
        Some(self)
    }

    fn execute(
        &self,
        _project: &Project,
        request: &Request,
        env: &ToolEnv,
        limits: &Limits,
        timeout: Duration,
    ) -> Result<Response, RuntimeError> {
        let map = env.to_map();
        self.run(
            request,
            &|name| map.get(name).cloned(),
            limits,
            timeout,
            None,
        )
    }
}

/// The engine every module is compiled for (fuel metered, for the deadline).
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = wasmi::Config::default();
        config.consume_fuel(true);
        Engine::new(&config)
    })
}

/// What a module file was when it was compiled: a rebuilt file is compiled again.
#[derive(Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

type Compiled = (Module, std::sync::Arc<Linker<Host>>);

/// The module at `path`, compiled once per process (and again when the file changes), with
/// its linker.
fn compiled(path: &Path) -> Result<Compiled, RuntimeError> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, (Stamp, Compiled)>>> = OnceLock::new();
    let unreadable = |e: std::io::Error| RuntimeError::Protocol {
        reason: format!("its module `{}` cannot be read ({e})", path.display()),
    };
    let meta = std::fs::metadata(path).map_err(unreadable)?;
    let stamp = Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
    };
    let cache = CACHE.get_or_init(Mutex::default);
    if let Some((seen, compiled)) = cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(path)
        && *seen == stamp
    {
        return Ok(compiled.clone());
    }
    let bytes = std::fs::read(path).map_err(unreadable)?;
    let invalid = |e: wasmi::Error| RuntimeError::Protocol {
        reason: format!(
            "its module `{}` is not a module compozy can run ({e})",
            path.display()
        ),
    };
    if let Err((reason, _)) = crate::config::check_wasm_module(&bytes) {
        return Err(RuntimeError::Protocol {
            reason: format!("its module `{}` {reason}", path.display()),
        });
    }
    let module = Module::new(engine(), &bytes).map_err(invalid)?;
    let linker = std::sync::Arc::new(wasi::linker(engine(), &module).map_err(invalid)?);
    let compiled = (module, linker);
    cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(path.to_path_buf(), (stamp, compiled.clone()));
    Ok(compiled)
}

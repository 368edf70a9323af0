//! Stage 4: running tools on a real Bun or Node through the generated workers.

mod bun;
pub mod caller;
mod carrier;
mod discover;
mod error;
mod input;
mod node;
mod oneshot;
mod policy;
pub(crate) mod policy_state;
pub mod pool;
pub mod protocol;
mod server;
mod spawn;
mod trace;
mod wasm;
mod worker;

use std::path::Path;

pub use bun::Bun;
pub use carrier::{Carrier, Carriers, JS_KEY, ProcessCarrier, needs_js};
pub use error::RuntimeError;
pub use input::{
    Validators, check_schema, compile as compile_schema, merge_defaults, redact, sensitive_values,
};
pub use node::{Node, permission_flags};
pub use oneshot::interrupted;
pub use policy::{Policies, infrastructure};
pub use pool::{LocalDriver, Pool};
pub use protocol::{
    Metadata, Note, Notes, Progress, Request, Response, ToolError, excerpt, new_exec_id,
};
pub use server::{Call, Refusal, Server};
pub use trace::parse_traceparent;
// For the fuzz targets (fuzz/), not part of the library's API.
#[doc(hidden)]
pub use server::parse_line;
pub use spawn::WorkerCommand;
pub use trace::flush as flush_spans;
pub use wasm::WasmCarrier;

use crate::config::RuntimeKind;

/// Caps on what a tool may send back (SIGKILL and a clear error beyond them).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest result, in bytes of JSON.
    pub max_result_bytes: usize,
    /// Largest total of stdout and stderr output.
    pub max_log_bytes: usize,
}

impl Limits {
    /// 64 MiB of result, 16 MiB of logs, or `COMPOZY_MAX_RESULT_BYTES` / `COMPOZY_MAX_LOG_BYTES`.
    pub fn from_env() -> Self {
        let read = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(default)
        };
        Self {
            max_result_bytes: read("COMPOZY_MAX_RESULT_BYTES", 64 << 20),
            max_log_bytes: read("COMPOZY_MAX_LOG_BYTES", 16 << 20),
        }
    }
}

/// A JavaScript runtime that can run the generated worker: the [`Carrier`] of every tool that
/// is a module.
pub trait Runtime: Carrier {
    /// Bun or Node.
    fn kind(&self) -> RuntimeKind;

    /// The binary's version, when it was probed.
    fn version(&self) -> Option<(u64, u64, u64)> {
        None
    }

    /// `bun 1.4.5`, for messages.
    fn describe(&self) -> String {
        let name = match self.kind() {
            RuntimeKind::Bun => "bun",
            RuntimeKind::Node => "node",
        };
        match self.version() {
            Some((major, minor, patch)) => format!("{name} {major}.{minor}.{patch}"),
            None => name.to_owned(),
        }
    }
}

/// Finds the runtime of `kind` for the project.
pub fn find(kind: RuntimeKind, root: &Path) -> Result<Box<dyn Runtime>, RuntimeError> {
    find_in(kind, root, None)
}

/// [`find`], as a process with the environment `env` finds it.
pub fn find_in(
    kind: RuntimeKind,
    root: &Path,
    env: Option<&std::collections::BTreeMap<String, String>>,
) -> Result<Box<dyn Runtime>, RuntimeError> {
    Ok(match kind {
        RuntimeKind::Bun => Box::new(Bun::find_in(root, env)?),
        RuntimeKind::Node => Box::new(Node::find_in(root, env)?),
    })
}

/// Whether a binary for `kind` can be found for the project at all, without running it (a
/// version that is too old is only told by [`find`]).
pub fn installed(kind: RuntimeKind, root: &Path) -> Result<(), RuntimeError> {
    discover::any(
        match kind {
            RuntimeKind::Bun => "bun",
            RuntimeKind::Node => "node",
        },
        root,
    )
}

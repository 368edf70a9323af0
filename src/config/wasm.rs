//! `execute: ./x.wasm` and `execute: {wasm: …, dirs, env, memory}`: a WebAssembly tool, its
//! module read and checked (a WASI preview-1 command module, nothing else), and its grants.

use std::path::Path;

use super::error::ConfigError;
use super::raw::RawCommand;
use super::validate::{at, is_env_name};
use super::{Command, Protocol, WasmDir, WasmGrants};
use crate::diagnostic::Problems;
use crate::paths::{normalize, slash_path};
use crate::source::SourceFile;
use serde_saphyr::Spanned;

/// The only import module a tool's module may use.
pub const WASI_MODULE: &str = "wasi_snapshot_preview1";

/// Whether `execute:` written as a path names a WebAssembly module.
pub fn is_wasm_path(execute: &str) -> bool {
    execute.ends_with(".wasm")
}

/// The tool `id` run from the module `written` (relative to `yaml_dir`), with the grants of
/// `raw` (none when `execute:` is a plain path).
pub fn tool(
    id: &str,
    written: &Spanned<String>,
    raw: Option<&RawCommand>,
    yaml_dir: &Path,
    root: &Path,
    file: &SourceFile,
    problems: &mut Problems,
) -> Option<Command> {
    let before = problems.0.len();
    let bad = |reason: String, help: &str| ConfigError::BadExecute {
        id: id.to_owned(),
        reason,
        help: help.to_owned(),
    };
    let path = normalize(&yaml_dir.join(&written.value));
    let bad_module = |reason: String, help: String| ConfigError::BadCommand {
        id: id.to_owned(),
        path: written.value.clone(),
        reason,
        help,
    };
    match std::fs::read(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let help = format!(
                "paths are relative to the YAML file that declares the tool ({}); build the \
                 module (e.g. `cargo build --target wasm32-wasip1`) or fix the path",
                file.name
            );
            problems.push(at(
                bad_module("does not exist".into(), help),
                file,
                written,
                "this module",
            ));
        }
        Err(e) => problems.push(at(
            bad_module(
                format!("cannot be read ({e})"),
                "check the file's permissions".into(),
            ),
            file,
            written,
            "this module",
        )),
        Ok(bytes) => {
            if let Err((reason, help)) = check_module(&bytes) {
                problems.push(at(bad_module(reason, help), file, written, "this module"));
            }
        }
    }

    let mut grants = WasmGrants {
        dirs: Vec::new(),
        env: Vec::new(),
        memory: WasmGrants::DEFAULT_MEMORY,
    };
    let canonical_root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    for (dir, write) in raw.map(|r| r.dirs.as_slice()).unwrap_or_default() {
        let abs = normalize(&yaml_dir.join(&dir.value));
        let inside = abs
            .strip_prefix(root)
            .ok()
            .zip(std::fs::canonicalize(&abs).ok())
            .filter(|(_, real)| real.starts_with(&canonical_root));
        let Some((rel, real)) = inside else {
            let reason = if abs.starts_with(root) && !abs.exists() {
                format!("opens `{}`, which does not exist", dir.value)
            } else {
                format!("opens `{}`, which is outside the project root", dir.value)
            };
            problems.push(at(
                bad(
                    reason,
                    "a WebAssembly tool may only be given directories inside the project (paths \
                     are relative to this YAML file); create it, or fix the path",
                ),
                file,
                dir,
                "this directory",
            ));
            continue;
        };
        if !real.is_dir() {
            problems.push(at(
                bad(
                    format!("opens `{}`, which is not a directory", dir.value),
                    "`dirs:` names directories; open the one that holds the file",
                ),
                file,
                dir,
                "this directory",
            ));
            continue;
        }
        grants.dirs.push(WasmDir {
            host: real,
            guest: format!("/{}", slash_path(rel)),
            write: write.as_ref().is_some_and(|w| w.value),
        });
    }
    for name in raw.map(|r| r.env.as_slice()).unwrap_or_default() {
        if is_env_name(&name.value) {
            grants.env.push(name.value.clone());
        } else {
            problems.push(at(
                bad(
                    format!("grants `{}`, which is not a variable name", name.value),
                    "list names of variables, e.g. `env: [LANG, API_URL]`",
                ),
                file,
                name,
                "this name",
            ));
        }
    }
    if let Some(memory) = raw.and_then(|r| r.memory.as_ref()) {
        match parse_size(&memory.value) {
            Some(bytes) if (64 << 10..=4 << 30).contains(&bytes) => grants.memory = bytes,
            _ => problems.push(at(
                bad(
                    format!("has a memory cap `{}` compozy cannot use", memory.value),
                    "write a size between 64KiB and 4GiB, e.g. `memory: 64MiB`",
                ),
                file,
                memory,
                "this size",
            )),
        }
    }
    (problems.0.len() == before).then(|| Command {
        program: path,
        args: Vec::new(),
        protocol: Protocol::Stdio,
        persistent: false,
        wasm: Some(grants),
    })
}

/// `64MiB`, `512 KiB`, `1GiB`, `65536` (bytes).
fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(scale)
}

/// Whether `bytes` is a module compozy can run: a valid core module (not a component), a
/// command (it exports `_start`), importing only from WASI preview 1. The error: why not, and
/// the fix.
pub fn check_module(bytes: &[u8]) -> Result<(), (String, String)> {
    use wasmparser::{Encoding, Parser, Payload};
    let mut start = false;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| {
            (
                format!("is not a WebAssembly module ({e})"),
                "build it again for `wasm32-wasip1`; a `.wasm` file must be a binary module".into(),
            )
        })?;
        match payload {
            Payload::Version {
                encoding: Encoding::Component,
                ..
            } => {
                return Err((
                    "is a WebAssembly component, not a module".into(),
                    "compozy runs WASI preview-1 command modules: build for `wasm32-wasip1` \
                     instead of `wasm32-wasip2`"
                        .into(),
                ));
            }
            Payload::ImportSection(imports) => {
                for import in imports {
                    let import =
                        import.map_err(|e| (format!("has a bad import ({e})"), String::new()))?;
                    if import.module != WASI_MODULE {
                        return Err((
                            format!(
                                "imports `{}` from `{}`; compozy provides only `{WASI_MODULE}`",
                                import.name, import.module
                            ),
                            "a tool's module may use WASI preview 1 and nothing else; build it \
                             for `wasm32-wasip1` without other host bindings"
                                .into(),
                        ));
                    }
                }
            }
            Payload::ExportSection(exports) => {
                for export in exports.into_iter().flatten() {
                    start |=
                        export.name == "_start" && export.kind == wasmparser::ExternalKind::Func;
                }
            }
            _ => {}
        }
    }
    wasmparser::Validator::new()
        .validate_all(bytes)
        .map_err(|e| {
            (
                format!("is not a valid WebAssembly module ({e})"),
                "build it again; the file may be truncated or built for another target".into(),
            )
        })?;
    if !start {
        return Err((
            "is a reactor module: it exports no `_start`".into(),
            "compozy runs command modules, which read stdin and write stdout from `_start`; \
             build a binary (`fn main`), not a library (`cdylib`)"
                .into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64MiB"), Some(64 << 20));
        assert_eq!(parse_size("512 KiB"), Some(512 << 10));
        assert_eq!(parse_size("65536"), Some(65536));
        assert_eq!(parse_size("1GB"), None);
        assert_eq!(parse_size("MiB"), None);
    }
}

//! A record of the metadata of every input and output of the last successful `gen`, so that an
//! unchanged project is recognised with a few `stat` calls instead of re-reading everything.
//!
//! Stored in `.compozy/.cache/` (with a `.gitignore` of its own): it is machine-specific and is
//! never part of the generated output. Any doubt means "not fresh": a full run follows.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::codegen::OUTPUT_DIR;
use crate::paths::slash_path;

const CACHE_DIR: &str = ".cache";
const FILE: &str = "fingerprint";
/// Identifies the build: another compozy (or the same version with other templates) renders
/// other output, so its fingerprint must not count.
fn magic() -> String {
    format!(
        "compozy-fingerprint 3 {} {:016x}",
        env!("CARGO_PKG_VERSION"),
        crate::codegen::TEMPLATES_HASH
    )
}

/// A file whose mtime is this close to "now" may still change within the same timestamp tick;
/// recording it could hide that change, so no fingerprint is written then.
const RACY: Duration = Duration::from_secs(1);

/// Metadata that changes when a file or a directory listing changes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    mtime_ns: u128,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    let mtime = meta.modified().ok()?;
    Some(Stamp {
        len: if meta.is_dir() { 0 } else { meta.len() },
        mtime_ns: mtime.duration_since(UNIX_EPOCH).ok()?.as_nanos(),
    })
}

fn location(root: &Path) -> PathBuf {
    root.join(OUTPUT_DIR).join(CACHE_DIR).join(FILE)
}

/// What an unchanged project is known to hold without loading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fresh {
    /// The generated files (root-relative).
    pub outputs: Vec<String>,
    /// How many tools the project has.
    pub tools: usize,
}

/// When every recorded path still has its recorded metadata, what the last run generated.
pub fn fresh(root: &Path) -> Option<Fresh> {
    let text = std::fs::read_to_string(location(root)).ok()?;
    let mut lines = text.lines();
    if lines.next()? != magic() {
        return None;
    }
    let tools = lines.next()?.strip_prefix("tools ")?.parse().ok()?;
    let mut outputs = Vec::new();
    for line in lines {
        let mut parts = line.splitn(4, ' ');
        let is_output = match parts.next()? {
            "o" => true,
            "i" => false,
            _ => return None,
        };
        let len: u64 = parts.next()?.parse().ok()?;
        let mtime_ns: u128 = parts.next()?.parse().ok()?;
        let rel = parts.next()?;
        let path = if rel == "." {
            root.to_path_buf()
        } else {
            root.join(rel)
        };
        if stamp(&path)? != (Stamp { len, mtime_ns }) {
            return None;
        }
        // The cache's own files are outputs only for the fingerprint.
        if is_output && !rel.starts_with(&format!("{OUTPUT_DIR}/{CACHE_DIR}/")) {
            outputs.push(rel.to_owned());
        }
    }
    Some(Fresh { outputs, tools })
}

/// Records `inputs` (files and the directories whose listings matter), `outputs` and the number
/// of tools. Best effort: a fingerprint that cannot be written only costs speed.
pub fn save(root: &Path, inputs: Vec<PathBuf>, outputs: Vec<PathBuf>, tools: usize) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let mut paths: Vec<(PathBuf, bool)> = inputs
        .into_iter()
        .map(|p| (p, true))
        .chain(outputs.into_iter().map(|p| (p, false)))
        .collect();
    paths.sort();
    paths.dedup_by(|a, b| a.0 == b.0);
    let mut text = format!("{}\ntools {tools}\n", magic());
    for (path, is_input) in &paths {
        let Some(stamp) = stamp(path) else {
            return remove(root);
        };
        // Outputs were just written by this run; only a user's edit can be racy.
        if *is_input && now.saturating_sub(stamp.mtime_ns) < RACY.as_nanos() {
            return remove(root);
        }
        let rel = match path.strip_prefix(root) {
            Ok(rel) if rel.as_os_str().is_empty() => ".".to_owned(),
            Ok(rel) => slash_path(rel),
            Err(_) => return remove(root),
        };
        let kind = if *is_input { 'i' } else { 'o' };
        let _ = writeln!(text, "{kind} {} {} {rel}", stamp.len, stamp.mtime_ns);
    }
    let file = location(root);
    let Some(dir) = file.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    let ignore = dir.join(".gitignore");
    if !ignore.exists() {
        let _ = std::fs::write(
            &ignore,
            "# compozy's cache: machine-specific, never commit it.\n*\n",
        );
    }
    if let Err(e) = crate::codegen::write_atomic(&file, text.as_bytes()) {
        tracing::debug!("cannot save the fingerprint: {e}");
    }
}

/// Forgets the fingerprint, so that the next run checks everything.
pub fn remove(root: &Path) {
    let _ = std::fs::remove_file(location(root));
}

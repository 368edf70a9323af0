//! Finding `bun` and `node`: `COMPOZY_BUN`/`COMPOZY_NODE`, then `PATH`, then
//! `node_modules/.bin` of the project and its parents; the first one recent enough wins.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::UNIX_EPOCH;

use super::error::RuntimeError;
use crate::codegen::OUTPUT_DIR;

/// A semantic version (major, minor, patch).
pub type Version = (u64, u64, u64);

/// Parses `v22.18.0` or `1.4.5` (a suffix such as `-canary` is ignored).
pub fn parse_version(text: &str) -> Option<Version> {
    let text = text.trim().trim_start_matches('v');
    let core = text.split(['-', '+', ' ']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

/// A runtime binary that was found and probed.
#[derive(Debug, Clone)]
pub struct Found {
    /// The binary.
    pub path: PathBuf,
    /// Its version.
    pub version: Version,
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// The environment candidates are looked up in: this process's (`None`), or another one's (a
/// warm server answering for `exec`, see [`crate::warm`]).
pub type Env<'a> = Option<&'a std::collections::BTreeMap<String, String>>;

fn var_os(env: Env<'_>, name: &str) -> Option<std::ffi::OsString> {
    match env {
        Some(env) => env.get(name).map(Into::into),
        None => std::env::var_os(name),
    }
}

/// Candidate paths in priority order, and whether the first came from the override variable.
fn candidates(name: &str, root: &Path, env: Env<'_>) -> (Vec<PathBuf>, bool) {
    let var = format!("COMPOZY_{}", name.to_uppercase());
    if let Some(path) = var_os(env, &var).filter(|v| !v.is_empty()) {
        return (vec![PathBuf::from(path)], true);
    }
    let mut found = Vec::new();
    if let Some(path) = var_os(env, "PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if is_executable(&candidate) {
                found.push(candidate);
            }
        }
    }
    // Like Node's own module resolution, look in the project and its parents (workspaces hoist
    // binaries to the workspace root).
    for dir in root.ancestors() {
        let local = dir.join("node_modules/.bin").join(name);
        if is_executable(&local) {
            found.push(local);
        }
    }
    (found, false)
}

/// Probing a version costs a process start (40 ms for node); it is remembered per binary
/// (path, size, mtime) in `.compozy/.cache/runtimes`.
fn cached_version(root: &Path, path: &Path) -> Option<Version> {
    let key = cache_key(path)?;
    let text = std::fs::read_to_string(cache_file(root)).ok()?;
    text.lines().find_map(|line| {
        let (k, v) = line.rsplit_once('\t')?;
        (k == key).then(|| parse_version(v)).flatten()
    })
}

fn remember_version(root: &Path, path: &Path, version: &str) {
    let Some(key) = cache_key(path) else { return };
    let file = cache_file(root);
    let mut text = std::fs::read_to_string(&file).unwrap_or_default();
    text.push_str(&format!("{key}\t{}\n", version.trim()));
    if crate::codegen::cache_dir(root).is_ok() {
        let _ = crate::codegen::write_atomic(&file, text.as_bytes());
    }
}

fn cache_file(root: &Path) -> PathBuf {
    root.join(OUTPUT_DIR).join(".cache").join("runtimes")
}

fn cache_key(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    let mtime = meta
        .modified()
        .ok()?
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some(format!("{}\t{}\t{mtime}", path.display(), meta.len()))
}

fn probe(root: &Path, path: &Path) -> Result<Version, RuntimeError> {
    if let Some(version) = cached_version(root, path) {
        return Ok(version);
    }
    let fail = |reason: String| RuntimeError::Version {
        path: path.display().to_string(),
        reason,
    };
    let output = Command::new(path)
        .arg("--version")
        .env_clear()
        .output()
        .map_err(|e| fail(e.to_string()))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let version = parse_version(&text).ok_or_else(|| fail(format!("it printed {text:?}")))?;
    remember_version(root, path, &text);
    Ok(version)
}

/// Finds the first candidate for which `accept` holds; otherwise explains what was found.
pub fn find(
    name: &'static str,
    root: &Path,
    env: Env<'_>,
    requirement: &'static str,
    accept: impl Fn(Version) -> bool,
) -> Result<Found, RuntimeError> {
    let (candidates, explicit) = candidates(name, root, env);
    let mut too_old = None;
    for path in &candidates {
        if explicit && !is_executable(path) {
            return Err(not_found(name, root, Some(path)));
        }
        let version = probe(root, path)?;
        if accept(version) {
            return Ok(Found {
                path: path.clone(),
                version,
            });
        }
        too_old.get_or_insert((path.clone(), version));
    }
    match too_old {
        Some((path, (a, b, c))) => Err(RuntimeError::TooOld {
            name,
            path: path.display().to_string(),
            version: format!("{a}.{b}.{c}"),
            requirement,
            project: root.display().to_string(),
            from_env: explicit,
        }),
        None => Err(not_found(name, root, None)),
    }
}

/// Like [`find`] without running anything (no version probe): fails only when there is no
/// candidate binary at all.
pub fn any(name: &'static str, root: &Path) -> Result<(), RuntimeError> {
    let (candidates, explicit) = candidates(name, root, None);
    match candidates.first() {
        Some(path) if explicit && !is_executable(path) => Err(not_found(name, root, Some(path))),
        Some(_) => Ok(()),
        None => Err(not_found(name, root, None)),
    }
}

/// No `name` for the project at `root`; `from_env` is the path the override variable named.
fn not_found(name: &'static str, root: &Path, from_env: Option<&Path>) -> RuntimeError {
    let var = format!("COMPOZY_{}", name.to_uppercase());
    RuntimeError::NotFound {
        name,
        looked: match from_env {
            Some(path) => format!("{var}={}", path.display()),
            None => format!(
                "{var}, PATH, node_modules/.bin in {} and its parents",
                root.display()
            ),
        },
        project: root.display().to_string(),
        from_env: from_env.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_version;

    #[test]
    fn versions() {
        assert_eq!(parse_version("v22.18.0\n"), Some((22, 18, 0)));
        assert_eq!(parse_version("1.4.5"), Some((1, 4, 5)));
        assert_eq!(parse_version("1.2.0-canary.1"), Some((1, 2, 0)));
        assert_eq!(parse_version("nonsense"), None);
    }
}

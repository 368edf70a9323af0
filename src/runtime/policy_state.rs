//! The state of the built-in policies that outlives one process: a directory per project in the
//! user's runtime directory (beside the warm sockets, see [`crate::warm`]), so that successive
//! `exec`s see one rate limit, one concurrency cap and one cache, and a server and the `exec`s
//! of its project share one rate limit.
//!
//! - `rate.json`: every token bucket, read and written under an exclusive `flock` of
//!   `rate.lock` (written to a temporary file and renamed, so a crash leaves the old one);
//! - `slots/TOOL/N.lock`: the N places of a concurrency cap; a call holds one with `flock` for as
//!   long as it runs (the kernel lets it go when the process ends, however it ends);
//! - `cache/KEY.json`: one answer per key, with the time it expires, written atomically.
//!
//! Removing the directory resets all of it (at worst a limit starts over); the directory of a
//! project whose root is gone is removed when another project first keeps state.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use super::protocol::Response;

/// How often a call waiting for a place under a concurrency cap looks again.
const SLOT_POLL: Duration = Duration::from_millis(20);

/// At most this many cached answers per project; past it, expired ones are removed, and a new
/// answer is not kept while none has expired.
const CACHE_FILES: usize = 10_000;

/// The state directory of one project.
#[derive(Debug)]
pub struct StateDir {
    dir: PathBuf,
}

/// A token bucket as stored: tokens left, and when (ms since the epoch) it was last refilled.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct StoredBucket {
    pub tokens: f64,
    pub at_ms: u64,
}

/// A cached answer as stored.
#[derive(Serialize, Deserialize)]
struct StoredAnswer {
    /// When it expires (ms since the epoch).
    until_ms: u64,
    response: Response,
}

/// A place under a concurrency cap, held until dropped.
#[derive(Debug)]
pub struct Slot {
    _lock: Flock<File>,
}

/// The time now, in ms since the epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The first 32 hex digits of the SHA-256 of `text`: a file name for a key of any length and
/// content (a key holds the caller and the input, which are not written anywhere).
pub fn digest(text: &str) -> String {
    use sha2::Digest;
    let hash = sha2::Sha256::digest(text.as_bytes());
    hash.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

fn create_private(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

fn exclusive(path: &Path) -> std::io::Result<Flock<File>> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)?;
    Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| errno.into())
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(bytes)?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Removes the state directories (other than `keep`) of projects whose root no longer exists.
fn sweep(all: &Path, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(all) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path == keep {
            continue;
        }
        let gone = std::fs::read_to_string(path.join("root"))
            .is_ok_and(|root| !Path::new(root.trim_end_matches('\n')).exists());
        if gone {
            tracing::debug!(
                "removing the policy state of a project that is gone: {}",
                path.display()
            );
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

impl StateDir {
    /// The state directory of the project in `root`: `STATE/HASH/`, where STATE is
    /// [`state_root`]; created (mode 0700) when missing.
    pub fn open(root: &Path) -> Result<Self, String> {
        let base = crate::warm::prepare_dir()?;
        let dir = base.join("state").join(crate::warm::project_key(root));
        create_private(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        // Which project it is, for a person looking at the directory.
        let named = dir.join("root");
        if !named.exists() {
            let _ = write_atomically(&named, format!("{}\n", root.display()).as_bytes());
            // A new project's first state: the good moment to drop that of projects gone.
            if let Some(all) = dir.parent() {
                sweep(all, &dir);
            }
        }
        Ok(Self { dir })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Reads the buckets under the lock, lets `update` change them, and writes them back; what
    /// `update` returns is returned.
    pub fn with_buckets<T>(
        &self,
        update: impl FnOnce(&mut HashMap<String, StoredBucket>) -> T,
    ) -> std::io::Result<T> {
        let _lock = exclusive(&self.dir.join("rate.lock"))?;
        let path = self.dir.join("rate.json");
        let mut buckets: HashMap<String, StoredBucket> = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(e) => return Err(e),
        };
        let before = serde_json::to_vec(&buckets).unwrap_or_default();
        let out = update(&mut buckets);
        let after = serde_json::to_vec(&buckets).map_err(std::io::Error::other)?;
        if after != before {
            write_atomically(&path, &after)?;
        }
        Ok(out)
    }

    /// Takes one of the `max` places of `tool`, waiting while all are held; `None` when
    /// `interrupted` was set while waiting.
    pub fn slot(
        &self,
        tool: &str,
        max: usize,
        interrupted: &AtomicBool,
    ) -> std::io::Result<Option<Slot>> {
        let dir = self.dir.join("slots").join(digest(tool));
        create_private(&dir)?;
        loop {
            for n in 0..max.max(1) {
                let file = OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(dir.join(format!("{n}.lock")))?;
                match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                    Ok(lock) => return Ok(Some(Slot { _lock: lock })),
                    Err((_, nix::errno::Errno::EWOULDBLOCK)) => {}
                    Err((_, errno)) => return Err(errno.into()),
                }
            }
            if interrupted.load(Ordering::SeqCst) {
                return Ok(None);
            }
            std::thread::sleep(SLOT_POLL);
        }
    }

    fn cache_file(&self, key: &str) -> PathBuf {
        self.dir.join("cache").join(format!("{}.json", digest(key)))
    }

    /// The answer kept under `key`, unless it expired (an expired one is removed).
    pub fn cached(&self, key: &str) -> Option<Response> {
        let path = self.cache_file(key);
        let mut text = Vec::new();
        File::open(&path).ok()?.read_to_end(&mut text).ok()?;
        let stored: StoredAnswer = serde_json::from_slice(&text).ok()?;
        if stored.until_ms <= now_ms() {
            let _ = std::fs::remove_file(&path);
            return None;
        }
        Some(stored.response)
    }

    /// Keeps `response` under `key` for `ttl`.
    pub fn keep(&self, key: &str, response: &Response, ttl: Duration) -> std::io::Result<()> {
        let dir = self.dir.join("cache");
        create_private(&dir)?;
        let now = now_ms();
        let count = std::fs::read_dir(&dir)?.count();
        if count >= CACHE_FILES {
            for entry in std::fs::read_dir(&dir)?.flatten() {
                let expired = std::fs::read(entry.path())
                    .ok()
                    .and_then(|b| serde_json::from_slice::<StoredAnswer>(&b).ok())
                    .is_none_or(|s| s.until_ms <= now);
                if expired {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
            if std::fs::read_dir(&dir)?.count() >= CACHE_FILES {
                return Ok(());
            }
        }
        let stored = StoredAnswer {
            until_ms: now.saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)),
            response: response.clone(),
        };
        let bytes = serde_json::to_vec(&stored).map_err(std::io::Error::other)?;
        write_atomically(&self.cache_file(key), &bytes)
    }
}

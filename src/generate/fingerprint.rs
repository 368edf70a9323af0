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

/// Stamps of root-relative paths, each looked up from its open directory: the paths come
/// sorted, so a directory's files come together, and a lookup of one name costs less than a walk
/// from `/` (the walk was most of the time a check took).
struct Dirs<'a> {
    root: &'a Path,
    /// The directory last opened (root-relative) and its descriptor.
    open: Option<(&'a str, std::os::fd::OwnedFd)>,
}

impl<'a> Dirs<'a> {
    fn new(root: &'a Path) -> Self {
        Self { root, open: None }
    }

    /// The stamp of `rel`, as [`stamp`] gives it for the joined path.
    fn stamp(&mut self, rel: &'a str) -> Option<Stamp> {
        use nix::fcntl::{AtFlags, OFlag, open};
        use nix::sys::stat::{Mode, SFlag, fstatat};
        let (dir, name) = match rel.rsplit_once('/') {
            Some((dir, name)) => (dir, name),
            None if rel == "." => return stamp(self.root),
            None => (".", rel),
        };
        if self.open.as_ref().is_none_or(|(open, _)| *open != dir) {
            let path = if dir == "." {
                self.root.to_path_buf()
            } else {
                self.root.join(dir)
            };
            // O_PATH (Linux) needs no read permission on the directory, only search.
            #[cfg(target_os = "linux")]
            let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
            #[cfg(not(target_os = "linux"))]
            let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
            match open(&path, flags, Mode::empty()) {
                Ok(fd) => self.open = Some((dir, fd)),
                // A directory that cannot be opened may still be searched: the whole path then.
                Err(_) => {
                    self.open = None;
                    return stamp(&path.join(name));
                }
            }
        }
        let (_, fd) = self.open.as_ref()?;
        // Followed like `std::fs::metadata` (a symlinked module counts by its target).
        let stat = fstatat(fd, name, AtFlags::empty()).ok()?;
        let is_dir = SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR;
        let secs = u128::try_from(stat.st_mtime).ok()?;
        let nanos = u128::try_from(stat.st_mtime_nsec).ok()?;
        Some(Stamp {
            len: if is_dir {
                0
            } else {
                u64::try_from(stat.st_size).ok()?
            },
            mtime_ns: secs * 1_000_000_000 + nanos,
        })
    }
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
    /// Identifies the recorded state of every input and output: two processes that find the
    /// project fresh with the same digest see the same files (a warm server and `exec`).
    pub digest: u64,
}

/// When every recorded path still has its recorded metadata, what the last run generated.
pub fn fresh(root: &Path) -> Option<Fresh> {
    let text = std::fs::read_to_string(location(root)).ok()?;
    let mut lines = text.lines();
    if lines.next()? != magic() {
        return None;
    }
    let tools = lines.next()?.strip_prefix("tools ")?.parse().ok()?;
    let cache = format!("{OUTPUT_DIR}/{CACHE_DIR}/");
    let mut recorded = Vec::new();
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
        recorded.push((rel, Stamp { len, mtime_ns }));
        // The cache's own files are outputs only for the fingerprint.
        if is_output && !rel.starts_with(&cache) {
            outputs.push(rel.to_owned());
        }
    }
    unchanged(root, &recorded).then(|| Fresh {
        outputs,
        tools,
        digest: digest(&text),
    })
}

/// The paths the fingerprint of `root` records (root-relative, `.` for the root), and the
/// [`Fresh::digest`] it would be found fresh with; `None` without a fingerprint of this build.
/// Nothing is checked.
pub fn recorded(root: &Path) -> Option<(Vec<String>, u64)> {
    let text = std::fs::read_to_string(location(root)).ok()?;
    let mut lines = text.lines();
    if lines.next()? != magic() {
        return None;
    }
    lines.next()?.strip_prefix("tools ")?;
    let paths = lines
        .map(|line| line.splitn(4, ' ').nth(3).map(str::to_owned))
        .collect::<Option<Vec<_>>>()?;
    Some((paths, digest(&text)))
}

/// A hash of the fingerprint's text that is the same in every compozy process of this build.
fn digest(text: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    // `DefaultHasher::new` has fixed keys: stable across processes, unlike `RandomState`.
    let mut hasher = std::hash::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

/// From this many paths on, two threads check them: each check is a system call of its own, and
/// on a project of 1,000 tools they were most of an `exec`'s own time.
const SPLIT_FROM: usize = 256;

/// Whether every path (root-relative, `.` for the root) still has its recorded stamp.
fn unchanged(root: &Path, recorded: &[(&str, Stamp)]) -> bool {
    let check = |part: &[(&str, Stamp)]| {
        let mut dirs = Dirs::new(root);
        part.iter()
            .all(|(rel, stamp_then)| dirs.stamp(rel).as_ref() == Some(stamp_then))
    };
    if recorded.len() < SPLIT_FROM {
        return check(recorded);
    }
    let (mine, theirs) = recorded.split_at(recorded.len() / 2);
    std::thread::scope(|scope| {
        let other = std::thread::Builder::new()
            // A stat needs little stack; the default 2 MiB would cost more to map than it saves.
            .stack_size(64 << 10)
            .spawn_scoped(scope, || check(theirs));
        match other {
            Ok(other) => {
                let ours = check(mine);
                other.join().unwrap_or(false) && ours
            }
            Err(_) => check(recorded),
        }
    })
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
    if crate::codegen::cache_dir(root).is_err() {
        return;
    }
    if let Err(e) = crate::codegen::write_atomic(&location(root), text.as_bytes()) {
        tracing::debug!("cannot save the fingerprint: {e}");
    }
}

/// Forgets the fingerprint, so that the next run checks everything.
pub fn remove(root: &Path) {
    let _ = std::fs::remove_file(location(root));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_mtime(path: &Path, secs_ago: u64) {
        let when = SystemTime::now() - Duration::from_secs(secs_ago);
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }

    fn set_mtime_dir(path: &Path, secs_ago: u64) {
        let when = SystemTime::now() - Duration::from_secs(secs_ago);
        std::fs::File::open(path)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }

    /// Enough files for the check to be split between two threads: a change in either half counts.
    #[test]
    fn a_change_in_any_part_of_a_large_project_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        // Files at the top, in a directory and in one below it, and the directories themselves
        // (whose stamps record their listings).
        let dirs = [root.join("a"), root.join("a/b")];
        let places = [root.clone(), dirs[0].clone(), dirs[1].clone()];
        let mut files: Vec<PathBuf> = (0..2 * SPLIT_FROM)
            .map(|i| places[i % 3].join(format!("f{i:04}.ts")))
            .collect();
        std::fs::create_dir_all(&dirs[1]).unwrap();
        for file in &files {
            std::fs::write(file, "x").unwrap();
            set_mtime(file, 60);
        }
        for dir in &dirs {
            set_mtime_dir(dir, 60);
        }
        files.extend(dirs.iter().cloned());
        for changed in [3, 4, files.len() / 2 + 2, files.len() - 5] {
            save(&root, files.clone(), Vec::new(), 1);
            assert!(fresh(&root).is_some(), "an unchanged project is fresh");
            set_mtime(&files[changed], 30);
            assert!(fresh(&root).is_none(), "file {changed} changed unseen");
            set_mtime(&files[changed], 60);
        }
        // A new file in a directory changes the directory's stamp.
        save(&root, files.clone(), Vec::new(), 1);
        std::fs::write(dirs[1].join("new.ts"), "x").unwrap();
        assert!(fresh(&root).is_none(), "a new file went unseen");
        std::fs::remove_file(dirs[1].join("new.ts")).unwrap();
        set_mtime_dir(&dirs[1], 60);
        save(&root, files.clone(), Vec::new(), 1);
        assert!(fresh(&root).is_some());
        std::fs::remove_file(&files[files.len() - 4]).unwrap();
        assert!(fresh(&root).is_none(), "a deleted file went unseen");
    }
}

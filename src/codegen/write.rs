//! Putting generated files on disk: only when changed, atomically, removing stale ones.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::error::GenError;
use super::render::GeneratedFile;
use super::{HEADER, OUTPUT_DIR};
use crate::paths::slash_path;

/// Prefix of temporary files, so that leftovers of a killed run can be recognised and removed.
const TEMP_PREFIX: &str = ".compozy-tmp-";

/// What happens (or would happen) to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// New file.
    Created,
    /// Contents changed.
    Updated,
    /// Already up to date; not touched.
    Unchanged,
    /// Generated earlier, no longer generated.
    Removed,
}

/// One file of a plan.
#[derive(Debug, Clone)]
pub struct Planned {
    /// Root-relative path.
    pub rel: String,
    /// What happens to it.
    pub status: Status,
    /// Current contents on disk, if any.
    pub old: Option<String>,
    /// New contents (`None` for removals).
    pub new: Option<String>,
}

/// The difference between the generated files and the disk.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Every file concerned, sorted by path.
    pub files: Vec<Planned>,
    /// Temp files left by a killed run.
    leftovers: Vec<PathBuf>,
}

impl Plan {
    /// True when nothing needs writing or removing.
    pub fn is_up_to_date(&self) -> bool {
        self.files.iter().all(|f| f.status == Status::Unchanged)
    }

    /// A unified diff of every change (for `gen --check`).
    pub fn unified_diff(&self) -> String {
        unified_diff(&self.files)
    }
}

/// A unified diff of every changed file of `files` (`gen --check`, `migrate --check`).
pub fn unified_diff(files: &[Planned]) -> String {
    let mut out = String::new();
    for file in files.iter().filter(|f| f.status != Status::Unchanged) {
        let old = file.old.as_deref().unwrap_or("");
        let new = file.new.as_deref().unwrap_or("");
        let old_name = if file.old.is_some() {
            format!("a/{}", file.rel)
        } else {
            "/dev/null".to_owned()
        };
        let new_name = if file.new.is_some() {
            format!("b/{}", file.rel)
        } else {
            "/dev/null".to_owned()
        };
        let diff = similar::TextDiff::from_lines(old, new);
        out.push_str(
            &diff
                .unified_diff()
                .context_radius(3)
                .header(&old_name, &new_name)
                .to_string(),
        );
    }
    out
}

fn is_generated(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let mut first = [0u8; HEADER.len()];
    let mut reader = std::io::BufReader::new(file);
    std::io::Read::read_exact(&mut reader, &mut first).is_ok() && first == *HEADER.as_bytes()
}

/// Compares `files` with what is on disk under `root`.
pub fn plan(root: &Path, files: Vec<GeneratedFile>) -> Result<Plan, GenError> {
    let mut plan = Plan::default();
    for file in &files {
        let path = root.join(&file.rel);
        let old = match std::fs::read(&path) {
            Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(GenError::Read {
                    path: file.rel.clone(),
                    source,
                });
            }
        };
        let status = match &old {
            None => Status::Created,
            Some(old) if *old == file.contents => Status::Unchanged,
            Some(_) => Status::Updated,
        };
        plan.files.push(Planned {
            rel: file.rel.clone(),
            status,
            old,
            new: Some(file.contents.clone()),
        });
    }

    let out_dir = root.join(OUTPUT_DIR);
    if out_dir.is_dir() {
        // The cache is compozy's own, not output (it may hold workers of a run without some
        // tools, see `generate::prepare_partial`).
        for entry in walkdir::WalkDir::new(&out_dir)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| !(e.depth() == 1 && e.file_name() == ".cache"))
            .flatten()
        {
            if !entry.file_type().is_file() {
                continue;
            }
            let Ok(rel) = entry.path().strip_prefix(root) else {
                continue;
            };
            let rel = slash_path(rel);
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                plan.leftovers.push(entry.path().to_path_buf());
            } else if !files.iter().any(|f| f.rel == rel) && is_generated(entry.path()) {
                plan.files.push(Planned {
                    old: std::fs::read_to_string(entry.path()).ok(),
                    rel,
                    status: Status::Removed,
                    new: None,
                });
            }
        }
    }
    plan.files.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(plan)
}

/// `.compozy/.cache` of `root`, created with a `.gitignore` of its own: what compozy keeps there
/// (the fingerprint, the stored project, the runtime versions) is machine-specific and names
/// absolute paths, and whichever file is written first, the directory must never be committed.
pub fn cache_dir(root: &Path) -> std::io::Result<std::path::PathBuf> {
    let dir = root.join(super::OUTPUT_DIR).join(".cache");
    std::fs::create_dir_all(&dir)?;
    let ignore = dir.join(".gitignore");
    if !ignore.exists() {
        write_atomic(
            &ignore,
            b"# compozy's cache: machine-specific, never commit it.\n*\n",
        )?;
    }
    Ok(dir)
}

/// Writes a file atomically: a temp file in the same directory, then a rename, so that readers
/// (and a `kill -9`) only ever see the old or the new contents.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    write_atomic_mode(path, contents, 0o644)
}

/// [`write_atomic`] with the file's permission bits (Unix; ignored elsewhere), for a user's file
/// that must keep its own.
pub fn write_atomic_mode(path: &Path, contents: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(TEMP_PREFIX);
    #[cfg(not(unix))]
    let _ = mode;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(mode));
    }
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(contents)?;
    // No fsync: the rename is what makes the write atomic for readers and for a killed process;
    // durability across power loss is left to the filesystem (ext4/xfs order rename-over-file).
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Carries out a plan; unchanged files are not touched (their mtimes stay put).
pub fn apply(root: &Path, plan: &Plan) -> Result<(), GenError> {
    for leftover in &plan.leftovers {
        let _ = std::fs::remove_file(leftover);
    }
    for file in &plan.files {
        let path = root.join(&file.rel);
        let result = match (file.status, &file.new) {
            (Status::Created | Status::Updated, Some(new)) => write_atomic(&path, new.as_bytes()),
            (Status::Removed, _) => std::fs::remove_file(&path),
            _ => Ok(()),
        };
        result.map_err(|source| GenError::Write {
            path: file.rel.clone(),
            source,
        })?;
    }
    Ok(())
}

//! Finding the project root and the standalone tool files.

use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use super::error::ConfigError;

/// The file that marks a project root.
pub const CONFIG_FILE: &str = "compozy.yaml";

/// Directories that are never scanned for tool files.
pub const SKIPPED_DIRS: &[&str] = &["node_modules", ".git", ".compozy"];

/// The autoload globs used when `compozy.yaml` has no `autoload:` section.
pub const DEFAULT_INCLUDE: &[&str] = &["tools/**/*.yaml", "tools/**/*.yml"];

/// The directory holding `compozy.yaml`, searching `start` and its parents.
pub fn find_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|dir| dir.join(CONFIG_FILE).is_file())
        .map(Path::to_path_buf)
}

/// The project root: the nearest directory holding `compozy.yaml`, from `project_dir` (relative
/// to `cwd`) when given, else from `cwd`, upwards. `--project tools` below the root finds the
/// root as `cd tools` would (as uv's `--project` does), instead of failing on a directory that is
/// plainly inside a project.
pub fn project_root(project_dir: Option<&Path>, cwd: &Path) -> Result<PathBuf, ConfigError> {
    let start = match project_dir {
        Some(dir) => {
            let dir = cwd.join(dir);
            dir.canonicalize()
                .map_err(|source| ConfigError::BadProjectDir { path: dir, source })?
        }
        None => cwd.canonicalize().unwrap_or_else(|_| cwd.to_path_buf()),
    };
    find_root(&start).ok_or(ConfigError::NotFound(start))
}

/// Compiles globs; on failure returns the index of the bad glob and the reason.
pub fn glob_set(globs: &[String]) -> Result<GlobSet, (usize, String)> {
    let mut builder = GlobSetBuilder::new();
    for (i, glob) in globs.iter().enumerate() {
        let glob = GlobBuilder::new(glob)
            .literal_separator(true)
            .build()
            .map_err(|e| (i, e.kind().to_string()))?;
        builder.add(glob);
    }
    builder.build().map_err(|e| (0, e.to_string()))
}

/// The literal directory a glob starts in (`tools/**/*.yaml` → `tools`), so that only that part of
/// the tree is walked.
fn literal_base(glob: &str) -> &str {
    let meta = glob.find(['*', '?', '[', '{']).unwrap_or(glob.len());
    match glob[..meta].rfind('/') {
        Some(slash) => &glob[..slash],
        None => "",
    }
}

/// What autoload found.
#[derive(Debug, Default)]
pub struct Found {
    /// Tool files (absolute path, root-relative path), sorted by the latter.
    pub files: Vec<(PathBuf, String)>,
    /// Every directory walked: a new tool file shows up as a change to one of them.
    pub dirs: Vec<PathBuf>,
    /// The include globs that found no tool file (after `exclude`), in the order given.
    pub unmatched: Vec<String>,
}

/// The standalone tool files under `root` matched by `include` and not by `exclude`, sorted by
/// their root-relative path.
pub fn tool_files(
    root: &Path,
    include_globs: &[String],
    include: &GlobSet,
    exclude: &GlobSet,
) -> Found {
    let mut bases: Vec<&str> = include_globs.iter().map(|g| literal_base(g)).collect();
    bases.sort_unstable();
    bases.dedup();
    // Walking `a` already covers `a/b`.
    let bases: Vec<&str> = bases
        .iter()
        .filter(|b| {
            !bases
                .iter()
                .any(|o| o != *b && (o.is_empty() || b.starts_with(&format!("{o}/"))))
        })
        .copied()
        .collect();

    let mut found = Vec::new();
    let mut dirs = Vec::new();
    let mut matched = vec![false; include_globs.len()];
    let mut hits = Vec::new();
    for base in bases {
        let dir = if base.is_empty() {
            root.to_path_buf()
        } else {
            root.join(base)
        };
        let walker = walkdir::WalkDir::new(&dir)
            .follow_links(false)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| {
                e.depth() == 0
                    || !(e.file_type().is_dir()
                        && e.file_name()
                            .to_str()
                            .is_some_and(|n| SKIPPED_DIRS.contains(&n)))
            });
        for entry in walker.flatten() {
            if entry.file_type().is_dir() {
                dirs.push(entry.path().to_path_buf());
                continue;
            }
            let Ok(rel) = entry.path().strip_prefix(root) else {
                continue;
            };
            let rel_str = crate::paths::slash_path(rel);
            if rel_str == CONFIG_FILE {
                continue;
            }
            include.matches_into(rel, &mut hits);
            if !hits.is_empty() && !exclude.is_match(rel) {
                for &i in &hits {
                    if let Some(m) = matched.get_mut(i) {
                        *m = true;
                    }
                }
                found.push((entry.path().to_path_buf(), rel_str));
            }
        }
    }
    found.sort_by(|a, b| a.1.cmp(&b.1));
    found.dedup_by(|a, b| a.1 == b.1);
    let unmatched = include_globs
        .iter()
        .zip(&matched)
        .filter(|(_, m)| !**m)
        .map(|(g, _)| g.clone())
        .collect();
    Found {
        files: found,
        dirs,
        unmatched,
    }
}

#[cfg(test)]
mod tests {
    use super::literal_base;

    #[test]
    fn literal_base_stops_at_the_first_glob_component() {
        assert_eq!(literal_base("tools/**/*.yaml"), "tools");
        assert_eq!(literal_base("a/b/*.yml"), "a/b");
        assert_eq!(literal_base("*.yaml"), "");
        assert_eq!(literal_base("tools/one.yaml"), "tools");
    }
}

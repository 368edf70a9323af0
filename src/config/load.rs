//! Reading the YAML files of a project.

use std::path::Path;

use super::error::ConfigError;
use super::{CONFIG_FILE, Project, discover, read, validate, yaml};
use crate::diagnostic::{Problem, Problems};
use crate::paths::display_path;
use crate::source::SourceFile;

/// Loads the project whose root is `project_dir`, or the nearest one above `cwd`.
///
/// Every problem found is returned together, not only the first.
pub fn load(project_dir: Option<&Path>, cwd: &Path) -> Result<Project, Problems> {
    let (project, problems) = load_lenient(project_dir, cwd)?;
    if problems.has_errors() {
        return Err(problems);
    }
    Ok(project)
}

/// Like [`load`], but keeps the valid tools when others have problems, so that the caller can
/// check them too and report everything at once.
pub fn load_lenient(
    project_dir: Option<&Path>,
    cwd: &Path,
) -> Result<(Project, Problems), Problems> {
    let root = match project_dir {
        Some(dir) => {
            let dir = cwd.join(dir);
            let canonical = dir.canonicalize().map_err(|source| {
                Problem::new(ConfigError::BadProjectDir {
                    path: dir.clone(),
                    source,
                })
            })?;
            if !canonical.join(CONFIG_FILE).is_file() {
                return Err(Problem::new(ConfigError::NotFound(dir)).into());
            }
            canonical
        }
        None => {
            let cwd = cwd.canonicalize().unwrap_or_else(|_| cwd.to_path_buf());
            discover::find_root(&cwd)
                .ok_or_else(|| Problem::new(ConfigError::NotFound(cwd.clone())))?
        }
    };

    let config_path = root.join(CONFIG_FILE);
    let config_file = read_source(&config_path, &root)?;
    // A syntax error leaves nothing to read, not even `autoload:`: the tool files cannot be found.
    let tree = yaml::parse(&config_file)?;
    let mut problems = Problems::default();
    let raw = read::project(&config_file, tree.as_ref(), &mut problems);

    // Unknown keys or wrong values in compozy.yaml do not hide the problems of the tool files,
    // as long as `autoload:` itself can be read.
    let mut tool_files = Vec::new();
    let mut dirs = Vec::new();
    if let Some((include_globs, include, exclude)) =
        validate::autoload_globs(&raw, &config_file, &mut problems)
    {
        let found = discover::tool_files(&root, &include_globs, &include, &exclude);
        dirs = found.dirs;
        let parsed = crate::parallel::map(&found.files, 4, |(path, _rel)| {
            let file = read_source(path, &root).map_err(Problems::from)?;
            match yaml::parse(&file) {
                Ok(Some(tree)) => {
                    let mut problems = Problems::default();
                    let raw = read::tool_file(&file, &tree, &mut problems);
                    Ok(((file, raw), problems))
                }
                Ok(None) => Err(Problems::from(Problem::new(ConfigError::EmptyToolFile {
                    name: file.name.clone(),
                }))),
                Err(p) => Err(Problems::from(p)),
            }
        });
        for result in parsed {
            match result {
                Ok((pair, found)) => {
                    problems.0.extend(found.0);
                    tool_files.push(pair);
                }
                Err(found) => problems.0.extend(found.0),
            }
        }
    }

    let (mut project, problems) = validate::project(root, config_file, raw, tool_files, problems)?;
    project.config_dirs = dirs;
    Ok((project, problems))
}

/// Reads a file for later code frames.
pub(crate) fn read_source(path: &Path, root: &Path) -> Result<SourceFile, Problem> {
    let text = std::fs::read_to_string(path).map_err(|source| {
        Problem::new(ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })
    })?;
    Ok(SourceFile::new(
        path.to_path_buf(),
        display_path(path, root),
        text,
    ))
}

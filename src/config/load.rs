//! Reading the YAML files of a project.

use std::path::Path;

use serde_saphyr::Spanned;

use super::error::ConfigError;
use super::refs::Docs;
use super::{CONFIG_FILE, Project, discover, layout, read, validate, yaml};
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
    let root = discover::project_root(project_dir, cwd).map_err(Problem::new)?;

    let config_path = root.join(CONFIG_FILE);
    let config_file = read_source(&config_path, &root)?;
    // A syntax error leaves nothing to read, not even `autoload:`: the tool files cannot be found.
    let tree = yaml::parse(&config_file)?;
    let mut problems = Problems::default();
    let raw = read::project(&config_file, tree.as_ref(), &mut problems);
    let mut docs = Docs::new(root.clone());
    let global = docs.add(config_file.clone(), tree);
    docs.set_global(global);

    // Unknown keys or wrong values in compozy.yaml do not hide the problems of the tool files,
    // as long as `autoload:` itself can be read.
    let mut autoloaded = Vec::new();
    let mut dirs = Vec::new();
    let mut autoload = None;
    let enabled = raw
        .autoload
        .as_ref()
        .and_then(|a| a.value.enabled)
        .unwrap_or(true);
    if enabled
        && let Some((include_globs, include, exclude)) =
            validate::autoload_globs(&raw, &config_file, &mut problems)
    {
        let found = discover::tool_files(&root, &include_globs, &include, &exclude);
        dirs = found.dirs;
        autoload = Some(Autoload {
            explicit: raw
                .autoload
                .as_ref()
                .map(|a| a.value.include.clone().unwrap_or_default()),
            unmatched: found.unmatched,
        });
        let parsed = crate::parallel::map(&found.files, 4, |(path, _rel)| {
            let file = read_source(path, &root).map_err(Problems::from)?;
            match yaml::parse(&file) {
                Ok(Some(tree)) => Ok((file, tree)),
                Ok(None) => Err(Problems::from(Problem::new(ConfigError::EmptyToolFile {
                    name: file.name.clone(),
                }))),
                Err(p) => Err(Problems::from(p)),
            }
        });
        for result in parsed {
            match result {
                Ok((file, tree)) => autoloaded.push(docs.add(file, Some(tree))),
                Err(found) => problems.0.extend(found.0),
            }
        }
    }

    let deno = ["deno.json", "deno.jsonc"]
        .into_iter()
        .find(|f| root.join(f).is_file());
    let declared = layout::declarations(&root, &mut docs, global, &raw, &autoloaded, &mut problems);
    let needs_entrypoint = declared
        .iter()
        .any(|(_, t)| t.value.execute.is_none() && t.value.command.is_none() && !t.value.misread);
    let config_files = docs.paths();
    let has_workflows = !raw.workflows.is_empty();
    let config_for_warning = config_file.clone();
    let (mut project, mut problems) =
        validate::project(root, config_file, raw, declared, needs_entrypoint, problems)?;
    project.config_dirs = dirs;
    project.config_files = config_files;
    // Tools without `execute:` beside a deno.json: their modules were named by its import map.
    if let Some(deno) = deno
        && problems
            .0
            .iter()
            .any(|p| p.code() == "config::missing-execute")
    {
        problems.push(Problem::new(ConfigError::DenoProject { file: deno.into() }));
    }
    if project.tools.is_empty()
        && !problems.has_errors()
        && let Some(autoload) = autoload
        && !has_workflows
    {
        problems.push(no_tools(&config_for_warning, autoload));
    }
    Ok((project, problems))
}

/// What autoload was asked for and what found nothing, for the warning about a project without
/// tools.
struct Autoload {
    /// `autoload.include` as written; `None` when compozy.yaml has no `autoload:` (the defaults).
    explicit: Option<Vec<Spanned<String>>>,
    /// The include globs that found no tool file.
    unmatched: Vec<String>,
}

/// The warning for a project that generates nothing: which globs matched nothing, pointing at
/// the first of them when compozy.yaml wrote it.
fn no_tools(config: &SourceFile, autoload: Autoload) -> Problem {
    let quoted = |globs: &[String]| {
        globs
            .iter()
            .map(|g| format!("`{g}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let none_inline = format!("{CONFIG_FILE} lists no `tools:`");
    let why = match (&autoload.explicit, autoload.unmatched.as_slice()) {
        (Some(include), _) if include.is_empty() => {
            format!("{none_inline}, and `autoload.include` is empty")
        }
        (_, []) => format!("{none_inline}, and the tool files autoload found declare none"),
        (Some(_), unmatched) => format!(
            "{none_inline}, and the `autoload.include` globs {} matched no file",
            quoted(unmatched)
        ),
        (None, unmatched) => format!(
            "{none_inline}, and the default autoload globs {} matched no file (there is no \
             `autoload:`)",
            quoted(unmatched)
        ),
    };
    let problem = Problem::new(ConfigError::NoTools { why }).warning();
    let first_unmatched = autoload
        .explicit
        .iter()
        .flatten()
        .find(|g| autoload.unmatched.contains(&g.value));
    match first_unmatched {
        Some(glob) => problem.at_line(
            config,
            usize::try_from(glob.referenced.line()).unwrap_or(1),
            usize::try_from(glob.referenced.column()).unwrap_or(1),
            "matched no file",
        ),
        None => problem,
    }
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

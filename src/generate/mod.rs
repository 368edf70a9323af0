//! The whole generation pipeline, as `gen`, `exec` and `watch` use it.

mod compiled;
mod fingerprint;
pub mod lock;

pub use compiled::Compiled;
pub use fingerprint::Fresh;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::analyze::{self, Analysis};
use crate::codegen::{self, GenError, Plan};
use crate::config::{self, Project, RuntimeKind};
use crate::diagnostic::{Problem, Problems};

/// A checked project and what generating it would change on disk.
#[derive(Debug)]
pub struct Generation {
    /// The validated project.
    pub project: Project,
    /// How each tool is reached.
    pub analysis: Analysis,
    /// What would be written or removed.
    pub plan: Plan,
    /// Problems that do not stop generation (shown on every run).
    pub warnings: Vec<Problem>,
    /// Advice for MCP hosts (shown by `gen`, `watch` and `mcp` when the project is generated;
    /// it does not keep an unchanged project off the fast path).
    pub advice: Vec<Problem>,
}

impl Generation {
    /// Writes the plan (only changed files, atomically), then records the fingerprint that lets
    /// the next unchanged run skip the work.
    pub fn write(&self) -> Result<(), Problems> {
        if let Err(e) = codegen::apply(&self.project.root, &self.plan) {
            fingerprint::remove(&self.project.root);
            return Err(Problem::new(e).into());
        }
        self.save_fingerprint();
        Ok(())
    }

    /// Every path whose change could change the output, and the outputs themselves.
    fn inputs_and_outputs(&self) -> (Vec<PathBuf>, Vec<PathBuf>) {
        let root = &self.project.root;
        let mut inputs: Vec<PathBuf> = Vec::new();
        inputs.extend(self.project.config_files.iter().map(|f| f.abs.clone()));
        inputs.extend(self.project.config_dirs.iter().cloned());
        for file in &self.analysis.files {
            inputs.push(file.clone());
            // A new file next to a module can change how its imports resolve.
            inputs.extend(file.parent().map(Path::to_path_buf));
        }
        if self.project.runtime.mode == config::EntrypointMode::HandWritten {
            inputs.push(self.project.runtime.entrypoint.abs.clone());
        }
        let outputs = self
            .plan
            .files
            .iter()
            .filter(|f| f.status != codegen::Status::Removed)
            .map(|f| root.join(&f.rel))
            .collect();
        (inputs, outputs)
    }

    fn save_fingerprint(&self) {
        // Warnings other than advice must be shown on every run, so a project with them always
        // takes the full path.
        if self.warnings.is_empty() {
            let (inputs, mut outputs) = self.inputs_and_outputs();
            // The stored project is an output: the fingerprint vouches for it.
            match compiled::save(&self.project) {
                Ok(()) => outputs.push(compiled::location(&self.project.root)),
                Err(e) => tracing::debug!("cannot store the compiled project: {e}"),
            }
            fingerprint::save(
                &self.project.root,
                inputs,
                outputs,
                self.project.tools.len(),
            );
        }
    }
}

/// When nothing changed since the last successful `gen` (judged from file metadata alone), what
/// it generated; `None` when a full run is needed.
pub fn up_to_date(project_dir: Option<&Path>, cwd: &Path) -> Option<Fresh> {
    fingerprint::fresh(&project_root(project_dir, cwd)?)
}

/// When nothing changed since the last successful generation, the project as it was stored
/// then (nothing else of the project is read); `None` when a full run is needed.
pub fn up_to_date_project(project_dir: Option<&Path>, cwd: &Path) -> Option<Compiled> {
    up_to_date_project_digest(project_dir, cwd).map(|(compiled, _)| compiled)
}

/// [`up_to_date_project`], with the [`Fresh::digest`] that found it up to date.
pub fn up_to_date_project_digest(
    project_dir: Option<&Path>,
    cwd: &Path,
) -> Option<(Compiled, u64)> {
    let root = project_root(project_dir, cwd)?;
    let fresh = fingerprint::fresh(&root)?;
    Some((Compiled::load(&root)?, fresh.digest))
}

/// The [`Fresh::digest`] of the project in `root`, when nothing changed since its last
/// generation.
pub fn fresh_digest(root: &Path) -> Option<u64> {
    fingerprint::fresh(root).map(|fresh| fresh.digest)
}

/// The paths the fingerprint of the project in `root` records (root-relative, `.` for the root)
/// and the [`Fresh::digest`] it would be found fresh with, without checking them.
pub fn fingerprint_paths(root: &Path) -> Option<(Vec<String>, u64)> {
    fingerprint::recorded(root)
}

fn project_root(project_dir: Option<&Path>, cwd: &Path) -> Option<PathBuf> {
    config::project_root(project_dir, cwd).ok()
}

/// Loads, checks and renders a project without writing anything.
pub fn prepare(project_dir: Option<&Path>, cwd: &Path) -> Result<Generation, Problems> {
    let started = std::time::Instant::now();
    let (project, mut problems) = config::load_lenient(project_dir, cwd)?;
    tracing::debug!(elapsed = ?started.elapsed(), tools = project.tools.len(), "config loaded");
    let analysis = match analyze::check(&project) {
        Ok(analysis) => analysis,
        Err(more) => {
            problems.0.extend(more.0);
            return Err(problems);
        }
    };
    if problems.has_errors() {
        return Err(problems);
    }
    tracing::debug!(elapsed = ?started.elapsed(), "modules checked");
    let mut files = codegen::render_project(&project, &analysis).map_err(Problem::new)?;
    tracing::debug!(elapsed = ?started.elapsed(), "rendered");
    // The lock: a breaking change against it stops generation, as a config error does.
    let old_lock = lock::read(&project.root)?;
    if let Some(old) = &old_lock {
        let breaking = lock::check(&project, old);
        if !breaking.is_empty() {
            return Err(breaking.into());
        }
    }
    files.push(codegen::GeneratedFile {
        rel: lock::LOCK_FILE.to_owned(),
        contents: lock::render(&project, old_lock.as_ref()),
    });
    tracing::debug!(elapsed = ?started.elapsed(), "lock checked");
    let plan = codegen::plan(&project.root, files).map_err(Problem::new)?;
    tracing::debug!(elapsed = ?started.elapsed(), "compared with disk");
    // What is left after the check for errors are the configuration's warnings.
    let mut warnings = problems.0;
    if project.runtime.kind == RuntimeKind::Bun
        && project.runtime.deno_permissions.is_empty()
        && let Some(permissions) = &project.runtime.permissions
    {
        warnings.push(permissions_not_enforced(permissions));
    }
    let mut advice = mcp_advice(&project);
    // Said by `gen`; a project with them keeps the fast path of the next runs.
    if project.runtime.entrypoint_found {
        advice.push(
            Problem::new(config::ConfigError::EntrypointFound {
                path: format!("./{}", project.runtime.entrypoint.rel),
            })
            .warning(),
        );
    }
    if !project.runtime.deno_permissions.is_empty() {
        advice.push(deno_permissions(&project.runtime.deno_permissions));
    }

    Ok(Generation {
        project,
        analysis,
        plan,
        warnings,
        advice,
    })
}

/// Where the workers of a run without the tools that have problems go, relative to the root.
pub const PARTIAL_WORKERS: &str = ".compozy/.cache/partial";

/// A project run without its tools that have problems (see [`prepare_partial`]).
#[derive(Debug)]
pub struct Partial {
    /// The tools whose own files have no problem; its workers are in [`PARTIAL_WORKERS`].
    pub project: Project,
    /// Names the files with problems, and says what runs without them.
    pub warning: Problem,
}

/// For `exec`, `serve` and `mcp` when the project has problems: the project without the tools
/// whose own files (the YAML that declares them, their module and what it imports) have
/// problems, so that one broken tool file does not stop every tool. Its workers are rendered for
/// those tools alone into [`PARTIAL_WORKERS`] (compozy's cache), and `.compozy/` is left as it is:
/// `gen` still fails and writes nothing. `None` when nothing sound is left to run: compozy.yaml
/// itself has a problem (it is every tool's file), a problem has no place, or no tool is left.
/// `running` says what will run, for the warning ("running `hello`").
pub fn prepare_partial(project_dir: Option<&Path>, cwd: &Path, running: &str) -> Option<Partial> {
    let (mut project, problems) = config::load_lenient(project_dir, cwd).ok()?;
    let mut broken = BTreeSet::new();
    if !note_broken(&problems, &mut broken) {
        return None;
    }
    keep_sound(&mut project, &broken);
    // A module's problem is known only once it is read; a tool whose imports are broken stays
    // broken, and then nothing is run.
    let analysis = match analyze::check(&project) {
        Ok(analysis) => analysis,
        Err(more) => {
            if !note_broken(&more, &mut broken) {
                return None;
            }
            keep_sound(&mut project, &broken);
            analyze::check(&project).ok()?
        }
    };
    if project.tools.is_empty() || broken.is_empty() {
        return None;
    }
    let files = codegen::render_workers(&project, &analysis, PARTIAL_WORKERS).ok()?;
    codegen::cache_dir(&project.root).ok()?;
    for file in files {
        let path = project.root.join(&file.rel);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(file.contents.as_str()) {
            codegen::write_atomic(&path, file.contents.as_bytes()).ok()?;
        }
    }
    project.runtime.worker_dir = Some(PARTIAL_WORKERS.to_owned());
    let many = broken.len() > 1;
    let files: Vec<String> = broken.into_iter().collect();
    let warning = Problem::new(GenError::ToolsLeftOut {
        files: files.join(", "),
        many,
        running: running.to_owned(),
    })
    .warning();
    Some(Partial { project, warning })
}

/// Adds the files of the errors among `problems` to `broken`; false when one of them is in
/// compozy.yaml or has no place (then no tool is sound).
fn note_broken(problems: &Problems, broken: &mut BTreeSet<String>) -> bool {
    let errors = problems
        .0
        .iter()
        .filter(|p| p.severity() == crate::diagnostic::Severity::Error);
    for problem in errors {
        match problem.file() {
            Some(file) if file != config::CONFIG_FILE => {
                broken.insert(file.to_owned());
            }
            _ => return false,
        }
    }
    true
}

/// Keeps the tools whose declaring file and module are not `broken`.
fn keep_sound(project: &mut Project, broken: &BTreeSet<String>) {
    project.tools.retain(|t| {
        !broken.contains(&t.declared.file.name)
            && t.module.as_ref().is_none_or(|m| !broken.contains(&m.rel))
    });
}

/// What MCP hosts will stumble on: ids outside `[A-Za-z0-9_.-]{1,128}` (never renamed), and tools
/// without a description (hosts show it to the model).
pub fn mcp_advice(project: &Project) -> Vec<Problem> {
    // A few with their place, then one line for the rest: each code frame costs a scan of its
    // file, and a generated project can have hundreds.
    const SHOWN: usize = 3;
    let misnamed: Vec<&config::Tool> = project
        .tools
        .iter()
        .filter(|t| !crate::mcp::tools::is_mcp_name(&config::versions::mcp_name(t)))
        .collect();
    let mut advice: Vec<Problem> = misnamed
        .iter()
        .take(SHOWN)
        .map(|t| {
            let d = &t.declared;
            Problem::new(GenError::NotAnMcpName { id: t.id.clone() })
                .warning()
                .at_line(&d.file, d.line, d.column, "this tool")
        })
        .collect();
    if misnamed.len() > SHOWN {
        let rest = &misnamed[SHOWN..];
        let mut ids: Vec<String> = rest.iter().take(5).map(|t| format!("`{}`", t.id)).collect();
        if rest.len() > ids.len() {
            ids.push(format!("and {} more", rest.len() - ids.len()));
        }
        advice.push(
            Problem::new(GenError::NotMcpNames {
                count: rest.len(),
                ids: ids.join(", "),
            })
            .warning(),
        );
    }
    let undescribed: Vec<&config::Tool> = project
        .tools
        .iter()
        .filter(|t| t.description.as_deref().is_none_or(|d| d.trim().is_empty()))
        .collect();
    for t in &project.tools {
        if t.mcp.annotations.read_only == Some(true)
            && let Some(verb) = writing_verb(&t.id)
        {
            let d = &t.declared;
            advice.push(
                Problem::new(GenError::ReadOnlyWriter {
                    id: t.id.clone(),
                    verb: verb.into(),
                })
                .warning()
                .at_line(&d.file, d.line, d.column, "this tool"),
            );
        }
    }
    if let Some(first) = undescribed.first() {
        let mut ids: Vec<String> = undescribed
            .iter()
            .take(5)
            .map(|t| format!("`{}`", t.id))
            .collect();
        if undescribed.len() > ids.len() {
            ids.push(format!("and {} more", undescribed.len() - ids.len()));
        }
        let d = &first.declared;
        advice.push(
            Problem::new(GenError::NoDescription {
                count: undescribed.len(),
                ids: ids.join(", "),
            })
            .warning()
            .at_line(&d.file, d.line, d.column, "no `description:`"),
        );
    }
    advice
}

/// The verb a tool's name starts with that says it changes something: `delete_user`,
/// `files.write`, `removeItem` (the first word of the id or of any of its `.`/`/` parts).
pub fn writing_verb(id: &str) -> Option<&'static str> {
    const VERBS: &[&str] = &[
        "delete",
        "remove",
        "write",
        "create",
        "update",
        "insert",
        "drop",
        "destroy",
        "erase",
        "purge",
        "kill",
        "set",
        "put",
        "post",
        "patch",
        "send",
        "upload",
        "move",
        "rename",
        "overwrite",
        "truncate",
        "reset",
        "clear",
        "edit",
        "modify",
        "save",
        "replace",
        "append",
        "deploy",
        "publish",
        "rm",
        "del",
        "mkdir",
        "unlink",
    ];
    id.split(['.', '/']).find_map(|part| {
        // The first word: up to a separator or a lower-to-upper case change.
        let mut word = String::new();
        let mut prev_lower = false;
        for c in part.chars() {
            if !c.is_alphanumeric() || (c.is_uppercase() && prev_lower) {
                break;
            }
            prev_lower = c.is_lowercase();
            word.extend(c.to_lowercase());
        }
        VERBS.iter().find(|v| **v == word).copied()
    })
}

/// What Deno-style `permissions` (Compozy's) mean under Bun and Node, said once by `gen`.
pub fn deno_permissions(flags: &[String]) -> Problem {
    let meanings = flags
        .iter()
        .filter_map(|flag| {
            config::DenoPermission::parse(flag).map(|p| format!("{flag} → {}", p.under_node()))
        })
        .collect::<Vec<_>>()
        .join(", ");
    Problem::new(GenError::DenoPermissions { meanings }).warning()
}

/// The warning shown whenever permissions are configured but the tools run under Bun.
pub fn permissions_not_enforced(permissions: &[config::NodePermission]) -> Problem {
    let flags = if permissions.is_empty() {
        "an empty grant list (read-only access to the project)".to_owned()
    } else {
        permissions
            .iter()
            .map(|p| p.as_flag())
            .collect::<Vec<_>>()
            .join(", ")
    };
    Problem::new(GenError::PermissionsIgnoredByBun { flags }).warning()
}

#[cfg(test)]
mod tests {
    use super::writing_verb;

    #[test]
    fn names_that_say_they_write() {
        assert_eq!(writing_verb("delete_file"), Some("delete"));
        assert_eq!(writing_verb("files.write"), Some("write"));
        assert_eq!(writing_verb("removeItem"), Some("remove"));
        assert_eq!(writing_verb("db/updateRow"), Some("update"));
        assert_eq!(writing_verb("math.add"), None);
        assert_eq!(writing_verb("get_settings"), None);
        assert_eq!(writing_verb("read_file"), None);
        assert_eq!(writing_verb("reset"), Some("reset"));
    }
}

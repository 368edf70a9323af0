//! The whole generation pipeline, as `gen`, `exec` and `watch` use it.

use std::path::Path;

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
    /// Problems that do not stop generation.
    pub warnings: Vec<Problem>,
}

impl Generation {
    /// Writes the plan (only changed files, atomically).
    pub fn write(&self) -> Result<(), Problems> {
        codegen::apply(&self.project.root, &self.plan).map_err(|e| Problem::new(e).into())
    }
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
    let files = codegen::render_project(&project, &analysis).map_err(Problem::new)?;
    tracing::debug!(elapsed = ?started.elapsed(), "rendered");
    let plan = codegen::plan(&project.root, files).map_err(Problem::new)?;
    tracing::debug!(elapsed = ?started.elapsed(), "compared with disk");
    let mut warnings = Vec::new();
    if project.runtime.kind == RuntimeKind::Bun && !project.runtime.permissions.is_empty() {
        let flags = project
            .runtime
            .permissions
            .iter()
            .map(|p| p.as_flag())
            .collect::<Vec<_>>()
            .join(", ");
        warnings.push(Problem::new(GenError::PermissionsIgnoredByBun { flags }).warning());
    }
    Ok(Generation {
        project,
        analysis,
        plan,
        warnings,
    })
}

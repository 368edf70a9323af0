//! `compozy init [DIR]`.

use std::path::Path;

use super::args::InitArgs;
use super::output::{Output, shell_word};
use crate::config::RuntimeKind;
use crate::diagnostic::Problem;
use crate::exit::ExitCode;
use crate::paths::normalize;
use crate::scaffold::{self, EXAMPLE_TOOL, Gitignore};

/// Runs `init`.
pub fn run(args: &InitArgs, out: &Output, cwd: &Path) -> ExitCode {
    let scaffold = match scaffold::plan(&args.dir, cwd) {
        Ok(scaffold) => scaffold,
        Err(e) => {
            out.problems([&Problem::new(e)]);
            return ExitCode::Error;
        }
    };
    if let Err(e) = scaffold.write() {
        out.problems([&Problem::new(e)]);
        return ExitCode::Error;
    }
    // Paths as the user wrote the directory: `compozy.yaml`, or `my-tools/compozy.yaml`.
    let shown = |rel: &str| normalize(&args.dir.join(rel)).display().to_string();
    for file in scaffold.files.iter().chain(&scaffold.tooling) {
        out.status(&format!("compozy: created {}", shown(file.rel)));
    }
    match scaffold.gitignore {
        Gitignore::Create(_) => out.status(&format!("compozy: created {}", shown(".gitignore"))),
        Gitignore::Append { patterns, .. } => out.status(&format!(
            "compozy: added {} to {}",
            patterns.join(", "),
            shown(".gitignore")
        )),
        Gitignore::Keep => {}
    }
    // The template runs its tool on Bun: say now, not at the first `exec`, when there is none.
    let install = match crate::runtime::installed(RuntimeKind::Bun, &scaffold.dir) {
        Ok(()) => "",
        Err(e) => {
            out.problems([&Problem::new(e).warning()]);
            "npm i -D bun && "
        }
    };
    let dir = normalize(&args.dir);
    let cd = if dir.as_os_str().is_empty() {
        String::new()
    } else {
        format!("cd {} && ", shell_word(&dir.to_string_lossy()))
    };
    out.status(&format!("next: {cd}{install}compozy exec {EXAMPLE_TOOL}"));
    ExitCode::Ok
}

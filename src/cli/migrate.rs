//! `compozy migrate [--check]`.

use super::args::MigrateArgs;
use super::output::{Output, shell_word};
use crate::codegen::Status;
use crate::exit::ExitCode;

/// Runs `migrate`.
pub fn run(args: &MigrateArgs, out: &Output, cwd: &std::path::Path) -> ExitCode {
    let migration = match crate::migrate::plan(args.project.project.as_deref(), cwd) {
        Ok(m) => m,
        Err(problems) => {
            out.problems(&problems.0);
            out.status(&format!(
                "compozy: {} to fix before migrating; nothing was written",
                match problems
                    .0
                    .iter()
                    .filter(|p| p.severity() == crate::diagnostic::Severity::Error)
                    .count()
                {
                    1 => "1 problem".to_owned(),
                    n => format!("{n} problems"),
                }
            ));
            return ExitCode::Error;
        }
    };
    out.problems(&migration.warnings);
    if migration.is_up_to_date() {
        out.status(&format!(
            "compozy: nothing to migrate ({} tools, {} modules checked)",
            migration.tools, migration.modules
        ));
        return ExitCode::Ok;
    }
    if args.check {
        print!("{}", migration.unified_diff());
        out.status(&format!(
            "compozy: {} to migrate; run `{}` to apply it",
            plural(migration.files.len(), "file"),
            fix_command(args)
        ));
        return ExitCode::Failure;
    }
    if let Err(problems) = migration.write() {
        out.problems(&problems.0);
        return ExitCode::Error;
    }
    for file in &migration.files {
        let verb = if file.status == Status::Created {
            "created"
        } else {
            "updated"
        };
        out.status(&format!("compozy: {verb} {}", file.rel));
    }
    let install = if migration.added_packages.is_empty() {
        String::new()
    } else {
        format!(
            "install {} (`bun install` or `npm install`), then ",
            migration.added_packages.join(", ")
        )
    };
    out.status(&format!(
        "compozy: migrated {}; {install}run `compozy gen`",
        plural(migration.files.len(), "file")
    ));
    ExitCode::Ok
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// The command that applies the migration, with the `--project` this run was given.
fn fix_command(args: &MigrateArgs) -> String {
    match &args.project.project {
        Some(dir) => format!(
            "compozy migrate --project {}",
            shell_word(&dir.to_string_lossy())
        ),
        None => "compozy migrate".to_owned(),
    }
}

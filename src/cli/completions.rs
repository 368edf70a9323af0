//! `compozy completions SHELL` and `compozy man`: generated from the argument definitions, so
//! they never drift from `--help`.

use std::io::Write;

use clap::CommandFactory;

use super::args::{Args, CompletionsArgs, ManArgs};
use super::output::Output;
use crate::exit::ExitCode;

/// Prints the completion script for a shell.
pub fn completions(args: &CompletionsArgs) -> ExitCode {
    let mut cmd = Args::command();
    // Into memory first: clap_complete panics on a failed write (a closed pipe).
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "compozy", &mut script);
    let mut stdout = std::io::stdout().lock();
    finish(stdout.write_all(&script).and_then(|()| stdout.flush()))
}

/// Prints the manual page, or writes one page per command into a directory.
pub fn man(args: &ManArgs, out: &Output) -> ExitCode {
    let cmd = Args::command();
    match &args.dir {
        None => {
            let mut stdout = std::io::stdout().lock();
            let rendered = clap_mangen::Man::new(cmd).render(&mut stdout);
            finish(rendered.and_then(|()| stdout.flush()))
        }
        Some(dir) => {
            match std::fs::create_dir_all(dir).and_then(|()| clap_mangen::generate_to(cmd, dir)) {
                Ok(()) => {
                    out.status(&format!(
                        "compozy: wrote the manual pages to {}",
                        dir.display()
                    ));
                    ExitCode::Ok
                }
                Err(e) => {
                    eprintln!(
                        "compozy: cannot write the manual pages to {}: {e}",
                        dir.display()
                    );
                    ExitCode::Error
                }
            }
        }
    }
}

/// A closed pipe (`compozy man | head`) is not an error worth a message.
fn finish(written: std::io::Result<()>) -> ExitCode {
    match written {
        Ok(()) => ExitCode::Ok,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::Ok,
        Err(e) => {
            eprintln!("compozy: cannot write to stdout: {e}");
            ExitCode::Error
        }
    }
}

//! The command line itself: help, version, usage errors, and the documented exit codes.

use crate::common::{Fixture, compozy};

#[test]
fn help_documents_every_exit_code() {
    let out = crate::common::Output::from(compozy().arg("--help").output().unwrap());
    out.expect_code(0);
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for code in [0, 1, 2, 124, 127, 130] {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{code} "))),
            "--help lacks exit code {code}:\n{}",
            out.stdout
        );
        assert!(
            readme.contains(&format!("| {code} |")),
            "README lacks exit code {code}"
        );
    }
    // The subcommand list: one `  NAME  description` line each, up to the first blank line.
    let commands: Vec<&str> = out
        .stdout
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .map(|l| {
            let mut words = l.split_whitespace();
            let name = words.next().unwrap_or_default();
            assert!(words.next().is_some(), "no description for `{name}`: {l:?}");
            name
        })
        .collect();
    assert_eq!(
        commands,
        [
            "gen",
            "exec",
            "serve",
            "watch",
            "inspect",
            "mcp",
            "init",
            "completions",
            "man",
            "help"
        ],
        "{}",
        out.stdout
    );
    // The README's synopsis lists the same commands, in the same order.
    let synopsis: Vec<&str> = readme
        .lines()
        .skip_while(|l| *l != "## Commands")
        .skip_while(|l| *l != "```")
        .skip(1)
        .take_while(|l| *l != "```")
        .filter_map(|l| l.strip_prefix("compozy "))
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    assert_eq!(synopsis, commands[..commands.len() - 1], "README synopsis");
}

#[test]
fn version_is_printed() {
    let out = crate::common::Output::from(compozy().arg("--version").output().unwrap());
    out.expect_code(0);
    assert_eq!(
        out.stdout.trim(),
        concat!("compozy ", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn usage_errors_exit_2() {
    let fixture = Fixture::new();
    fixture.run(&["frobnicate"]).expect_code(2);
    fixture.run(&["gen", "--format", "xml"]).expect_code(2);
    fixture
        .run(&["exec"])
        .expect_code(2)
        .stderr_has(&["TOOL_ID"]);
}

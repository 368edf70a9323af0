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
    for command in ["gen", "exec", "serve", "watch", "inspect"] {
        assert!(out.stdout.contains(command), "--help lacks `{command}`");
    }
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

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
            "daemon",
            "init",
            "migrate",
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

/// `.pre-commit-hooks.yaml`: every hook built from the repository has a twin for an installed
/// binary (`language: system`) with the same command, and every command works on a project.
#[test]
fn pre_commit_hooks_run_and_come_in_both_variants() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/.pre-commit-hooks.yaml"
    ))
    .unwrap();
    let hooks: Vec<serde_json::Value> = serde_saphyr::from_str(&text).unwrap();
    let field = |hook: &serde_json::Value, key: &str| hook[key].as_str().unwrap_or("").to_owned();
    let built: Vec<&serde_json::Value> = hooks.iter().filter(|h| h["language"] == "rust").collect();
    assert!(!built.is_empty(), "no `language: rust` hook");
    for hook in &built {
        let twin_id = format!("{}-system", field(hook, "id"));
        let twin = hooks
            .iter()
            .find(|h| h["id"] == twin_id.as_str())
            .unwrap_or_else(|| panic!("no `{twin_id}` hook"));
        assert_eq!(twin["language"], "system", "{twin}");
        for key in ["entry", "files", "pass_filenames"] {
            assert_eq!(twin[key], hook[key], "`{twin_id}` differs in `{key}`");
        }
    }
    // Each entry, run as pre-commit would on a project that is up to date: exit 0, not a word.
    let project = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: one\n    description: One\n    execute: ./one.ts\n",
        ),
        ("one.ts", "export function run() {\n  return 1;\n}\n"),
    ]);
    project.run(&["gen"]).expect_code(0);
    for hook in &hooks {
        let entry = field(hook, "entry");
        let args: Vec<&str> = entry
            .strip_prefix("compozy ")
            .unwrap_or_else(|| panic!("entry {entry:?} does not run compozy"))
            .split_whitespace()
            .collect();
        let out = project.run(&args);
        out.expect_code(0);
        assert_eq!(out.stderr, "", "`{entry}` is not quiet");
    }
}

#[test]
fn a_misspelt_command_gets_the_closest_one() {
    // Two letters swapped: clap's own measure finds nothing close to `gne`.
    let out = crate::common::Output::from(compozy().arg("gne").output().unwrap());
    out.expect_code(2).stderr_has(&[
        "unrecognized subcommand 'gne'",
        "similar subcommand exists: 'gen'",
    ]);
    let out = crate::common::Output::from(compozy().arg("exce").output().unwrap());
    out.expect_code(2)
        .stderr_has(&["similar subcommand exists: 'exec'"]);
    let out = crate::common::Output::from(compozy().arg("qqqq").output().unwrap());
    out.expect_code(2);
    assert!(!out.stderr.contains("similar"), "{}", out.stderr);
}

/// The names of compozy's own environment variables in `text` (`COMPOZY_*`, `NO_COLOR`,
/// `RUST_LOG`).
fn variables(text: &str) -> std::collections::BTreeSet<String> {
    let mut found = std::collections::BTreeSet::new();
    let bytes = text.as_bytes();
    for (start, _) in text.match_indices("COMPOZY_") {
        let end = bytes[start..]
            .iter()
            .position(|b| !(b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_'))
            .map_or(text.len(), |n| start + n);
        found.insert(text[start..end].trim_end_matches('_').to_owned());
    }
    for name in ["NO_COLOR", "RUST_LOG"] {
        if text.contains(name) {
            found.insert(name.to_owned());
        }
    }
    found
}

/// The exit codes listed in an `Exit codes:` section of a `--help`.
fn exit_codes_in_help(help: &str) -> std::collections::BTreeSet<u32> {
    help.lines()
        .skip_while(|l| l.trim() != "Exit codes:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect()
}

/// `--help` (of compozy and of every command), the README and the source name the same
/// environment variables and exit codes: a variable or a code documented in one place only is
/// a drift this test catches.
#[test]
fn help_and_readme_name_the_same_variables_and_exit_codes() {
    let help = |args: &[&str]| {
        let out = crate::common::Output::from(compozy().args(args).output().unwrap());
        out.expect_code(0);
        out.stdout
    };
    let top = help(&["--help"]);
    let commands: Vec<String> = top
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|c| c != "help")
        .collect();
    assert!(commands.len() > 5, "{top}");
    let helps: Vec<String> = std::iter::once(top.clone())
        .chain(commands.iter().map(|c| help(&[c, "--help"])))
        .collect();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    // The Development section is about this repository (the test suite's variables), not the
    // binary.
    let user_readme = readme.split("\n## Development\n").next().unwrap();

    let in_help: std::collections::BTreeSet<String> =
        helps.iter().flat_map(|h| variables(h)).collect();
    let in_readme = variables(user_readme);
    // Every variable the code reads, found by its name in a string literal.
    let mut in_source = std::collections::BTreeSet::new();
    for entry in walkdir::WalkDir::new(root.join("src"))
        .into_iter()
        .flatten()
    {
        if entry.path().extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(entry.path()).unwrap();
            in_source.extend(variables(&text).into_iter().filter(|v| {
                text.contains(&format!("\"{v}\"")) || text.contains(&format!("{v}=\""))
            }));
        }
    }
    assert!(
        in_source.contains("COMPOZY_MAX_RESULT_BYTES"),
        "{in_source:?}"
    );
    assert_eq!(in_help, in_readme, "variables: --help against the README");
    let undocumented: Vec<&String> = in_source.difference(&in_help).collect();
    assert!(
        undocumented.is_empty(),
        "read but not in --help: {undocumented:?}"
    );

    let top_codes = exit_codes_in_help(&top);
    let readme_codes: std::collections::BTreeSet<u32> = readme
        .lines()
        .skip_while(|l| *l != "## Exit codes")
        .take_while(|l| !l.starts_with("## ") || *l == "## Exit codes")
        .filter_map(|l| l.strip_prefix("| ")?.split(' ').next()?.parse().ok())
        .collect();
    assert!(readme_codes.contains(&101), "{readme_codes:?}");
    assert_eq!(
        top_codes, readme_codes,
        "exit codes: --help against the README"
    );
    for (command, text) in commands.iter().zip(&helps[1..]) {
        let extra: Vec<u32> = exit_codes_in_help(text)
            .difference(&readme_codes)
            .copied()
            .collect();
        assert!(
            extra.is_empty(),
            "`{command} --help` names exit codes {extra:?}"
        );
    }

    // What each command's help says matches what it does.
    let gen_help = help(&["gen", "--help"]);
    assert!(gen_help.contains(".compozy/types.ts"), "{gen_help}");
    let serve_help = help(&["serve", "--help"]);
    for part in [
        "\"tool_id\"",
        "timeout_ms",
        "\"execution_time_ms\"",
        "TimeoutError",
    ] {
        assert!(
            serve_help.contains(part),
            "serve --help lacks {part}:\n{serve_help}"
        );
    }
    let mcp_help = help(&["mcp", "--help"]);
    assert!(
        mcp_help.contains("With --http, stdin is not read"),
        "{mcp_help}"
    );
}

/// `--project` names a directory to start from, as `cd DIR` would: a directory below the root
/// finds the root above it (gen writes there, exec runs the tool, also on its up-to-date path).
#[test]
fn project_below_the_root_finds_the_root() {
    let p = Fixture::with(&[
        ("compozy.yaml", "name: p\n"),
        ("tools/echo.yaml", "id: echo\nexecute: ./echo.ts\n"),
        (
            "tools/echo.ts",
            "export function run(i: { text: string }) {\n  return i.text;\n}\n",
        ),
    ]);
    p.run(&["gen", "--project", "tools"]).expect_code(0);
    assert!(p.path(".compozy/tools.ts").is_file());
    assert!(!p.path("tools/.compozy").exists());
    p.run(&["gen", "--check", "--project", "tools"])
        .expect_code(0);
    for _ in 0..2 {
        let out = p
            .compozy(&[
                "exec",
                "echo",
                "--project",
                "tools",
                "--input",
                r#"{"text":"hi"}"#,
            ])
            .env("COMPOZY_BUN", crate::common::runtime_bin("bun"))
            .output()
            .expect("run compozy");
        let out = crate::common::Output::from(out);
        out.expect_code(0);
        assert_eq!(out.stdout.trim(), "\"hi\"");
    }
    // Relative to the current directory, wherever that is.
    let out = p
        .compozy(&["inspect", "--project", "."])
        .current_dir(p.path("tools"))
        .output()
        .expect("run compozy");
    let out = crate::common::Output::from(out);
    out.expect_code(0);
    assert!(out.stdout.contains("echo"), "{}", out.stdout);
    // No compozy.yaml there or above: the message says where it looked.
    let elsewhere = Fixture::new();
    std::fs::create_dir_all(elsewhere.path("sub")).unwrap();
    elsewhere
        .run(&["gen", "--project", "sub"])
        .expect_code(2)
        .stderr_has(&["no compozy.yaml found in", "sub or any parent directory"]);
}

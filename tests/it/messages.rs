//! What `gen` tells a person, and when it keeps quiet: the closing line at a terminal, silence
//! in a pipe (pre-commit), the warning for a project without tools, the `--check` hint.

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{Fixture, Output};

fn two_tools() -> Fixture {
    Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: one\n    description: One\n    execute: ./tools/one.ts\n  - id: two\n    description: Two\n    execute: ./tools/one.ts\n",
        ),
        ("tools/one.ts", "export function run() {\n  return 1;\n}\n"),
    ])
}

/// Runs `compozy ARGS` in the project with stderr on a pseudo-terminal (stdout piped); returns
/// the exit code and what reached the terminal (without the terminal's `\r`).
pub fn on_a_terminal(project: &Fixture, args: &[&str]) -> (i32, String) {
    let pty = nix::pty::openpty(None, None).expect("open a pseudo-terminal");
    let mut cmd = project.compozy(args);
    cmd.env("COMPOZY_BUN", crate::common::runtime_bin("bun"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(pty.slave));
    let mut child = cmd.spawn().expect("run compozy");
    // The terminal's only writer is now the child: reading ends (EIO) once it has exited.
    drop(cmd);
    let until = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for compozy") {
            break status;
        }
        assert!(Instant::now() < until, "compozy did not exit within 30s");
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut text = Vec::new();
    let _ = std::fs::File::from(pty.master).read_to_end(&mut text);
    let text = String::from_utf8_lossy(&text).replace('\r', "");
    (status.code().unwrap_or(-1), text)
}

#[test]
fn gen_at_a_terminal_ends_with_one_summary_line() {
    let project = two_tools();
    let (code, text) = on_a_terminal(&project, &["gen"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("created .compozy/tools.ts"), "{text}");
    assert_eq!(
        text.lines().last(),
        Some("compozy: 2 tools, 5 files written"),
        "{text}"
    );

    // Nothing to do: the summary is the only line (on the fast path as on the full one).
    for _ in 0..2 {
        let (code, text) = on_a_terminal(&project, &["gen"]);
        assert_eq!(code, 0, "{text}");
        assert_eq!(text, "compozy: 2 tools, up to date\n");
    }

    project.write(
        "compozy.yaml",
        "tools:\n  - id: one\n    description: One\n    execute: ./tools/one.ts\n",
    );
    let (_, text) = on_a_terminal(&project, &["gen"]);
    assert_eq!(
        text.lines().last(),
        Some("compozy: 1 tool, 5 files written"),
        "{text}"
    );

    // -q: not a word, even at a terminal.
    project.write("tools/one.ts", "export function run() {\n  return 2;\n}\n");
    let (code, text) = on_a_terminal(&project, &["gen", "-q"]);
    assert_eq!((code, text.as_str()), (0, ""));
}

#[test]
fn gen_in_a_pipe_says_nothing_when_nothing_changed() {
    let project = two_tools();
    let out = project.run(&["gen"]);
    out.expect_code(0)
        .stderr_has(&["created .compozy/tools.ts"]);
    assert!(!out.stderr.contains("tools,"), "{}", out.stderr);
    for _ in 0..2 {
        let out = project.run(&["gen"]);
        out.expect_code(0);
        assert_eq!(out.stderr, "", "a pipe (a pre-commit hook) got output");
        assert_eq!(out.stdout, "");
    }
    let out = project.run(&["gen", "--check"]);
    out.expect_code(0);
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));
}

#[test]
fn a_project_without_tools_names_the_globs_that_matched_nothing() {
    // No `autoload:`: the default globs.
    let project = Fixture::with(&[("compozy.yaml", "name: empty\n")]);
    let out = project.run(&["gen"]);
    out.expect_code(0).stderr_has(&[
        "the project has no tools",
        "`tools/**/*.yaml`, `tools/**/*.yml` matched no file",
        "compozy init",
    ]);
    // Warnings are shown on every run, not only the first.
    project
        .run(&["gen"])
        .expect_code(0)
        .stderr_has(&["the project has no tools"]);
    // -q hides warnings.
    assert_eq!(project.run(&["gen", "-q"]).expect_code(0).stderr, "");

    // Written globs: the warning points at the first one that matched nothing.
    project.write(
        "compozy.yaml",
        "autoload:\n  include:\n    - \"tool/*.yaml\"\n    - \"more/*.yml\"\n",
    );
    project.write("tools/a.yaml", "id: a\nexecute: ./a.ts\n");
    let out = project.run(&["gen"]);
    out.expect_code(0).stderr_has(&[
        "`tool/*.yaml`, `more/*.yml` matched no file",
        "compozy.yaml:3:7",
        "matched no file",
    ]);
    let json = project.run(&["gen", "--format", "json"]).json();
    let diagnostic = &json["diagnostics"][0];
    assert_eq!(diagnostic["code"], "config::no-tools", "{json}");
    assert_eq!(diagnostic["severity"], "warning");
    assert_eq!(diagnostic["line"], 3);

    // A project with tools gets no such warning.
    let out = two_tools().run(&["gen"]);
    assert!(!out.stderr.contains("no tools"), "{}", out.stderr);
}

#[test]
fn check_hint_repeats_the_project_it_was_given() {
    let outer = Fixture::new();
    let project = two_tools();
    let run_check = |dir: &str| -> Output {
        Output::from(
            outer
                .compozy(&["gen", "--check", "--project", dir])
                .output()
                .expect("run compozy"),
        )
    };
    let dir = project.root().to_str().expect("a UTF-8 temp dir");
    run_check(dir)
        .expect_code(1)
        .stderr_has(&[&format!("run `compozy gen --project {dir}` to update it")]);

    // A directory that needs quoting is quoted for the shell.
    let spaced = outer.path("my tools");
    std::fs::create_dir_all(&spaced).unwrap();
    for file in ["compozy.yaml", "tools/one.ts"] {
        let target = spaced.join(file);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(&target, project.read(file)).unwrap();
    }
    run_check("my tools")
        .expect_code(1)
        .stderr_has(&["run `compozy gen --project 'my tools'` to update it"]);
    // The hint works: after it, --check passes.
    Output::from(
        outer
            .compozy(&["gen", "--project", "my tools"])
            .output()
            .expect("run compozy"),
    )
    .expect_code(0);
    run_check("my tools").expect_code(0);

    // Without --project, the hint has none.
    project
        .run(&["gen", "--check"])
        .expect_code(1)
        .stderr_has(&["run `compozy gen` to update it"]);
}

/// `serve` and `mcp` started by hand say that they are ready, and on what; a host or a script
/// that pipes stderr gets no such line.
#[test]
fn serve_and_mcp_at_a_terminal_say_they_are_ready() {
    let project = two_tools();
    let (code, text) = on_a_terminal(&project, &["serve", "--workers", "2"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("compozy: serving 2 tools, 1 worker on bun 1.")
            && text.contains(", up to 2 on demand; send one JSON request per line")
            && text.contains("one JSON request per line"),
        "{text}"
    );
    let (code, text) = on_a_terminal(&project, &["mcp", "--workers", "1"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("compozy: MCP server ready over stdio, 2 tools, 1 worker on bun 1."),
        "{text}"
    );
    // -q: not a word.
    let (_, text) = on_a_terminal(&project, &["serve", "-q"]);
    assert_eq!(text, "");
    // Piped: the protocol's streams only.
    for args in [["serve", "--workers", "1"], ["mcp", "--workers", "1"]] {
        let out = crate::common::output_within(
            project
                .compozy(&args)
                .env("COMPOZY_BUN", crate::common::runtime_bin("bun")),
            Duration::from_secs(30),
        );
        out.expect_code(0);
        assert!(
            !out.stderr.contains("ready") && !out.stderr.contains("serving"),
            "{}",
            out.stderr
        );
    }
}

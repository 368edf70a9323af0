//! `compozy init`: a new user's first command.

use serde_json::{Value, json};

use crate::common::{Fixture, Output, runtime_bin};

/// `compozy ARGS` in `dir` with both pinned runtimes.
fn with_runtimes(fixture: &Fixture, args: &[&str]) -> Output {
    Output::from(
        fixture
            .compozy(args)
            .env("COMPOZY_BUN", runtime_bin("bun"))
            .env("COMPOZY_NODE", runtime_bin("node"))
            .output()
            .expect("run compozy"),
    )
}

#[test]
fn init_writes_a_project_whose_tool_runs_with_no_input() {
    let fixture = Fixture::new();
    let out = fixture.run(&["init", "new-project"]);
    out.expect_code(0).stderr_has(&[
        "created new-project/compozy.yaml",
        "created new-project/tools/hello.yaml",
        "created new-project/tools/hello.ts",
        "created new-project/.gitignore",
        "cd new-project && compozy exec hello",
    ]);
    assert_eq!(
        fixture.read("new-project/.gitignore").lines().last(),
        Some(".compozy/.cache/")
    );
    assert!(
        fixture
            .read("new-project/compozy.yaml")
            .contains("name: new-project\n")
    );

    let run = |args: &[&str]| {
        let mut args = args.to_vec();
        args.extend(["--project", "new-project"]);
        with_runtimes(&fixture, &args)
    };
    // Checked and generated without a warning or an error.
    let out = run(&["gen"]);
    out.expect_code(0);
    assert!(!out.stderr.contains('⚠'), "{}", out.stderr);
    // `with:` fills the required input; the tool runs on both runtimes.
    for runtime in ["bun", "node"] {
        let out = run(&["exec", "hello", "--runtime", runtime]);
        out.expect_code(0);
        let result: Value = serde_json::from_str(out.stdout.trim()).expect("JSON result");
        assert_eq!(result, json!({"greeting": "Hello, world!"}), "{runtime}");
    }
    let out = run(&["exec", "hello", "--input", r#"{"name":"Ada"}"#]);
    assert_eq!(
        out.expect_code(0).stdout.trim(),
        r#"{"greeting":"Hello, Ada!"}"#
    );
    // The input schema is enforced.
    run(&["exec", "hello", "--input", r#"{"name":42}"#]).expect_code(2);
}

#[test]
fn init_in_the_current_directory_appends_to_an_existing_gitignore_once() {
    let fixture = Fixture::with(&[(".gitignore", "node_modules")]);
    let out = fixture.run(&["init"]);
    out.expect_code(0).stderr_has(&[
        "created compozy.yaml",
        "added .compozy/.cache/ to .gitignore",
    ]);
    assert!(
        out.stderr.contains("next: compozy exec hello"),
        "{}",
        out.stderr
    );
    let gitignore = fixture.read(".gitignore");
    assert!(
        gitignore.starts_with("node_modules\n\n#"),
        "the user's last line was not kept whole: {gitignore:?}"
    );
    assert_eq!(gitignore.matches(".compozy/.cache/").count(), 1);

    // Again, after the project was removed: the .gitignore already has the line.
    std::fs::remove_dir_all(fixture.path("tools")).unwrap();
    std::fs::remove_file(fixture.path("compozy.yaml")).unwrap();
    fixture.run(&["init"]).expect_code(0);
    assert_eq!(fixture.read(".gitignore"), gitignore);
}

#[test]
fn init_refuses_to_overwrite_and_writes_nothing() {
    let fixture = Fixture::with(&[
        ("compozy.yaml", "name: mine\n"),
        ("tools/hello.ts", "// mine\n"),
    ]);
    let out = fixture.run(&["init"]);
    out.expect_code(2)
        .stderr_has(&["`compozy.yaml`", "`tools/hello.ts`", "nothing was written"]);
    assert!(!out.stderr.contains("hello.yaml"), "{}", out.stderr);
    assert_eq!(fixture.read("compozy.yaml"), "name: mine\n");
    assert_eq!(fixture.read("tools/hello.ts"), "// mine\n");
    assert!(!fixture.path("tools/hello.yaml").exists(), "wrote a file");
    assert!(!fixture.path(".gitignore").exists(), "wrote .gitignore");

    // A file where the directory should be.
    fixture.write("file", "");
    fixture
        .run(&["init", "file"])
        .expect_code(2)
        .stderr_has(&["`file` is not a directory"]);
}

#[test]
fn init_says_when_the_new_project_has_no_runtime() {
    let fixture = Fixture::new();
    let empty = Fixture::new();
    let out = Output::from(
        fixture
            .compozy(&["init", "p"])
            .env("PATH", empty.root())
            .env_remove("COMPOZY_BUN")
            .output()
            .expect("run compozy"),
    );
    out.expect_code(0).stderr_has(&[
        "bun was not found",
        "run `npm i -D bun` in",
        "COMPOZY_BUN=/path/to/bun",
    ]);
}

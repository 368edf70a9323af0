//! `compozy init`, `compozy completions` and `compozy man`: a new user's first commands.

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
    let out = with_runtimes(&fixture, &["init", "new-project"]);
    out.expect_code(0).stderr_has(&[
        "created new-project/compozy.yaml",
        "created new-project/tools/hello.yaml",
        "created new-project/tools/hello.ts",
        "created new-project/.gitignore",
        "created new-project/package.json",
        "created new-project/tsconfig.json",
        "cd new-project && compozy exec hello",
    ]);
    let package: Value =
        serde_json::from_str(&fixture.read("new-project/package.json")).expect("JSON");
    assert_eq!(package["type"], "module");
    let gitignore = fixture.read("new-project/.gitignore");
    let patterns: Vec<&str> = gitignore.lines().filter(|l| !l.starts_with('#')).collect();
    // The cache, and what `npm i -D bun` installs.
    assert_eq!(
        patterns,
        [".compozy/.cache/", "node_modules/"],
        "{gitignore}"
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
    let out = with_runtimes(&fixture, &["init"]);
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
    // `node_modules` was there already: not added a second time.
    assert_eq!(gitignore.matches("node_modules").count(), 1, "{gitignore}");

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
        // The next step is one that works: `compozy exec hello` alone would exit 127.
        "next: cd p && npm i -D bun && compozy exec hello",
    ]);
}

#[test]
fn completions_for_every_shell() {
    let fixture = Fixture::new();
    for (shell, marker) in [
        ("bash", "complete -F _compozy"),
        ("zsh", "#compdef compozy"),
        ("fish", "complete -c compozy"),
        ("elvish", "compozy"),
        ("powershell", "compozy"),
    ] {
        let out = fixture.run(&["completions", shell]);
        out.expect_code(0);
        assert!(out.stdout.contains(marker), "{shell}: {}", out.stdout);
        // Every command is completed.
        for command in ["gen", "exec", "serve", "watch", "inspect", "mcp", "init"] {
            assert!(out.stdout.contains(command), "{shell} lacks {command}");
        }
    }
    fixture
        .run(&["completions", "tcsh"])
        .expect_code(2)
        .stderr_has(&["possible values"]);
}

#[test]
fn man_prints_a_page_or_writes_one_per_command() {
    let fixture = Fixture::new();
    let out = fixture.run(&["man"]);
    out.expect_code(0);
    assert!(out.stdout.starts_with(".ie") || out.stdout.contains(".TH compozy 1"));
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH SUBCOMMANDS"] {
        assert!(
            out.stdout.contains(section),
            "no {section}:\n{}",
            out.stdout
        );
    }
    // The exit codes are in the page.
    assert!(out.stdout.contains("124"), "{}", out.stdout);

    fixture.run(&["man", "--dir", "man1"]).expect_code(0);
    for page in [
        "compozy.1",
        "compozy-gen.1",
        "compozy-exec.1",
        "compozy-init.1",
    ] {
        let text = fixture.read(&format!("man1/{page}"));
        assert!(text.contains(".TH"), "{page}: {text}");
    }
    assert!(fixture.read("man1/compozy-gen.1").contains("\\-\\-check"));
}

/// A project's own package.json and tsconfig.json are kept; init's own files are still written.
#[test]
fn init_keeps_an_existing_package_json_and_tsconfig() {
    let package = "{\"name\": \"mine\", \"scripts\": {}}\n";
    let fixture = Fixture::with(&[("package.json", package)]);
    let out = fixture.run(&["init"]);
    out.expect_code(0)
        .stderr_has(&["created compozy.yaml", "created tsconfig.json"]);
    assert!(!out.stderr.contains("package.json"), "{}", out.stderr);
    assert_eq!(fixture.read("package.json"), package);
    let other = Fixture::with(&[("tsconfig.json", "{}\n")]);
    other.run(&["init"]).expect_code(0);
    assert_eq!(other.read("tsconfig.json"), "{}\n");
    assert!(other.read("package.json").contains("\"type\": \"module\""));
}

//! The example project in `examples/weather`, as the README runs it: its tools compute what they
//! say. Run on a copy, so that no test writes into the repository.

use serde_json::{Value, json};

use crate::common::Fixture;

/// A copy of `examples/weather`.
fn weather() -> Fixture {
    crate::common::example("weather")
}

fn exec(project: &Fixture, runtime: &str, tool: &str, input: Value) -> Value {
    let out = project.exec_on(runtime, tool, &input);
    out.expect_code(0);
    serde_json::from_str(out.stdout.trim()).expect("a JSON result")
}

fn math_tools_compute_what_they_say(runtime: &str) {
    let p = weather();
    p.run(&["gen", "--check"]).expect_code(0);
    assert_eq!(
        exec(&p, runtime, "math.add", json!({"a": 3, "b": 4})),
        json!(7)
    );
    assert_eq!(
        exec(&p, runtime, "math.multiply", json!({"a": 3, "b": 4})),
        json!(12)
    );
    assert_eq!(
        exec(&p, runtime, "weather_tool", json!({"city": "Oslo"}))["units"],
        json!("metric")
    );
}

on_both_runtimes!(math_tools_compute_what_they_say);

/// The README's first command, exactly as written there, on a copy of the example: piped, it
/// still shows what it did (the README says what it prints).
#[test]
fn the_readme_quick_start_shows_what_it_did() {
    let readme =
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    let command = readme
        .lines()
        .skip_while(|l| *l != "## Quick start")
        .skip_while(|l| *l != "```sh")
        .nth(1)
        .expect("a command under Quick start");
    let args: Vec<&str> = command
        .strip_prefix("cargo run --release -- ")
        .unwrap_or_else(|| panic!("not a compozy command: {command}"))
        .split_whitespace()
        .collect();
    let root = Fixture::new();
    let example = weather();
    for entry in walkdir::WalkDir::new(example.root()).into_iter().flatten() {
        if entry.file_type().is_file() {
            let rel = entry.path().strip_prefix(example.root()).unwrap();
            let text = std::fs::read_to_string(entry.path()).unwrap();
            root.write(&format!("examples/weather/{}", rel.display()), &text);
        }
    }
    // A fresh clone's first run, and the next one.
    for _ in 0..2 {
        let out = root.run(&args);
        out.expect_code(0).stderr_has(&[
            "compozy: unchanged .compozy/tools.ts",
            "compozy: 4 tools checked",
        ]);
        assert!(
            readme.contains("`compozy: unchanged .compozy/tools.ts`")
                && readme.contains("`compozy: 4 tools checked`"),
            "the README does not say what the command prints"
        );
    }
}

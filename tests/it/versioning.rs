//! Tool versioning: `version:`, `compozy.lock` written by `gen`, and the breaking-change check
//! against it (exit 2, nothing written, the tool, the schema path and a witness).

use serde_json::{Value, json};

use crate::common::{Fixture, runtime_bin};

const MODULE: &str =
    "export function run(input: { city: string }) {\n  return { temp: 20, city: input.city };\n}\n";

/// A project with one tool `weather` at `version`, with `input:` and `output:` as given (YAML
/// flow mappings).
fn project(version: &str, input: &str, output: &str) -> Fixture {
    Fixture::with(&[
        ("compozy.yaml", &config(version, input, output)),
        ("tools/weather.ts", MODULE),
    ])
}

fn config(version: &str, input: &str, output: &str) -> String {
    format!(
        "tools:\n  - id: weather\n    description: Weather\n    version: {version}\n    execute: ./tools/weather.ts\n    input: {input}\n    output: {output}\n"
    )
}

const INPUT: &str = "{type: object, properties: {city: {type: string}}, required: [city]}";
const OUTPUT: &str = "{type: object, properties: {temp: {type: number}}, required: [temp]}";

fn lock(project: &Fixture) -> Value {
    serde_json::from_str(&project.read("compozy.lock")).expect("the lock is JSON")
}

#[test]
fn gen_writes_a_deterministic_lock_and_check_sees_it_stale() {
    let project = project("1.0.0", INPUT, OUTPUT);
    project.run(&["gen"]).expect_code(0);
    let text = project.read("compozy.lock");
    assert_eq!(
        lock(&project),
        json!({"compozy_lock": 1, "tools": {"weather@1": {
            "id": "weather",
            "input": {"properties": {"city": {"type": "string"}}, "required": ["city"], "type": "object"},
            "output": {"properties": {"temp": {"type": "number"}}, "required": ["temp"], "type": "object"},
            "version": "1.0.0"
        }}})
    );
    // Sorted keys, two-space indent, a final newline: a diff-friendly file.
    assert!(
        text.starts_with(
            "{\n  \"compozy_lock\": 1,\n  \"tools\": {\n    \"weather@1\": {\n      \"id\""
        ),
        "{text}"
    );
    assert!(text.ends_with("}\n"));
    project.run(&["gen", "--check"]).expect_code(0);

    // Another directory, the same lock.
    let other = self::project("1.0.0", INPUT, OUTPUT);
    other.run(&["gen"]).expect_code(0);
    assert_eq!(other.read("compozy.lock"), text);

    // A compatible change (a wider type) without a bump: the lock is stale, not broken.
    let wider = "{type: object, properties: {city: {type: [string, 'null']}}, required: [city]}";
    project.write("compozy.yaml", &config("1.0.0", wider, OUTPUT));
    let out = project.run(&["gen", "--check"]);
    out.expect_code(1)
        .stderr_has(&["compozy.lock are out of date"]);
    assert!(out.stdout.contains("+++ b/compozy.lock"), "{}", out.stdout);
    assert_eq!(project.read("compozy.lock"), text, "--check writes nothing");
    project.run(&["gen"]).expect_code(0);
    assert_eq!(
        lock(&project)["tools"]["weather@1"]["input"]["properties"]["city"]["type"],
        json!(["string", "null"])
    );
    // A description is not part of the interface.
    project.write(
        "compozy.yaml",
        &config("1.0.0", wider, OUTPUT).replace("Weather", "Weather now"),
    );
    let before = project.read("compozy.lock");
    project.run(&["gen"]).expect_code(0);
    assert_eq!(project.read("compozy.lock"), before);
}

#[test]
fn a_breaking_input_change_without_a_major_bump_is_refused_with_a_witness() {
    let project = project("1.2.0", INPUT, OUTPUT);
    project.run(&["gen"]).expect_code(0);
    let lock_before = project.read("compozy.lock");
    let tools_before = project.read(".compozy/tools.ts");

    let stricter = "{type: object, properties: {city: {type: string}, days: {type: integer}}, required: [city, days]}";
    project.write("compozy.yaml", &config("1.3.0", stricter, OUTPUT));
    project.write("tools/weather.ts", &MODULE.replace("20", "21"));
    let out = project.run(&["gen"]);
    out.expect_code(2).stderr_has(&[
        "breaking change to the input of `weather`",
        "schema path /required",
        "witness: {\"city\":\"\"}",
        "compozy.yaml:2",
        "2.0.0",
    ]);
    assert_eq!(project.read("compozy.lock"), lock_before, "nothing written");
    assert_eq!(
        project.read(".compozy/tools.ts"),
        tools_before,
        "nothing written"
    );
    project.run(&["gen", "--check"]).expect_code(2);

    // The same as JSON: a diagnostic whose code says `breaking`, with the witness as JSON.
    let out = project.run(&["gen", "--format", "json"]);
    out.expect_code(2);
    let report = out.json();
    let d = &report["diagnostics"][0];
    assert!(d["code"].as_str().unwrap().contains("breaking"), "{d}");
    assert_eq!(d["witness"], json!({"city": ""}));
    assert_eq!(d["file"], json!("compozy.yaml"));

    // A new major version allows it; the lock moves to the new major.
    project.write("compozy.yaml", &config("2.0.0", stricter, OUTPUT));
    project.run(&["gen"]).expect_code(0);
    let tools = &lock(&project)["tools"];
    assert_eq!(tools["weather@2"]["version"], json!("2.0.0"));
    assert!(tools.get("weather@1").is_none());
}

#[test]
fn an_output_that_allows_more_breaks_and_one_that_allows_fewer_does_not() {
    let project = project("1.0.0", INPUT, OUTPUT);
    project.run(&["gen"]).expect_code(0);
    let narrower = "{type: object, properties: {temp: {type: integer}}, required: [temp]}";
    project.write("compozy.yaml", &config("1.0.1", INPUT, narrower));
    project.run(&["gen"]).expect_code(0);
    let wider = "{type: object, properties: {temp: {type: [integer, 'null']}}, required: [temp]}";
    project.write("compozy.yaml", &config("1.0.2", INPUT, wider));
    let out = project.run(&["gen", "--format", "json"]);
    out.expect_code(2);
    let d = &out.json()["diagnostics"][0];
    assert_eq!(d["code"], json!("version::breaking-output"));
    assert_eq!(d["witness"], json!({"temp": null}));
}

#[test]
fn an_undecidable_change_is_breaking_without_a_witness() {
    let project = project("1.0.0", "{type: string, pattern: '^a'}", OUTPUT);
    project.run(&["gen"]).expect_code(0);
    project.write(
        "compozy.yaml",
        &config("1.0.0", "{type: string, pattern: '^(a|b)'}", OUTPUT),
    );
    let out = project.run(&["gen", "--format", "json"]);
    out.expect_code(2);
    let d = &out.json()["diagnostics"][0];
    assert_eq!(d["code"], json!("version::breaking-input"));
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("cannot prove compatible"),
        "{d}"
    );
    assert!(d.get("witness").is_none(), "{d}");
}

#[test]
fn version_zero_allows_every_change() {
    let project = project("0.3.0", INPUT, OUTPUT);
    project.run(&["gen"]).expect_code(0);
    project.write(
        "compozy.yaml",
        &config("0.3.0", "{type: object, required: [x]}", OUTPUT),
    );
    project.run(&["gen"]).expect_code(0);
}

#[test]
fn a_removed_tool_is_breaking_until_its_lock_entry_names_a_replacement() {
    let project = project("1.0.0", INPUT, OUTPUT);
    project.run(&["gen"]).expect_code(0);
    project.write(
        "compozy.yaml",
        "tools:\n  - id: forecast\n    description: Forecast\n    version: 1.0.0\n    execute: ./tools/weather.ts\n",
    );
    project.run(&["gen"]).expect_code(2).stderr_has(&[
        "tool `weather` (version 1.0.0) was removed",
        "compozy.lock:4",
        "replaced_by",
    ]);
    let text = project.read("compozy.lock").replace(
        "\"version\": \"1.0.0\"\n",
        "\"replaced_by\": \"forecast\",\n      \"version\": \"1.0.0\"\n",
    );
    project.write("compozy.lock", &text);
    project.run(&["gen"]).expect_code(0);
    let tools = &lock(&project)["tools"];
    assert_eq!(tools["weather@1"]["replaced_by"], json!("forecast"));
    assert!(tools.get("forecast@1").is_some());
    project.run(&["gen", "--check"]).expect_code(0);
}

#[test]
fn bad_versions_and_locks_are_clear_errors_and_nothing_is_written() {
    let project = project("1.x", INPUT, OUTPUT);
    project.run(&["gen"]).expect_code(2).stderr_has(&[
        "invalid version `1.x`",
        "compozy.yaml:4",
        "MAJOR.MINOR.PATCH",
    ]);
    assert!(!project.path("compozy.lock").exists());

    let project = self::project("1.0.0", INPUT, OUTPUT);
    project.write(
        "compozy.lock",
        "{\n  \"compozy_lock\": 1,\n  \"tools\": {\n    oops\n",
    );
    project
        .run(&["gen"])
        .expect_code(2)
        .stderr_has(&["compozy.lock cannot be read", "compozy.lock:4"]);
    assert!(!project.path(".compozy").exists());

    project.write(
        "compozy.lock",
        "{\n  \"compozy_lock\": 1,\n  \"tools\": {\n    \"weather@2\": {\n      \"id\": \"weather\",\n      \"version\": \"1.0.0\"\n    }\n  }\n}\n",
    );
    project.run(&["gen"]).expect_code(2).stderr_has(&[
        "compozy.lock is inconsistent",
        "weather@1",
        "compozy.lock:4",
    ]);
}

fn versioned_tool_runs(runtime: &str) {
    let project = project("1.0.0", INPUT, OUTPUT);
    let mut cmd = project.compozy(&[
        "exec",
        "weather",
        "--runtime",
        runtime,
        "--input",
        "{\"city\":\"Oslo\"}",
    ]);
    cmd.env("COMPOZY_BUN", runtime_bin("bun"))
        .env("COMPOZY_NODE", runtime_bin("node"));
    let out = crate::common::Output::from(cmd.output().expect("run compozy"));
    out.expect_code(0);
    assert_eq!(
        serde_json::from_str::<Value>(&out.stdout).unwrap(),
        json!({"temp": 20, "city": "Oslo"})
    );
    // exec generates as gen does: the lock is there.
    assert!(project.path("compozy.lock").is_file());
}

/// A project whose `weather` was renamed `forecast`, with the lock entry saying so.
fn renamed() -> Fixture {
    let project = project("1.0.0", INPUT, OUTPUT);
    project.run(&["gen"]).expect_code(0);
    project.write(
        "compozy.yaml",
        "tools:\n  - id: forecast\n    description: Forecast\n    version: 1.0.0\n    execute: ./tools/weather.ts\n",
    );
    let text = project.read("compozy.lock").replace(
        "\"version\": \"1.0.0\"\n",
        "\"replaced_by\": \"forecast\",\n      \"version\": \"1.0.0\"\n",
    );
    project.write("compozy.lock", &text);
    project.run(&["gen"]).expect_code(0);
    project
}

fn a_removed_tool_says_what_to_call_instead(runtime: &str) {
    let project = renamed();
    let mut cmd = project.compozy(&["exec", "weather", "--runtime", runtime, "--input", "{}"]);
    cmd.env("COMPOZY_BUN", runtime_bin("bun"))
        .env("COMPOZY_NODE", runtime_bin("node"));
    let out = crate::common::Output::from(cmd.output().expect("run compozy"));
    out.expect_code(2)
        .stderr_has(&["tool `weather` was removed; call `forecast` instead"]);

    // Over MCP (the official client): an isError result, not "unknown tool".
    let steps = json!([
        {"op": "call", "name": "weather", "args": {"city": "Oslo"}},
        {"op": "call", "name": "forecast", "args": {"city": "Oslo"}},
    ]);
    let report = crate::mcp::over_stdio(&project, runtime, "legacy", &[], &steps);
    let r = &report["results"];
    assert_eq!(r[0]["isError"], json!(true), "{report:#}");
    assert!(
        r[0].to_string()
            .contains("tool `weather` was removed; call `forecast` instead"),
        "{report:#}"
    );
    assert_eq!(r[1]["isError"], json!(false), "{report:#}");

    // Over serve: the error says the same (and an id never declared is still just unknown).
    let mut serve = crate::serving::Serve::start(&project, runtime, 1, &[]);
    let answer = serve.call(&json!({"id": 1, "tool_id": "weather", "input": {"city": "Oslo"}}));
    assert_eq!(answer["error"]["name"], "UnknownToolError", "{answer}");
    assert_eq!(
        answer["error"]["message"], "tool `weather` was removed; call `forecast` instead",
        "{answer}"
    );
    let answer = serve.call(&json!({"id": 2, "tool_id": "wether", "input": {}}));
    assert_eq!(
        answer["error"]["message"], "unknown tool `wether`",
        "{answer}"
    );
}

on_both_runtimes!(
    versioned_tool_runs,
    a_removed_tool_says_what_to_call_instead
);

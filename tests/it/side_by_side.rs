//! Several major versions of one tool side by side: the older major is exported as `ID@MAJOR`,
//! `exec`/`serve` call it by that name, MCP lists it as `ID.vMAJOR` with its version in `_meta`,
//! and a `deprecated:` message reaches the model and the log. (`exec` both ways: `exec.rs`.)

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Fixture, runtime_bin};
use crate::mcp::{HttpServer, over_http, over_stdio};

pub(crate) const CONFIG: &str = "tools:
  - id: weather
    description: Weather by city id
    version: 2.1.0
    execute: ./tools/weather2.ts
    input: {type: object, properties: {city_id: {type: integer}}, required: [city_id]}
  - id: weather
    description: Weather by city name
    version: 1.4.0
    deprecated: use weather 2, which takes a city id
    execute: ./tools/weather1.ts
    input: {type: object, properties: {city: {type: string}}, required: [city]}
  - id: calc
    description: Adds one
    execute: ./tools/calc.ts
    input: {type: object, properties: {n: {type: number}}}
";

const DEPRECATION: &str =
    "tool `weather@1` 1.4.0 is deprecated: use weather 2, which takes a city id";

/// `weather` 2.1.0 and 1.4.0 (deprecated), each with its module, and an unversioned `calc`.
pub(crate) fn project() -> Fixture {
    Fixture::with(&[
        ("compozy.yaml", CONFIG),
        (
            "tools/weather2.ts",
            "export function run(input: { city_id: number }) {\n  return { major: 2, city_id: input.city_id };\n}\n",
        ),
        (
            "tools/weather1.ts",
            "export function run(input: { city: string }) {\n  return { major: 1, city: input.city };\n}\n",
        ),
        (
            "tools/calc.ts",
            "export function run(input: { n?: number }) {\n  return (input.n ?? 0) + 1;\n}\n",
        ),
    ])
}

#[test]
fn gen_exports_and_types_every_major_and_locks_each() {
    let p = project();
    p.run(&["gen"]).expect_code(0);
    let tools = p.read(".compozy/tools.ts");
    assert!(tools.contains("  tool_0 as calc,\n"), "{tools}");
    assert!(tools.contains("as weather,\n"), "{tools}");
    assert!(tools.contains("as \"weather@1\",\n"), "{tools}");
    assert!(tools.contains("from \"../tools/weather1.ts\""), "{tools}");
    let types = p.read(".compozy/types.ts");
    assert!(types.contains("\"weather@1\": {"), "{types}");
    assert!(types.contains("city_id: number"), "{types}");
    assert!(types.contains("city: string"), "{types}");
    let lock: Value = serde_json::from_str(&p.read("compozy.lock")).unwrap();
    let keys: Vec<&String> = lock["tools"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["calc@0", "weather@1", "weather@2"]);
    assert_eq!(lock["tools"]["weather@1"]["id"], "weather");
    assert_eq!(lock["tools"]["weather@1"]["version"], "1.4.0");
    assert_eq!(lock["tools"]["weather@2"]["version"], "2.1.0");
    p.run(&["gen", "--check"]).expect_code(0);

    // `tsc` reads both majors' types and checks each module against its own.
    let out = tsc(&p);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // A module that does not fit its major's input is reported under that major's key.
    p.write(
        "tools/weather1.ts",
        "export function run(input: { city: number }) {\n  return { major: 1, city: input.city };\n}\n",
    );
    p.run(&["gen"]).expect_code(0);
    let out = tsc(&p);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("weather@1"), "{said}");
}

/// `tsc` over the generated entrypoint, with its type-only checks.
fn tsc(p: &Fixture) -> std::process::Output {
    crate::common::tsc()
        .current_dir(p.root())
        .args([
            "--noEmit",
            "--strict",
            "--module",
            "nodenext",
            "--target",
            "es2022",
            "--allowImportingTsExtensions",
            ".compozy/tools.ts",
        ])
        .output()
        .expect("run tsc")
}

#[test]
fn inspect_shows_versions_mcp_names_and_deprecation() {
    let p = project();
    let out = p.run(&["inspect"]);
    out.expect_code(0);
    assert!(out.stdout.contains("version 2.1.0\n"), "{}", out.stdout);
    assert!(
        out.stdout.contains(
            "version 1.4.0 · MCP name weather.v1 · deprecated: use weather 2, which takes a city id"
        ),
        "{}",
        out.stdout
    );
    let out = p.run(&["inspect", "--format", "json"]);
    let report = out.json();
    let older = report["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "weather@1")
        .expect("weather@1 in inspect")
        .clone();
    assert_eq!(older["version"], "1.4.0");
    assert_eq!(older["mcp_name"], "weather.v1");
    assert_eq!(older["deprecated"], "use weather 2, which takes a city id");
    assert_eq!(older["module"], "tools/weather1.ts");
    // `--env` takes the same names as exec.
    p.run(&["inspect", "--env", "weather@1"]).expect_code(0);
    p.run(&["inspect", "--env", "weather@9"])
        .expect_code(2)
        .stderr_has(&["tool `weather` has no major version 9"]);
}

/// NDJSON requests on stdin, all at once; the answers by id, and serve's stderr.
fn serve_lines(p: &Fixture, runtime: &str, requests: &[Value]) -> (Vec<Value>, String) {
    let mut child = p
        .compozy(&["serve", "--no-listen", "--runtime", runtime])
        .env("COMPOZY_BUN", runtime_bin("bun"))
        .env("COMPOZY_NODE", runtime_bin("node"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start compozy serve");
    let mut stdin = child.stdin.take().unwrap();
    for r in requests {
        writeln!(stdin, "{r}").unwrap();
    }
    drop(stdin);
    let out = crate::common::wait_within(child, Duration::from_secs(60));
    let mut answers: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("an answer is JSON"))
        .collect();
    answers.sort_by_key(|a| a["id"].as_i64());
    assert_eq!(answers.len(), requests.len(), "{}", out.stdout);
    (answers, out.stderr)
}

fn serve_answers_each_major(runtime: &str) {
    let p = project();
    let (answers, stderr) = serve_lines(
        &p,
        runtime,
        &[
            json!({"id": 1, "tool_id": "weather", "input": {"city_id": 7}}),
            json!({"id": 2, "tool_id": "weather@1", "input": {"city": "Oslo"}}),
            json!({"id": 3, "tool_id": "weather@2", "input": {"city_id": 8}}),
            json!({"id": 4, "tool_id": "weather@1", "input": {"city": "Rome"}}),
            json!({"id": 5, "tool_id": "weather@9"}),
            json!({"id": 6, "tool_id": "weather@x"}),
        ],
    );
    assert_eq!(answers[0]["result"], json!({"major": 2, "city_id": 7}));
    assert_eq!(answers[1]["result"], json!({"major": 1, "city": "Oslo"}));
    assert_eq!(answers[1]["metadata"]["tool_id"], "weather@1");
    assert_eq!(answers[2]["result"], json!({"major": 2, "city_id": 8}));
    assert_eq!(answers[3]["result"], json!({"major": 1, "city": "Rome"}));
    assert_eq!(
        answers[4]["error"]["name"], "UnknownToolError",
        "{}",
        answers[4]
    );
    let message = answers[4]["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("tool `weather` has no major version 9")
            && message.contains("2 (`weather`), 1 (`weather@1`)"),
        "{message}"
    );
    assert_eq!(answers[5]["error"]["name"], "InvalidRequestError");
    assert!(
        answers[5]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`x` is not a major version"),
        "{}",
        answers[5]
    );
    // One warning per call of the deprecated major, none for the others.
    assert_eq!(stderr.matches(DEPRECATION).count(), 2, "{stderr}");
}

fn tool<'a>(tools: &'a Value, name: &str) -> &'a Value {
    tools
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name)
        .unwrap_or_else(|| panic!("no tool `{name}` listed: {tools:#}"))
}

const MCP_STEPS: fn() -> Value = || {
    json!([
        {"op": "list"},
        {"op": "call", "name": "weather", "args": {"city_id": 7}},
        {"op": "call", "name": "weather.v1", "args": {"city": "Oslo"}},
        {"op": "call", "name": "weather.v1", "args": {"city": "Rome"}},
        {"op": "call", "name": "weather.v9", "args": {}},
        {"op": "call", "name": "weathr.v1", "args": {}},
    ])
};

fn assert_mcp_report(report: &Value, how: &str) {
    let r = &report["results"];
    let tools = &r[0]["tools"];
    let names: Vec<&str> = tools
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["calc", "weather", "weather.v1"], "{how}");
    let newest = tool(tools, "weather");
    assert_eq!(
        newest["_meta"],
        json!({"compozy/version": "2.1.0"}),
        "{how}"
    );
    assert_eq!(newest["description"], "Weather by city id", "{how}");
    let older = tool(tools, "weather.v1");
    assert_eq!(older["_meta"], json!({"compozy/version": "1.4.0"}), "{how}");
    assert_eq!(
        older["description"],
        "Weather by city name\n\nDeprecated: use weather 2, which takes a city id",
        "{how}"
    );
    assert_eq!(
        older["inputSchema"]["required"],
        json!(["city"]),
        "{how}: the older major's own schema"
    );
    assert!(tool(tools, "calc").get("_meta").is_none(), "{how}");
    assert_eq!(
        r[1]["structuredContent"],
        json!({"major": 2, "city_id": 7}),
        "{how}: {report:#}"
    );
    assert_eq!(
        r[2]["structuredContent"],
        json!({"major": 1, "city": "Oslo"}),
        "{how}: {report:#}"
    );
    assert_eq!(r[3]["structuredContent"]["city"], "Rome", "{how}");
    assert_eq!(r[4]["thrown"]["code"], -32602, "{how}: {report:#}");
    assert!(
        r[4]["thrown"]["message"]
            .as_str()
            .unwrap()
            .contains("no major version 9"),
        "{how}: {report:#}"
    );
    // Suggestions name tools as MCP lists them.
    let unknown = r[5]["thrown"]["message"].as_str().unwrap_or_default();
    assert!(
        unknown.contains("`weather.v1`") && !unknown.contains('@'),
        "{how}: {report:#}"
    );
}

fn mcp_lists_older_majors_as_id_v_major(runtime: &str) {
    let p = project();
    // stdio: the server's stderr reaches the client's.
    let report = over_stdio(&p, runtime, "legacy", &[], &MCP_STEPS());
    assert_mcp_report(&report, "stdio");
    let stderr = report["stderr"].as_str().unwrap();
    assert_eq!(stderr.matches(DEPRECATION).count(), 2, "{stderr}");

    let server = HttpServer::start(&p, runtime, &[]);
    for era in ["legacy", "modern"] {
        let report = over_http(&p, &server.url, era, &MCP_STEPS());
        assert_mcp_report(&report, &format!("http {era}"));
    }
    std::thread::sleep(Duration::from_millis(200));
    let stderr = server.stderr.lock().unwrap().join("\n");
    assert_eq!(stderr.matches(DEPRECATION).count(), 4, "{stderr}");
}

on_both_runtimes!(
    serve_answers_each_major,
    mcp_lists_older_majors_as_id_v_major
);

/// A `plugins:` filter naming the id applies to every major; a key names one older major.
#[test]
fn plugin_filters_by_id_take_in_every_major() {
    let p = project();
    p.write(
        "compozy.yaml",
        &format!(
            "plugins:\n  - {{use: builtin:rate-limit, tools: [weather], limit: 1, per: 1h}}\n  - {{use: builtin:rate-limit, tools: [\"calc@0\"], limit: 1, per: 1h}}\n{CONFIG}"
        ),
    );
    let (answers, _) = serve_lines(
        &p,
        "bun",
        &[
            json!({"id": 1, "tool_id": "weather@1", "input": {"city": "Oslo"}}),
            json!({"id": 2, "tool_id": "weather@1", "input": {"city": "Oslo"}}),
            json!({"id": 3, "tool_id": "weather", "input": {"city_id": 1}}),
            json!({"id": 4, "tool_id": "weather", "input": {"city_id": 1}}),
            json!({"id": 5, "tool_id": "calc"}),
            json!({"id": 6, "tool_id": "calc"}),
        ],
    );
    let limited: Vec<bool> = answers
        .iter()
        .map(|a| a["error"]["name"] == "RateLimitedError")
        .collect();
    // One bucket per major; `calc@0` is no key (calc has one major), so nothing limits calc.
    assert_eq!(
        limited,
        [false, true, false, true, false, false],
        "{answers:#?}"
    );
}

/// `gen` in a project of `files`: exit 2, nothing written, and `fragments` on stderr.
fn refused(files: &[(&str, &str)], fragments: &[&str]) -> Fixture {
    let p = Fixture::with(files);
    let out = p.run(&["gen"]);
    out.expect_code(2).stderr_has(fragments);
    assert!(crate::common::nothing_generated(&p), "{}", out.stderr);
    assert!(!p.path("compozy.lock").exists(), "no lock written");
    p
}

const MODULES: [(&str, &str); 3] = [
    ("tools/weather2.ts", "export function run() { return 2; }\n"),
    ("tools/weather1.ts", "export function run() { return 1; }\n"),
    ("tools/calc.ts", "export function run() { return 0; }\n"),
];

fn with_config(config: &str) -> Vec<(&str, &str)> {
    let mut files = vec![("compozy.yaml", config)];
    files.extend(MODULES);
    files
}

#[test]
fn two_declarations_of_one_major_name_both_places() {
    let config = CONFIG.replace("version: 2.1.0", "version: 1.5.0");
    refused(
        &with_config(&config),
        &[
            "two declarations of `weather` with major 1",
            "compozy.yaml:7:",
            "`weather` was first declared here",
            "compozy.yaml:2:",
            "version: 2.0.0",
        ],
    );
    // Identical re-declarations are still one tool.
    let twice = format!(
        "{CONFIG}  - id: calc\n    description: Adds one\n    execute: ./tools/calc.ts\n    input: {{type: object, properties: {{n: {{type: number}}}}}}\n"
    );
    let p = Fixture::with(&with_config(&twice));
    p.run(&["gen"]).expect_code(0);
}

#[test]
fn bad_versions_deprecations_and_mcp_names_are_refused() {
    let config = CONFIG.replace(
        "deprecated: use weather 2, which takes a city id",
        "deprecated: 5",
    );
    refused(
        &with_config(&config),
        &[
            "`deprecated`",
            "compozy.yaml:10:17",
            "a message for callers",
        ],
    );
    let config = CONFIG.replace(
        "deprecated: use weather 2, which takes a city id",
        "deprecated: {why: old}",
    );
    refused(&with_config(&config), &["`deprecated`", "compozy.yaml:10:"]);
    let config = CONFIG.replace("version: 1.4.0", "version: v1");
    refused(
        &with_config(&config),
        &["invalid version `v1`", "compozy.yaml:9:"],
    );
    // A tool named as MCP would list the older major.
    let config = CONFIG.replace("id: calc", "id: weather.v1");
    refused(
        &with_config(&config),
        &[
            "the tool `weather.v1` has the name MCP lists `weather@1` under",
            "compozy.yaml:13:",
            "compozy.yaml:7:",
        ],
    );
}

#[test]
fn each_major_is_checked_against_its_own_lock_entry() {
    let p = project();
    p.run(&["gen"]).expect_code(0);
    let lock = p.read("compozy.lock");
    // Major 1 gets stricter within major 1: breaking, named by its key, against its own entry.
    let stricter = CONFIG.replace("version: 1.4.0", "version: 1.5.0").replace(
        "properties: {city: {type: string}}, required: [city]",
        "properties: {city: {type: string}, country: {type: string}}, required: [city, country]",
    );
    p.write("compozy.yaml", &stricter);
    let out = p.run(&["gen"]);
    out.expect_code(2).stderr_has(&[
        "breaking change to the input of `weather@1` without a new major version (still 1.5.0)",
        "witness: {\"city\":\"\"}",
        "compozy.yaml:7:",
        "is an older major version kept beside a newer one",
    ]);
    assert!(!out.stderr.contains("`weather` without"), "{}", out.stderr);
    assert_eq!(p.read("compozy.lock"), lock, "nothing written");
    // Wider is compatible: only major 1's entry changes.
    let wider = CONFIG.replace(
        "properties: {city: {type: string}}, required: [city]",
        "properties: {city: {type: [string, number]}}, required: [city]",
    );
    p.write("compozy.yaml", &wider);
    p.run(&["gen"]).expect_code(0);
    let before: Value = serde_json::from_str(&lock).unwrap();
    let after: Value = serde_json::from_str(&p.read("compozy.lock")).unwrap();
    assert_eq!(after["tools"]["weather@2"], before["tools"]["weather@2"]);
    assert_eq!(
        after["tools"]["weather@1"]["input"]["properties"]["city"]["type"],
        json!(["string", "number"])
    );
}

#[test]
fn dropping_an_older_major_is_breaking_until_the_lock_names_its_replacement() {
    let p = project();
    p.run(&["gen"]).expect_code(0);
    let lock = p.read("compozy.lock");
    // Only the newest major is left.
    let newest_only = CONFIG.replace(
        "  - id: weather
    description: Weather by city name
    version: 1.4.0
    deprecated: use weather 2, which takes a city id
    execute: ./tools/weather1.ts
    input: {type: object, properties: {city: {type: string}}, required: [city]}
",
        "",
    );
    p.write("compozy.yaml", &newest_only);
    let out = p.run(&["gen"]);
    out.expect_code(2).stderr_has(&[
        "tool `weather@1` (version 1.4.0) was removed",
        "compozy.lock:",
        "\"replaced_by\": \"weather\"",
    ]);
    assert_eq!(p.read("compozy.lock"), lock, "nothing written");

    // The person says what replaces it: the entry stays, and calls to it say what to call.
    let mut edited: Value = serde_json::from_str(&lock).unwrap();
    edited["tools"]["weather@1"]["replaced_by"] = json!("weather");
    p.write(
        "compozy.lock",
        &format!("{}\n", serde_json::to_string_pretty(&edited).unwrap()),
    );
    p.run(&["gen"]).expect_code(0);
    p.run(&["gen", "--check"]).expect_code(0);
    let out = p.exec_on("bun", "weather@1", &json!({"city": "Oslo"}));
    out.expect_code(2)
        .stderr_has(&["tool `weather@1` was removed; call `weather` instead"]);
    let report = over_stdio(
        &p,
        "bun",
        "legacy",
        &[],
        &json!([{"op": "list"}, {"op": "call", "name": "weather.v1", "args": {"city": "Oslo"}}]),
    );
    let r = &report["results"];
    assert!(
        r[0]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["name"] != "weather.v1"),
        "{report:#}"
    );
    assert_eq!(r[1]["isError"], true, "{report:#}");
    assert!(
        crate::mcp::text(&r[1]).contains("tool `weather.v1` was removed; call `weather` instead"),
        "{report:#}"
    );
}

#[test]
fn a_major_bump_without_the_older_major_needs_no_replacement() {
    // One declaration moving from 1 to 2 is a bump, as before: callers of `weather` get 2.
    let p = Fixture::with(&with_config(CONFIG));
    p.write(
        "compozy.yaml",
        "tools:\n  - id: weather\n    version: 1.0.0\n    execute: ./tools/weather1.ts\n",
    );
    p.run(&["gen"]).expect_code(0);
    p.write(
        "compozy.yaml",
        "tools:\n  - id: weather\n    version: 2.0.0\n    execute: ./tools/weather2.ts\n",
    );
    p.run(&["gen"]).expect_code(0);
    let lock: Value = serde_json::from_str(&p.read("compozy.lock")).unwrap();
    let keys: Vec<&String> = lock["tools"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["weather@2"]);
}

#[test]
fn a_hand_written_entrypoint_exports_the_older_major_under_its_key() {
    let config = "runtime:\n  entrypoint: ./entry.ts\ntools:\n  - id: weather\n    version: 2.0.0\n  - id: weather\n    version: 1.0.0\n";
    let p = Fixture::with(&[
        ("compozy.yaml", config),
        ("entry.ts", "export function weather() {\n  return 2;\n}\n"),
    ]);
    p.run(&["gen"]).expect_code(2).stderr_has(&[
        "does not export tool `weather@1`",
        "`weather@1` is major version 1 of `weather`",
        "export { yourFunction as \"weather@1\" }",
    ]);
    p.write(
        "entry.ts",
        "export default {\n  weather: () => 2,\n  \"weather@1\": () => 1,\n};\n",
    );
    p.run(&["gen"]).expect_code(0);
    assert_eq!(p.exec_on("bun", "weather", &json!({})).json(), json!(2));
    assert_eq!(p.exec_on("node", "weather@1", &json!({})).json(), json!(1));
}

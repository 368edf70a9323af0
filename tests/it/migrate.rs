//! `compozy migrate`: a Deno-era project made into one that runs on Bun and Node, checked
//! against the real `deno` running the project as Compozy's Deno runtime did.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{Fixture, Output, output_within, runtime_bin};

const LIMIT: Duration = Duration::from_secs(120);

/// The fixture projects of these tests.
fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A copy of `tests/fixtures/{name}` in a temporary directory, with the repository's
/// `node_modules` linked in (the pinned prettier the tools import).
fn copy(name: &str) -> Fixture {
    let fixture = Fixture::new();
    let from = fixtures().join(name);
    for entry in walkdir::WalkDir::new(&from) {
        let entry = entry.expect("walk the fixture");
        let rel = entry
            .path()
            .strip_prefix(&from)
            .expect("inside the fixture");
        if entry.file_type().is_file() {
            let text = std::fs::read_to_string(entry.path()).expect("read the fixture");
            fixture.write(&rel.to_string_lossy(), &text);
        }
    }
    let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules");
    std::os::unix::fs::symlink(&modules, fixture.path("node_modules")).expect("link node_modules");
    fixture
}

/// Every file of the project (not node_modules) with its contents, sorted.
fn snapshot(fixture: &Fixture) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = walkdir::WalkDir::new(fixture.root())
        .into_iter()
        .filter_entry(|e| e.file_name() != "node_modules")
        .flatten()
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e.path().strip_prefix(fixture.root()).unwrap();
            (
                rel.to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).unwrap_or_default(),
            )
        })
        .collect();
    files.sort();
    files
}

/// Runs `tool_id` with `input` through a Deno-era worker on the real `deno` (pinned in
/// package.json): imported by id through deno.json's import map, `default || run`, `fn(input)`.
/// Returns the worker's response (`{result, error}`).
fn on_deno(
    project: &Fixture,
    tool_id: &str,
    input: &str,
    env: &[(&str, &str)],
) -> serde_json::Value {
    let worker = project.path(".compozy/compozy_worker.ts");
    std::fs::create_dir_all(worker.parent().unwrap()).unwrap();
    std::fs::copy(fixtures().join("deno_worker.ts"), &worker).expect("install the Deno worker");
    let env_json: serde_json::Map<String, serde_json::Value> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::String((*v).to_owned())))
        .collect();
    let request = serde_json::json!({
        "tool_id": tool_id,
        "tool_exec_id": "oracle",
        "input": serde_json::from_str::<serde_json::Value>(input).unwrap(),
        "env": env_json,
    });
    let deno_dir = project.path(".compozy/deno-cache");
    let mut child = Command::new(runtime_bin("deno"))
        .args([
            "run",
            "--allow-all",
            "--node-modules-dir=manual",
            "--no-prompt",
            "--quiet",
        ])
        .arg(&worker)
        .current_dir(project.root())
        .env("DENO_DIR", &deno_dir)
        .env("DENO_NO_UPDATE_CHECK", "1")
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start deno");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(request.to_string().as_bytes()).unwrap();
    }
    let out = crate::common::wait_within(child, LIMIT);
    assert_eq!(out.code, 0, "deno failed\n--- stderr\n{}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "deno's answer is not JSON ({e}):\n{}\n{}",
            out.stdout, out.stderr
        )
    })
}

/// `compozy exec` of `tool_id` on `runtime`; the tool's result, or its error's name and message
/// in the Deno worker's shape.
fn on(
    runtime: &str,
    project: &Fixture,
    tool_id: &str,
    input: &str,
    env: &[(&str, &str)],
) -> serde_json::Value {
    let mut cmd = project.compozy(&["exec", tool_id, "--runtime", runtime, "--input", input]);
    for (k, v) in env {
        cmd.args(["--env", &format!("{k}={v}")]);
    }
    cmd.env("COMPOZY_BUN", runtime_bin("bun"))
        .env("COMPOZY_NODE", runtime_bin("node"));
    let out = output_within(&mut cmd, LIMIT);
    match out.code {
        0 => serde_json::json!({ "result": out.json(), "error": null }),
        1 => {
            // `compozy: tool `x` failed:\nName: message\n    at …`
            let line = out.stderr.lines().nth(1).unwrap_or_default();
            let (name, message) = line.split_once(": ").unwrap_or((line, ""));
            serde_json::json!({ "result": null, "error": { "name": name, "message": message } })
        }
        _ => panic!(
            "exec {tool_id} on {runtime} failed\n--- stderr\n{}",
            out.stderr
        ),
    }
}

/// One call: tool id, input, env.
type Call = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// The offline tools of the `deno-era` fixture, with their inputs and env.
const CALLS: &[Call] = &[
    ("counter", r#"{"count": 4}"#, &[]),
    ("greet", r#"{"name": "Ada"}"#, &[("GREETING_SUFFIX", "!")]),
    (
        "save_data",
        r#"{"message": "kept", "file": "out/saved.json"}"#,
        &[],
    ),
    ("save_data", r#"{"message": "default file"}"#, &[]),
    ("fail", r#"{"reason": "on purpose"}"#, &[]),
];

/// Runs `calls` on the real `deno` through the Deno-era worker in one copy of `fixture`;
/// migrates another copy (a second run changing nothing), generates, and runs the same calls
/// with `compozy exec` on Bun and on Node: the results, and the `written` files, must be Deno's.
fn assert_same_as_deno(fixture: &str, calls: &[Call], written: &[&str]) {
    let deno = copy(fixture);
    std::fs::create_dir_all(deno.path("out")).unwrap();
    let expected: Vec<serde_json::Value> = calls
        .iter()
        .map(|(id, input, env)| on_deno(&deno, id, input, env))
        .collect();
    for (want, (id, ..)) in expected.iter().zip(calls) {
        assert!(
            !want["result"].is_null() || want["error"]["name"].is_string(),
            "{id} gave nothing on Deno: {want}"
        );
    }

    let migrated = copy(fixture);
    std::fs::create_dir_all(migrated.path("out")).unwrap();
    migrated.run(&["migrate"]).expect_code(0);
    let once = snapshot(&migrated);
    // A second run changes nothing, and says so.
    migrated
        .run(&["migrate"])
        .expect_code(0)
        .stderr_has(&["nothing to migrate"]);
    migrated.run(&["migrate", "--check"]).expect_code(0);
    assert_eq!(snapshot(&migrated), once);
    migrated.run(&["gen"]).expect_code(0);

    for runtime in ["bun", "node"] {
        for ((id, input, env), want) in calls.iter().zip(&expected) {
            let got = on(runtime, &migrated, id, input, env);
            assert_eq!(&got, want, "{id} {input} on {runtime} vs deno");
        }
        // A tool that writes a file writes the same file.
        for file in written {
            assert_eq!(
                migrated.read(file),
                deno.read(file),
                "{file} written on {runtime} differs from Deno's"
            );
            std::fs::remove_file(migrated.path(file)).unwrap();
        }
    }
}

/// compozy's own layout (works on its own).
#[test]
fn deno_era_tools_give_on_bun_and_node_what_they_gave_on_deno() {
    assert_same_as_deno("deno-era", CALLS, &["out/saved.json", "results.json"]);
}

/// Compozy's layout: `workflows:`, a tool file reached by `$ref`, Deno permission flags.
#[test]
fn deno_era_workflow_tools_give_on_bun_and_node_what_they_gave_on_deno() {
    let calls: &[Call] = &[
        ("counter", r#"{"count": 3}"#, &[]),
        ("greet", r#"{"name": "Ada"}"#, &[("GREETING_SUFFIX", "?")]),
        ("save_data", r#"{"message": "3"}"#, &[]),
    ];
    assert_same_as_deno("deno-era-workflows", calls, &["results.json"]);
}

/// Migrating Compozy's layout does not need compozy to read it: the tools get their `execute:`
/// where they are declared, and a second run changes nothing.
#[test]
fn deno_era_workflow_layout_is_migrated_in_place() {
    let project = copy("deno-era-workflows");
    project.run(&["migrate"]).expect_code(0);
    let workflow = project.read("workflow.yaml");
    assert!(
        workflow.contains(
            "  - id: counter\n    execute: ./tools/counter.ts\n    description: Counts up"
        ),
        "{workflow}"
    );
    assert_eq!(workflow.matches("execute:").count(), 2, "{workflow}");
    assert_eq!(
        project.read("tools/save_data.yaml"),
        "id: save_data\nexecute: ./save_data.ts\ndescription: Save data to a file\ninput:\n  type: object\n  \
         properties:\n    message:\n      type: string\n  required:\n    - message\n"
    );
    assert!(
        project
            .read("tools/greet.ts")
            .contains("process.env[\"GREETING_SUFFIX\"]")
    );
    let once = snapshot(&project);
    project
        .run(&["migrate"])
        .expect_code(0)
        .stderr_has(&["nothing to migrate (3 tools, 3 modules checked)"]);
    assert_eq!(snapshot(&project), once);
}

#[test]
fn check_prints_the_diff_and_writes_nothing() {
    let project = copy("deno-era");
    let before = snapshot(&project);
    let out = project.run(&["migrate", "--check"]);
    out.expect_code(1)
        .stderr_has(&["to migrate; run `compozy migrate` to apply it"]);
    for fragment in [
        "--- a/compozy.yaml\n+++ b/compozy.yaml\n",
        "   - id: counter\n+    execute: ./tools/counter.ts\n",
        "+execute: ./greet.ts\n",
        "-import * as prettier from \"npm:prettier@3.10.1\";\n+import { writeFile } from \"node:fs/promises\";\n+import * as prettier from \"prettier\";\n",
        "-import { range } from \"helpers/range.ts\";\n+import { range } from \"../lib/range.ts\";\n",
        "+    const suffix = process.env[\"GREETING_SUFFIX\"] ?? \"\";\n",
        "+import { readFile } from \"node:fs/promises\";\n",
        "--- /dev/null\n+++ b/package.json\n",
        "+    \"prettier\": \"3.10.1\"\n",
    ] {
        assert!(
            out.stdout.contains(fragment),
            "diff lacks {fragment:?}\n{}",
            out.stdout
        );
    }
    assert_eq!(snapshot(&project), before, "--check wrote something");
}

#[test]
fn comments_and_layout_of_the_yaml_are_kept() {
    let project = copy("deno-era");
    project.run(&["migrate"]).expect_code(0);
    assert_eq!(
        project.read("compozy.yaml"),
        "# A Deno-era project in compozy's own format: some tools reach their module only through\n\
         # deno.json's import map, as Compozy's Deno runtime imported them.\n\
         name: deno-era\n\
         tools:\n  \
           # Mapped in deno.json only.\n  \
           - id: counter\n    \
             execute: ./tools/counter.ts\n    \
             description: Counts up to `count`, with a helper reached through the import map\n  \
           - id: save_data\n    \
             description: Formats the input with prettier (npm:) and writes it to a file\n    \
             execute: ./tools/save_data.ts\n  \
           - id: fail\n    \
             description: Throws on purpose\n    \
             execute: ./tools/fail.ts\n"
    );
    assert!(project.read("tools/greet.yaml").starts_with(
        "# Autoloaded; the module comes from deno.json.\nid: greet\nexecute: ./greet.ts\ndescription:"
    ));
    // deno.json is the user's: kept as it was.
    assert_eq!(
        project.read("deno.json"),
        std::fs::read_to_string(fixtures().join("deno-era/deno.json")).unwrap()
    );
}

/// Each kind of bad input, all reported in one run with file:line and a fix; nothing written.
#[test]
fn every_problem_is_reported_and_nothing_is_written() {
    let project = copy("deno-era");
    project.write(
        "deno.json",
        "{\n  \"imports\": {\n    \"counter\": \"./tools/counter.ts\",\n    \"greet\": \"./tools/greet.ts\",\n    \
         \"save_data\": \"./tools/save_data.ts\",\n    \"fail\": \"./tools/fail.ts\",\n    \
         \"helpers/\": \"./lib/\",\n    \"gone\": \"./tools/gone.ts\"\n  }\n}\n",
    );
    project.write(
        "tools/orphan.yaml",
        "id: orphan\ndescription: no module anywhere\n",
    );
    project.write(
        "tools/fail.ts",
        "import { join } from \"jsr:@std/path@1\";\nimport lodash from \"https://esm.sh/lodash@4.17.21\";\n\
         export function run() {\n  return Deno.stat(join(\"a\", lodash.VERSION));\n}\n",
    );
    let before = snapshot(&project);
    let out = project.run(&["migrate"]);
    out.expect_code(2).stderr_has(&[
        "the import map entry `gone` points to `./tools/gone.ts`, which does not exist",
        "╭─[deno.json:8:5]",
        "tool `orphan` has neither `execute:` nor an entry in deno.json's import map",
        "╭─[tools/orphan.yaml:1:1]",
        "`jsr:@std/path@1`: JSR packages are not on the npm registry",
        "npx jsr add @std/path",
        "╭─[tools/fail.ts:1:22]",
        "remote import `https://esm.sh/lodash@4.17.21`",
        "serves the npm package `lodash`",
        "`Deno.stat` has no exact Node/Bun equivalent",
        "╭─[tools/fail.ts:4:10]",
        "compozy: 5 problems to fix before migrating; nothing was written",
    ]);
    assert_eq!(snapshot(&project), before);
    project.run(&["migrate", "--check"]).expect_code(2);
}

#[test]
fn a_deno_json_that_does_not_parse_is_an_error_at_its_line() {
    let project = copy("deno-era");
    project.write(
        "deno.json",
        "{\n  \"imports\": {\n    \"counter\" \"./tools/counter.ts\"\n  }\n}\n",
    );
    let before = snapshot(&project);
    project
        .run(&["migrate"])
        .expect_code(2)
        .stderr_has(&["deno.json does not parse", "╭─[deno.json:3:15]"]);
    assert_eq!(snapshot(&project), before);
}

#[test]
fn an_execute_that_disagrees_with_the_import_map_is_an_error() {
    let project = copy("deno-era");
    project.write(
        "compozy.yaml",
        "tools:\n  - id: counter\n    execute: ./tools/greet.ts\n",
    );
    project.run(&["migrate"]).expect_code(2).stderr_has(&[
        "tool `counter` runs `./tools/greet.ts`, but deno.json maps it to `tools/counter.ts`",
        "╭─[compozy.yaml:3:14]",
        "╭─[deno.json:4:5]",
    ]);
}

#[test]
fn a_module_exporting_default_and_run_is_an_error() {
    let project = copy("deno-era");
    project.write(
        "tools/fail.ts",
        "export function run() { return 1; }\nexport default function () { return 2; }\n",
    );
    project.run(&["migrate"]).expect_code(2).stderr_has(&[
        "`tools/fail.ts` exports both `default` and `run`",
        "Compozy's Deno runtime called `default`, compozy calls `run`",
    ]);
}

/// The help of a command documents it.
#[test]
fn help_describes_migrate() {
    let out = Output::from(
        crate::common::compozy()
            .args(["migrate", "--help"])
            .output()
            .unwrap(),
    );
    out.expect_code(0);
    assert!(out.stdout.contains("--check"), "{}", out.stdout);
    assert!(
        out.stdout.contains("Deno.env.get(k) -> process.env[k]"),
        "{}",
        out.stdout
    );
}

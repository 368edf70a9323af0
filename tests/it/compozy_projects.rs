//! Projects in Compozy's own layout: workflow files, autoloaded resources, references, a
//! hand-written entrypoint whose default-exported object is the tool table.

use serde_json::{Value, json};

use crate::common::{Fixture, Output, example, nothing_generated, runtime_bin};

fn exec(project: &Fixture, runtime: &str, tool: &str, input: Value) -> Output {
    project.exec_on(runtime, tool, &input)
}

fn result(project: &Fixture, runtime: &str, tool: &str, input: Value) -> Value {
    let out = exec(project, runtime, tool, input);
    out.expect_code(0);
    serde_json::from_str(out.stdout.trim()).expect("a JSON result")
}

/// Every file under the project's root, relative and sorted.
fn files(project: &Fixture) -> Vec<String> {
    let mut found: Vec<String> = walkdir::WalkDir::new(project.root())
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let rel = e
                .path()
                .strip_prefix(project.root())
                .expect("under the root");
            rel.to_string_lossy().replace('\\', "/")
        })
        .collect();
    found.sort();
    found
}

fn example_tools_run_as_compozy_ran_them(runtime: &str) {
    let p = example("compozy-layout");
    p.run(&["gen", "--check"]).expect_code(0);
    // A tool whose input schema is named by id.
    assert_eq!(
        result(&p, runtime, "word_count", json!({"text": "one two  three"})),
        json!({"words": 3})
    );
    // A method of the default-exported object, with the `with:` default and `config:` of a tool
    // whose schema is a `local::` reference.
    assert_eq!(
        result(
            &p,
            runtime,
            "slugify",
            json!({"text": "Hello, Wörld of Tools!"})
        ),
        json!({"slug": "hello-world-of-tools"})
    );
    // An autoloaded `resource: tool` whose output schema is a `$global::` reference: the
    // result is checked against it.
    assert_eq!(
        result(&p, runtime, "format_date", json!({"date": "2026-12-04"})),
        json!({"iso": "2026-12-04T00:00:00.000Z", "weekday": "Friday"})
    );
    // The schema the id names is enforced before the call.
    exec(&p, runtime, "word_count", json!({"txt": "x"}))
        .expect_code(2)
        .stderr_has(&["text"]);
    // A throw keeps its name and message, as Compozy's runtime reported them.
    exec(&p, runtime, "format_date", json!({"date": "nope"}))
        .expect_code(1)
        .stderr_has(&["RangeError: not a date: nope"]);
}

/// What Compozy's Bun runtime returned for a call: the result, or the error's name and message
/// (run by a worker that does what that runtime's worker did: tests/fixtures).
fn compozy_runtime(project: &Fixture, tool: &str, input: &Value, config: &Value) -> Value {
    let worker = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/compozy_bun_worker.ts");
    let mut child = std::process::Command::new(runtime_bin("bun"))
        .arg(worker)
        .arg(project.path("entrypoint.ts"))
        .current_dir(project.root())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("run bun");
    let request = json!({"tool_id": tool, "input": input, "config": config});
    std::io::Write::write_all(
        child.stdin.as_mut().expect("stdin"),
        request.to_string().as_bytes(),
    )
    .expect("write the request");
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("wait for bun");
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "the reference worker's answer: {e}: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    match &answer["error"] {
        Value::Null => json!({"result": answer["result"]}),
        error => json!({"error": [error["name"], error["message"]]}),
    }
}

/// The same through `compozy exec`: the result, or the error's name and message.
fn compozy_exec(project: &Fixture, runtime: &str, tool: &str, input: &Value) -> Value {
    let out = exec(project, runtime, tool, input.clone());
    if out.code == 0 {
        return json!({"result": serde_json::from_str::<Value>(out.stdout.trim()).expect("JSON")});
    }
    // `compozy: tool `x` failed:` then `Name: message` and the stack.
    let line = out
        .stderr
        .lines()
        .skip_while(|l| !l.contains("failed:"))
        .nth(1)
        .unwrap_or_else(|| panic!("no error line: {}", out.stderr));
    let (name, message) = line.split_once(": ").expect("Name: message");
    json!({"error": [name, message]})
}

fn results_are_compozys_runtime_results(runtime: &str) {
    let p = example("compozy-layout");
    // Compozy's runtime got the input with the tool's `with:` merged under it, and its `config:`.
    let calls = [
        ("word_count", json!({"text": "one two  three"}), json!({})),
        ("word_count", json!({"text": ""}), json!({})),
        (
            "slugify",
            json!({"text": "Ünïcode & Spaces here, and a title long enough to be cut", "separator": "-"}),
            json!({"max_length": 40}),
        ),
        ("format_date", json!({"date": "2024-02-29"}), json!({})),
        ("format_date", json!({"date": "2024-02-30x"}), json!({})),
    ];
    for (tool, input, config) in calls {
        let ours = compozy_exec(&p, runtime, tool, &input);
        let theirs = compozy_runtime(&p, tool, &input, &config);
        assert_eq!(ours, theirs, "{tool} {input} on {runtime}");
    }
}

on_both_runtimes!(
    example_tools_run_as_compozy_ran_them,
    results_are_compozys_runtime_results
);

#[test]
fn gen_writes_nothing_outside_dot_compozy() {
    let p = example("compozy-layout");
    std::fs::remove_dir_all(p.path(".compozy")).expect("remove the committed output");
    let before = files(&p);
    p.run(&["gen"]).expect_code(0);
    let added: Vec<String> = files(&p)
        .into_iter()
        .filter(|f| !before.contains(f))
        .collect();
    assert!(!added.is_empty(), "gen wrote nothing");
    for file in &added {
        assert!(file.starts_with(".compozy/"), "gen wrote {file}");
    }
    assert!(
        added.contains(&".compozy/bun_worker.ts".to_owned()),
        "{added:?}"
    );
}

#[test]
fn inspect_lists_the_tools_of_every_place() {
    let p = example("compozy-layout");
    let out = p.run(&["inspect", "--format", "json"]);
    out.expect_code(0);
    let ids: Vec<String> = out.json()["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| t["id"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(ids, ["format_date", "slugify", "word_count"]);
}

/// A small Compozy project: `compozy.yaml` with a workflow, a tool module and an entrypoint.
fn project(workflow: &str, extra: &[(&str, &str)]) -> Fixture {
    let p = Fixture::with(&[
        (
            "compozy.yaml",
            "name: p\nversion: 0.1.0\nworkflows:\n  - source: ./workflow.yaml\nruntime:\n  entrypoint: ./entrypoint.ts\n",
        ),
        ("workflow.yaml", workflow),
        (
            "entrypoint.ts",
            "export default { echo: (i: unknown) => i, other: (i: unknown) => i };\n",
        ),
    ]);
    for (path, text) in extra {
        p.write(path, text);
    }
    p
}

#[test]
fn a_tool_shared_by_two_workflows_is_one_tool() {
    let p = project(
        "id: a\ntools:\n  - id: echo\n    description: Echo\n",
        &[
            (
                "compozy.yaml",
                "workflows:\n  - source: ./workflow.yaml\n  - source: ./second.yaml\nruntime:\n  entrypoint: ./entrypoint.ts\n",
            ),
            (
                "second.yaml",
                "id: b\ntools:\n  - id: echo\n    description: Echo\n",
            ),
        ],
    );
    p.run(&["gen"]).expect_code(0);
    // Declared differently, it is an error naming both places.
    p.write(
        "second.yaml",
        "id: b\ntools:\n  - id: echo\n    description: Echo twice\n",
    );
    let out = p.run(&["gen"]);
    out.expect_code(2).stderr_has(&[
        "tool id `echo` is declared more than once",
        "second.yaml:3:5",
        "workflow.yaml:3:5",
    ]);
}

#[test]
fn a_task_s_variant_of_a_declared_tool_is_not_a_second_declaration() {
    // The task writes the tool out with a `with:` of its own (Compozy's inline tool); the
    // workflow's `tools:` names tools declared elsewhere by id.
    let p = project(
        "id: a\ntools:\n  - id: echo\n    description: Echo\n  - other\ntasks:\n  - id: t\n    tool:\n      id: echo\n      with: {x: 1}\n    on_success:\n      next: r\n  - id: r\n    type: router\n    routes:\n      again:\n        $ref: local::tasks.#(id==\"t\")\n",
        &[(
            "tools/other.yaml",
            "resource: tool\nid: other\ndescription: Other\n",
        )],
    );
    p.write(
        "compozy.yaml",
        "workflows:\n  - source: ./workflow.yaml\nautoload:\n  include: [\"tools/*.yaml\"]\nruntime:\n  entrypoint: ./entrypoint.ts\n",
    );
    p.run(&["gen"]).expect_code(0);
    let out = p.run(&["inspect", "--format", "json"]);
    let report = out.json();
    let ids: Vec<&str> = report["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| t["id"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(ids, ["echo", "other"]);
}

#[test]
fn a_workflow_the_autoload_globs_match_is_read_as_a_workflow() {
    let p = project(
        "id: a\ntools:\n  - id: echo\n    description: Echo\ntasks:\n  - id: t\n    tool: echo\n",
        &[(
            "compozy.yaml",
            "workflows:\n  - source: ./workflow.yaml\nautoload:\n  enabled: true\n  include: [\"*.yaml\"]\nruntime:\n  entrypoint: ./entrypoint.ts\n",
        )],
    );
    p.run(&["gen"]).expect_code(0);
}

#[test]
fn unknown_keys_get_a_did_you_mean_against_compozys_keys() {
    let p = project(
        "id: a\ntaks: []\ntools:\n  - id: echo\n    descripton: Echo\n",
        &[(
            "compozy.yaml",
            "name: p\nworkflow:\n  - source: ./workflow.yaml\nworkflows:\n  - source: ./workflow.yaml\nmodels: []\ntemporal: {}\nruntime:\n  entrypoint: ./entrypoint.ts\n",
        )],
    );
    let out = p.run(&["gen"]);
    out.expect_code(2).stderr_has(&[
        "unknown key `workflow` in compozy.yaml",
        "did you mean `workflows`",
        "unknown key `taks` in a workflow file",
        "did you mean `tasks`",
        "unknown key `descripton` in a tool",
        "did you mean `description`",
    ]);
    assert!(!out.stderr.contains("`models`"), "{}", out.stderr);
    assert!(nothing_generated(&p));
}

#[test]
fn bad_references_are_all_reported_with_their_place() {
    let p = project(
        "id: a\nschemas:\n  - id: text_input\n    type: object\ntools:\n  - id: echo\n    input: text_imput\n  - $ref: ./tools/missing.yaml\n  - id: other\n    output:\n      $ref: local::schemas.#(id==\"nope\")\ntasks:\n  - $ref: ./loop.yaml\n",
        &[
            (
                "loop.yaml",
                "id: t\nexecutor:\n  type: tool\n  $ref: ./loop.yaml::executor\n",
            ),
            (
                "compozy.yaml",
                "workflows:\n  - source: ./workflow.yaml\n  - source: ./absent.yaml\nruntime:\n  entrypoint: ./entrypoint.ts\n",
            ),
        ],
    );
    let out = p.run(&["gen"]);
    out.expect_code(2).stderr_has(&[
        "unknown schema `text_imput`",
        "did you mean `text_input`",
        "workflow.yaml:7:12",
        "cannot resolve `./tools/missing.yaml`",
        "does not exist",
        "workflow.yaml:8:11",
        "cannot resolve `local::schemas.#(id==\"nope\")`",
        "a reference cycle",
        "workflow source `./absent.yaml` cannot be read",
        "compozy.yaml:3:13",
    ]);
    assert!(nothing_generated(&p));
}

#[test]
fn an_entrypoint_lacking_a_tool_or_an_import_is_an_error() {
    let p = project(
        "id: a\ntools:\n  - id: echo\n  - id: missing_tool\n",
        &[(
            "entrypoint.ts",
            "import { helper } from \"./lib/helper.ts\";\nexport default { echo: helper };\n",
        )],
    );
    let out = p.run(&["gen"]);
    out.expect_code(2).stderr_has(&[
        "`entrypoint.ts` imports `./lib/helper.ts`, which does not exist",
        "entrypoint.ts:1:24",
        "missing_tool",
    ]);
    assert!(nothing_generated(&p));
}

#[test]
fn the_entrypoint_is_found_where_compozy_projects_keep_it() {
    for (file, extra) in [
        ("entrypoint.ts", None),
        ("tools.ts", None),
        (
            "src/main.ts",
            Some(("package.json", "{\"main\": \"./src/main.ts\"}")),
        ),
    ] {
        let p = Fixture::with(&[
            ("compozy.yaml", "workflows:\n  - source: ./workflow.yaml\n"),
            (
                "workflow.yaml",
                "id: a\ntools:\n  - id: echo\n    description: Echo\n",
            ),
            (file, "export default { echo: (i: unknown) => i };\n"),
        ]);
        if let Some((path, text)) = extra {
            p.write(path, text);
        }
        let out = p.run(&["gen"]);
        out.expect_code(0).stderr_has(&[&format!(
            "using `./{}` as the entrypoint",
            file.trim_start_matches("./")
        )]);
        assert_eq!(
            result(&p, "bun", "echo", json!({"x": 1})),
            json!({"x": 1}),
            "through {file}"
        );
        // Said by gen, not on every call.
        let again = exec(&p, "bun", "echo", json!({}));
        assert!(
            !again.stderr.contains("as the entrypoint"),
            "{}",
            again.stderr
        );
    }
}

#[test]
fn deno_permissions_are_explained_once() {
    let p = project(
        "id: a\ntools:\n  - id: echo\n    description: Echo\n",
        &[(
            "compozy.yaml",
            "workflows:\n  - source: ./workflow.yaml\nruntime:\n  entrypoint: ./entrypoint.ts\n  permissions: [--allow-read, --allow-net, --allow-write=./out]\n",
        )],
    );
    let out = p.run(&["gen", "--format", "json"]);
    out.expect_code(0);
    let report = serde_json::from_str::<Value>(&out.stdout).expect("a JSON report");
    let said: Vec<&str> = report["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .iter()
        .filter(|d| d["code"] == "gen::deno-permissions")
        .map(|d| d["message"].as_str().expect("a message"))
        .collect();
    let [message] = said.as_slice() else {
        panic!("said {} times: {said:?}", said.len())
    };
    for meaning in [
        "Bun enforces none of them",
        "--allow-read → --allow-fs-read=*",
        "--allow-net → not restricted by Node",
        "--allow-write=./out → --allow-fs-write=./out",
    ] {
        assert!(message.contains(meaning), "{meaning:?} not in {message}");
    }
}

#[test]
fn deno_era_projects_are_told_to_migrate() {
    // Tools named by a deno.json import map, without `execute:`.
    let p = Fixture::with(&[
        ("compozy.yaml", "workflows:\n  - source: ./workflow.yaml\n"),
        ("workflow.yaml", "id: a\ntools:\n  - id: echo\n"),
        ("deno.json", "{\"imports\": {\"echo\": \"./echo.ts\"}}\n"),
        ("echo.ts", "export function run(i: unknown) { return i; }\n"),
    ]);
    p.run(&["gen"]).expect_code(2).stderr_has(&[
        "Deno-era Compozy project",
        "`deno.json`",
        "compozy migrate",
    ]);
    // Deno's specifiers.
    let p = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: save\n    execute: ./save.ts\n",
        ),
        (
            "save.ts",
            "import * as prettier from \"npm:prettier\";\nexport async function run() { return prettier.version; }\n",
        ),
    ]);
    p.run(&["gen"]).expect_code(2).stderr_has(&[
        "`save.ts` is written for Deno",
        "npm:prettier",
        "save.ts:1:27",
        "compozy migrate",
    ]);
    assert!(nothing_generated(&p));
}

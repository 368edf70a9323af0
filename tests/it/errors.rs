//! Bad input: exit 2, a message naming the file, line and column, and nothing written.

use serde_json::Value;

use crate::common::{Fixture, nothing_generated};

/// Runs `gen` on a broken project and checks the contract for errors: exit 2, nothing written,
/// and every diagnostic (and every note attached to one) placed at a `file:line:col`.
#[track_caller]
fn fails(project: &Fixture, fragments: &[&str]) -> String {
    let out = project.run(&["gen"]);
    out.expect_code(2).stderr_has(fragments);
    assert!(
        nothing_generated(project),
        "a file was written despite errors"
    );
    let json = project.run(&["gen", "--format", "json"]);
    let report = json.expect_code(2).json();
    let diagnostics = report["diagnostics"].as_array().expect("diagnostics");
    assert!(!diagnostics.is_empty(), "no diagnostics: {report}");
    let mut pending: Vec<&Value> = diagnostics.iter().collect();
    while let Some(d) = pending.pop() {
        assert!(
            d["file"].is_string()
                && d["line"].as_u64() >= Some(1)
                && d["column"].as_u64() >= Some(1),
            "a diagnostic without file:line:col: {d}"
        );
        pending.extend(d["related"].as_array().expect("related"));
    }
    out.stderr
}

/// Asserts that the diagnostic (or note) whose message contains `message` shows its code frame
/// at `position` (`file:line:col`).
#[track_caller]
fn points_at(stderr: &str, message: &str, position: &str) {
    let at = stderr
        .find(message)
        .unwrap_or_else(|| panic!("stderr lacks {message:?}\n--- stderr\n{stderr}"));
    let frame = stderr[at..]
        .split("╭─[")
        .nth(1)
        .and_then(|rest| rest.split(']').next());
    assert_eq!(
        frame,
        Some(position),
        "{message:?} is not shown at {position}\n--- stderr\n{stderr}"
    );
}

fn ok_tool() -> (&'static str, &'static str) {
    ("tools/ok.ts", "export function run() { return 1; }\n")
}

#[test]
fn broken_yaml_syntax() {
    let project = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: a\n  execute: ./tools/ok.ts\n   x: y\n",
        ),
        ok_tool(),
    ]);
    let stderr = fails(&project, &["config::yaml"]);
    points_at(
        &stderr,
        "did not find expected '-' indicator",
        "compozy.yaml:3:3",
    );
    project.write(
        "compozy.yaml",
        "tools:\n  - id: a\n    execute: [unclosed\n",
    );
    let stderr = fails(&project, &["config::yaml"]);
    points_at(&stderr, "expected string scalar", "compozy.yaml:3:14");
}

#[test]
fn unknown_keys_are_errors_with_position() {
    let project = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: a\n    exectue: ./tools/ok.ts\n",
        ),
        ok_tool(),
    ]);
    let stderr = fails(&project, &[]);
    points_at(&stderr, "unknown field `exectue`", "compozy.yaml:3:5");
}

#[test]
fn unknown_keys_in_a_standalone_tool_file() {
    let project = Fixture::with(&[
        ("compozy.yaml", "name: x\n"),
        ("tools/a.yaml", "id: a\nexecute: ./ok.ts\ntimout: 5s\n"),
        ("tools/ok.ts", "export function run() {}\n"),
    ]);
    let stderr = fails(&project, &[]);
    points_at(&stderr, "unknown field `timout`", "tools/a.yaml:3:1");
}

#[test]
fn duplicate_ids_across_files_point_at_both() {
    let project = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: same\n    execute: ./tools/ok.ts\n",
        ),
        ("tools/other.yaml", "id: same\nexecute: ./ok.ts\n"),
        ok_tool(),
    ]);
    let stderr = fails(&project, &[]);
    points_at(
        &stderr,
        "tool id `same` is declared more than once",
        "tools/other.yaml:1:5",
    );
    points_at(
        &stderr,
        "`same` was first declared here",
        "compozy.yaml:2:5",
    );
}

#[test]
fn missing_module() {
    let project = Fixture::with(&[(
        "compozy.yaml",
        "tools:\n  - id: a\n    execute: ./tools/nope.ts\n",
    )]);
    let stderr = fails(&project, &[]);
    points_at(
        &stderr,
        "`./tools/nope.ts` does not exist",
        "compozy.yaml:3:14",
    );
}

#[test]
fn execute_escaping_the_root() {
    let project = Fixture::with(&[(
        "project/compozy.yaml",
        "tools:\n  - id: a\n    execute: ../outside.ts\n",
    )]);
    project.write("outside.ts", "export function run() {}\n");
    let out = project
        .compozy(&["gen"])
        .current_dir(project.path("project"))
        .output()
        .unwrap();
    let out = crate::common::Output::from(out);
    out.expect_code(2);
    points_at(
        &out.stderr,
        "`../outside.ts` points outside the project root",
        "compozy.yaml:3:14",
    );
    assert!(!project.path("project/.compozy").exists());
}

#[cfg(unix)]
#[test]
fn execute_escaping_the_root_through_a_symlink() {
    let project = Fixture::with(&[(
        "project/compozy.yaml",
        "tools:\n  - id: a\n    execute: ./tools/link.ts\n",
    )]);
    project.write("secret/real.ts", "export function run() {}\n");
    std::fs::create_dir_all(project.path("project/tools")).unwrap();
    std::os::unix::fs::symlink(
        project.path("secret/real.ts"),
        project.path("project/tools/link.ts"),
    )
    .unwrap();
    let out = project
        .compozy(&["gen"])
        .current_dir(project.path("project"))
        .output()
        .unwrap();
    let out = crate::common::Output::from(out);
    out.expect_code(2);
    points_at(
        &out.stderr,
        "`./tools/link.ts` points outside the project root",
        "compozy.yaml:3:14",
    );
    assert!(!project.path("project/.compozy").exists());
}

#[test]
fn absolute_execute_outside_the_root() {
    let project = Fixture::with(&[(
        "compozy.yaml",
        "tools:\n  - id: a\n    execute: /etc/hostname.ts\n",
    )]);
    let stderr = fails(&project, &["points outside the project root"]);
    points_at(
        &stderr,
        "`/etc/hostname.ts` points outside the project root",
        "compozy.yaml:3:14",
    );
}

#[test]
fn wrong_extension() {
    let project = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: a\n    execute: ./tools/a.py\n",
        ),
        ("tools/a.py", "print(1)\n"),
    ]);
    let stderr = fails(&project, &[".ts .tsx .mts .cts .js .mjs .cjs"]);
    points_at(
        &stderr,
        "`./tools/a.py` is not a TypeScript or JavaScript module",
        "compozy.yaml:3:14",
    );
}

#[test]
fn typescript_syntax_error_points_at_the_module_line() {
    let project = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: a\n    execute: ./tools/a.ts\n",
        ),
        (
            "tools/a.ts",
            "// a tool\nexport function run() {\n  return 1 +;\n}\n",
        ),
    ]);
    let stderr = fails(&project, &["return 1 +;"]);
    points_at(&stderr, "syntax error in `tools/a.ts`", "tools/a.ts:3:13");
    points_at(&stderr, "tool `a` is declared here", "compozy.yaml:3:14");
}

/// swc panics on this JSX (a namespace name with a member): a syntax error, not a crash report.
#[test]
fn module_the_parser_gives_up_on() {
    let project = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: a\n    execute: ./tools/a.js\n",
        ),
        (
            "tools/a.js",
            "export function run() {\n  return <a:b.c />;\n}\n",
        ),
    ]);
    let stderr = fails(&project, &["the parser gave up on this module"]);
    assert!(!stderr.contains("This is a bug in compozy"), "{stderr}");
    points_at(&stderr, "syntax error in `tools/a.js`", "tools/a.js:1:1");
}

#[test]
fn syntax_error_in_a_re_exported_module() {
    let project = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: a\n    execute: ./tools/a.ts\n",
        ),
        ("tools/a.ts", "export * from \"./b.ts\";\n"),
        ("tools/b.ts", "export const = 1;\n"),
    ]);
    let stderr = fails(&project, &[]);
    points_at(&stderr, "syntax error in `tools/b.ts`", "tools/b.ts:1:14");
    points_at(&stderr, "tool `a` is declared here", "compozy.yaml:3:14");
}

#[test]
fn module_without_run_or_default_lists_its_exports() {
    let project = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: weather\n    execute: ./tools/w.ts\n",
        ),
        (
            "tools/w.ts",
            "export function weatherTool() {}\nexport const helper = 1;\nexport type Run = string;\n",
        ),
    ]);
    let stderr = fails(&project, &["export { weatherTool as run }"]);
    points_at(
        &stderr,
        "`tools/w.ts` exports `helper`, `weatherTool`; expected `run` or `default`",
        "tools/w.ts:1:1",
    );
    points_at(
        &stderr,
        "tool `weather` is declared here",
        "compozy.yaml:3:14",
    );
}

#[test]
fn type_only_run_is_not_callable() {
    let project = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: a\n    execute: ./tools/a.ts\n",
        ),
        (
            "tools/a.ts",
            "export interface run { x: number }\nexport type { run as default };\n",
        ),
    ]);
    let stderr = fails(&project, &[]);
    points_at(
        &stderr,
        "`tools/a.ts` exports nothing; expected `run` or `default`",
        "tools/a.ts:1:1",
    );
    points_at(&stderr, "tool `a` is declared here", "compozy.yaml:3:14");
}

#[test]
fn hand_written_entrypoint_missing_ids() {
    let project = Fixture::with(&[
        (
            "compozy.yaml",
            "runtime:\n  entrypoint: ./src/index.ts\ntools:\n  - id: present\n  - id: api-caller\n  - id: absent\n",
        ),
        (
            "src/index.ts",
            "export function present() {}\nexport function api_caller() {}\n",
        ),
    ]);
    let stderr = fails(&project, &["export { yourFunction as \"api-caller\" }"]);
    for (message, position) in [
        (
            "the entrypoint `src/index.ts` does not export tool `api-caller`",
            "src/index.ts:1:1",
        ),
        ("tool `api-caller` is declared here", "compozy.yaml:5:5"),
        (
            "the entrypoint `src/index.ts` does not export tool `absent`",
            "src/index.ts:1:1",
        ),
        ("tool `absent` is declared here", "compozy.yaml:6:5"),
    ] {
        points_at(&stderr, message, position);
    }
    assert!(!stderr.contains("tool `present`"), "{stderr}");
}

#[test]
fn missing_execute_in_generated_mode() {
    let project = Fixture::with(&[("compozy.yaml", "tools:\n  - id: a\n    description: x\n")]);
    let stderr = fails(&project, &[]);
    points_at(&stderr, "tool `a` has no `execute`", "compozy.yaml:2:5");
}

#[test]
fn invalid_ids_durations_env_names_and_schemas_are_all_reported_together() {
    let project = Fixture::with(&[
        (
            "compozy.yaml",
            "runtime:\n  timeout: 10\n  env: { 1BAD: x }\n\
             tools:\n\
             \x20 - id: ../escape\n    execute: ./tools/ok.ts\n\
             \x20 - id: good\n    execute: ./tools/ok.ts\n    timeout: soon\n    input: { type: objekt }\n",
        ),
        ok_tool(),
    ]);
    let stderr = fails(&project, &[]);
    for (message, position) in [
        (
            "invalid duration `10`: a unit is required",
            "compozy.yaml:2:12",
        ),
        (
            "invalid environment variable name `1BAD`",
            "compozy.yaml:3:16",
        ),
        ("invalid tool id `../escape`", "compozy.yaml:5:9"),
        ("invalid duration `soon`", "compozy.yaml:9:14"),
        ("`input` is not a valid JSON Schema", "compozy.yaml:10:12"),
    ] {
        points_at(&stderr, message, position);
    }
}

#[test]
fn timeouts_too_long_for_a_deadline() {
    let project = Fixture::with(&[
        (
            "compozy.yaml",
            "runtime:\n  timeout: 300000000000y\n\
             tools:\n\
             \x20 - id: ok\n    execute: ./tools/ok.ts\n    timeout: 18446744073709552s\n",
        ),
        ok_tool(),
    ]);
    let stderr = fails(&project, &[]);
    points_at(
        &stderr,
        "invalid duration `300000000000y`: must be at most 18446744073709551615ms",
        "compozy.yaml:2:12",
    );
    points_at(
        &stderr,
        "invalid duration `18446744073709552s`",
        "compozy.yaml:6:14",
    );
}

#[test]
fn unknown_runtime_and_permission() {
    let project = Fixture::with(&[(
        "compozy.yaml",
        "runtime:\n  type: deno\n  permissions: [--allow-net]\n",
    )]);
    let stderr = fails(&project, &[]);
    points_at(&stderr, "unknown runtime `deno`", "compozy.yaml:2:9");
    points_at(
        &stderr,
        "unknown permission `--allow-net`",
        "compozy.yaml:3:17",
    );
}

#[test]
fn no_project_found() {
    let dir = Fixture::new();
    dir.run(&["gen"])
        .expect_code(2)
        .stderr_has(&["no compozy.yaml found", "--project DIR"]);
}

#[test]
fn json_diagnostics_carry_file_line_and_column() {
    let project = Fixture::with(&[(
        "compozy.yaml",
        "tools:\n  - id: a\n    execute: ./tools/nope.ts\n",
    )]);
    let out = project.run(&["gen", "--format", "json"]);
    out.expect_code(2);
    let json = out.json();
    assert_eq!(json["status"], "error");
    let d = &json["diagnostics"][0];
    assert_eq!(d["code"], "config::missing-module");
    assert_eq!(d["file"], "compozy.yaml");
    assert_eq!(d["line"], 3);
    assert_eq!(d["column"], 14);
    assert!(
        d["help"]
            .as_str()
            .unwrap()
            .contains("relative to the YAML file")
    );
}

#[test]
fn yaml_1_2_scalars_stay_strings() {
    // `on`, `y` and `NO` are booleans in YAML 1.1; here they are ids and descriptions.
    let project = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: on\n    description: NO\n    execute: ./tools/ok.ts\n  - id: y\n    execute: ./tools/ok.ts\n",
        ),
        ok_tool(),
    ]);
    project.run(&["gen"]).expect_code(0);
    let tools = project.read(".compozy/tools.ts");
    assert!(
        tools.contains(" as on,") && tools.contains(" as y,"),
        "{tools}"
    );
}

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
    points_at(&stderr, "unclosed bracket '['", "compozy.yaml:3:14");
}

#[test]
fn a_tab_in_the_indentation_is_shown_at_its_line() {
    // The parser stops at the end of line 2; the tab is on line 3.
    let project = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: a\n\texecute: ./tools/ok.ts\n",
        ),
        ok_tool(),
    ]);
    let stderr = fails(&project, &["config::yaml", "help: indent with spaces"]);
    points_at(&stderr, "line 3 is indented with a tab", "compozy.yaml:3:1");
    // A tab inside a value or a block scalar is fine.
    project.write(
        "compozy.yaml",
        "tools:\n  - id: a\n    description: |\n      \tcode\n    execute: ./tools/ok.ts\n    env: { A: \"x\ty\" }\n",
    );
    project.run(&["gen"]).expect_code(0);
}

#[test]
fn an_unclosed_bracket_is_shown_where_it_opens() {
    // The parser notices it only at the `:` of the next line.
    let project = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: a\n    execute: ./tools/ok.ts\n  - id: [unclosed\n    execute: ./tools/ok.ts\n",
        ),
        ok_tool(),
    ]);
    let stderr = fails(&project, &["config::yaml", "close it with `]`"]);
    points_at(&stderr, "`[` is never closed", "compozy.yaml:4:9");
    points_at(&stderr, "the parser noticed it here", "compozy.yaml:5:12");
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
    let stderr = fails(&project, &["config::unknown-key"]);
    points_at(
        &stderr,
        "unknown key `exectue` in a tool",
        "compozy.yaml:3:5",
    );
    // The misspelt `execute` is reported once, not a second time as a missing one.
    assert!(!stderr.contains("has no `execute`"), "{stderr}");
}

#[test]
fn unknown_keys_in_a_standalone_tool_file() {
    let project = Fixture::with(&[
        ("compozy.yaml", "name: x\n"),
        ("tools/a.yaml", "id: a\nexecute: ./ok.ts\ntimout: 5s\n"),
        ("tools/ok.ts", "export function run() {}\n"),
    ]);
    let stderr = fails(&project, &[]);
    points_at(
        &stderr,
        "unknown key `timout` in a tool",
        "tools/a.yaml:3:1",
    );
}

#[test]
fn duplicate_ids_across_files_point_at_both() {
    let project = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: same\n    execute: ./tools/ok.ts\n",
        ),
        (
            "tools/other.yaml",
            "id: same\ndescription: another tool\nexecute: ./ok.ts\n",
        ),
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

/// A declaration with problems of its own still declares its id: both problems in one run, with
/// "first" for the one read first (tool files in path order: dup.yaml before hello.yaml).
#[test]
fn a_duplicate_with_problems_of_its_own_is_reported_with_them() {
    let project = Fixture::with(&[
        ("compozy.yaml", "name: p\n"),
        ("tools/hello.yaml", "id: hello\nexecute: ./ok.ts\n"),
        (
            "tools/dup.yaml",
            "id: hello\nexecute: ./ok.ts\ntimeout: 30\n",
        ),
        ("tools/ok.ts", "export function run() { return 1; }\n"),
    ]);
    let stderr = fails(&project, &["2 problems found"]);
    points_at(
        &stderr,
        "invalid duration `30`: a unit is required",
        "tools/dup.yaml:3:10",
    );
    points_at(
        &stderr,
        "tool id `hello` is declared more than once",
        "tools/hello.yaml:1:5",
    );
    points_at(
        &stderr,
        "`hello` was first declared here",
        "tools/dup.yaml:1:5",
    );
    let report = diagnostics(&project);
    let duplicate = report
        .iter()
        .find(|d| d["code"] == "config::duplicate-id")
        .expect("a duplicate-id diagnostic");
    assert_eq!(duplicate["label"], "declared again here", "{duplicate}");
    assert_eq!(
        duplicate["related"][0]["label"], "first declared here",
        "{duplicate}"
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
        (
            "invalid JSON Schema at `input.type`: must be one of",
            "compozy.yaml:10:20",
        ),
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
        "runtime:\n  type: deno\n  permissions: [--allow-everything]\n",
    )]);
    let stderr = fails(&project, &[]);
    points_at(&stderr, "unknown runtime `deno`", "compozy.yaml:2:9");
    points_at(
        &stderr,
        "unknown permission `--allow-everything`",
        "compozy.yaml:3:17",
    );
}

#[test]
fn no_project_found() {
    let dir = Fixture::new();
    dir.run(&["gen"])
        .expect_code(2)
        .stderr_has(&["no compozy.yaml found", "--project DIR"]);
    // A new user's first command: the way to a project is named.
    dir.run(&["exec", "hello"])
        .expect_code(2)
        .stderr_has(&["run `compozy init` to start a project here"]);
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

/// The diagnostics of `gen --format json` (which exits 2).
fn diagnostics(project: &Fixture) -> Vec<Value> {
    let report = project
        .run(&["gen", "--format", "json"])
        .expect_code(2)
        .json();
    report["diagnostics"]
        .as_array()
        .expect("diagnostics")
        .clone()
}

/// The help line of the one diagnostic whose message contains `message`.
#[track_caller]
fn help_of(diagnostics: &[Value], message: &str) -> String {
    let found: Vec<&Value> = diagnostics
        .iter()
        .filter(|d| d["message"].as_str().is_some_and(|m| m.contains(message)))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one diagnostic {message:?} in {diagnostics:#?}"
    );
    found[0]["help"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn two_typos_in_one_file_are_both_reported() {
    let project = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: a\n    exectue: ./tools/ok.ts\n    descripton: Adds\n",
        ),
        ok_tool(),
    ]);
    let stderr = fails(&project, &["config::unknown-key"]);
    points_at(
        &stderr,
        "unknown key `exectue` in a tool",
        "compozy.yaml:3:5",
    );
    points_at(
        &stderr,
        "unknown key `descripton` in a tool",
        "compozy.yaml:4:5",
    );
}

#[test]
fn typos_in_compozy_yaml_and_in_tool_files_are_reported_together() {
    let project = Fixture::with(&[
        ("compozy.yaml", "nmae: demo\nruntime:\n  tpye: node\n"),
        (
            "tools/a.yaml",
            "id: a\nexecute: ./ok.ts\ntimeout: 5s\ndescripton: x\n",
        ),
        (
            "tools/b.yaml",
            "tools:\n  - id: b\n    execute: ./ok.ts\n    wiht: { a: 1 }\n",
        ),
        ("tools/ok.ts", "export function run() { return 1; }\n"),
    ]);
    let stderr = fails(&project, &[]);
    for (message, position) in [
        ("unknown key `nmae` in compozy.yaml", "compozy.yaml:1:1"),
        ("unknown key `tpye` in `runtime:`", "compozy.yaml:3:3"),
        ("unknown key `descripton` in a tool", "tools/a.yaml:4:1"),
        ("unknown key `wiht` in a tool", "tools/b.yaml:4:5"),
    ] {
        points_at(&stderr, message, position);
    }
}

#[test]
fn a_typo_gets_the_closest_key_not_the_list_of_keys() {
    let project = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: a\n    execute: ./tools/ok.ts\n    timeot: 5s\n    zzz: 1\n",
        ),
        ok_tool(),
    ]);
    let stderr = fails(&project, &[]);
    points_at(
        &stderr,
        "unknown key `timeot` in a tool",
        "compozy.yaml:4:5",
    );
    points_at(&stderr, "unknown key `zzz` in a tool", "compozy.yaml:5:5");
    let all = diagnostics(&project);
    // (`title`, for MCP hosts, is a tool key too, and close enough to be named second.)
    assert_eq!(
        help_of(&all, "`timeot`"),
        "did you mean `timeout` or `title`?"
    );
    // Nothing close: then, and only then, the keys a tool has.
    let far = help_of(&all, "`zzz`");
    assert!(
        far.contains("`execute`") && far.contains("`timeout`"),
        "{far}"
    );
}

#[test]
fn a_project_setting_in_the_wrong_place_says_where_it_belongs() {
    let project = Fixture::with(&[("compozy.yaml", "timeout: 5s\n")]);
    let stderr = fails(&project, &[]);
    points_at(
        &stderr,
        "unknown key `timeout` in compozy.yaml",
        "compozy.yaml:1:1",
    );
    assert_eq!(
        help_of(&diagnostics(&project), "`timeout`"),
        "`timeout` is a setting of `runtime:`; move it there"
    );
}

#[test]
fn values_of_the_wrong_type_are_all_reported() {
    let project = Fixture::with(&[
        (
            "compozy.yaml",
            "runtime:\n  permissions: --allow-worker\n\
             tools:\n  - id: a\n    execute: [./tools/ok.ts]\n    timeout: [5s]\n",
        ),
        ok_tool(),
    ]);
    let stderr = fails(&project, &["config::wrong-type"]);
    for (message, position) in [
        (
            "`permissions` must be a list of strings, not a string",
            "compozy.yaml:2:16",
        ),
        (
            "`execute` must be a module path, or a mapping with `command:`",
            "compozy.yaml:5:14",
        ),
        (
            "`timeout` must be a string, a number or a boolean, not a list",
            "compozy.yaml:6:14",
        ),
    ] {
        points_at(&stderr, message, position);
    }
}

#[test]
fn typos_in_a_json_schema_are_errors_at_their_line() {
    let project = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: a\n    execute: ./tools/ok.ts\n    input:\n      type: object\n\
             \x20     properties:\n        n: { tpye: string }\n      requird: [n]\n",
        ),
        ok_tool(),
    ]);
    let stderr = fails(&project, &["config::schema-keyword"]);
    points_at(
        &stderr,
        "unknown JSON Schema keyword `tpye` in `input.properties.n`",
        "compozy.yaml:7:14",
    );
    points_at(
        &stderr,
        "unknown JSON Schema keyword `requird` in `input`",
        "compozy.yaml:8:7",
    );
    let all = diagnostics(&project);
    assert_eq!(help_of(&all, "`tpye`"), "did you mean `type`?");
    assert_eq!(help_of(&all, "`requird`"), "did you mean `required`?");
}

#[test]
fn extensions_annotations_and_property_names_are_not_keyword_typos() {
    // `x-` extensions, annotations, a property named like a misspelt keyword, and keyword-like
    // keys inside values (`enum`, `const`, `default`, `examples`) are all fine.
    let project = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: a\n    execute: ./tools/ok.ts\n    input:\n      type: object\n\
             \x20     title: Input\n      x-foo: { anything: [goes] }\n      $comment: checked\n\
             \x20     properties:\n        requird: { type: string, description: a property }\n\
             \x20       mode: { enum: [{ tpye: 1 }], default: { tpye: 1 }, examples: [{ tpye: 2 }] }\n\
             \x20       fixed: { const: { requird: true }, deprecated: true, readOnly: true }\n\
             \x20     required: [requird]\n",
        ),
        ok_tool(),
    ]);
    project.run(&["gen"]).expect_code(0);
}

#[test]
fn an_invalid_schema_is_shown_at_the_bad_value_with_its_path() {
    let project = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: a\n    execute: ./tools/ok.ts\n    input:\n      type: object\n\
             \x20     properties:\n        count:\n          type: strng\n          minimum: \"a\"\n",
        ),
        ok_tool(),
    ]);
    let stderr = fails(&project, &["config::schema"]);
    points_at(
        &stderr,
        "invalid JSON Schema at `input.properties.count.type`: must be one of `array`",
        "compozy.yaml:8:17",
    );
    points_at(
        &stderr,
        "invalid JSON Schema at `input.properties.count.minimum`: must be a number, not the string `a`",
        "compozy.yaml:9:20",
    );
    assert_eq!(
        help_of(&diagnostics(&project), "count.type"),
        "did you mean `string`?"
    );
    // Validator jargon stays out.
    assert!(
        !stderr.contains("is not valid under any of the schemas"),
        "{stderr}"
    );
}

#[test]
fn with_defaults_are_checked_against_the_tools_input_schema() {
    let input = "    input:\n      type: object\n      additionalProperties: false\n      \
                 properties:\n        precision: { type: integer, maximum: 10 }\n        \
                 op: { enum: [add, sub] }\n      required: [precision, op]\n";
    let project = Fixture::with(&[
        (
            "compozy.yaml",
            &format!(
                "tools:\n\
                 \x20 - id: extra\n    execute: ./tools/ok.ts\n{input}    with: {{ precision: 2, round: true }}\n\
                 \x20 - id: over\n    execute: ./tools/ok.ts\n{input}    with:\n      precision: 20\n      op: ad\n\
                 \x20 - id: late\n    execute: ./tools/ok.ts\n    timeout: soon\n"
            ),
        ),
        ok_tool(),
    ]);
    let stderr = fails(&project, &["config::with"]);
    for (message, position) in [
        (
            "`with.round` is not a property of the tool's `input:` schema",
            "compozy.yaml:11:27",
        ),
        (
            "`with.precision` does not fit the tool's `input:` schema: must be at most 10, not `20`",
            "compozy.yaml:22:7",
        ),
        (
            "`with.op` does not fit the tool's `input:` schema: must be one of `add`, `sub`",
            "compozy.yaml:23:7",
        ),
        // Reported in the same run as the other problems.
        ("invalid duration `soon`", "compozy.yaml:26:14"),
    ] {
        points_at(&stderr, message, position);
    }
    // `required` is not asked of `with:` (the caller supplies `op` to `extra`).
    assert!(!stderr.contains("required property"), "{stderr}");
    assert!(stderr.contains("4 problems found"), "{stderr}");
    assert_eq!(
        help_of(&diagnostics(&project), "`with.op`"),
        "did you mean `add`?"
    );
}

#[test]
fn with_that_fits_as_part_of_the_input_passes() {
    let project = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: a\n    execute: ./tools/ok.ts\n    input:\n      type: object\n      \
             additionalProperties: false\n      properties:\n        a: { type: number }\n        \
             b: { type: string }\n      required: [a, b]\n    with: { a: 1 }\n",
        ),
        ok_tool(),
    ]);
    project.run(&["gen"]).expect_code(0);
}

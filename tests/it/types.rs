//! `.compozy/types.ts` and the signature checks of the generated entrypoint: snapshots, the real
//! `tsc` on a project with mismatched tools (and on the example), and `exec` of those tools on the
//! real Bun and Node (the checks are types only).

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Fixture, output_within, runtime_bin, snapshot_settings, tsc};

/// A project whose schemas use most of what the converter handles.
const SCHEMAS: &str = r##"
tools:
  - id: weather
    execute: ./tools/weather.ts
    with: { units: metric }
    config: { retries: 3, endpoints: [a, b] }
    input:
      type: object
      properties:
        city: { type: string, minLength: 1 }
        units: { enum: [metric, imperial] }
        days: { type: integer, minimum: 1, maximum: 7 }
      required: [city]
      additionalProperties: false
    output:
      type: object
      properties:
        temperature: { type: number }
        conditions: { type: array, items: { type: string }, maxItems: 2 }
      required: [temperature]
  - id: shapes/area
    execute: ./tools/area.ts
    input:
      oneOf:
        - { type: object, properties: { kind: { const: circle }, r: { type: number } }, required: [kind, r] }
        - { type: object, properties: { kind: { const: square }, side: { type: number } }, required: [kind, side] }
    output: { type: [number, "null"] }
  - id: tree.sum
    execute: ./tools/tree.ts
    input:
      $defs:
        node:
          type: object
          properties:
            value: { type: number }
            children: { type: array, items: { $ref: "#/$defs/node" } }
          required: [value]
      $ref: "#/$defs/node"
    output: { type: number }
  - id: loose
    execute: ./tools/loose.mjs
    input:
      properties: { tag: { type: string } }
      patternProperties: { "^x-": { type: integer } }
      additionalProperties: { type: boolean }
    output:
      type: array
      prefixItems: [{ type: string }, { type: number }]
      items: false
      minItems: 1
"##;

fn schemas_project() -> Fixture {
    Fixture::with(&[
        ("compozy.yaml", SCHEMAS),
        (
            "tools/weather.ts",
            "export function run(input: { city: string }) { return { temperature: input.city.length }; }\n",
        ),
        (
            "tools/area.ts",
            "export function run(i: { kind: string; r?: number; side?: number }) { return i.r ?? i.side ?? null; }\n",
        ),
        (
            "tools/tree.ts",
            "type Node = { value: number; children?: Node[] };\n\
             export function run(n: Node): number { return n.value + (n.children ?? []).reduce((s, c) => s + run(c), 0); }\n",
        ),
        (
            "tools/loose.mjs",
            "export default function (input) { return [String(input.tag)]; }\n",
        ),
    ])
}

#[test]
fn types_are_generated_in_both_entrypoint_modes() {
    let project = schemas_project();
    project
        .run(&["gen"])
        .expect_code(0)
        .stderr_has(&["created .compozy/types.ts"]);
    let types = project.read(".compozy/types.ts");
    let tools = project.read(".compozy/tools.ts");
    snapshot_settings().bind(|| {
        insta::assert_snapshot!("schemas_types_ts", types);
        insta::assert_snapshot!("schemas_tools_ts", tools);
    });

    // A hand-written entrypoint: the same types, no generated tools.ts.
    project.write(
        "src/entry.ts",
        "export { run as weather } from \"../tools/weather.ts\";\n\
         export { run as \"shapes/area\" } from \"../tools/area.ts\";\n\
         export { run as \"tree.sum\" } from \"../tools/tree.ts\";\n\
         export { default as loose } from \"../tools/loose.mjs\";\n",
    );
    project.write(
        "compozy.yaml",
        &format!("runtime:\n  entrypoint: ./src/entry.ts\n{SCHEMAS}"),
    );
    project
        .run(&["gen"])
        .expect_code(0)
        .stderr_has(&["removed .compozy/tools.ts"]);
    assert_eq!(project.read(".compozy/types.ts"), types);
}

#[test]
fn example_types_are_pinned() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/weather");
    let types = std::fs::read_to_string(example.join(".compozy/types.ts"))
        .expect("examples/weather/.compozy/types.ts is committed");
    snapshot_settings().bind(|| insta::assert_snapshot!("weather_types_ts", types));
    // The committed output is what gen writes today: checked on a copy, without the cache that
    // a local run leaves in the example (a fresh checkout has none).
    let copy = Fixture::new();
    for entry in walkdir::WalkDir::new(&example).into_iter().flatten() {
        let rel = entry
            .path()
            .strip_prefix(&example)
            .expect("inside the example");
        if entry.file_type().is_file() && !rel.starts_with(".compozy/.cache") {
            let text = std::fs::read_to_string(entry.path()).expect("read the example");
            copy.write(&rel.to_string_lossy(), &text);
        }
    }
    let out = copy.run(&["gen", "--check"]);
    assert_eq!(
        out.code, 0,
        "examples/weather/.compozy is stale: run `cargo run -- gen --project examples/weather`\n{}{}",
        out.stdout, out.stderr
    );
}

/// One tool that matches its schemas, one whose input disagrees, one whose output disagrees,
/// and an untyped JavaScript tool whose inferred result would disagree. At run time all of them
/// work.
const MISMATCHED: &str = r#"
tools:
  - id: matching
    execute: ./tools/matching.ts
    input: { type: object, properties: { city: { type: string } }, required: [city] }
    output: { type: object, properties: { temp: { type: number } }, required: [temp] }
  - id: wrong_input
    execute: ./tools/wrong_input.ts
    input: { type: object, properties: { city: { type: string } }, required: [city] }
  - id: wrong_output
    execute: ./tools/wrong_output.ts
    output: { type: object, properties: { temp: { type: number } }, required: [temp] }
  - id: untyped_js
    execute: ./tools/untyped.mjs
    input: { type: object, properties: { n: { type: number } }, required: [n] }
    output: { type: string }
"#;

fn mismatched_project() -> Fixture {
    Fixture::with(&[
        ("compozy.yaml", MISMATCHED),
        (
            "tools/matching.ts",
            // Inline `type` modifiers keep the import itself: the runtime loads types.ts, which
            // must therefore be plain erasable TypeScript.
            "import { type ToolContext, type ToolInput } from \"../.compozy/types.ts\";\n\
             interface Weather { temp: number; city: string }\n\
             export async function run(input: ToolInput<\"matching\">, _config: unknown, ctx: ToolContext): Promise<Weather> {\n\
             \x20 ctx.progress(1);\n\
             \x20 return { temp: input.city.length, city: input.city };\n\
             }\n",
        ),
        (
            "tools/wrong_input.ts",
            "export function run(input: { city: number }) { return { doubled: input.city * 2 }; }\n",
        ),
        (
            "tools/wrong_output.ts",
            "export function run(): { temp: number | string } { return { temp: 21 }; }\n",
        ),
        (
            "tools/untyped.mjs",
            "export default function (input) { return input.n > 0 ? \"positive\" : 0; }\n",
        ),
    ])
}

/// `tsc --strict` over the project's `.compozy/tools.ts` (its signature checks); its output.
fn strict_tsc(project: &Fixture) -> String {
    let out = tsc()
        .current_dir(project.root())
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
        .expect("run tsc");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `file(line,col): error TS…` lines of tsc's output.
fn errors(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|l| l.contains("): error TS"))
        .collect()
}

#[test]
fn tsc_reports_exactly_the_tools_whose_signature_disagrees() {
    let project = mismatched_project();
    project.run(&["gen"]).expect_code(0);
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/weather/.compozy/tools.ts");
    // The command the README gives for CI, on the project and on the example at once.
    let out = tsc()
        .current_dir(project.root())
        .args([
            "--noEmit",
            "--strict",
            "--module",
            "nodenext",
            "--target",
            "es2022",
            "--allowJs",
            "--allowImportingTsExtensions",
            ".compozy/tools.ts",
        ])
        .arg(&example)
        .output()
        .expect("run tsc");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let errors = errors(&stdout);
    assert!(!out.status.success(), "tsc passed:\n{stdout}");
    assert_eq!(errors.len(), 2, "expected two errors:\n{stdout}");
    let input = errors
        .iter()
        .find(|e| e.contains("AcceptsToolArguments<\"wrong_input\">"))
        .unwrap_or_else(|| panic!("no error names `wrong_input`:\n{stdout}"));
    assert!(input.starts_with(".compozy/tools.ts("), "{input}");
    let output = errors
        .iter()
        .find(|e| e.contains("ReturnsToolOutput<\"wrong_output\">"))
        .unwrap_or_else(|| panic!("no error names `wrong_output`:\n{stdout}"));
    assert!(output.starts_with(".compozy/tools.ts("), "{output}");
    for other in [
        "\"matching\"",
        "untyped_js",
        "examples/weather",
        "weather_tool",
    ] {
        assert!(!stdout.contains(other), "tsc reported {other}:\n{stdout}");
    }
}

fn mismatched_tools_still_run(runtime: &str) {
    let project = mismatched_project();
    let exec = |id: &str, input: &str| -> Value {
        let mut cmd = project.compozy(&["exec", id, "--runtime", runtime, "--input", input]);
        cmd.env("COMPOZY_BUN", runtime_bin("bun"))
            .env("COMPOZY_NODE", runtime_bin("node"));
        let out = output_within(&mut cmd, Duration::from_secs(60));
        out.expect_code(0);
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
    };
    assert_eq!(
        exec("matching", r#"{"city":"Oslo"}"#),
        json!({"temp": 4, "city": "Oslo"})
    );
    assert_eq!(
        exec("wrong_input", r#"{"city":"Oslo"}"#),
        json!({"doubled": null})
    );
    assert_eq!(exec("wrong_output", "{}"), json!({"temp": 21}));
    assert_eq!(exec("untyped_js", r#"{"n":1}"#), json!("positive"));
}

on_both_runtimes!(mismatched_tools_still_run);

/// Tools without `config:`: `ToolConfig` is `{}` (as the README says), so reading a field of it
/// is an error rather than a silent `never`, and the signature checks accept a function whose
/// second parameter is any object type without required fields (or none at all).
#[test]
fn a_tool_without_config_has_the_config_type_the_readme_gives() {
    let mut config = String::from("tools:\n");
    let mut files = Vec::new();
    let params = [
        ("none", ""),
        ("unknown", ", _config: unknown"),
        ("empty", ", _config: {}"),
        ("record", ", _config: Record<string, unknown>"),
        ("exact_empty", ", _config: Record<string, never>"),
        ("optional", ", _config: { retries?: number }"),
        ("required", ", _config: { retries: number }"),
    ];
    for (id, param) in params {
        config.push_str(&format!("  - id: {id}\n    execute: ./tools/{id}.ts\n"));
        files.push((
            format!("tools/{id}.ts"),
            format!("export function run(_input: unknown{param}) {{\n  return 1;\n}}\n"),
        ));
    }
    config.push_str("  - id: reads\n    execute: ./tools/reads.ts\n");
    files.push((
        "tools/reads.ts".into(),
        "import type { ToolConfig } from \"../.compozy/types.ts\";\n\
         export function run(_input: unknown, config: ToolConfig<\"reads\">) {\n\
         \x20 // @ts-expect-error: there is no `config:`, so no field to read\n\
         \x20 const retries: number = config.retries;\n\
         \x20 const empty: ToolConfig<\"reads\"> = {};\n\
         \x20 return [retries, empty];\n\
         }\n"
        .into(),
    ));
    let project = Fixture::with(&[("compozy.yaml", config.as_str())]);
    for (path, text) in &files {
        project.write(path, text);
    }
    project.run(&["gen"]).expect_code(0);
    assert!(
        project
            .read(".compozy/types.ts")
            .contains("  reads: {\n    input: unknown;\n    output: unknown;\n    config: {};\n"),
        "{}",
        project.read(".compozy/types.ts")
    );
    let stdout = strict_tsc(&project);
    // Only the function that requires a config field the worker never passes.
    let errors = errors(&stdout);
    assert_eq!(errors.len(), 1, "{stdout}");
    assert!(
        errors[0].contains("AcceptsToolArguments<\"required\">"),
        "{stdout}"
    );
}

/// The shell commands of the README's "Typed tools" section, without their comments.
fn readme_typed_tools_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("read README.md");
    let start = readme
        .find("### Typed tools")
        .expect("a Typed tools section");
    let section = &readme[start..];
    let section = &section[..section[4..].find("\n### ").map_or(section.len(), |i| i + 4)];
    let mut commands = Vec::new();
    let mut in_sh = false;
    for line in section.lines() {
        match line.trim() {
            "```sh" => in_sh = true,
            "```" => in_sh = false,
            text if in_sh && !text.is_empty() => {
                let command = text.split(" #").next().unwrap_or(text).trim();
                commands.push(command.to_owned());
            }
            _ => {}
        }
    }
    commands
}

/// The README's typed-tools commands work as written in a project made by `compozy init`, and
/// their checks do run: a tool whose signature disagrees with its schema fails each of them.
/// (`npm i -D typescript` is what gives `npx tsc` the pinned compiler here; the test runs that
/// compiler with exactly the arguments the README gives it.)
#[test]
fn the_readme_tsc_commands_work_in_a_project_from_init() {
    let commands = readme_typed_tools_commands();
    assert!(
        commands.iter().any(|c| c == "npm i -D typescript"),
        "the README no longer installs typescript before `npx tsc`: {commands:?}"
    );
    let tsc_commands: Vec<Vec<String>> = commands
        .iter()
        .filter_map(|c| c.strip_prefix("npx tsc"))
        .map(|args| args.split_whitespace().map(str::to_owned).collect())
        .collect();
    assert_eq!(tsc_commands.len(), 2, "{commands:?}");
    let fixture = Fixture::new();
    fixture.run(&["init", "p"]).expect_code(0);
    let root = fixture.path("p");
    fixture.write("tsconfig.json.kept", &fixture.read("p/tsconfig.json"));
    for command in &commands {
        if command.starts_with("compozy ") {
            let args: Vec<&str> = command.split_whitespace().skip(1).collect();
            let out = crate::common::Output::from(
                crate::common::compozy()
                    .current_dir(&root)
                    .args(&args)
                    .output()
                    .expect("run compozy"),
            );
            out.expect_code(0);
        }
    }
    assert!(root.join(".compozy/tools.ts").is_file());
    // The first with init's tsconfig.json; the second, as the README says, without one.
    let run_tsc = |args: &[String]| {
        if !args.is_empty() {
            let _ = std::fs::remove_file(root.join("tsconfig.json"));
        }
        let out = tsc()
            .current_dir(&root)
            .args(args)
            .output()
            .expect("run tsc");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    for args in &tsc_commands {
        let (ok, stdout) = run_tsc(args);
        assert!(ok, "`npx tsc {}` failed:\n{stdout}", args.join(" "));
    }
    // A signature that disagrees with the schema: each command reports it, by id.
    fixture.write("p/tsconfig.json", &fixture.read("tsconfig.json.kept"));
    let module = root.join("tools/hello.ts");
    let source = std::fs::read_to_string(&module).unwrap();
    std::fs::write(&module, source.replace("name: string;", "name: number;")).unwrap();
    for args in &tsc_commands {
        let (ok, stdout) = run_tsc(args);
        assert!(
            !ok && stdout.contains("AcceptsToolArguments<\"hello\">"),
            "`npx tsc {}` did not report `hello`:\n{stdout}",
            args.join(" ")
        );
    }
}

#[test]
fn content_results_are_typed() {
    let project = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: chart\n    execute: ./chart.ts\n    returns: content\n    output: { type: object, properties: { points: { type: number } }, required: [points] }\n  - id: shot\n    execute: ./shot.ts\n    returns: content\n  - id: wrong_mime\n    execute: ./wrong.ts\n    returns: content\n",
        ),
        (
            "chart.ts",
            "export function run() {\n  return { content: [{ type: \"text\" as const, text: \"3 points\" }], structuredContent: { points: 3 } };\n}\n",
        ),
        (
            "shot.ts",
            "import { type ContentBlock, content } from \"./.compozy/types.ts\";\nexport async function run(): Promise<ContentBlock[]> {\n  return [{ type: \"image\", data: \"AA==\", mimeType: \"image/png\" }, { type: \"resource\", resource: { uri: \"mem://a\", blob: \"AA==\" } }, content.text(\"t\"), await content.imageFile(\"./x.png\"), content.audio(new Uint8Array([1, 2]), \"audio/wav\"), content.resource(\"mem://b\", new Uint8Array([3]), \"application/octet-stream\"), content.resourceLink(\"file:///a\", \"a\")];\n}\n",
        ),
        (
            "wrong.ts",
            "export function run() {\n  return [{ type: \"image\" as const, data: \"AA==\", mimeType: \"text/plain\" as const }];\n}\n",
        ),
    ]);
    project.run(&["gen"]).expect_code(0);
    let types = project.read(".compozy/types.ts");
    assert!(
        types.contains("output: ToolContentWith<") && types.contains("output: ToolContent;"),
        "{types}"
    );
    let stdout = strict_tsc(&project);
    let errors = errors(&stdout);
    assert_eq!(errors.len(), 1, "expected one error:\n{stdout}");
    assert!(
        errors[0].contains("ReturnsToolOutput<\"wrong_mime\">"),
        "{stdout}"
    );
}

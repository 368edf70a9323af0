//! `compozy inspect --format json FILE...`: export names as a runtime sees them.

use serde_json::{Value, json};

use crate::common::Fixture;

fn inspect(fixture: &Fixture, files: &[&str]) -> Value {
    let mut args = vec!["inspect", "--format", "json"];
    args.extend_from_slice(files);
    let out = fixture.run(&args);
    out.expect_code(0);
    out.json()
}

#[track_caller]
fn exports_of(fixture: &Fixture, file: &str) -> (Vec<String>, Vec<String>) {
    let json = inspect(fixture, &[file]);
    let module = &json["modules"][0];
    assert_eq!(module["path"], file);
    assert_eq!(module["error"], Value::Null, "{module}");
    let names = |key: &str| {
        module[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    (names("values"), names("types"))
}

#[test]
fn declarations() {
    let f = Fixture::with(&[(
        "m.ts",
        "export function fn1() {}\nexport async function fn2() {}\nexport const c = 1, d = 2;\n\
         export let l = 1;\nexport var v = 1;\nexport class K {}\n\
         export const { a, b: [bb, ...rest], ...others } = { a: 1, b: [1] } as any;\n\
         export enum E { X }\nexport namespace N { export const x = 1; }\n\
         export declare const ambient: number;\nexport namespace OnlyTypes { export type T = 1; }\n",
    )]);
    let (values, types) = exports_of(&f, "m.ts");
    assert_eq!(
        values,
        [
            "E", "K", "N", "a", "bb", "c", "d", "fn1", "fn2", "l", "others", "rest", "v"
        ]
    );
    assert_eq!(types, ["OnlyTypes", "ambient"]);
}

#[test]
fn export_lists_and_string_names() {
    let f = Fixture::with(&[(
        "m.ts",
        "const a = 1; function helper() {}\ninterface I {}\n\
         export { a as b, helper, a as \"string name\", a as \"api-caller\" };\nexport { I };\n",
    )]);
    let (values, types) = exports_of(&f, "m.ts");
    assert_eq!(values, ["api-caller", "b", "helper", "string name"]);
    assert_eq!(types, ["I"]);
}

#[test]
fn default_exports() {
    let f = Fixture::with(&[
        ("fn.ts", "export default function () {}\n"),
        ("expr.ts", "export default { run: () => 1 };\n"),
        ("iface.ts", "export default interface Shape {}\n"),
        ("named.ts", "const x = 1;\nexport { x as default };\n"),
    ]);
    assert_eq!(exports_of(&f, "fn.ts").0, ["default"]);
    assert_eq!(exports_of(&f, "expr.ts").0, ["default"]);
    assert_eq!(
        exports_of(&f, "iface.ts"),
        (vec![], vec!["default".to_owned()])
    );
    assert_eq!(exports_of(&f, "named.ts").0, ["default"]);
}

#[test]
fn re_exports_are_followed() {
    let f = Fixture::with(&[
        (
            "index.ts",
            "export * from \"./a.ts\";\nexport * as ns from \"./b.ts\";\nexport { b1 as renamed, type BT } from \"./b.ts\";\n\
             export { default as fromDefault } from \"./b.ts\";\nimport { a1 } from \"./a.ts\";\nimport type { AT } from \"./a.ts\";\n\
             export { a1 as again, AT };\nexport * from \"./js-style.js\";\nexport * from \"./dir\";\n",
        ),
        (
            "a.ts",
            "export const a1 = 1;\nexport type AT = string;\nexport default 1;\n",
        ),
        (
            "b.ts",
            "export const b1 = 1;\nexport interface BT {}\nexport default function () {}\n",
        ),
        ("js-style.ts", "export const fromJsSpecifier = 1;\n"),
        ("dir/index.ts", "export const fromIndex = 1;\n"),
    ]);
    let (values, types) = exports_of(&f, "index.ts");
    // `export *` never passes on `default`.
    assert_eq!(
        values,
        [
            "a1",
            "again",
            "fromDefault",
            "fromIndex",
            "fromJsSpecifier",
            "ns",
            "renamed"
        ]
    );
    assert_eq!(types, ["AT", "BT"]);
}

#[test]
fn star_chains_and_cycles() {
    let f = Fixture::with(&[
        ("a.ts", "export * from \"./b.ts\";\nexport const a = 1;\n"),
        (
            "b.ts",
            "export * from \"./c.ts\";\nexport * from \"./a.ts\";\nexport const b = 1;\n",
        ),
        (
            "c.ts",
            "export * from \"./a.ts\";\nexport const c = 1;\nexport type CT = 1;\n",
        ),
    ]);
    assert_eq!(
        exports_of(&f, "a.ts"),
        (vec!["a".into(), "b".into(), "c".into()], vec!["CT".into()])
    );
    assert_eq!(exports_of(&f, "c.ts").0, ["a", "b", "c"]);
}

#[test]
fn type_and_value_with_the_same_name_is_a_value() {
    let f = Fixture::with(&[(
        "m.ts",
        "export type Config = { a: number };\nexport const Config = { a: 1 };\n\
         export type { Config as C2 };\nexport interface Only {}\n",
    )]);
    assert_eq!(
        exports_of(&f, "m.ts"),
        (vec!["Config".into()], vec!["C2".into(), "Only".into()])
    );
}

#[test]
fn commonjs_modules() {
    let f = Fixture::with(&[
        (
            "a.cjs",
            "exports.run = () => 1;\nmodule.exports.helper = 2;\nexports[\"x-y\"] = 3;\n",
        ),
        (
            "b.cts",
            "module.exports = { run, other: 1 };\nfunction run() {}\n",
        ),
    ]);
    assert_eq!(
        exports_of(&f, "a.cjs").0,
        ["default", "helper", "run", "x-y"]
    );
    assert_eq!(exports_of(&f, "b.cts").0, ["default", "other", "run"]);
}

#[test]
fn several_files_in_order_with_errors_inline() {
    let f = Fixture::with(&[
        ("z.ts", "export const z = 1;\n"),
        ("bad.ts", "export const = ;\n"),
        ("a.mjs", "export const a = 1;\n"),
    ]);
    let json = inspect(&f, &["z.ts", "bad.ts", "missing.ts", "a.mjs"]);
    let modules = json["modules"].as_array().unwrap();
    assert_eq!(modules.len(), 4);
    assert_eq!(modules[0]["values"], json!(["z"]));
    assert!(
        modules[1]["error"].as_str().unwrap().contains("bad.ts:1:"),
        "{}",
        modules[1]
    );
    assert!(
        modules[2]["error"].as_str().unwrap().contains("missing.ts"),
        "{}",
        modules[2]
    );
    assert_eq!(modules[3]["values"], json!(["a"]));
    assert!(
        json.get("tools").is_none(),
        "no project, so no tools: {json}"
    );
}

#[test]
fn project_tools_are_listed() {
    let project = crate::generate::demo_project();
    let json = inspect(&project, &["tools/weather.ts"]);
    let tools = json["tools"].as_array().unwrap();
    let ids: Vec<_> = tools.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        ["api-caller", "echo", "math.add", "math/sub", "weather_tool"]
    );
    assert_eq!(
        tools[4],
        json!({"id": "weather_tool", "file": "compozy.yaml", "line": 6, "module": "tools/weather.ts", "export": "run"})
    );
    assert_eq!(tools[0]["export"], "default");
    assert_eq!(json["modules"][0]["values"], json!(["run"]));
    assert_eq!(json["modules"][0]["types"], json!(["Input"]));
}

/// A re-export of a name the other module does not export is refused by `gen`, as Bun and Node
/// refuse to load the module (checked here with both); one that cannot be known (a CommonJS
/// module's, a package's) is left to the runtime.
#[test]
fn a_re_export_of_a_missing_name_is_an_error_as_for_the_runtimes() {
    let f = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: direct\n    description: Re-exports\n    execute: ./tools/direct.ts\n  \
             - id: imported\n    description: Re-exports an import\n    execute: ./tools/imported.ts\n  \
             - id: starred\n    description: Re-exports through a star\n    execute: ./tools/starred.ts\n",
        ),
        ("tools/direct.ts", "export { run } from \"./impl.ts\";\n"),
        (
            "tools/imported.ts",
            "import { run } from \"./impl.ts\";\nexport { run };\n",
        ),
        ("tools/starred.ts", "export { run } from \"./star.ts\";\n"),
        (
            "tools/star.ts",
            "export * from \"./impl.ts\";\nexport const s = 1;\n",
        ),
        (
            "tools/impl.ts",
            "export function runn() {\n  return 1;\n}\n",
        ),
    ]);
    for (runtime, args) in [
        ("bun", &["-e"][..]),
        ("node", &["--experimental-strip-types", "-e"][..]),
    ] {
        for module in ["direct", "imported", "starred"] {
            let out = std::process::Command::new(crate::common::runtime_bin(runtime))
                .args(args)
                .arg(format!("await import(\"./tools/{module}.ts\")"))
                .current_dir(f.path("."))
                .output()
                .expect("run the runtime");
            assert!(
                !out.status.success(),
                "{runtime} loaded tools/{module}.ts, which re-exports a missing name"
            );
        }
    }
    let out = f.run(&["gen"]);
    out.expect_code(2).stderr_has(&[
        "analyze::missing-reexport",
        "`tools/direct.ts` re-exports `run` from `./impl.ts`, which does not export it",
        "`tools/imported.ts` re-exports `run` from `./impl.ts`",
        "`tools/starred.ts` re-exports `run` from `./star.ts`",
        "did you mean `runn`?",
        "tools/direct.ts:1:21",
    ]);
    assert!(!f.path(".compozy").exists(), "gen wrote output");

    // Names that only the runtime can know are not refused.
    f.write("tools/legacy.js", "module.exports.run = () => 1;\n");
    f.write("tools/direct.ts", "export { run } from \"./legacy.js\";\n");
    f.write(
        "tools/imported.ts",
        "export { run } from \"some-package\";\n",
    );
    f.write("tools/star.ts", "export * from \"some-package\";\n");
    f.run(&["gen"]).expect_code(0);
}

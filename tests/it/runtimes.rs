//! The generated entrypoint imported by the real Bun and Node: every tool id is a function there.

use std::process::Command;

use serde_json::{Value, json};

use crate::common::runtime_bin;

const PROBE: &str = r#"
import { pathToFileURL } from "node:url";
const m = await import(pathToFileURL(process.argv[2]).href);
const kinds = {};
for (const id of Object.keys(m).sort()) kinds[id] = typeof m[id];
console.log(JSON.stringify(kinds));
"#;

fn import_in(runtime: &str) -> Value {
    let project = crate::generate::demo_project();
    project.run(&["gen"]).expect_code(0);
    project.write("probe.mjs", PROBE);
    let bin = runtime_bin(runtime);
    let mut cmd = Command::new(&bin);
    if runtime == "bun" {
        cmd.arg("--no-env-file");
    }
    let out = cmd
        .arg(project.path("probe.mjs"))
        .arg(project.path(".compozy/tools.ts"))
        .current_dir(project.root())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{runtime} failed to import the entrypoint:\n{}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn expected() -> Value {
    json!({
        "api-caller": "function",
        "echo": "function",
        "math.add": "function",
        "math/sub": "function",
        "weather_tool": "function",
    })
}

#[test]
fn bun_sees_every_tool_as_a_function() {
    assert_eq!(import_in("bun"), expected());
}

#[test]
fn node_sees_every_tool_as_a_function() {
    assert_eq!(import_in("node"), expected());
}

//! The official MCP conformance suite (`@modelcontextprotocol/conformance`, pinned in
//! package.json) against `compozy mcp --http`: every server scenario that concerns tools, on Bun
//! and Node. The scenarios left out are listed in the README's `compozy mcp` section, with why.

use std::process::Command;
use std::time::Duration;

use crate::common::{Fixture, runtime_bin};
use crate::mcp::{HttpServer, path_with_runtimes};

/// The scenarios run (`conformance list` has them all).
const SCENARIOS: &[&str] = &[
    "server-initialize",
    "ping",
    "logging-set-level",
    "tools-list",
    "tools-call-simple-text",
    "tools-call-image",
    "tools-call-audio",
    "tools-call-embedded-resource",
    "tools-call-mixed-content",
    "tools-call-with-logging",
    "tools-call-error",
    "tools-call-with-progress",
    "json-schema-2020-12",
    "dns-rebinding-protection",
];

/// The tools the scenarios call, as a compozy project declares them.
fn project() -> Fixture {
    Fixture::with(&[
        (
            "compozy.yaml",
            r##"tools:
  - id: test_simple_text
    description: Returns a simple text
    execute: ./tools/simple_text.ts
  - id: test_image_content
    description: Returns an image
    execute: ./tools/media.ts
    returns: content
    with: { kind: image }
  - id: test_audio_content
    description: Returns audio
    execute: ./tools/media.ts
    returns: content
    with: { kind: audio }
  - id: test_embedded_resource
    description: Returns an embedded resource
    execute: ./tools/media.ts
    returns: content
    with: { kind: resource }
  - id: test_multiple_content_types
    description: Returns text, an image and a resource
    execute: ./tools/media.ts
    returns: content
    with: { kind: mixed }
  - id: test_tool_with_logging
    description: Logs three lines
    execute: ./tools/logging.ts
  - id: test_error_handling
    description: Always fails
    execute: ./tools/error.ts
  - id: test_tool_with_progress
    description: Reports progress
    execute: ./tools/progress.ts
  - id: json_schema_2020_12_tool
    description: Tool with JSON Schema 2020-12 features
    execute: ./tools/simple_text.ts
    input:
      $schema: https://json-schema.org/draft/2020-12/schema
      type: object
      $defs:
        address:
          type: object
          properties: { street: { type: string }, city: { type: string } }
      properties:
        name: { type: string }
        address: { $ref: "#/$defs/address" }
      additionalProperties: false
"##,
        ),
        (
            "tools/simple_text.ts",
            r#"export function run() {
  return "This is a simple text response for testing.";
}
"#,
        ),
        (
            "tools/media.ts",
            r#"// A 1x1 red pixel PNG, and a tiny WAV header.
const PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
const WAV = "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQAAAAA=";
export function run(i: { kind: string }) {
  const resource = {
    type: "resource" as const,
    resource: { uri: "test://embedded-resource", mimeType: "text/plain", text: "This is an embedded resource content." },
  };
  switch (i.kind) {
    case "image":
      return [{ type: "image", data: PNG, mimeType: "image/png" }];
    case "audio":
      return [{ type: "audio", data: WAV, mimeType: "audio/wav" }];
    case "resource":
      return [resource];
    default:
      return [
        { type: "text", text: "Multiple content types test:" },
        { type: "image", data: PNG, mimeType: "image/png" },
        {
          type: "resource",
          resource: { uri: "test://mixed-content-resource", mimeType: "application/json", text: JSON.stringify({ test: "data", value: 123 }) },
        },
      ];
  }
}
"#,
        ),
        (
            "tools/logging.ts",
            r#"const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export async function run() {
  console.log("Tool execution started");
  await sleep(50);
  console.log("Tool processing data");
  await sleep(50);
  console.log("Tool execution completed");
  return "Logging test completed";
}
"#,
        ),
        (
            "tools/error.ts",
            r#"export function run() {
  throw new Error("This tool intentionally returns an error for testing");
}
"#,
        ),
        (
            "tools/progress.ts",
            r#"const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export async function run(_i: unknown, _c: unknown, ctx: { progress(p: number, t?: number): void }) {
  ctx.progress(0, 100);
  await sleep(50);
  ctx.progress(50, 100);
  await sleep(50);
  ctx.progress(100, 100);
  await sleep(50);
  return "Progress test completed";
}
"#,
        ),
    ])
}

fn tool_scenarios_pass(runtime: &str) {
    let p = project();
    let server = HttpServer::start_at(&p, runtime, "127.0.0.1:0", &["--workers", "2"], &[]);
    let bin = runtime_bin("node");
    let conformance = bin.parent().expect("node_modules/.bin").join("conformance");
    assert!(
        conformance.exists(),
        "{} is missing: run `npm ci` in the checkout",
        conformance.display()
    );
    for scenario in SCENARIOS {
        let mut cmd = Command::new(&conformance);
        cmd.args(["server", "--url", &server.url, "--scenario", scenario])
            .current_dir(p.root())
            .env("PATH", path_with_runtimes())
            .env("NO_COLOR", "1");
        let out = crate::common::output_within(&mut cmd, Duration::from_secs(120));
        let report = format!("--- stdout\n{}\n--- stderr\n{}", out.stdout, out.stderr);
        assert_eq!(out.code, 0, "scenario {scenario} failed\n{report}");
        assert!(
            out.stdout.contains(" 0 failed") && !out.stdout.contains("Passed: 0/0"),
            "scenario {scenario}\n{report}"
        );
    }
}

on_both_runtimes!(tool_scenarios_pass);

//! Tools run through a hand-written entrypoint (`runtime.entrypoint` outside `.compozy/`) under
//! `exec` and `serve`: string export names, keys of a default-exported object, `export *`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Fixture, output_within, runtime_bin};
use crate::serving::Serve;

pub const CONFIG: &str = r#"
runtime:
  entrypoint: ./src/tools.ts
tools:
  - id: api-caller
  - id: math.add
  - id: weather
  - id: from_star
"#;

pub const ENTRYPOINT: &str = r#"import { helper } from "./helper.ts";

function callApi(i: { path: string }) {
  return `GET ${helper(i.path)}`;
}

export { callApi as "api-caller" };
export * from "./more.ts";

export default {
  "math.add": (i: { a: number; b: number }) => i.a + i.b,
  async weather(i: { city: string }) {
    return { city: i.city, sky: "clear" };
  },
};
"#;

pub fn project() -> Fixture {
    Fixture::with(&[
        ("compozy.yaml", CONFIG),
        ("src/tools.ts", ENTRYPOINT),
        (
            "src/helper.ts",
            "export function helper(path: string) {\n  return `/api/${path}`;\n}\n",
        ),
        (
            "src/more.ts",
            "export function from_star() {\n  return \"through export *\";\n}\n",
        ),
    ])
}

/// Each tool, its input and its result.
fn calls() -> [(&'static str, Value, Value); 4] {
    [
        (
            "api-caller",
            json!({"path": "users"}),
            json!("GET /api/users"),
        ),
        ("math.add", json!({"a": 2, "b": 40}), json!(42)),
        (
            "weather",
            json!({"city": "Oslo"}),
            json!({"city": "Oslo", "sky": "clear"}),
        ),
        ("from_star", json!({}), json!("through export *")),
    ]
}

fn tools_run_under_exec(runtime: &str) {
    let p = project();
    for (tool, input, expected) in calls() {
        let mut cmd = p.compozy(&["exec", tool, "--runtime", runtime, "--input"]);
        cmd.arg(input.to_string())
            .env("COMPOZY_BUN", runtime_bin("bun"))
            .env("COMPOZY_NODE", runtime_bin("node"));
        let out = output_within(&mut cmd, Duration::from_secs(60));
        out.expect_code(0);
        assert_eq!(out.json(), expected, "{tool}");
    }
    assert!(
        !p.path(".compozy/tools.ts").exists(),
        "an entrypoint was generated besides the hand-written one"
    );
}

fn tools_run_under_serve(runtime: &str) {
    let p = project();
    let mut serve = Serve::start(&p, runtime, 1, &[]);
    for (tool, input, expected) in calls() {
        let answer = serve.call(&json!({"id": tool, "tool_id": tool, "input": input}));
        assert_eq!(answer["id"], tool, "{answer}");
        assert!(answer["error"].is_null(), "{answer}");
        assert_eq!(answer["result"], expected, "{answer}");
    }
    serve.close_stdin();
    assert_eq!(serve.wait(Duration::from_secs(10)), 0);
}

on_both_runtimes!(tools_run_under_exec, tools_run_under_serve);

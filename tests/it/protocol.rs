//! The worker's protocol channel (fd 3) and the tool context, under `exec` and `serve` on the
//! real Bun and Node: a tool cannot forge or corrupt an answer, its children do not get the
//! channel, and `ctx.signal` aborts before the kill.

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Fixture, Output, output_within, runtime_bin, wait_within};

const LIMIT: Duration = Duration::from_secs(60);

const CONFIG: &str = r#"
tools:
  - id: child_fd3
    execute: ./tools/child_fd3.ts
  - id: garbage
    execute: ./tools/garbage.ts
  - id: forged
    execute: ./tools/forged.ts
  - id: ok
    execute: ./tools/ok.ts
  - id: cleanup
    execute: ./tools/cleanup.ts
    timeout: 300ms
  - id: ignores_signal
    execute: ./tools/ignores_signal.ts
    timeout: 300ms
"#;

fn project() -> Fixture {
    Fixture::with(&[
        ("compozy.yaml", CONFIG),
        (
            "tools/child_fd3.ts",
            "import { spawnSync } from \"node:child_process\";\nexport function run() {\n  const r = spawnSync(\"sh\", [\"-c\", \"readlink /proc/$$/fd/3 || echo none\"], { stdio: [\"ignore\", \"pipe\", \"ignore\"] });\n  return r.stdout.toString().trim();\n}\n",
        ),
        (
            "tools/garbage.ts",
            "import { writeSync } from \"node:fs\";\nexport function run() {\n  writeSync(3, \"not an answer\\n\");\n  return 1;\n}\n",
        ),
        (
            "tools/forged.ts",
            "import { writeSync } from \"node:fs\";\nexport function run() {\n  writeSync(3, JSON.stringify({ id: null, result: 666, error: null, metadata: { tool_id: \"forged\", tool_exec_id: \"someone-else\", execution_time_ms: 0 } }) + \"\\n\");\n  return 1;\n}\n",
        ),
        (
            "tools/ok.ts",
            "export function run() {\n  return \"ok\";\n}\n",
        ),
        (
            "tools/cleanup.ts",
            "import { writeFileSync } from \"node:fs\";\nexport function run(i: { marker: string }, _c: unknown, ctx: { signal: AbortSignal }) {\n  return new Promise((_, reject) => {\n    ctx.signal.addEventListener(\"abort\", () => {\n      writeFileSync(i.marker, String(ctx.signal.reason?.name));\n      reject(ctx.signal.reason);\n    });\n  });\n}\n",
        ),
        (
            "tools/ignores_signal.ts",
            "export function run(_i: unknown, _c: unknown, ctx: { signal: AbortSignal }) {\n  void ctx.signal;\n  return new Promise(() => {});\n}\n",
        ),
    ])
}

fn exec(p: &Fixture, runtime: &str, args: &[&str]) -> (Output, Duration) {
    let mut cmd = p.compozy(&["exec", "--runtime", runtime]);
    cmd.args(args)
        .env("COMPOZY_BUN", runtime_bin("bun"))
        .env("COMPOZY_NODE", runtime_bin("node"));
    let started = Instant::now();
    let out = output_within(&mut cmd, LIMIT);
    (out, started.elapsed())
}

/// Sends `requests` to `compozy serve --workers 1`, closes stdin, returns the answers by id.
fn serve(p: &Fixture, runtime: &str, requests: &[Value]) -> Vec<Value> {
    let mut child = p
        .compozy(&["serve", "--runtime", runtime, "--workers", "1"])
        .env("COMPOZY_BUN", runtime_bin("bun"))
        .env("COMPOZY_NODE", runtime_bin("node"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start compozy serve");
    let mut stdin = child.stdin.take().expect("stdin");
    for request in requests {
        writeln!(stdin, "{request}").expect("send a request");
    }
    drop(stdin);
    let out = wait_within(child, LIMIT);
    out.expect_code(0);
    let mut answers: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("an answer is JSON"))
        .collect();
    answers.sort_by_key(|a| a["id"].as_i64());
    assert_eq!(answers.len(), requests.len(), "{}", out.stdout);
    answers
}

fn children_do_not_inherit_the_channel(runtime: &str) {
    let p = project();
    let (out, _) = exec(&p, runtime, &["child_fd3"]);
    out.expect_code(0);
    assert_eq!(out.json(), json!("none"), "the tool's child has fd 3");
    let answers = serve(&p, runtime, &[json!({"id": 1, "tool_id": "child_fd3"})]);
    assert_eq!(answers[0]["result"], "none", "{answers:?}");
}

fn garbage_on_the_channel_is_a_protocol_error(runtime: &str) {
    let p = project();
    let (out, _) = exec(&p, runtime, &["garbage"]);
    out.expect_code(1)
        .stderr_has(&["protocol channel (fd 3)", "not an answer", "must not write"]);
    assert_eq!(out.stdout, "", "exec printed a result");
    let answers = serve(
        &p,
        runtime,
        &[
            json!({"id": 1, "tool_id": "garbage"}),
            json!({"id": 2, "tool_id": "ok"}),
        ],
    );
    assert_eq!(answers[0]["error"]["name"], "WorkerError", "{answers:?}");
    assert!(
        answers[0]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("protocol channel (fd 3)")
    );
    // The worker was replaced: the next request is answered normally.
    assert_eq!(answers[1]["result"], "ok", "{answers:?}");
    assert!(answers[1]["error"].is_null());
}

fn a_forged_answer_is_never_the_result(runtime: &str) {
    let p = project();
    let (out, _) = exec(&p, runtime, &["forged"]);
    out.expect_code(1)
        .stderr_has(&["answers another", "(tool_exec_id someone-else)"]);
    assert!(!out.stdout.contains("666"), "{}", out.stdout);
    let answers = serve(
        &p,
        runtime,
        &[
            json!({"id": 1, "tool_id": "forged"}),
            json!({"id": 2, "tool_id": "ok"}),
        ],
    );
    assert_eq!(answers[0]["error"]["name"], "WorkerError", "{answers:?}");
    assert_eq!(answers[0]["result"], Value::Null);
    assert_eq!(answers[1]["result"], "ok", "{answers:?}");
}

fn signal_aborts_before_the_kill(runtime: &str) {
    let p = project();
    let marker = p.path("aborted.txt");
    let input = json!({"marker": marker}).to_string();
    let (out, _) = exec(&p, runtime, &["cleanup", "--input", &input]);
    out.expect_code(124);
    assert_eq!(
        std::fs::read_to_string(&marker).expect("the tool saw no abort"),
        "AbortError"
    );
    std::fs::remove_file(&marker).unwrap();
    let answers = serve(
        &p,
        runtime,
        &[json!({"id": 1, "tool_id": "cleanup", "input": {"marker": marker}})],
    );
    assert_eq!(answers[0]["error"]["name"], "TimeoutError", "{answers:?}");
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "AbortError");
}

fn a_tool_that_ignores_the_signal_is_killed_after_the_grace(runtime: &str) {
    let p = project();
    let (out, took) = exec(&p, runtime, &["ignores_signal"]);
    out.expect_code(124);
    // 300 ms deadline, then SIGTERM, 500 ms of grace, SIGKILL.
    assert!(
        took >= Duration::from_millis(750) && took < Duration::from_secs(5),
        "took {took:?}"
    );
}

on_both_runtimes!(
    children_do_not_inherit_the_channel,
    garbage_on_the_channel_is_a_protocol_error,
    a_forged_answer_is_never_the_result,
    signal_aborts_before_the_kill,
    a_tool_that_ignores_the_signal_is_killed_after_the_grace,
);

//! Promises of `compozy serve` in the README that `serve.rs` does not check: the request contract
//! (unknown fields, `tool_exec_id`, per-request `config` and `timeout_ms`, `with:` defaults), the
//! result cap replacing the worker, the deadline killing the worker's whole group, and SIGINT.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Fixture, signal};
use crate::processes::{Reaper, assert_all_alive, assert_all_gone, pids_from, wait_for_children};
use crate::serving::Serve;

const CONFIG: &str = r#"
tools:
  - id: echo
    execute: ./tools/echo.ts
    with: { unit: metric, city: Paris }
    config: { retries: 3 }
  - id: throws
    execute: ./tools/throws.ts
  - id: mark
    execute: ./tools/mark.ts
  - id: slow
    execute: ./tools/slow.ts
    timeout: 300ms
  - id: pid
    execute: ./tools/pid.ts
  - id: big
    execute: ./tools/big.ts
  - id: hangs
    execute: ./tools/hangs.ts
"#;

fn project() -> Fixture {
    Fixture::with(&[
        ("compozy.yaml", CONFIG),
        (
            "tools/echo.ts",
            "export function run(input: unknown, config: unknown, ctx: { execId: string }) {\n  return { input, config, execId: ctx.execId };\n}\n",
        ),
        (
            "tools/throws.ts",
            "export function run() {\n  throw new RangeError(\"out of range\");\n}\n",
        ),
        (
            "tools/mark.ts",
            "import { writeFileSync } from \"node:fs\";\nexport function run(i: { path: string }) {\n  writeFileSync(i.path, \"ran\");\n  return \"marked\";\n}\n",
        ),
        (
            "tools/slow.ts",
            "export async function run(i: { ms: number }) {\n  await new Promise((r) => setTimeout(r, i.ms));\n  return i.ms;\n}\n",
        ),
        (
            "tools/pid.ts",
            "export function run() {\n  return process.pid;\n}\n",
        ),
        (
            "tools/big.ts",
            "export function run(i: { n: number }) {\n  return \"x\".repeat(i.n);\n}\n",
        ),
        (
            "tools/hangs.ts",
            "import { spawn } from \"node:child_process\";\nimport { writeFileSync } from \"node:fs\";\nexport function run(i: { pidFile: string }) {\n  const child = spawn(\"sleep\", [\"1000\"], { stdio: \"ignore\" });\n  writeFileSync(i.pidFile, `${process.pid} ${child.pid}\\n`);\n  return new Promise(() => {});\n}\n",
        ),
    ])
}

#[track_caller]
fn error_name(answer: &Value) -> &str {
    answer["error"]["name"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error answer: {answer}"))
}

#[track_caller]
fn error_message(answer: &Value) -> &str {
    answer["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error answer: {answer}"))
}

/// An unknown field is refused (with the request's `id`, naming the field) and the tool does not
/// run; the server keeps serving.
fn unknown_fields_are_refused(runtime: &str) {
    let p = project();
    let mut serve = Serve::start(&p, runtime, 1, &[]);
    let refused = p.path("refused");
    let answer = serve.call(&json!({
        "id": "typo",
        "tool_id": "mark",
        "input": {"path": refused},
        "timeout": 5000,
    }));
    assert_eq!(answer["id"], "typo", "{answer}");
    assert_eq!(error_name(&answer), "InvalidRequestError");
    assert!(
        error_message(&answer).contains("unknown field `timeout`"),
        "{answer}"
    );
    assert!(answer.get("result").is_some_and(Value::is_null), "{answer}");
    // The one worker runs this request after anything sent before it.
    let ran = p.path("ran");
    let answer = serve.call(&json!({"id": "ok", "tool_id": "mark", "input": {"path": ran}}));
    assert_eq!(answer["result"], "marked", "{answer}");
    assert!(ran.exists(), "the tool did not write its marker");
    assert!(!refused.exists(), "the tool ran for a refused request");
    serve.close_stdin();
    assert_eq!(serve.wait(Duration::from_secs(10)), 0);
}

/// A given `tool_exec_id` is the one the tool sees and the answer carries (an error answer
/// too); without one, each request gets a new one.
fn tool_exec_id_is_echoed_or_generated(runtime: &str) {
    let p = project();
    let mut serve = Serve::start(&p, runtime, 1, &[]);
    let answer = serve.call(&json!({"id": 1, "tool_id": "echo", "tool_exec_id": "exec-given-1"}));
    assert_eq!(
        answer["metadata"]["tool_exec_id"], "exec-given-1",
        "{answer}"
    );
    assert_eq!(answer["result"]["execId"], "exec-given-1", "{answer}");
    let answer = serve.call(&json!({"id": 2, "tool_id": "throws", "tool_exec_id": "exec-given-2"}));
    assert_eq!(error_name(&answer), "RangeError", "{answer}");
    assert_eq!(answer["error"]["tool_exec_id"], "exec-given-2", "{answer}");
    assert_eq!(
        answer["metadata"]["tool_exec_id"], "exec-given-2",
        "{answer}"
    );

    let mut generated = std::collections::BTreeSet::new();
    for id in 3..5 {
        let answer = serve.call(&json!({"id": id, "tool_id": "echo"}));
        let exec_id = answer["metadata"]["tool_exec_id"]
            .as_str()
            .unwrap_or_else(|| panic!("no tool_exec_id was generated: {answer}"));
        assert!(!exec_id.is_empty(), "{answer}");
        assert_eq!(answer["result"]["execId"], exec_id, "{answer}");
        generated.insert(exec_id.to_owned());
    }
    assert_eq!(generated.len(), 2, "the same id twice: {generated:?}");
    serve.close_stdin();
    assert_eq!(serve.wait(Duration::from_secs(10)), 0);
}

/// `input` gets the tool's `with:` defaults under it (the request's keys win); `config` replaces
/// the tool's `config:`; the tool's timeout applies unless `timeout_ms` replaces it (a shorter
/// `timeout_ms` is checked in `serve.rs`).
fn input_config_and_timeout_per_request(runtime: &str) {
    let p = project();
    let mut serve = Serve::start(&p, runtime, 1, &[]);
    let answer = serve.call(&json!({"id": 1, "tool_id": "echo"}));
    assert_eq!(
        answer["result"]["input"],
        json!({"unit": "metric", "city": "Paris"}),
        "{answer}"
    );
    assert_eq!(
        answer["result"]["config"],
        json!({"retries": 3}),
        "{answer}"
    );
    let answer = serve.call(&json!({
        "id": 2,
        "tool_id": "echo",
        "input": {"city": "Oslo", "days": 3},
        "config": {"retries": 0, "verbose": true},
    }));
    assert_eq!(
        answer["result"]["input"],
        json!({"unit": "metric", "city": "Oslo", "days": 3}),
        "{answer}"
    );
    assert_eq!(
        answer["result"]["config"],
        json!({"retries": 0, "verbose": true}),
        "{answer}"
    );

    // `slow` has a 300 ms timeout of its own.
    let answer = serve.call(&json!({"id": 3, "tool_id": "slow", "input": {"ms": 1500}}));
    assert_eq!(error_name(&answer), "TimeoutError", "{answer}");
    assert!(error_message(&answer).contains("300ms"), "{answer}");
    let answer = serve.call(&json!({
        "id": 4,
        "tool_id": "slow",
        "input": {"ms": 1500},
        "timeout_ms": 15000,
    }));
    assert_eq!(answer["result"], 1500, "{answer}");
    serve.close_stdin();
    assert_eq!(serve.wait(Duration::from_secs(10)), 0);
}

/// A result over `COMPOZY_MAX_RESULT_BYTES` is a `LimitExceededError`, its worker is replaced
/// (the old one is gone), and the next request is answered by the new one.
fn result_cap_replaces_the_worker(runtime: &str) {
    let p = project();
    let mut serve = Serve::start(&p, runtime, 1, &[("COMPOZY_MAX_RESULT_BYTES", "100000")]);
    let first = serve.call(&json!({"id": 1, "tool_id": "pid"}));
    let first = first["result"]
        .as_i64()
        .unwrap_or_else(|| panic!("{first}"));
    let answer = serve.call(&json!({"id": 2, "tool_id": "big", "input": {"n": 50_000}}));
    assert_eq!(
        answer["result"].as_str().map(str::len),
        Some(50_000),
        "under the cap"
    );
    let answer = serve.call(&json!({"id": 3, "tool_id": "big", "input": {"n": 200_000}}));
    assert_eq!(answer["id"], 3);
    assert_eq!(error_name(&answer), "LimitExceededError", "{answer}");
    assert!(
        error_message(&answer).contains("100000")
            && error_message(&answer).contains("COMPOZY_MAX_RESULT_BYTES"),
        "{answer}"
    );
    assert!(answer.get("result").is_some_and(Value::is_null), "{answer}");
    let next = serve.call(&json!({"id": 4, "tool_id": "pid"}));
    let next = next["result"].as_i64().unwrap_or_else(|| panic!("{next}"));
    assert_ne!(next, first, "the worker that broke the cap answered again");
    assert_all_gone(&[first], "the result cap");
    serve.close_stdin();
    assert_eq!(serve.wait(Duration::from_secs(10)), 0);
}

/// A request past its deadline kills its worker's whole process group (the tool's child too);
/// the next request gets a new worker.
fn timeout_kills_the_workers_whole_group(runtime: &str) {
    let p = project();
    let mut serve = Serve::start(&p, runtime, 1, &[]);
    let pid_file = p.path("pids");
    serve.send(&json!({
        "id": "h",
        "tool_id": "hangs",
        "input": {"pidFile": pid_file},
        "timeout_ms": 3000,
    }));
    let pids = pids_from(&pid_file, 2);
    let _reaper = Reaper::new(&pids);
    assert_all_alive(&pids, "before the deadline");
    let answer = serve.recv();
    assert_all_gone(&pids, "the deadline (worker, then the tool's child)");
    assert_eq!(answer["id"], "h");
    assert_eq!(error_name(&answer), "TimeoutError", "{answer}");
    let answer = serve.call(&json!({"id": "next", "tool_id": "pid"}));
    let next = answer["result"]
        .as_i64()
        .unwrap_or_else(|| panic!("{answer}"));
    assert_ne!(next, pids[0], "{answer}");
    serve.close_stdin();
    assert_eq!(serve.wait(Duration::from_secs(10)), 0);
}

/// SIGINT stops every worker (and a request's child) and exits 130.
fn sigint_stops_every_worker_and_exits_130(runtime: &str) {
    let p = project();
    let mut serve = Serve::start(&p, runtime, 2, &[]);
    let pid_file = p.path("pids");
    serve.send(&json!({"id": "h", "tool_id": "hangs", "input": {"pidFile": pid_file}}));
    let tool = pids_from(&pid_file, 2);
    // A call while `hangs` runs starts the second worker (workers start on demand).
    let answer = serve.call(&json!({"id": "p", "tool_id": "pid"}));
    assert!(answer["result"].is_i64(), "{answer}");
    let workers = wait_for_children(serve.child.id(), 2);
    let _reaper = Reaper::new(&[&tool[..], &workers[..]].concat());
    assert!(workers.contains(&tool[0]), "{tool:?} {workers:?}");
    assert_all_alive(&tool, "before SIGINT");
    signal(serve.child.id(), nix::sys::signal::Signal::SIGINT);
    let code = serve.wait(Duration::from_secs(10));
    let mut all = workers;
    all.push(tool[1]);
    assert_all_gone(&all, "SIGINT on compozy serve");
    assert_eq!(code, 130);
}

on_both_runtimes!(
    unknown_fields_are_refused,
    tool_exec_id_is_echoed_or_generated,
    input_config_and_timeout_per_request,
    result_cap_replaces_the_worker,
    timeout_kills_the_workers_whole_group,
    sigint_stops_every_worker_and_exits_130,
);

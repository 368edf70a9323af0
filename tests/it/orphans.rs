//! A killed executor leaves no worker behind: `kill -9` of `exec`, `serve`, `mcp` or
//! `watch --serve` while a tool runs ends the worker and the tool's children (each worker watches
//! its stdin, which only its executor holds open).

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use serde_json::json;

use crate::common::{Fixture, gone_within, runtime_bin, signal};
use crate::processes::{Reaper, pids_from};

/// How long the worker and the tool's child may outlive their executor.
const BOUND: Duration = Duration::from_secs(2);

fn project() -> Fixture {
    Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: hangs\n    description: Starts a child and never settles\n    \
             execute: ./tools/hangs.ts\n  - id: wait\n    execute: ./tools/wait.ts\n  \
             - id: stubborn\n    execute: ./tools/stubborn.ts\n",
        ),
        (
            "tools/hangs.ts",
            "import { spawn } from \"node:child_process\";\nimport { writeFileSync } from \"node:fs\";\n\
             export function run(i: { pidFile: string }) {\n  \
             const child = spawn(\"sleep\", [\"1000\"], { stdio: \"ignore\" });\n  \
             writeFileSync(i.pidFile, `${process.pid} ${child.pid}\\n`);\n  \
             return new Promise(() => {});\n}\n",
        ),
        // Looks at `ctx.signal` (so SIGTERM only aborts it), then never settles.
        (
            "tools/stubborn.ts",
            "import { spawn } from \"node:child_process\";\nimport { writeFileSync } from \"node:fs\";\n\
             export function run(i: { pidFile: string }, _c: unknown, ctx: { signal: AbortSignal }) {\n  \
             ctx.signal.addEventListener(\"abort\", () => {});\n  \
             const child = spawn(\"sleep\", [\"1000\"], { stdio: \"ignore\" });\n  \
             writeFileSync(i.pidFile, `${process.pid} ${child.pid}\\n`);\n  \
             return new Promise(() => {});\n}\n",
        ),
        (
            "tools/wait.ts",
            "export async function run(i: { ms: number }) {\n  \
             await new Promise((r) => setTimeout(r, i.ms));\n  return process.pid;\n}\n",
        ),
    ])
}

/// Starts `compozy ARGS`, writes `lines` to its stdin (kept open), waits for the tool to run,
/// kills compozy with SIGKILL, and checks that the worker and the tool's child are gone.
fn killed_executor_leaves_nothing(runtime: &str, args: &[&str], lines: &[String]) {
    let p = project();
    let pid_file = p.path("pids");
    let pid_file_text = pid_file.display().to_string();
    let mut all: Vec<String> = args
        .iter()
        .map(|a| a.replace("PID_FILE", &pid_file_text))
        .collect();
    all.extend(["--runtime".to_owned(), runtime.to_owned()]);
    let all: Vec<&str> = all.iter().map(String::as_str).collect();
    let mut child = p
        .compozy(&all)
        .env("COMPOZY_FORWARD", "off")
        .env("COMPOZY_BUN", runtime_bin("bun"))
        .env("COMPOZY_NODE", runtime_bin("node"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start compozy");
    let mut stdin = child.stdin.take().expect("stdin");
    for line in lines {
        let line = line.replace("PID_FILE", &pid_file_text);
        writeln!(stdin, "{line}").expect("write a request");
    }
    let pids = pids_from(&pid_file, 2);
    let _reaper = Reaper::new(&pids);
    signal(child.id(), nix::sys::signal::Signal::SIGKILL);
    let _ = child.wait();
    for (pid, what) in pids.iter().zip(["the worker", "the tool's child"]) {
        assert!(
            gone_within(*pid, BOUND),
            "{what} ({pid}) outlived `compozy {}` killed with SIGKILL by {BOUND:?}",
            args.join(" ")
        );
    }
    // The test's end of stdin stays open until here: only the executor's death closes the
    // worker's.
    drop(stdin);
}

fn serve_request() -> String {
    json!({"id": 1, "tool_id": "hangs", "input": {"pidFile": "PID_FILE"}}).to_string()
}

fn kill_9_of_serve(runtime: &str) {
    killed_executor_leaves_nothing(runtime, &["serve", "--workers", "1"], &[serve_request()]);
}

/// A tool that looks at `ctx.signal` gets the executor's grace, then SIGKILL with its children.
fn kill_9_of_serve_with_a_tool_that_never_settles(runtime: &str) {
    let request =
        json!({"id": 1, "tool_id": "stubborn", "input": {"pidFile": "PID_FILE"}}).to_string();
    killed_executor_leaves_nothing(runtime, &["serve", "--workers", "1"], &[request]);
}

fn kill_9_of_watch_serve(runtime: &str) {
    killed_executor_leaves_nothing(runtime, &["watch", "--serve"], &[serve_request()]);
}

/// A one-shot `exec` keeps the worker's stdin open while the call runs, so its death is seen too.
fn kill_9_of_exec(runtime: &str) {
    killed_executor_leaves_nothing(
        runtime,
        &["exec", "hangs", "--input", r#"{"pidFile": "PID_FILE"}"#],
        &[],
    );
}

fn kill_9_of_exec_with_a_tool_that_never_settles(runtime: &str) {
    killed_executor_leaves_nothing(
        runtime,
        &["exec", "stubborn", "--input", r#"{"pidFile": "PID_FILE"}"#],
        &[],
    );
}

fn kill_9_of_mcp(runtime: &str) {
    let lines = [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"}}})
        .to_string(),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string(),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "hangs", "arguments": {"pidFile": "PID_FILE"}}})
        .to_string(),
    ];
    killed_executor_leaves_nothing(runtime, &["mcp", "--workers", "1"], &lines);
}

/// A long call reads stdin ahead while it runs; the next request is still read once and whole,
/// by the same worker, and stdin closing between calls ends serve normally (exit 0).
fn long_calls_then_more_requests_and_a_normal_end(runtime: &str) {
    let p = project();
    let mut serve = crate::serving::Serve::start(&p, runtime, 1, &[]);
    let mut pids = Vec::new();
    for (id, ms) in [("a", 200), ("b", 150), ("c", 0), ("d", 120)] {
        let answer = serve.call(&json!({"id": id, "tool_id": "wait", "input": {"ms": ms}}));
        assert_eq!(answer["id"], id, "{answer}");
        pids.push(
            answer["result"]
                .as_i64()
                .unwrap_or_else(|| panic!("{answer}")),
        );
    }
    assert!(
        pids.windows(2).all(|w| w[0] == w[1]),
        "one worker: {pids:?}"
    );
    serve.close_stdin();
    assert_eq!(serve.wait(Duration::from_secs(10)), 0);
}

on_both_runtimes!(
    kill_9_of_serve,
    kill_9_of_serve_with_a_tool_that_never_settles,
    kill_9_of_watch_serve,
    kill_9_of_mcp,
    kill_9_of_exec,
    kill_9_of_exec_with_a_tool_that_never_settles,
    long_calls_then_more_requests_and_a_normal_end,
);

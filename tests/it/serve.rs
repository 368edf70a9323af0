//! `compozy serve` end to end on the real Bun and Node: NDJSON in, answers out, a pool that
//! survives crashing and hanging tools and leaves no process behind.

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Fixture, alive, runtime_bin, signal};
use crate::serving::Serve;

const CONFIG: &str = r#"
runtime:
  timeout: 20s
tools:
  - id: add
    execute: ./tools/add.ts
    input: { type: object, required: [a, b] }
  - id: slow
    execute: ./tools/slow.ts
  - id: crash
    execute: ./tools/crash.ts
  - id: hang
    execute: ./tools/hang.ts
  - id: pids
    execute: ./tools/pids.ts
  - id: env
    execute: ./tools/env.ts
    env: { FROM_TOOL: tool }
  - id: bad_output
    execute: ./tools/add.ts
    output: { type: string }
  - id: len
    execute: ./tools/len.ts
  - id: digest
    execute: ./tools/digest.ts
  - id: stdin_tty
    execute: ./tools/stdin_tty.ts
"#;

fn project() -> Fixture {
    Fixture::with(&[
        ("compozy.yaml", CONFIG),
        (
            "tools/add.ts",
            "export function run(i: { a: number; b: number }) {\n  return i.a + i.b;\n}\n",
        ),
        (
            "tools/slow.ts",
            "export async function run(i: { ms: number }) {\n  await new Promise((r) => setTimeout(r, i.ms));\n  return i.ms;\n}\n",
        ),
        (
            "tools/crash.ts",
            "export function run() {\n  process.exit(7);\n}\n",
        ),
        (
            "tools/hang.ts",
            "export function run() {\n  return new Promise(() => {});\n}\n",
        ),
        (
            "tools/pids.ts",
            "import { spawn } from \"node:child_process\";\nexport function run() {\n  const child = spawn(\"sleep\", [\"1000\"], { stdio: \"ignore\" });\n  return { worker: process.pid, child: child.pid };\n}\n",
        ),
        (
            "tools/len.ts",
            "export function run(i: { s: string }) {\n  return i.s.length;\n}\n",
        ),
        (
            "tools/digest.ts",
            "export function run(i: { s: string }) {\n  let h = 0;\n  for (let k = 0; k < i.s.length; k++) h = (Math.imul(h, 31) + i.s.charCodeAt(k)) >>> 0;\n  return { length: i.s.length, hash: h };\n}\n",
        ),
        (
            "tools/stdin_tty.ts",
            "export function run() {\n  return { tty: process.stdin.isTTY ?? false, pid: process.pid };\n}\n",
        ),
        (
            "tools/env.ts",
            "import { writeFileSync } from \"node:fs\";\nexport function run(i: { marker?: string }) {\n  if (i.marker) writeFileSync(i.marker, \"ran\");\n  return { tool: process.env.FROM_TOOL ?? null, request: process.env.FROM_REQUEST ?? null };\n}\n",
        ),
    ])
}

/// Asserts that `answer` has the field `key`, and that it is null (a missing field would read
/// as null too).
#[track_caller]
fn assert_null(answer: &Value, key: &str) {
    assert!(
        answer.get(key).is_some_and(Value::is_null),
        "`{key}` is missing or not null: {answer}"
    );
}

fn pipelined_requests_are_all_answered_by_id(runtime: &str) {
    let p = project();
    let mut serve = Serve::start(&p, runtime, 2, &[]);
    for i in 0..40 {
        serve.send(&json!({"id": i, "tool_id": "add", "input": {"a": i, "b": 1}}));
    }
    serve.send(&json!({"id": "slow", "tool_id": "slow", "input": {"ms": 50}}));
    let mut seen = std::collections::BTreeMap::new();
    for _ in 0..41 {
        let answer = serve.recv();
        assert_null(&answer, "error");
        assert!(answer["metadata"]["tool_exec_id"].is_string(), "{answer}");
        seen.insert(answer["id"].to_string(), answer["result"].clone());
    }
    for i in 0..40 {
        assert_eq!(seen[&i.to_string()], json!(i + 1));
    }
    assert_eq!(seen["\"slow\""], json!(50));
    serve.close_stdin();
    assert_eq!(serve.wait(Duration::from_secs(10)), 0);
}

fn crashing_and_hanging_tools_get_errors_and_the_pool_keeps_serving(runtime: &str) {
    let p = project();
    let mut serve = Serve::start(&p, runtime, 1, &[]);
    serve.send(&json!({"id": "c", "tool_id": "crash"}));
    let answer = serve.recv();
    assert_eq!(answer["id"], "c");
    assert_eq!(answer["error"]["name"], "WorkerExitedError", "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("exit code 7"),
        "{answer}"
    );

    let started = Instant::now();
    serve.send(&json!({"id": "h", "tool_id": "hang", "timeout_ms": 300}));
    let answer = serve.recv();
    let elapsed = started.elapsed();
    assert_eq!(answer["id"], "h");
    assert_eq!(answer["error"]["name"], "TimeoutError", "{answer}");
    // The 300 ms deadline, not the tool's 20 s, plus the time to stop the worker.
    assert!(
        (Duration::from_millis(300)..Duration::from_secs(1)).contains(&elapsed),
        "timeout_ms 300 took {elapsed:?}"
    );
    // serve has no --timeout flag: the help names what a serve client can change.
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("`timeout_ms`") && message.contains("`timeout:`"),
        "{message}"
    );
    assert!(!message.contains("--timeout"), "{message}");
    // Milliseconds to the microsecond, as the workers write them, not 300.9817719999999.
    let ms = answer["metadata"]["execution_time_ms"].to_string();
    assert!(
        ms.split_once('.')
            .is_none_or(|(_, decimals)| decimals.len() <= 3),
        "execution_time_ms {ms}"
    );

    serve.send(&json!({"id": "after", "tool_id": "add", "input": {"a": 2, "b": 2}}));
    let answer = serve.recv();
    assert_eq!(
        (answer["id"].clone(), answer["result"].clone()),
        (json!("after"), json!(4)),
        "{answer}"
    );
    serve.close_stdin();
    assert_eq!(serve.wait(Duration::from_secs(10)), 0);
}

fn invalid_lines_get_error_answers(runtime: &str) {
    let p = project();
    let mut serve = Serve::start(&p, runtime, 1, &[]);
    serve.send_raw("this is not json");
    assert_eq!(serve.recv()["error"]["name"], "InvalidRequestError");
    serve.send(&json!({"id": 5, "input": {}}));
    let answer = serve.recv();
    assert_eq!(
        (answer["id"].clone(), answer["error"]["name"].clone()),
        (json!(5), json!("InvalidRequestError"))
    );
    // Misnamed fields get the right name.
    serve.send(&json!({"id": "t", "tool": "add"}));
    let answer = serve.recv();
    assert_eq!(answer["error"]["name"], "InvalidRequestError", "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("did you mean `tool_id`?"), "{message}");
    serve.send(&json!({"id": "i", "tool_id": "add", "inputs": {"a": 1, "b": 2}}));
    let answer = serve.recv();
    let message = answer["error"]["message"].as_str().unwrap();
    assert_eq!(
        message, "unknown field `inputs`; did you mean `input`?",
        "{answer}"
    );
    serve.send(&json!({"id": 6, "tool_id": "add", "qqqq": 1}));
    let message = serve.recv()["error"]["message"].clone();
    assert!(
        message
            .as_str()
            .unwrap()
            .contains("the fields are `id`, `tool_id`"),
        "{message}"
    );
    serve.send(&json!({"id": 6, "tool_id": "adx"}));
    let answer = serve.recv();
    assert_eq!(answer["error"]["name"], "UnknownToolError");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("unknown tool `adx`; did you mean `add`"),
        "{message}"
    );
    serve.send(&json!({"id": 7, "tool_id": "add", "input": {"a": 1}}));
    assert_eq!(serve.recv()["error"]["name"], "InvalidInputError");
    let refused = p.path("refused.txt");
    serve.send(&json!({
        "id": 8,
        "tool_id": "env",
        "input": {"marker": refused},
        "env": {"LD_PRELOAD": "x"},
    }));
    let answer = serve.recv();
    assert_eq!(answer["id"], 8, "{answer}");
    assert_eq!(answer["error"]["name"], "InvalidRequestError", "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("LD_PRELOAD"),
        "{answer}"
    );
    assert_null(&answer, "result");
    serve.send(&json!({"id": "o", "tool_id": "bad_output", "input": {"a": 1, "b": 2}}));
    let answer = serve.recv();
    assert_eq!(answer["error"]["name"], "InvalidOutputError", "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.ends_with("(it returned 3)"), "{message}");
    assert_null(&answer, "result");
    let ran = p.path("ran.txt");
    serve.send(&json!({
        "id": 9,
        "tool_id": "env",
        "input": {"marker": ran},
        "env": {"FROM_REQUEST": "r"},
    }));
    assert_eq!(
        serve.recv()["result"],
        json!({"tool": "tool", "request": "r"})
    );
    // The one worker ran request 9 after anything sent before it: the marker shows it does run
    // requests, and the refused one was not.
    assert!(ran.exists(), "the tool did not write its marker");
    assert!(
        !refused.exists(),
        "the tool ran despite a refused LD_PRELOAD"
    );
    // The next request of the same tool does not see the previous request's env.
    serve.send(&json!({"id": 10, "tool_id": "env"}));
    assert_eq!(
        serve.recv()["result"],
        json!({"tool": "tool", "request": null})
    );
    serve.close_stdin();
    assert_eq!(serve.wait(Duration::from_secs(10)), 0);
}

fn stdin_eof_drains_in_flight_work(runtime: &str) {
    let p = project();
    let mut serve = Serve::start(&p, runtime, 1, &[]);
    serve.send(&json!({"id": "a", "tool_id": "slow", "input": {"ms": 300}}));
    serve.send(&json!({"id": "b", "tool_id": "slow", "input": {"ms": 10}}));
    serve.close_stdin();
    let ids: Vec<Value> = (0..2).map(|_| serve.recv()["id"].clone()).collect();
    assert_eq!(ids, [json!("a"), json!("b")]);
    assert_eq!(serve.wait(Duration::from_secs(10)), 0);
}

fn sigterm_leaves_no_process_behind(runtime: &str) {
    let p = project();
    let mut serve = Serve::start(&p, runtime, 2, &[]);
    serve.send(&json!({"id": 1, "tool_id": "pids"}));
    let answer = serve.recv();
    let worker = answer["result"]["worker"].as_i64().expect("worker pid");
    let child = answer["result"]["child"].as_i64().expect("child pid");
    assert!(alive(worker) && alive(child));
    signal(serve.child.id(), nix::sys::signal::Signal::SIGTERM);
    assert_eq!(serve.wait(Duration::from_secs(10)), 130);
    let until = Instant::now() + Duration::from_secs(3);
    while (alive(worker) || alive(child)) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!alive(worker), "worker {worker} survived SIGTERM");
    assert!(!alive(child), "the tool's child {child} survived SIGTERM");
}

/// A worker that dies as it starts (here: a Bun preload that exits) is not restarted in a loop:
/// its replacement waits for a request, which gets an error answer.
#[test]
fn a_worker_that_dies_on_start_is_not_restarted_in_a_loop() {
    let p = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: add\n    execute: ./tools/add.ts\n",
        ),
        (
            "tools/add.ts",
            "export function run(i: { a: number; b: number }) {\n  return i.a + i.b;\n}\n",
        ),
        ("bunfig.toml", "preload = [\"./boom.ts\"]\n"),
        (
            "boom.ts",
            "import { appendFileSync } from \"node:fs\";\nappendFileSync(\"starts.log\", \"x\\n\");\nprocess.exit(3);\n",
        ),
    ]);
    let starts = || {
        std::fs::read_to_string(p.path("starts.log"))
            .unwrap_or_default()
            .lines()
            .count()
    };
    // Fails as soon as the count leaves `allowed` within `window`.
    let stays = |allowed: std::ops::RangeInclusive<usize>, window: Duration, when: &str| {
        let until = Instant::now() + window;
        while Instant::now() < until {
            let n = starts();
            assert!(allowed.contains(&n), "{n} starts {when}");
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let mut serve = Serve::start(&p, "bun", 2, &[]);
    // Each of the two workers starts once, and dies.
    let until = Instant::now() + Duration::from_secs(20);
    while starts() < 2 {
        assert!(Instant::now() < until, "the workers did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    // A loop would restart them within this window (a Bun start takes tens of milliseconds).
    stays(2..=2, Duration::from_secs(1), "while idle");
    serve.send(&json!({"id": 1, "tool_id": "add", "input": {"a": 1, "b": 2}}));
    let answer = serve.recv();
    assert_eq!(answer["error"]["name"], "WorkerExitedError", "{answer}");
    // The request's worker, and at most one replacement, which dies and waits.
    let n = starts();
    assert!((3..=4).contains(&n), "{n} starts after one request");
    stays(3..=4, Duration::from_secs(1), "after one request");
    serve.close_stdin();
    assert_eq!(serve.wait(Duration::from_secs(10)), 0);
}

/// A runtime that can no longer be started (here: its binary is gone) fails each queued request
/// in turn, and serving ends when stdin does.
#[test]
fn queued_requests_fail_when_no_worker_can_start() {
    let p = project();
    let bun = p.path("bin/bun");
    std::fs::create_dir_all(bun.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(runtime_bin("bun"), &bun).unwrap();
    let mut command = p.compozy(&["serve", "--runtime", "bun", "--workers", "1"]);
    command.env("COMPOZY_BUN", &bun);
    let mut serve = Serve::spawn(command);
    serve.send(&json!({"id": "warm", "tool_id": "add", "input": {"a": 1, "b": 1}}));
    assert_eq!(serve.recv()["result"], json!(2));
    std::fs::remove_file(&bun).unwrap();
    // The crash ends the only worker; no replacement can start for the requests behind it.
    serve.send(&json!({"id": "crash", "tool_id": "crash"}));
    for i in 0..10 {
        serve.send(&json!({"id": i, "tool_id": "add", "input": {"a": i, "b": 1}}));
    }
    // Every answer comes while stdin is still open: no other event is needed to reach them.
    let mut failed = std::collections::BTreeSet::new();
    for _ in 0..11 {
        let answer = serve.recv();
        assert_eq!(answer["error"]["name"], "WorkerExitedError", "{answer}");
        failed.insert(answer["id"].to_string());
    }
    assert_eq!(failed.len(), 11, "{failed:?}");
    serve.close_stdin();
    assert_eq!(serve.wait(Duration::from_secs(10)), 0);
}

/// A request larger than a pipe holds (written from a helper thread) arrives whole, and the
/// requests after it are served as usual.
fn large_requests_arrive_whole(runtime: &str) {
    let p = project();
    let mut serve = Serve::start(&p, runtime, 1, &[]);
    let big = "x".repeat(3 << 20);
    serve.send(&json!({"id": "big", "tool_id": "len", "input": {"s": big}}));
    serve.send(&json!({"id": "small", "tool_id": "len", "input": {"s": "abc"}}));
    let answers: Vec<Value> = (0..2).map(|_| serve.recv()).collect();
    assert_eq!(answers[0]["id"], "big", "{}", answers[0]["error"]);
    assert_eq!(answers[0]["result"], json!(3 << 20));
    assert_eq!(answers[1]["id"], "small");
    assert_eq!(answers[1]["result"], json!(3));
    serve.close_stdin();
    assert_eq!(serve.wait(Duration::from_secs(10)), 0);
}

/// The same hash as `tools/digest.ts`.
fn digest(s: &str) -> Value {
    let hash = s
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    json!({"length": s.len(), "hash": hash})
}

/// Bursts of back-to-back requests, some larger than one read, with pauses between bursts: the
/// worker polls stdin during a burst and sleeps between them, and every request must still
/// arrive whole and in order.
fn bursts_of_mixed_sizes_arrive_whole(runtime: &str) {
    let p = project();
    let mut serve = Serve::start(&p, runtime, 1, &[]);
    for burst in 0..2 {
        let inputs: Vec<String> = (0..30)
            .map(|i| {
                let size = [10, 70_000, 200_000][i % 3];
                let unit = format!("{burst}-{i}:");
                unit.repeat(size / unit.len() + 1)[..size].to_owned()
            })
            .collect();
        for (i, s) in inputs.iter().enumerate() {
            serve.send(&json!({"id": i, "tool_id": "digest", "input": {"s": s}}));
        }
        for (i, s) in inputs.iter().enumerate() {
            let answer = serve.recv();
            assert_eq!(answer["id"], json!(i), "{}", answer["error"]);
            assert_eq!(answer["result"], digest(s), "request {i} of burst {burst}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    serve.close_stdin();
    assert_eq!(serve.wait(Duration::from_secs(10)), 0);
}

/// A tool that touches `process.stdin` (Node then makes the worker's stdin non-blocking) does not
/// break the worker's next reads.
fn a_tool_touching_stdin_keeps_its_worker(runtime: &str) {
    let p = project();
    let mut serve = Serve::start(&p, runtime, 1, &[]);
    let mut pids = std::collections::BTreeSet::new();
    for i in 0..3 {
        serve.send(&json!({"id": i, "tool_id": "stdin_tty"}));
        let answer = serve.recv();
        assert_eq!(answer["result"]["tty"], json!(false), "{answer}");
        pids.insert(answer["result"]["pid"].to_string());
        // Long enough for the worker to stop polling and sleep on its next read.
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(pids.len(), 1, "the worker was replaced: {pids:?}");
    serve.close_stdin();
    assert_eq!(serve.wait(Duration::from_secs(10)), 0);
}

on_both_runtimes!(
    a_tool_touching_stdin_keeps_its_worker,
    bursts_of_mixed_sizes_arrive_whole,
    large_requests_arrive_whole,
    pipelined_requests_are_all_answered_by_id,
    crashing_and_hanging_tools_get_errors_and_the_pool_keeps_serving,
    invalid_lines_get_error_answers,
    stdin_eof_drains_in_flight_work,
    sigterm_leaves_no_process_behind,
);

/// A tool module with `export` under a package.json without `"type"` (as `npm init` writes it):
/// Node would warn and tell the user to edit the package.json. `exec` was quiet only because its
/// worker exits before the warning is printed; `serve` must be as quiet.
#[test]
fn node_does_not_ask_to_edit_a_typeless_package_json() {
    let p = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: add\n    execute: ./tools/add.ts\n",
        ),
        (
            "package.json",
            "{\"name\": \"typeless\", \"version\": \"1.0.0\"}\n",
        ),
        (
            "tools/add.ts",
            "export function run(i: { a: number; b: number }) {\n  return i.a + i.b;\n}\n",
        ),
    ]);
    let mut command = p.compozy(&["serve", "--runtime", "node", "--workers", "1"]);
    let mut child = command
        .env("COMPOZY_NODE", runtime_bin("node"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start compozy serve");
    let mut stdin = child.stdin.take().unwrap();
    writeln!(
        stdin,
        "{}",
        json!({"id": 1, "tool_id": "add", "input": {"a": 1, "b": 2}})
    )
    .unwrap();
    drop(stdin);
    let out = crate::common::wait_within(child, Duration::from_secs(30));
    out.expect_code(0);
    let answer: Value = serde_json::from_str(out.stdout.trim()).expect("one JSON answer");
    assert_eq!(answer["result"], json!(3), "{answer}");
    assert!(
        !out.stderr.contains("MODULE_TYPELESS_PACKAGE_JSON") && !out.stderr.contains("Warning"),
        "serve printed a Node warning:\n{}",
        out.stderr
    );
}

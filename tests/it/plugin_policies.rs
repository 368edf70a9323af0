//! The built-in policies under one-shot `exec` (their state in the project's state directory,
//! shared by successive `exec`s and with a server's rate limits), callers told apart over MCP
//! HTTP with `auth:`, and cancelled calls that wait in the concurrency queue, on the real Bun and
//! Node, with the official MCP client and real signals.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Fixture, Output, runtime_bin, signal, wait_within};

const CONFIG: &str = r#"
plugins:
  - {use: "builtin:audit", path: logs/audit.jsonl}
  - {use: "builtin:rate-limit", tools: [search], limit: 2, per: 1h}
  - {use: "builtin:cache", tools: [nonce], ttl: 10m}
  - {use: "builtin:concurrency", tools: [slow], max: 1}
  - {use: "builtin:retry", tools: [flaky, throws, slow], attempts: 3}
tools:
  - id: search
    description: Searches.
    execute: ./tools/search.ts
  - id: nonce
    description: A fresh number each run, and a mark in runs/nonce.
    execute: ./tools/nonce.ts
    annotations: {readOnlyHint: true}
  - id: slow
    description: Marks its start in starts.txt, sleeps `ms`, says when it ran.
    execute: ./tools/slow.ts
    timeout: 30s
    annotations: {readOnlyHint: true}
  - id: flaky
    description: Crashes its process on its first run.
    execute: ./tools/flaky.ts
    annotations: {idempotentHint: true}
  - id: throws
    description: Throws its own error.
    execute: ./tools/throws.ts
    annotations: {idempotentHint: true}
  - id: badout
    description: Returns what its output schema refuses.
    execute: ./tools/badout.ts
    output: {type: object, required: [n]}
"#;

const COUNT: &str = r#"
import { appendFileSync, readFileSync, mkdirSync } from "node:fs";
export function count(id: string): number {
  mkdirSync("runs", { recursive: true });
  appendFileSync(`runs/${id}`, "x");
  return readFileSync(`runs/${id}`, "utf8").length;
}
"#;

/// A project, and a private runtime directory of its own (`XDG_RUNTIME_DIR`), so that its state
/// and sockets are the test's alone.
fn project() -> (Fixture, PathBuf) {
    let p = Fixture::with(&[
        ("compozy.yaml", CONFIG),
        ("tools/count.ts", COUNT),
        ("tools/search.ts", "export default () => ({ ok: true });\n"),
        (
            "tools/nonce.ts",
            "import { count } from \"./count.ts\";\nexport default (input: { k?: unknown }) => {\n  count(\"nonce\");\n  return { k: input.k ?? null, n: Math.random() };\n};\n",
        ),
        (
            "tools/slow.ts",
            "import { appendFileSync } from \"node:fs\";\nexport default async (input: { ms?: number; tag?: string }) => {\n  const start = Date.now();\n  appendFileSync(\"starts.txt\", `${input.tag ?? \"\"} ${process.pid}\\n`);\n  await new Promise((r) => setTimeout(r, input.ms ?? 600));\n  return { start, end: Date.now() };\n};\n",
        ),
        (
            "tools/flaky.ts",
            "import { count } from \"./count.ts\";\nexport default () => {\n  const n = count(\"flaky\");\n  if (n === 1) process.exit(3);\n  return { runs: n };\n};\n",
        ),
        ("tools/badout.ts", "export default () => ({});\n"),
        (
            "tools/throws.ts",
            "import { count } from \"./count.ts\";\nexport default () => {\n  count(\"throws\");\n  throw new Error(\"the tool's own error\");\n};\n",
        ),
    ]);
    p.run(&["gen"]).expect_code(0);
    let run = p.path("xdg-run");
    std::fs::create_dir_all(&run).expect("create the runtime dir");
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).expect("chmod 0700");
    age(p.root());
    (p, run)
}

/// Makes every file of the fixture older than the fingerprint's one-second doubt: `exec`
/// caches, and forwards, only for files it can tell unchanged.
fn age(path: &std::path::Path) {
    let then = std::time::SystemTime::now() - Duration::from_secs(10);
    if let Ok(entries) = std::fs::read_dir(path) {
        for entry in entries.flatten() {
            age(&entry.path());
        }
    }
    std::fs::File::open(path)
        .and_then(|f| f.set_modified(then))
        .expect("age a fixture file");
}

fn exec_cmd(p: &Fixture, run: &PathBuf, runtime: &str, tool: &str, input: &Value) -> Command {
    let input = input.to_string();
    let mut cmd = p.compozy(&["exec", tool, "--runtime", runtime, "--input", &input]);
    cmd.env("COMPOZY_BUN", runtime_bin("bun"))
        .env("COMPOZY_NODE", runtime_bin("node"))
        .env("XDG_RUNTIME_DIR", run)
        .env("COMPOZY_FORWARD", "off");
    cmd
}

fn exec(p: &Fixture, run: &PathBuf, runtime: &str, tool: &str, input: &Value) -> Output {
    Output::from(
        exec_cmd(p, run, runtime, tool, input)
            .output()
            .expect("run compozy exec"),
    )
}

fn runs(p: &Fixture, id: &str) -> usize {
    std::fs::read_to_string(p.path(&format!("runs/{id}"))).map_or(0, |s| s.len())
}

fn audit(p: &Fixture) -> Vec<Value> {
    p.read("logs/audit.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn exec_keeps_one_rate_limit_one_cache_and_one_audit_log(runtime: &str) {
    let (p, run) = project();
    // The state of a project that is gone, removed when a project first keeps state.
    let gone = run.join("compozy/state/0123456789abcdef");
    std::fs::create_dir_all(&gone).unwrap();
    for dir in [run.join("compozy"), gone.clone()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    std::fs::write(gone.join("root"), "/nonexistent/compozy-project\n").unwrap();
    for _ in 0..2 {
        exec(&p, &run, runtime, "search", &json!({})).expect_code(0);
    }
    // The third `exec`, another process: the same bucket, empty. The server's message and exit
    // code (a tool error, 1).
    exec(&p, &run, runtime, "search", &json!({}))
        .expect_code(1)
        .stderr_has(&[
            "RateLimitedError: rate limit reached: 2 calls per 1h for `search`",
            "retry in 30m",
        ]);

    // A policy added above the limit leaves its bucket as it is.
    p.write(
        "compozy.yaml",
        &CONFIG.replace(
            "plugins:\n",
            "plugins:\n  - {use: \"builtin:concurrency\", tools: [search], max: 5}\n",
        ),
    );
    exec(&p, &run, runtime, "search", &json!({}))
        .expect_code(1)
        .stderr_has(&["RateLimitedError"]);
    p.write("compozy.yaml", CONFIG);
    age(p.root());

    // The cache: the same input (keys in another order) is answered without a run.
    let first = exec(&p, &run, runtime, "nonce", &json!({"k": {"a": 1, "b": 2}}));
    first.expect_code(0);
    let again = exec(&p, &run, runtime, "nonce", &json!({"k": {"b": 2, "a": 1}}));
    again.expect_code(0);
    assert_eq!(first.json()["n"], again.json()["n"], "{again:?}");
    assert_eq!(runs(&p, "nonce"), 1, "a cached answer ran the tool");
    let other = exec(&p, &run, runtime, "nonce", &json!({"k": 2}));
    assert_ne!(other.json()["n"], first.json()["n"]);
    assert_eq!(runs(&p, "nonce"), 2);

    // One audit line per call, with the local user as the caller.
    let lines = audit(&p);
    let outcomes: Vec<&str> = lines
        .iter()
        .map(|l| l["outcome"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        outcomes,
        [
            "ok",
            "ok",
            "error:RateLimitedError",
            "error:RateLimitedError",
            "ok",
            "ok",
            "ok"
        ],
        "{lines:#?}"
    );
    let user = local_user();
    for line in &lines {
        assert_eq!(line["caller"], user.as_str(), "{line}");
    }

    assert!(
        !gone.exists(),
        "the state of a project that is gone was kept"
    );
    // The state lives in the runtime directory, one directory per project; removing it resets.
    let state = run.join("compozy/state");
    let dirs: Vec<_> = std::fs::read_dir(&state)
        .expect("a state directory")
        .flatten()
        .collect();
    assert_eq!(dirs.len(), 1, "one project, one state directory");
    let mode = std::fs::metadata(dirs[0].path())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700, "the state directory is the user's alone");
    std::fs::remove_dir_all(&state).expect("reset the state");
    exec(&p, &run, runtime, "search", &json!({})).expect_code(0);
}

fn a_server_and_one_shot_exec_share_one_rate_limit(runtime: &str) {
    let (p, run) = project();
    exec(&p, &run, runtime, "search", &json!({})).expect_code(0);
    let mut serve = crate::serving::Serve::start(
        &p,
        runtime,
        1,
        &[("XDG_RUNTIME_DIR", run.to_str().unwrap())],
    );
    let a = serve.call(&json!({"id": 1, "tool_id": "search"}));
    assert_eq!(a["result"]["ok"], true, "{a}");
    let a = serve.call(&json!({"id": 2, "tool_id": "search"}));
    assert_eq!(a["error"]["name"], "RateLimitedError", "{a}");
    // An `exec` forwarded to the server meets the same limit, as the same user.
    let mut forwarded = exec_cmd(&p, &run, runtime, "search", &json!({}));
    forwarded.env("COMPOZY_FORWARD", "require");
    Output::from(forwarded.output().unwrap())
        .expect_code(1)
        .stderr_has(&["RateLimitedError: rate limit reached"]);
    // A forwarded call is answered from the server's cache, for the same caller.
    let forwarded_nonce = || {
        let mut cmd = exec_cmd(&p, &run, runtime, "nonce", &json!({"k": 1}));
        cmd.env("COMPOZY_FORWARD", "require");
        let out = Output::from(cmd.output().unwrap());
        out.expect_code(0);
        out.json()["n"].clone()
    };
    assert_eq!(forwarded_nonce(), forwarded_nonce());
    assert_eq!(runs(&p, "nonce"), 1, "a cached answer ran the tool");
    serve.close_stdin();
    assert_eq!(serve.wait(Duration::from_secs(10)), 0);
    let lines = audit(&p);
    assert_eq!(lines.len(), 6, "{lines:#?}");
    // One-shot, `serve`'s stdin and the forwarded call: the same local user.
    for line in &lines {
        assert_eq!(line["caller"], local_user().as_str(), "{line}");
    }
}

fn exec_retries_infrastructure_failures_on_a_fresh_process(runtime: &str) {
    let (p, run) = project();
    let out = exec(&p, &run, runtime, "flaky", &json!({}));
    out.expect_code(0);
    assert_eq!(out.json()["runs"], 2, "{out:?}");
    // The tool's own error is an answer: one run, exit 1.
    exec(&p, &run, runtime, "throws", &json!({}))
        .expect_code(1)
        .stderr_has(&["the tool's own error"]);
    assert_eq!(runs(&p, "throws"), 1);
}

fn spawn(mut cmd: Command) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn compozy exec")
}

fn starts(p: &Fixture) -> Vec<String> {
    std::fs::read_to_string(p.path("starts.txt"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Waits until `starts.txt` has `n` lines.
fn until_started(p: &Fixture, n: usize) {
    let until = Instant::now() + Duration::from_secs(30);
    while starts(p).len() < n {
        assert!(Instant::now() < until, "no start of `slow` after 30s");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn exec_concurrency_cap_holds_across_processes_and_ctrl_c_leaves_the_queue(runtime: &str) {
    let (p, run) = project();
    let a = spawn(exec_cmd(&p, &run, runtime, "slow", &json!({"tag": "a"})));
    let b = spawn(exec_cmd(&p, &run, runtime, "slow", &json!({"tag": "b"})));
    let a = wait_within(a, Duration::from_secs(30));
    let b = wait_within(b, Duration::from_secs(30));
    a.expect_code(0);
    b.expect_code(0);
    let (a, b) = (a.json(), b.json());
    let (first, second) = if a["start"].as_i64() < b["start"].as_i64() {
        (a, b)
    } else {
        (b, a)
    };
    assert!(
        second["start"].as_i64() >= first["end"].as_i64(),
        "two `exec`s ran at once under max 1: {first} {second}"
    );

    // Ctrl-C on an `exec` waiting for its place: it exits 130 and the tool never starts.
    std::fs::remove_file(p.path("starts.txt")).unwrap();
    let holder = spawn(exec_cmd(
        &p,
        &run,
        runtime,
        "slow",
        &json!({"tag": "holder", "ms": 2500}),
    ));
    until_started(&p, 1);
    let waiting = spawn(exec_cmd(
        &p,
        &run,
        runtime,
        "slow",
        &json!({"tag": "waiting"}),
    ));
    std::thread::sleep(Duration::from_millis(500));
    signal(waiting.id(), nix::sys::signal::Signal::SIGINT);
    let stopped = Instant::now();
    wait_within(waiting, Duration::from_secs(5))
        .expect_code(130)
        .stderr_has(&["interrupted"]);
    assert!(stopped.elapsed() < Duration::from_secs(2), "Ctrl-C waited");
    wait_within(holder, Duration::from_secs(30)).expect_code(0);
    let lines = starts(&p);
    assert_eq!(lines.len(), 1, "the interrupted call started: {lines:?}");
    assert!(lines[0].starts_with("holder"), "{lines:?}");
}

fn forwarded_exec_cancelled_while_queued_never_starts(runtime: &str) {
    let (p, run) = project();
    let mut serve = crate::serving::Serve::start(
        &p,
        runtime,
        2,
        &[("XDG_RUNTIME_DIR", run.to_str().unwrap())],
    );
    // The server listens once it answers.
    let a = serve.call(&json!({"id": 0, "tool_id": "search"}));
    assert_eq!(a["result"]["ok"], true, "{a}");
    let forwarded = |input: Value| {
        let mut cmd = exec_cmd(&p, &run, runtime, "slow", &input);
        cmd.env("COMPOZY_FORWARD", "require");
        spawn(cmd)
    };
    let holder = forwarded(json!({"tag": "holder", "ms": 2500}));
    until_started(&p, 1);
    let waiting = forwarded(json!({"tag": "waiting"}));
    std::thread::sleep(Duration::from_millis(500));
    signal(waiting.id(), nix::sys::signal::Signal::SIGINT);
    wait_within(waiting, Duration::from_secs(5)).expect_code(130);
    wait_within(holder, Duration::from_secs(30)).expect_code(0);
    // Past the time the waiting call would have started and ended.
    std::thread::sleep(Duration::from_millis(1200));
    let lines = starts(&p);
    assert_eq!(lines.len(), 1, "the cancelled call started: {lines:?}");
    // The queue goes on: the next call runs.
    let a = serve.call(&json!({"id": 1, "tool_id": "slow", "input": {"tag": "next", "ms": 10}}));
    assert!(a["result"]["end"].is_number(), "{a}");
    serve.close_stdin();
    assert_eq!(serve.wait(Duration::from_secs(10)), 0);
}

/// A forwarded call whose result breaks its output schema fails in `exec`, and the server's
/// audit log records it as `exec` reports it.
fn forwarded_exec_is_audited_as_exec_reports_it(runtime: &str) {
    let (p, run) = project();
    let mut serve = crate::serving::Serve::start(
        &p,
        runtime,
        1,
        &[("XDG_RUNTIME_DIR", run.to_str().unwrap())],
    );
    // The server listens once it answers.
    let a = serve.call(&json!({"id": 0, "tool_id": "search"}));
    assert_eq!(a["result"]["ok"], true, "{a}");
    let mut cmd = exec_cmd(&p, &run, runtime, "badout", &json!({}));
    cmd.env("COMPOZY_FORWARD", "require");
    Output::from(cmd.output().expect("run compozy exec"))
        .expect_code(1)
        .stderr_has(&["does not match its output schema"]);
    serve.close_stdin();
    assert_eq!(serve.wait(Duration::from_secs(10)), 0);
    let lines = audit(&p);
    let last = lines.last().expect("an audit line");
    assert_eq!(last["tool"], "badout", "{lines:?}");
    assert_eq!(last["outcome"], "error:InvalidOutputError", "{lines:?}");
}

fn serve_cancel_line_stops_a_queued_and_a_running_call(runtime: &str) {
    let (p, run) = project();
    let mut serve = crate::serving::Serve::start(
        &p,
        runtime,
        2,
        &[("XDG_RUNTIME_DIR", run.to_str().unwrap())],
    );
    let slow = |id: i64, exec_id: &str, tag: &str, ms: u64| {
        json!({"id": id, "tool_id": "slow", "tool_exec_id": exec_id,
               "input": {"tag": tag, "ms": ms}})
    };
    serve.send(&slow(1, "running", "holder", 20_000));
    until_started(&p, 1);
    serve.send(&slow(2, "queued", "queued", 10));
    std::thread::sleep(Duration::from_millis(300));
    serve.send(&json!({"cancel": "queued"}));
    let a = serve.recv();
    assert_eq!(a["id"], 2, "{a}");
    assert_eq!(a["error"]["name"], "CancelledError", "{a}");
    let asked = Instant::now();
    serve.send(&json!({"cancel": "running"}));
    let a = serve.recv();
    assert_eq!(a["id"], 1, "{a}");
    assert_eq!(a["error"]["name"], "CancelledError", "{a}");
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "the running call was not stopped"
    );
    // A malformed cancel line is answered; the place under the cap was handed on.
    let a = serve.call(&json!({"id": 3, "cancel": 7}));
    assert_eq!(a["error"]["name"], "InvalidRequestError", "{a}");
    let a = serve.call(&slow(4, "next", "next", 10));
    assert!(a["result"]["end"].is_number(), "{a}");
    serve.close_stdin();
    assert_eq!(serve.wait(Duration::from_secs(10)), 0);
    let lines = starts(&p);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].starts_with("holder") && lines[1].starts_with("next"),
        "{lines:?}"
    );
}

fn mcp_cancelled_while_queued_never_starts(runtime: &str) {
    let (p, run) = project();
    let server = crate::mcp::HttpServer::start_at(
        &p,
        runtime,
        "127.0.0.1:0",
        &["--workers", "2", "--no-listen"],
        &[("XDG_RUNTIME_DIR", run.to_str().unwrap())],
    );
    // One client holds the only place; another's call waits, and is cancelled while it waits.
    let holder = {
        let mut cmd = Command::new(runtime_bin("node"));
        cmd.arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/client.mjs"))
            .args(["--era", "modern", "--url", &server.url])
            .current_dir(p.root())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("start the MCP client");
        let steps = json!([{"op": "call", "name": "slow", "args": {"tag": "holder", "ms": 2500}}]);
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(steps.to_string().as_bytes()).unwrap();
        drop(stdin);
        child
    };
    until_started(&p, 1);
    let steps =
        json!([{"op": "cancel", "name": "slow", "args": {"tag": "waiting"}, "waitMs": 400}]);
    let report = crate::mcp::over_http(&p, &server.url, "modern", &steps);
    assert!(
        report["results"][0]["settled"]
            .as_str()
            .is_some_and(|s| s.starts_with("rejected")),
        "{report:#}"
    );
    let out = wait_within(holder, Duration::from_secs(30));
    out.expect_code(0);
    std::thread::sleep(Duration::from_millis(1200));
    let lines = starts(&p);
    assert_eq!(lines.len(), 1, "the cancelled call started: {lines:?}");
    assert!(lines[0].starts_with("holder"), "{lines:?}");
    // The place was handed on: a new call runs.
    let steps = json!([{"op": "call", "name": "slow", "args": {"tag": "next", "ms": 10}}]);
    let report = crate::mcp::over_http(&p, &server.url, "modern", &steps);
    assert_eq!(report["results"][0]["isError"], false, "{report:#}");
    assert_eq!(starts(&p).len(), 2);
}

fn http_callers_never_share_a_cache_entry(runtime: &str) {
    let port = crate::mcp_auth::free_port();
    let resource = format!("http://127.0.0.1:{port}/mcp");
    let config = format!(
        r#"
auth:
  resource: {resource}
  authorization_servers: ["{issuer}"]
  tokens: {{ env: [TOKEN_A, TOKEN_B] }}
  jwt: {{ issuer: "{issuer}", jwks: ./jwks.json }}
plugins:
  - {{use: "builtin:cache", ttl: 10m}}
  - {{use: "builtin:audit", path: logs/audit.jsonl}}
tools:
  - id: nonce
    description: A fresh number each run.
    execute: ./tools/nonce.ts
    annotations: {{readOnlyHint: true}}
"#,
        issuer = crate::mcp_auth::ISSUER,
    );
    let p = Fixture::with(&[
        ("compozy.yaml", &config),
        ("jwks.json", &crate::mcp_auth::jwks(&["k1"])),
        (
            "tools/nonce.ts",
            "export default () => ({ n: Math.random() });\n",
        ),
    ]);
    p.run(&["gen"]).expect_code(0);
    let run = p.path("xdg-run");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
    let server = crate::mcp::HttpServer::start_at(
        &p,
        runtime,
        &format!("127.0.0.1:{port}"),
        &["--workers", "1", "--no-listen"],
        &[
            ("TOKEN_A", "token-of-caller-a"),
            ("TOKEN_B", "token-of-caller-b"),
            ("XDG_RUNTIME_DIR", run.to_str().unwrap()),
        ],
    );
    let steps = json!([
        {"op": "call", "name": "nonce"},
        {"op": "call", "name": "nonce"},
    ]);
    let as_caller = |token: &str| {
        let args: Vec<String> = ["--era", "modern", "--token", token, "--url", &server.url]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let report = crate::mcp::run_client(&p, &args, &steps);
        let n = |i: usize| report["results"][i]["structuredContent"]["n"].clone();
        assert!(n(0).is_number(), "{report:#}");
        (n(0), n(1))
    };
    let (a1, a2) = as_caller("token-of-caller-a");
    assert_eq!(a1, a2, "the same caller's second call is a cache hit");
    let (b1, b2) = as_caller("token-of-caller-b");
    assert_eq!(b1, b2, "the same caller's second call is a cache hit");
    assert_ne!(a1, b1, "caller B got caller A's cached answer");
    // JWTs: the subject (and the client) is the caller, whichever token it holds.
    let token = |claims: Value| crate::mcp_auth::jwt("k1", &resource, claims);
    let (alice, alice_again) = as_caller(&token(json!({"sub": "alice"})));
    assert_eq!(alice, alice_again);
    let (alice_later, _) = as_caller(&token(json!({"sub": "alice", "jti": "another token"})));
    assert_eq!(
        alice_later, alice,
        "the same subject with a new token is the same caller"
    );
    let (bob, _) = as_caller(&token(json!({"sub": "bob"})));
    let (alice_app, _) = as_caller(&token(json!({"sub": "alice", "client_id": "app"})));
    for other in [&a1, &b1, &bob, &alice_app] {
        assert_ne!(&alice, other, "alice shared an answer with another caller");
    }
    // Tokens that name nobody are each a caller of their own.
    let (anon1, anon1_again) = as_caller(&token(json!({"sub": null, "jti": "one"})));
    assert_eq!(anon1, anon1_again, "the same token is the same caller");
    let (anon2, _) = as_caller(&token(json!({"sub": null, "jti": "two"})));
    assert_ne!(anon1, anon2, "two tokens that name nobody shared an answer");
    let callers: Vec<String> = audit(&p)
        .iter()
        .map(|l| l["caller"].as_str().unwrap_or("null").to_owned())
        .collect();
    assert_eq!(
        callers[..12],
        [
            "token:TOKEN_A",
            "token:TOKEN_A",
            "token:TOKEN_B",
            "token:TOKEN_B",
            "sub:alice",
            "sub:alice",
            "sub:alice",
            "sub:alice",
            "sub:bob",
            "sub:bob",
            "sub:alice client:app",
            "sub:alice client:app",
        ]
    );
    let anonymous: Vec<&String> = callers[12..].iter().collect();
    assert_eq!(anonymous.len(), 4, "{callers:?}");
    assert!(
        anonymous.iter().all(|c| c.starts_with("jwt:")),
        "{callers:?}"
    );
    assert_eq!(anonymous[0], anonymous[1], "{callers:?}");
    assert_ne!(anonymous[0], anonymous[2], "{callers:?}");
}

/// The local user as a caller (`user:NAME`).
fn local_user() -> String {
    nix::unistd::User::from_uid(nix::unistd::geteuid())
        .ok()
        .flatten()
        .map_or_else(
            || format!("uid:{}", nix::unistd::geteuid()),
            |u| format!("user:{}", u.name),
        )
}

fn exec_posts_its_spans_before_it_exits(runtime: &str) {
    let (port, spans) = crate::plugins::otlp_receiver();
    let p = Fixture::with(&[
        (
            "compozy.yaml",
            &format!(
                "plugins:\n  - {{use: \"builtin:trace\", endpoint: \"http://127.0.0.1:{port}\"}}\ntools:\n  - id: ok\n    description: d\n    execute: ./t.ts\n"
            ),
        ),
        ("t.ts", "export default () => 1;\n"),
    ]);
    p.run(&["gen"]).expect_code(0);
    let run = p.path("xdg-run");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o700)).unwrap();
    exec(&p, &run, runtime, "ok", &json!({})).expect_code(0);
    // Posted before `exec` ended: waiting is not needed, but a loaded machine is allowed.
    let (path, body) = spans
        .recv_timeout(Duration::from_secs(5))
        .expect("spans posted by exec");
    assert_eq!(path, "/v1/traces");
    let spans = &body["resourceSpans"][0]["scopeSpans"][0]["spans"];
    assert_eq!(spans[0]["name"], "execute_tool ok", "{spans:#}");
    assert_eq!(spans[1]["parentSpanId"], spans[0]["spanId"], "{spans:#}");
    let user = json!({"key": "enduser.id", "value": {"stringValue": local_user()}});
    assert!(
        spans[0]["attributes"]
            .as_array()
            .is_some_and(|a| a.contains(&user)),
        "{spans:#}"
    );
}

macro_rules! on_both_runtimes {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn bun() {
                    super::$name("bun")
                }
                #[test]
                fn node() {
                    super::$name("node")
                }
            }
        )*
    };
}

on_both_runtimes!(
    exec_keeps_one_rate_limit_one_cache_and_one_audit_log,
    a_server_and_one_shot_exec_share_one_rate_limit,
    exec_retries_infrastructure_failures_on_a_fresh_process,
    exec_concurrency_cap_holds_across_processes_and_ctrl_c_leaves_the_queue,
    forwarded_exec_cancelled_while_queued_never_starts,
    forwarded_exec_is_audited_as_exec_reports_it,
    mcp_cancelled_while_queued_never_starts,
    serve_cancel_line_stops_a_queued_and_a_running_call,
    http_callers_never_share_a_cache_entry,
    exec_posts_its_spans_before_it_exits,
);

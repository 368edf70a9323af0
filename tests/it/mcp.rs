//! `compozy mcp` end to end: the official MCP TypeScript SDK client (`tests/mcp/client.mjs`, run
//! on the pinned Node) against the real binary over stdio and Streamable HTTP, with tools on the
//! real Bun and Node.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{Fixture, alive, runtime_bin, signal};

const CONFIG: &str = r#"
runtime:
  timeout: 20s
tools:
  - id: echo
    description: Echo a text with its length
    execute: ./tools/echo.ts
    input:
      type: object
      properties: { text: { type: string } }
      required: [text]
      additionalProperties: false
    output:
      type: object
      properties: { echoed: { type: string }, length: { type: number } }
      required: [echoed, length]
  - id: greet
    description: Greets someone
    execute: ./tools/greet.ts
    input: { type: object, properties: { name: { type: string } }, required: [name] }
    with: { name: world }
  - id: fail
    description: Always throws
    execute: ./tools/fail.ts
  - id: slow
    description: Waits past its deadline
    execute: ./tools/slow.ts
    timeout: 400ms
  - id: progress
    description: Reports progress
    execute: ./tools/progress.ts
  - id: noisy
    description: Writes to stdout and stderr every way it can
    execute: ./tools/noisy.ts
  - id: spawner
    description: Starts a child process and waits to be cancelled
    execute: ./tools/spawner.ts
  - id: wait
    description: Waits, then answers with its tag
    execute: ./tools/wait.ts
  - id: bad_output
    description: Breaks its output schema
    execute: ./tools/bad_output.ts
    output: { type: object, properties: { n: { type: number } }, required: [n] }
  - id: count
    description: Returns a number
    execute: ./tools/count.ts
"#;

fn project() -> Fixture {
    Fixture::with(&[
        ("compozy.yaml", CONFIG),
        (
            "tools/echo.ts",
            "export function run(i: { text: string }) {\n  return { echoed: i.text, length: i.text.length };\n}\n",
        ),
        (
            "tools/greet.ts",
            "export function run(i: { name: string }) {\n  return `hello ${i.name}`;\n}\n",
        ),
        (
            "tools/fail.ts",
            "export function run() {\n  throw new TypeError(\"boom\");\n}\n",
        ),
        (
            "tools/slow.ts",
            "export function run() {\n  return new Promise(() => {});\n}\n",
        ),
        (
            "tools/progress.ts",
            "export async function run(_i: unknown, _c: unknown, ctx: { progress(p: number, t?: number, m?: string): void }) {\n  for (let k = 1; k <= 3; k++) {\n    ctx.progress(k, 3, `step ${k}`);\n    await new Promise((r) => setTimeout(r, 10));\n  }\n  // The SDK client drops a progress report that arrives in the same read as the answer\n  // (it handles notifications a turn later): leave it time to read them first, even under load.\n  await new Promise((r) => setTimeout(r, 150));\n  return \"did 3 steps\";\n}\n",
        ),
        (
            "tools/noisy.ts",
            "import { writeSync } from \"node:fs\";\nexport async function run() {\n  console.log(\"via console.log\");\n  console.error(\"via console.error\");\n  console.info(\"via console.info\");\n  process.stdout.write(\"via process.stdout.write\\n\");\n  process.stderr.write(\"via process.stderr.write\\n\");\n  writeSync(1, \"via fs.writeSync(1)\\n\");\n  writeSync(2, \"via fs.writeSync(2)\\n\");\n  if (typeof Bun !== \"undefined\") await Bun.write(Bun.stdout, \"via Bun.write\\n\");\n  return \"quiet\";\n}\n",
        ),
        (
            "tools/spawner.ts",
            "import { spawn } from \"node:child_process\";\nimport { writeFileSync } from \"node:fs\";\nexport function run(i: { pidFile: string }) {\n  const child = spawn(\"sleep\", [\"1000\"], { stdio: \"ignore\" });\n  writeFileSync(i.pidFile, `${process.pid} ${child.pid}\\n`);\n  return new Promise(() => {});\n}\n",
        ),
        (
            "tools/wait.ts",
            "export async function run(i: { ms: number; tag: string }) {\n  await new Promise((r) => setTimeout(r, i.ms));\n  return { tag: i.tag, pid: process.pid };\n}\n",
        ),
        (
            "tools/bad_output.ts",
            "export function run() {\n  return { n: \"not a number\" };\n}\n",
        ),
        (
            "tools/count.ts",
            "export function run() {\n  return 42;\n}\n",
        ),
    ])
}

/// Runs the client script with `steps` against `compozy mcp ARGS` over stdio, in `era`.
pub(crate) fn over_stdio(
    p: &Fixture,
    runtime: &str,
    era: &str,
    mcp_args: &[&str],
    steps: &Value,
) -> Value {
    let compozy = env!("CARGO_BIN_EXE_compozy");
    let mut args: Vec<String> = vec!["--era".into(), era.into(), "--stdio".into(), compozy.into()];
    args.extend(
        [
            "mcp",
            "--project",
            &p.root().display().to_string(),
            "--runtime",
            runtime,
        ]
        .iter()
        .map(|s| (*s).to_owned()),
    );
    args.extend(mcp_args.iter().map(|s| (*s).to_owned()));
    run_client(p, &args, steps)
}

/// Runs the client script with `steps` against a server at `url`, in `era`.
pub(crate) fn over_http(p: &Fixture, url: &str, era: &str, steps: &Value) -> Value {
    let args: Vec<String> = vec!["--era".into(), era.into(), "--url".into(), url.into()];
    run_client(p, &args, steps)
}

fn client_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp/client.mjs")
}

pub(crate) fn run_client(p: &Fixture, args: &[String], steps: &Value) -> Value {
    run_client_env(p, args, &[], steps)
}

/// [`run_client`] with variables set for the client (and a server it starts over stdio).
pub(crate) fn run_client_env(
    p: &Fixture,
    args: &[String],
    env: &[(&str, &str)],
    steps: &Value,
) -> Value {
    let mut cmd = Command::new(runtime_bin("node"));
    cmd.arg(client_script());
    drive_client(cmd, p, args, env, steps)
}

/// The official Python client (`tests/python/client.py`, the same steps and report as the
/// TypeScript one) run with `args` and `env`.
pub(crate) fn run_py_client_env(
    p: &Fixture,
    args: &[String],
    env: &[(&str, &str)],
    steps: &Value,
) -> Value {
    let mut cmd = Command::new(crate::common::python_client());
    cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/client.py"));
    drive_client(cmd, p, args, env, steps)
}

/// Runs a client script: `steps` on its stdin, its report (the last line of its stdout) back,
/// with its stderr under `stderr`.
fn drive_client(
    mut cmd: Command,
    p: &Fixture,
    args: &[String],
    env: &[(&str, &str)],
    steps: &Value,
) -> Value {
    let node = runtime_bin("node");
    let bin_dir = node.parent().expect("node_modules/.bin").to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = cmd
        .args(args)
        .current_dir(p.root())
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the MCP client");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(steps.to_string().as_bytes())
        .expect("send the steps");
    let out = wait_output(child, Duration::from_secs(90));
    assert!(
        out.status.success(),
        "the MCP client failed ({})\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    let mut report: Value = serde_json::from_str(line)
        .unwrap_or_else(|e| panic!("the client printed no report ({e}):\n{stdout}"));
    report["stderr"] = json!(String::from_utf8_lossy(&out.stderr));
    report
}

/// Waits for `child` with a deadline: a hung server must not hang the suite.
fn wait_output(child: Child, limit: Duration) -> std::process::Output {
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("wait for the client"),
        Err(_) => {
            signal(pid, nix::sys::signal::Signal::SIGKILL);
            panic!("the MCP client did not finish within {limit:?}");
        }
    }
}

pub(crate) fn text(result: &Value) -> &str {
    result["content"][0]["text"].as_str().unwrap_or_default()
}

fn lists_tools_with_their_schemas(runtime: &str) {
    let p = project();
    let report = over_stdio(&p, runtime, "legacy", &[], &json!([{"op": "list"}]));
    assert_eq!(report["version"], "2025-11-25");
    assert_eq!(report["server"]["name"], "compozy");
    let tools = report["results"][0]["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "bad_output",
            "count",
            "echo",
            "fail",
            "greet",
            "noisy",
            "progress",
            "slow",
            "spawner",
            "wait"
        ]
    );
    let echo = &tools[2];
    assert_eq!(echo["description"], "Echo a text with its length");
    assert_eq!(
        echo["inputSchema"],
        json!({"type": "object", "properties": {"text": {"type": "string"}},
               "required": ["text"], "additionalProperties": false})
    );
    assert_eq!(
        echo["outputSchema"]["required"],
        json!(["echoed", "length"])
    );
    // No `input:`: an object schema all the same.
    assert_eq!(tools[3]["inputSchema"], json!({"type": "object"}));
    assert!(tools[3].get("outputSchema").is_none());
}

/// An enum miss names every allowed value and the closest one, in the same words in `exec`,
/// `serve` and `mcp` (where a model needs them to correct its call).
#[test]
fn enum_errors_name_the_allowed_values_in_exec_serve_and_mcp() {
    let p = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: calc\n    execute: ./calc.ts\n    input:\n      type: object\n      \
             properties: { op: { enum: [add, sub, mul, div] } }\n",
        ),
        ("calc.ts", "export function run() {\n  return 1;\n}\n"),
    ]);
    let expected = r#"/op: "ad" is not one of "add", "sub", "mul" or "div" (did you mean "add"?)"#;
    let out = p
        .compozy(&["exec", "calc", "--input", r#"{"op": "ad"}"#])
        .env("COMPOZY_BUN", runtime_bin("bun"))
        .output()
        .expect("run compozy");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    // The message is wrapped to the terminal's width.
    let unwrapped = stderr.replace('│', " ");
    let unwrapped = unwrapped.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(unwrapped.contains(expected), "exec: {stderr}");

    let mut serve = crate::serving::Serve::start(&p, "bun", 1, &[]);
    let answer = serve.call(&json!({"id": 1, "tool_id": "calc", "input": {"op": "ad"}}));
    let message = answer["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(expected), "serve: {answer}");
    serve.close_stdin();
    assert_eq!(serve.wait(Duration::from_secs(10)), 0);

    let steps = json!([{"op": "call", "name": "calc", "args": {"op": "ad"}}]);
    let report = over_stdio(&p, "bun", "legacy", &[], &steps);
    let result = &report["results"][0];
    assert_eq!(result["isError"], true, "{report}");
    assert!(text(result).contains(expected), "mcp: {report}");
}

/// The schema a client sees says what a caller must send: `with:` supplies `name`, so it is not
/// required, and its `with:` value is its default. In both protocol eras.
#[test]
fn with_defaults_are_not_required_of_the_caller() {
    let p = project();
    for era in ["legacy", "modern"] {
        let report = over_stdio(&p, "bun", era, &[], &json!([{"op": "list"}]));
        let tools = report["results"][0]["tools"].as_array().unwrap();
        let greet = tools.iter().find(|t| t["name"] == "greet").unwrap();
        assert_eq!(
            greet["inputSchema"],
            json!({"type": "object",
                   "properties": {"name": {"type": "string", "default": "world"}}}),
            "era {era}"
        );
    }
}

fn calls_map_results_and_errors(runtime: &str) {
    let p = project();
    let steps = json!([
        {"op": "list"},
        {"op": "call", "name": "echo", "args": {"text": "héllo"}},
        {"op": "call", "name": "greet"},
        {"op": "call", "name": "echo", "args": {"text": 42}},
        {"op": "call", "name": "fail"},
        {"op": "call", "name": "slow"},
        {"op": "call", "name": "bad_output"},
        {"op": "call", "name": "count"},
        {"op": "call", "name": "ecoh", "args": {}},
    ]);
    for era in ["legacy", "modern"] {
        let report = over_stdio(&p, runtime, era, &[], &steps);
        let r = &report["results"];
        let context = format!("era {era}: {report:#}");
        // A structured result, and the same JSON as text.
        assert_eq!(r[1]["isError"], false, "{context}");
        assert_eq!(
            r[1]["structuredContent"],
            json!({"echoed": "héllo", "length": 5}),
            "{context}"
        );
        assert_eq!(
            serde_json::from_str::<Value>(text(&r[1])).unwrap(),
            json!({"echoed": "héllo", "length": 5})
        );
        // `with:` defaults merged; a string is one text block.
        assert_eq!(
            r[2]["content"],
            json!([{"type": "text", "text": "hello world"}]),
            "{context}"
        );
        assert_eq!(r[2]["structuredContent"], Value::Null, "{context}");
        // Invalid input: isError naming the field, not a JSON-RPC error.
        assert_eq!(r[3]["isError"], true, "{context}");
        assert!(
            text(&r[3]).contains("/text") && text(&r[3]).contains("string"),
            "{context}"
        );
        // A throw: the error's name and message.
        assert_eq!(r[4]["isError"], true, "{context}");
        assert_eq!(text(&r[4]), "TypeError: boom", "{context}");
        // A timeout says after how long.
        assert_eq!(r[5]["isError"], true, "{context}");
        assert!(
            text(&r[5]).starts_with("TimeoutError: tool `slow` did not finish within 400ms"),
            "{context}"
        );
        // An MCP client can set neither exec's --timeout nor serve's timeout_ms.
        assert!(
            text(&r[5]).contains("raise the tool's `timeout:`")
                && !text(&r[5]).contains("--timeout")
                && !text(&r[5]).contains("timeout_ms"),
            "{context}"
        );
        // An output-schema break.
        assert_eq!(r[6]["isError"], true, "{context}");
        assert!(text(&r[6]).contains("InvalidOutputError"), "{context}");
        // A number: text in both eras, structured where the era allows it.
        assert_eq!(text(&r[7]), "42", "{context}");
        let structured = if era == "modern" {
            json!(42)
        } else {
            Value::Null
        };
        assert_eq!(r[7]["structuredContent"], structured, "{context}");
        // An unknown tool is a JSON-RPC error -32602 with the closest id.
        assert_eq!(r[8]["thrown"]["code"], -32602, "{context}");
        assert!(
            r[8]["thrown"]["message"]
                .as_str()
                .unwrap()
                .contains("did you mean `echo`?"),
            "{context}"
        );
        assert_eq!(
            report["era"],
            if era == "modern" { "modern" } else { "legacy" }
        );
    }
}

fn stdout_carries_only_the_protocol(runtime: &str) {
    let p = project();
    let steps = json!([
        {"op": "call", "name": "noisy"},
        {"op": "call", "name": "echo", "args": {"text": "after"}},
    ]);
    let report = over_stdio(&p, runtime, "legacy", &[], &steps);
    let r = &report["results"];
    assert_eq!(text(&r[0]), "quiet", "{report:#}");
    assert_eq!(r[1]["structuredContent"]["echoed"], "after", "{report:#}");
    assert_eq!(
        report["errors"],
        json!([]),
        "the client saw a broken stream: {report:#}"
    );
    // Each line became a log notification of the call, with the tool id as logger.
    let logs: Vec<&str> = r[0]["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            assert_eq!(l["level"], "info");
            assert_eq!(l["logger"], "noisy");
            l["data"].as_str().unwrap()
        })
        .collect();
    let mut expected = vec![
        "via console.log",
        "via console.error",
        "via console.info",
        "via process.stdout.write",
        "via process.stderr.write",
        "via fs.writeSync(1)",
        "via fs.writeSync(2)",
    ];
    if runtime == "bun" {
        expected.push("via Bun.write");
    }
    let mut sorted = logs.clone();
    sorted.sort_unstable();
    expected.sort_unstable();
    assert_eq!(sorted, expected, "{report:#}");
    // They also go to compozy's stderr.
    assert!(
        report["stderr"]
            .as_str()
            .unwrap()
            .contains("via fs.writeSync(1)")
    );
}

fn log_level_filters_notifications(runtime: &str) {
    let p = project();
    let steps = json!([
        {"op": "setLevel", "level": "warning"},
        {"op": "call", "name": "noisy"},
        {"op": "setLevel", "level": "debug"},
        {"op": "call", "name": "noisy"},
    ]);
    let report = over_stdio(&p, runtime, "legacy", &[], &steps);
    let r = &report["results"];
    assert_eq!(r[1]["logs"], json!([]), "{report:#}");
    assert!(r[3]["logs"].as_array().unwrap().len() >= 7, "{report:#}");
    // The 2026 era carries the level on each request.
    let steps = json!([
        {"op": "call", "name": "noisy", "logLevel": "error"},
        {"op": "call", "name": "noisy", "logLevel": "info"},
    ]);
    let report = over_stdio(&p, runtime, "modern", &[], &steps);
    let r = &report["results"];
    assert_eq!(r[0]["logs"], json!([]), "{report:#}");
    assert!(r[1]["logs"].as_array().unwrap().len() >= 7, "{report:#}");
}

fn progress_reaches_the_caller(runtime: &str) {
    let p = project();
    let steps = json!([
        {"op": "call", "name": "progress", "progress": true},
        {"op": "call", "name": "progress"},
    ]);
    for era in ["legacy", "modern"] {
        let report = over_stdio(&p, runtime, era, &[], &steps);
        let r = &report["results"];
        assert_eq!(text(&r[0]), "did 3 steps", "{report:#}");
        assert_eq!(
            r[0]["progress"],
            json!([
                {"progress": 1, "total": 3, "message": "step 1"},
                {"progress": 2, "total": 3, "message": "step 2"},
                {"progress": 3, "total": 3, "message": "step 3"}
            ]),
            "era {era}: {report:#}"
        );
        // Without a progress token, ctx.progress does nothing.
        assert_eq!(text(&r[1]), "did 3 steps");
        assert_eq!(r[1]["progress"], json!([]));
    }
}

fn concurrent_calls_match_their_requests(runtime: &str) {
    let p = project();
    let calls: Vec<Value> = (0..6)
        .map(|k| json!({"op": "call", "name": "wait", "args": {"ms": 300 - 40 * k, "tag": format!("t{k}")}}))
        .collect();
    let started = Instant::now();
    let report = over_stdio(
        &p,
        runtime,
        "legacy",
        &["--workers", "3"],
        &json!([{"op": "calls", "calls": calls}]),
    );
    let results = report["results"][0]["results"].as_array().unwrap();
    let mut pids = std::collections::BTreeSet::new();
    for (k, r) in results.iter().enumerate() {
        assert_eq!(r["structuredContent"]["tag"], format!("t{k}"), "{report:#}");
        pids.insert(r["structuredContent"]["pid"].as_i64().unwrap());
    }
    // They ran in parallel across the workers (and queued beyond them).
    assert!(pids.len() >= 2, "all calls ran on one worker: {report:#}");
    assert!(started.elapsed() < Duration::from_secs(60));
}

fn cancel_kills_the_tool_and_its_children(runtime: &str) {
    let p = project();
    for era in ["legacy", "modern"] {
        let pid_file = p.path(&format!("pids-{era}.txt"));
        let steps = json!([
            {"op": "cancel", "name": "spawner", "args": {"pidFile": pid_file}, "pidFile": pid_file},
            {"op": "call", "name": "echo", "args": {"text": "still serving"}},
        ]);
        let report = over_stdio(&p, runtime, era, &["--workers", "1"], &steps);
        let r = &report["results"];
        let pids: Vec<i64> = serde_json::from_value(r[0]["pids"].clone())
            .unwrap_or_else(|_| panic!("the tool never wrote its pids: {report:#}"));
        assert_eq!(pids.len(), 2, "{report:#}");
        assert_eq!(r[0]["aliveBefore"], json!([true, true]), "{report:#}");
        assert_eq!(r[0]["aliveAfter"], json!([false, false]), "{report:#}");
        assert!(
            r[0]["settled"].as_str().unwrap().starts_with("rejected"),
            "{report:#}"
        );
        for pid in pids {
            assert!(!alive(pid), "pid {pid} outlived the cancel");
        }
        // The worker was replaced and the server keeps serving.
        assert_eq!(
            r[1]["structuredContent"]["echoed"], "still serving",
            "{report:#}"
        );
    }
}

/// `compozy mcp --http 127.0.0.1:0`: the server, and the URL it printed.
pub(crate) struct HttpServer {
    child: Child,
    pub(crate) url: String,
    /// Every line it wrote on stderr so far.
    pub(crate) stderr: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl HttpServer {
    pub(crate) fn start(p: &Fixture, runtime: &str, extra: &[&str]) -> Self {
        Self::start_at(p, runtime, "127.0.0.1:0", extra, &[])
    }

    /// `compozy mcp --http ADDR EXTRA…` with `env` set.
    pub(crate) fn start_at(
        p: &Fixture,
        runtime: &str,
        addr: &str,
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let mut child = p
            .compozy(&["mcp", "--runtime", runtime, "--http", addr])
            .args(extra)
            .envs(env.iter().copied())
            .env("PATH", path_with_runtimes())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start compozy mcp --http");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = std::sync::Arc::clone(&lines);
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[mcp] {line}");
                kept.lock().unwrap().push(line.clone());
                if let Some(url) = line.strip_prefix("compozy: MCP over HTTP at ")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(url.to_owned());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("compozy mcp --http printed no URL");
        Self {
            child,
            url,
            stderr: lines,
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn path_with_runtimes() -> String {
    let bin = runtime_bin("node");
    format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

fn http_serves_both_eras(runtime: &str) {
    let p = project();
    let server = HttpServer::start(&p, runtime, &["--workers", "2"]);
    let steps = json!([
        {"op": "list"},
        {"op": "call", "name": "echo", "args": {"text": "over http"}},
        {"op": "call", "name": "fail"},
        {"op": "call", "name": "progress", "progress": true},
        {"op": "call", "name": "noisy"},
    ]);
    for era in ["legacy", "modern"] {
        let report = over_http(&p, &server.url, era, &steps);
        let r = &report["results"];
        assert_eq!(r[0]["tools"].as_array().unwrap().len(), 10, "{report:#}");
        assert_eq!(
            r[1]["structuredContent"]["echoed"], "over http",
            "{report:#}"
        );
        assert_eq!(text(&r[2]), "TypeError: boom", "{report:#}");
        assert_eq!(
            r[3]["progress"].as_array().unwrap().len(),
            3,
            "era {era}: {report:#}"
        );
        assert!(
            r[4]["logs"].as_array().unwrap().len() >= 7,
            "era {era}: {report:#}"
        );
    }
    // A cancel in the 2026 era over HTTP is the client closing its request.
    let pid_file = p.path("pids-http.txt");
    let steps = json!([
        {"op": "cancel", "name": "spawner", "args": {"pidFile": pid_file}, "pidFile": pid_file},
    ]);
    let report = over_http(&p, &server.url, "modern", &steps);
    assert_eq!(
        report["results"][0]["aliveBefore"],
        json!([true, true]),
        "{report:#}"
    );
    assert_eq!(
        report["results"][0]["aliveAfter"],
        json!([false, false]),
        "{report:#}"
    );
    // A documented way to cancel is no error: nothing on stderr says so.
    std::thread::sleep(Duration::from_millis(500));
    let stderr = server.stderr.lock().unwrap().join("\n");
    assert!(!stderr.contains("ERROR"), "{stderr}");
}

/// A raw POST to the HTTP server; returns the status line's code and the body.
pub(crate) fn post(url: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = std::net::TcpStream::connect(authority).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    let mut has_host = false;
    for (name, value) in headers {
        has_host |= name.eq_ignore_ascii_case("host");
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !has_host {
        request.push_str(&format!("Host: {authority}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    let _ = std::io::Read::read_to_string(&mut stream, &mut response);
    let code = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, response)
}

fn http_checks_host_and_origin(runtime: &str) {
    let p = project();
    let server = HttpServer::start(&p, runtime, &["--workers", "1"]);
    let ping = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let (code, body) = post(&server.url, &[], ping);
    assert_eq!(code, 200, "{body}");
    let (code, body) = post(&server.url, &[("Host", "evil.example:80")], ping);
    assert_eq!(code, 403, "{body}");
    let (code, body) = post(&server.url, &[("Origin", "https://evil.example")], ping);
    assert_eq!(code, 403, "{body}");
    let (code, body) = post(&server.url, &[("Origin", "http://localhost:3000")], ping);
    assert_eq!(code, 200, "{body}");
    let elsewhere = server.url.replace("/mcp", "/other");
    let (code, body) = post(&elsewhere, &[], ping);
    assert_eq!(code, 404, "{body}");
}

/// A raw stdio session: the lines written, and what came back.
fn raw_stdio(
    p: &Fixture,
    runtime: &str,
    env: &[(&str, &str)],
    lines: &[String],
) -> (Vec<Value>, String) {
    let mut cmd = p.compozy(&["mcp", "--runtime", runtime, "--workers", "1"]);
    cmd.env("PATH", path_with_runtimes())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("start compozy mcp");
    let mut stdin = child.stdin.take().expect("stdin");
    for line in lines {
        stdin.write_all(line.as_bytes()).expect("write");
        stdin.write_all(b"\n").expect("write");
    }
    drop(stdin);
    let out = wait_output(child, Duration::from_secs(60));
    assert!(out.status.success(), "compozy mcp failed: {out:?}");
    let stdout = String::from_utf8(out.stdout).expect("UTF-8 stdout");
    let answers = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON-RPC ({e}): {l}")))
        .collect();
    (answers, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn by_id(answers: &[Value], id: i64) -> &Value {
    answers
        .iter()
        .find(|a| a["id"] == id)
        .unwrap_or_else(|| panic!("no answer for id {id}: {answers:#?}"))
}

fn bad_input_gets_json_rpc_errors(runtime: &str) {
    let p = project();
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;
    let big = format!(
        r#"{{"jsonrpc":"2.0","method":"tools/call","params":{{"name":"echo","arguments":{{"text":"{}"}}}},"id":6}}"#,
        "x".repeat(5000)
    );
    let lines = vec![
        // A request before initialize (2025 era): refused, and the server waits on.
        r#"{"jsonrpc":"2.0","id":0,"method":"tools/list"}"#.to_owned(),
        init.to_owned(),
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_owned(),
        "this is not json".to_owned(),
        r#"{"jsonrpc":"2.0","id":3,"method":"no/such/method"}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"arguments":{}}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"nope"}}"#.to_owned(),
        big,
        r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"ok"}}}"#.to_owned(),
    ];
    let (answers, stderr) = raw_stdio(
        &p,
        runtime,
        &[("COMPOZY_MAX_REQUEST_BYTES", "4096")],
        &lines,
    );
    let context = format!("{answers:#?}\n{stderr}");
    assert_eq!(by_id(&answers, 0)["error"]["code"], -32602, "{context}");
    // It says what a client of either era sends first, not only the 2026 era's `_meta`.
    let early = by_id(&answers, 0)["error"]["message"].as_str().unwrap();
    assert!(
        early.starts_with("`tools/list` before `initialize`")
            && early.contains("io.modelcontextprotocol/protocolVersion"),
        "{context}"
    );
    assert_eq!(
        by_id(&answers, 1)["result"]["protocolVersion"],
        "2025-06-18",
        "{context}"
    );
    assert_eq!(by_id(&answers, 3)["error"]["code"], -32601, "{context}");
    assert_eq!(by_id(&answers, 4)["error"]["code"], -32602, "{context}");
    assert_eq!(by_id(&answers, 5)["error"]["code"], -32602, "{context}");
    let too_large = &by_id(&answers, 6)["error"];
    assert_eq!(too_large["code"], -32600, "{context}");
    assert!(
        too_large["message"]
            .as_str()
            .unwrap()
            .contains("limit of 4096"),
        "{context}"
    );
    assert_eq!(
        by_id(&answers, 7)["result"]["structuredContent"]["echoed"],
        "ok",
        "{context}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn exits_on_eof_and_signals_leaving_no_process(runtime: &str) {
    let p = project();
    // SIGTERM while a tool and its child run: exit 130, nothing left behind.
    let mut child = p
        .compozy(&["mcp", "--runtime", runtime, "--workers", "1"])
        .env("PATH", path_with_runtimes())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start compozy mcp");
    let pid_file = p.path("pids-signal.txt");
    let mut stdin = child.stdin.take().unwrap();
    let lines = [
        r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#.to_owned(),
        json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"spawner","arguments":{"pidFile": pid_file}}}).to_string(),
    ];
    for line in &lines {
        writeln!(stdin, "{line}").unwrap();
    }
    let started = Instant::now();
    let pids = loop {
        if let Ok(text) = std::fs::read_to_string(&pid_file)
            && text.ends_with('\n')
        {
            break text
                .split_whitespace()
                .map(|s| s.parse::<i64>().unwrap())
                .collect::<Vec<_>>();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the tool never started"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    for &pid in &pids {
        assert!(alive(pid), "pid {pid} is not running before the signal");
    }
    signal(child.id(), nix::sys::signal::Signal::SIGTERM);
    let out = wait_output(child, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(130), "{out:?}");
    // The kill is sent before compozy exits; the kernel may take a moment to reap.
    for &pid in &pids {
        assert!(
            crate::common::gone_within(pid, Duration::from_secs(2)),
            "pid {pid} outlived compozy mcp"
        );
    }
    // stdin EOF: exit 0.
    let (answers, _) = raw_stdio(&p, runtime, &[], &lines[..2]);
    assert_eq!(answers.len(), 1);
}

fn watch_reloads_and_announces_new_tools(runtime: &str) {
    let p = project();
    let steps = json!([
        {"op": "call", "name": "greet"},
        {"op": "write", "path": p.path("tools/greet.ts"), "text": "export function run(i: { name: string }) {\n  return `hi ${i.name}`;\n}\n"},
        {"op": "sleep", "ms": 800},
        {"op": "call", "name": "greet"},
        {"op": "write", "path": p.path("tools/added.yaml"), "text": "id: added\ndescription: New\nexecute: ./greet.ts\n"},
        {"op": "waitListChanged", "name": "added", "ms": 10000},
        {"op": "call", "name": "added", "args": {"name": "new tool"}},
    ]);
    // tools/added.yaml points at ./greet.ts next to it.
    for era in ["legacy", "modern"] {
        p.write(
            "tools/greet.ts",
            "export function run(i: { name: string }) {\n  return `hello ${i.name}`;\n}\n",
        );
        let _ = std::fs::remove_file(p.path("tools/added.yaml"));
        let report = over_stdio(&p, runtime, era, &["--watch", "--workers", "1"], &steps);
        let r = &report["results"];
        assert_eq!(text(&r[0]), "hello world", "{report:#}");
        assert_eq!(
            text(&r[3]),
            "hi world",
            "era {era}: the edit did not reach the worker: {report:#}"
        );
        let changed = r[5]["changed"].as_array().unwrap();
        assert!(
            changed
                .iter()
                .any(|c| c.as_array().is_some_and(|n| n.contains(&json!("added")))),
            "era {era}: no list_changed announced the new tool: {report:#}"
        );
        assert_eq!(text(&r[6]), "hi new tool", "{report:#}");
    }
}

/// A PNG small enough to go inline (the bytes only need to round-trip).
pub(crate) const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\nnot really an image, but bytes that must round-trip";

pub(crate) fn metadata_project() -> Fixture {
    let p = Fixture::with(&[
        (
            "compozy.yaml",
            r#"
tools:
  - id: files.read
    title: Read a file
    description: Reads a file
    execute: ./tools/read.ts
    annotations: { readOnlyHint: true, openWorldHint: false }
    icons:
      - { src: ./icons/read.png, sizes: [48x48] }
      - { src: "https://example.com/read.svg", mimeType: image/svg+xml, sizes: [any], theme: dark }
  - id: delete_file
    description: Deletes a file
    execute: ./tools/read.ts
    annotations: { readOnlyHint: true }
  - id: plain
    description: Nothing said
    execute: ./tools/read.ts
"#,
        ),
        (
            "tools/read.ts",
            "export function run() {\n  return \"ok\";\n}\n",
        ),
    ]);
    std::fs::create_dir_all(p.path("icons")).unwrap();
    std::fs::write(p.path("icons/read.png"), PNG).unwrap();
    p
}

fn tools_carry_title_annotations_and_icons(runtime: &str) {
    let p = metadata_project();
    // `gen` warns about a tool whose name says it writes but which claims to be read-only.
    let gen_out = p.run(&["gen"]);
    gen_out
        .expect_code(0)
        .stderr_has(&["tool `delete_file` says `readOnlyHint: true`, but its name says it delete"]);
    assert!(
        !gen_out.stderr.contains("`files.read` says"),
        "{}",
        gen_out.stderr
    );
    let server = HttpServer::start(&p, runtime, &["--workers", "1"]);
    let over_stdio_report = over_stdio(&p, runtime, "legacy", &[], &json!([{"op": "list"}]));
    let over_http_report = over_http(&p, &server.url, "modern", &json!([{"op": "list"}]));
    for report in [over_stdio_report, over_http_report] {
        assert_tool_metadata(&report["results"][0]["tools"], "typescript client");
    }
}

/// What `metadata_project`'s `tools/list` must carry, as a client of any language sees it: the
/// title, hints and icons of `files.read` (its local icon inline as a PNG `data:` URI), and none
/// of them on `plain`.
pub(crate) fn assert_tool_metadata(tools: &Value, how: &str) {
    use base64::Engine as _;
    let tools = tools
        .as_array()
        .unwrap_or_else(|| panic!("{how}: no tools: {tools}"));
    let read = tools.iter().find(|t| t["name"] == "files.read").unwrap();
    assert_eq!(read["title"], "Read a file", "{how}: {read}");
    assert_eq!(
        read["annotations"],
        json!({"readOnlyHint": true, "openWorldHint": false}),
        "{how}: {read}"
    );
    let icons = read["icons"].as_array().unwrap();
    let src = icons[0]["src"].as_str().unwrap();
    let data = src
        .strip_prefix("data:image/png;base64,")
        .unwrap_or_else(|| panic!("{how}: not an inline PNG: {src}"));
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap(),
        PNG
    );
    assert_eq!(icons[0]["mimeType"], "image/png", "{how}");
    assert_eq!(icons[0]["sizes"], json!(["48x48"]), "{how}");
    assert_eq!(
        icons[1],
        json!({"src": "https://example.com/read.svg", "mimeType": "image/svg+xml",
               "sizes": ["any"], "theme": "dark"}),
        "{how}"
    );
    let plain = tools.iter().find(|t| t["name"] == "plain").unwrap();
    for key in ["title", "annotations", "icons"] {
        assert!(plain.get(key).is_none(), "{how}: {plain}");
    }
}

/// `inspect` shows what MCP clients are told about each tool, and the scopes a call needs.
#[test]
fn inspect_shows_tool_metadata() {
    let p = metadata_project();
    p.write(
        "compozy.yaml",
        &p.read("compozy.yaml").replace(
            "  - id: plain\n",
            "    scopes: [files:read]\n    returns: content\n  - id: plain\n",
        ),
    );
    let out = p.run(&["inspect", "--format", "json"]);
    out.expect_code(0);
    let tools = out.json()["tools"].clone();
    // In the order of their ids.
    assert_eq!(
        tools[1],
        json!({"id": "files.read", "file": "compozy.yaml", "line": 3, "module": "tools/read.ts",
               "export": "run", "title": "Read a file",
               "annotations": {"readOnlyHint": true, "openWorldHint": false},
               "icons": [{"src": "./icons/read.png", "mimeType": "image/png", "sizes": ["48x48"]},
                         {"src": "https://example.com/read.svg", "mimeType": "image/svg+xml",
                          "sizes": ["any"], "theme": "dark"}]}),
    );
    assert_eq!(tools[0]["scopes"], json!(["files:read"]));
    assert_eq!(tools[0]["returns"], "content");
    assert_eq!(tools[0]["annotations"], json!({"readOnlyHint": true}));
    assert!(tools[2].get("title").is_none() && tools[2].get("annotations").is_none());
    let out = p.run(&["inspect"]);
    out.expect_code(0);
    assert!(
        out.stdout.contains(
            "mcp: title \"Read a file\" · readOnlyHint: true, openWorldHint: false · icons \
             ./icons/read.png https://example.com/read.svg\n"
        ),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("mcp: readOnlyHint: true · scopes files:read · returns content\n"),
        "{}",
        out.stdout
    );
}

#[test]
fn tool_metadata_is_checked() {
    let p = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: a\n    execute: ./a.ts\n    annotations: { readOnlyHnt: true, destructiveHint: \"yes\" }\n    icons: [{ src: ./missing.png }, { src: ./big.png }, { src: ./a.ts }, { src: ./a.png, sizes: [big] }]\n    title: [x]\n",
        ),
        ("a.ts", "export function run() { return 1; }\n"),
        ("a.png", "png"),
    ]);
    std::fs::write(p.path("big.png"), vec![0u8; 70 * 1024]).unwrap();
    let out = p.run(&["gen"]);
    out.expect_code(2).stderr_has(&[
        "unknown key `readOnlyHnt` in `annotations:`",
        "did you mean `readOnlyHint`?",
        "`annotations.destructiveHint` must be `true` or `false`, not a string",
        "icon `./missing.png` does not exist",
        "icon `./big.png` has 71680 bytes, more than the 65536 sent inline",
        "the type of icon `./a.ts` is not known from its extension",
        "invalid icon size `big`",
        "`title` must be a string, not a list",
    ]);
}

fn heartbeats_keep_a_long_call_alive(runtime: &str) {
    let p = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: long\n    description: Runs longer than the client waits\n    execute: ./long.ts\n",
        ),
        (
            "long.ts",
            "export async function run() {\n  await new Promise((r) => setTimeout(r, 1500));\n  return \"finished\";\n}\n",
        ),
    ]);
    // The client gives up after 500 ms without progress; the tool reports none for 1.5 s.
    let steps = json!([{"op": "call", "name": "long", "progress": true, "timeoutMs": 500}]);
    let stdio_args = |era: &str| -> Vec<String> {
        [
            "--era",
            era,
            "--stdio",
            env!("CARGO_BIN_EXE_compozy"),
            "mcp",
            "--project",
            &p.root().display().to_string(),
            "--runtime",
            runtime,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    };
    let beat = [("COMPOZY_MCP_HEARTBEAT", "150ms")];
    let server = HttpServer::start_at(&p, runtime, "127.0.0.1:0", &[], &beat);
    for (how, report) in [
        (
            "stdio",
            run_client_env(&p, &stdio_args("legacy"), &beat, &steps),
        ),
        ("http", over_http(&p, &server.url, "modern", &steps)),
    ] {
        let r = &report["results"][0];
        assert_eq!(text(r), "finished", "{how}: {report:#}");
        let progress = r["progress"].as_array().unwrap();
        assert!(progress.len() >= 4, "{how}: {report:#}");
        // Each report is higher than the one before, as the protocol wants.
        let values: Vec<f64> = progress
            .iter()
            .map(|p| p["progress"].as_f64().unwrap())
            .collect();
        assert!(values.windows(2).all(|w| w[0] < w[1]), "{how}: {values:?}");
        assert!(
            progress[0]["message"]
                .as_str()
                .unwrap()
                .starts_with("still running"),
            "{how}: {report:#}"
        );
    }
    // Without heartbeats, the same client gives up.
    let report = run_client_env(
        &p,
        &stdio_args("legacy"),
        &[("COMPOZY_MCP_HEARTBEAT", "0")],
        &steps,
    );
    let thrown = &report["results"][0]["thrown"];
    assert!(
        thrown["message"]
            .as_str()
            .unwrap_or_default()
            .contains("timed out"),
        "{report:#}"
    );
}

pub(crate) const CONTENT_TOOL: &str = r#"import { content } from "./.compozy/types.ts";
const b64 = (s: string) => Buffer.from(s).toString("base64");
export function run(i: { kind: string }) {
  const blocks = [
    { type: "text", text: "a chart" },
    { type: "image", data: b64("PNG bytes!"), mimeType: "image/png" },
    { type: "audio", data: b64("WAV bytes!!"), mimeType: "audio/wav" },
    { type: "resource_link", uri: "file:///tmp/report.csv", name: "report.csv", mimeType: "text/csv" },
    { type: "resource", resource: { uri: "mem://notes", text: "some notes", mimeType: "text/plain" } },
    { type: "resource", resource: { uri: "mem://blob", blob: b64("raw!"), mimeType: "application/octet-stream" } },
  ];
  if (i.kind === "blocks") return blocks;
  if (i.kind === "helpers") {
    return (async () => [
      content.text("a chart"),
      await content.imageFile(new URL("./chart.png", import.meta.url)),
      content.audio(new TextEncoder().encode("WAV bytes!!"), "audio/wav"),
      content.resourceLink("file:///tmp/report.csv", "report.csv", { mimeType: "text/csv" }),
      content.resource("mem://notes", "some notes", "text/plain"),
      content.resource("mem://blob", new TextEncoder().encode("raw!"), "application/octet-stream"),
    ])();
  }
  if (i.kind === "mixed") return { content: blocks.slice(0, 2), structuredContent: { points: 3 } };
  return [{ type: "text", text: "fine" }, { type: "image", data: "not base64!", mimeType: "image/png" }];
}
"#;

fn content_results_round_trip(runtime: &str) {
    let p = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: media\n    description: Returns MCP content\n    execute: ./media.ts\n    returns: content\n    output: { type: object, properties: { points: { type: number } } }\n",
        ),
        ("media.ts", CONTENT_TOOL),
        ("chart.png", "PNG bytes!"),
    ]);
    // `exec` refuses the blocks without `structuredContent` in the words of the servers.
    p.exec_on(runtime, "media", &json!({"kind": "blocks"}))
        .expect_code(1)
        .stderr_has(&["is not valid MCP content", "needs `structuredContent`"]);
    let server = HttpServer::start(&p, runtime, &["--workers", "1"]);
    let steps = json!([
        {"op": "call", "name": "media", "args": {"kind": "blocks"}},
        {"op": "call", "name": "media", "args": {"kind": "mixed"}},
        {"op": "call", "name": "media", "args": {"kind": "broken"}},
    ]);
    let b64 = |s: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(s)
    };
    for report in [
        over_stdio(&p, runtime, "legacy", &[], &steps),
        over_http(&p, &server.url, "modern", &steps),
    ] {
        let r = &report["results"];
        // The blocks need `structuredContent` (the tool has an `output:` schema): refused.
        assert_eq!(r[0]["isError"], true, "{report:#}");
        assert!(
            text(&r[0]).contains("is not valid MCP content: the tool has an `output:` schema, so its result needs `structuredContent`"),
            "{report:#}"
        );
        assert_eq!(r[1]["isError"], false, "{report:#}");
        assert_eq!(
            r[1]["content"],
            json!([{"type": "text", "text": "a chart"},
                   {"type": "image", "data": b64("PNG bytes!"), "mimeType": "image/png"}]),
            "{report:#}"
        );
        assert_eq!(
            r[1]["structuredContent"],
            json!({"points": 3}),
            "{report:#}"
        );
        assert_eq!(r[2]["isError"], true, "{report:#}");
        assert!(
            text(&r[2]).starts_with("InvalidOutputError: the result of `media` is not valid MCP content: content[1] (image): `data` is not base64"),
            "{report:#}"
        );
    }
    // Every kind of block, without an output schema; and `exec` prints the same JSON.
    p.write(
        "compozy.yaml",
        "tools:\n  - id: media\n    description: Returns MCP content\n    execute: ./media.ts\n    returns: content\n",
    );
    drop(server);
    let server = HttpServer::start(&p, runtime, &["--workers", "1"]);
    let over_http_report = over_http(&p, &server.url, "modern", &steps);
    let report = over_stdio(&p, runtime, "legacy", &[], &steps);
    // Over HTTP, the same blocks.
    assert_eq!(
        over_http_report["results"][0]["content"], report["results"][0]["content"],
        "{over_http_report:#}"
    );
    let r = &report["results"];
    let content = r[0]["content"].as_array().unwrap();
    let kinds: Vec<&str> = content
        .iter()
        .map(|b| b["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "text",
            "image",
            "audio",
            "resource_link",
            "resource",
            "resource"
        ],
        "{report:#}"
    );
    assert_eq!(content[2]["data"], b64("WAV bytes!!"));
    assert_eq!(content[3]["uri"], "file:///tmp/report.csv");
    assert_eq!(content[4]["resource"]["text"], "some notes");
    assert_eq!(content[5]["resource"]["blob"], b64("raw!"));
    assert!(r[0]["structuredContent"].is_null(), "{report:#}");
    let out = p.exec_on(runtime, "media", &json!({"kind": "blocks"}));
    out.expect_code(0);
    let printed: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(&printed, &r[0]["content"]);
    // The builders of `.compozy/types.ts` make the same blocks (base64 of any length included).
    let out = p.exec_on(runtime, "media", &json!({"kind": "helpers"}));
    out.expect_code(0);
    let built: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(&built, &printed);
    // `serve` answers it as the result.
    let mut serve = crate::serving::Serve::start(&p, runtime, 1, &[]);
    let answer = serve.call(&json!({"id": 1, "tool_id": "media", "input": {"kind": "blocks"}}));
    assert_eq!(answer["result"], printed, "{answer}");
    serve.close_stdin();
    assert_eq!(serve.wait(Duration::from_secs(10)), 0);
    let out = p.exec_on(runtime, "media", &json!({"kind": "broken"}));
    out.expect_code(1)
        .stderr_has(&["is not valid MCP content", "content[1]", "is not base64"]);
}

on_both_runtimes!(
    content_results_round_trip,
    heartbeats_keep_a_long_call_alive,
    tools_carry_title_annotations_and_icons,
    lists_tools_with_their_schemas,
    calls_map_results_and_errors,
    stdout_carries_only_the_protocol,
    log_level_filters_notifications,
    progress_reaches_the_caller,
    concurrent_calls_match_their_requests,
    cancel_kills_the_tool_and_its_children,
    http_serves_both_eras,
    http_checks_host_and_origin,
    bad_input_gets_json_rpc_errors,
    exits_on_eof_and_signals_leaving_no_process,
    watch_reloads_and_announces_new_tools,
);

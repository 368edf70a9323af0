//! `compozy exec` end to end, on the real Bun and the real Node (pinned in package.json).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::{
    Fixture, Output, alive, gone_within, output_within, runtime_bin, signal, wait_within,
};

const CONFIG: &str = r#"
runtime:
  timeout: 20s
  env_passthrough: ["PASSED_*"]
  env: { FROM_RUNTIME: runtime }
tools:
  - id: echo
    execute: ./tools/echo.ts
    with: { unit: metric, city: Paris }
    config: { retries: 3 }
  - id: async_default
    execute: ./tools/async_default.mts
  - id: throws
    execute: ./tools/throws.ts
  - id: never_settles
    execute: ./tools/never.ts
    timeout: 1s
  - id: spawns_and_hangs
    execute: ./tools/spawns.ts
    timeout: 1s
  - id: noisy
    execute: ./tools/noisy.ts
  - id: big
    execute: ./tools/big.ts
  - id: interval
    execute: ./tools/interval.ts
  - id: bigint
    execute: ./tools/bigint.ts
  - id: exits
    execute: ./tools/exits.ts
  - id: typed
    execute: ./tools/typed.ts
    input:
      type: object
      properties: { x: { type: number } }
      required: [x]
    output: { type: object, required: [doubled] }
  - id: bad_output
    execute: ./tools/typed.ts
    output: { type: string }
  - id: env
    execute: ./tools/env.ts
    env: { FROM_TOOL: tool }
  - id: cwd
    execute: ./tools/cwd.ts
"#;

fn project() -> Fixture {
    Fixture::with(&[
        ("compozy.yaml", CONFIG),
        (
            "tools/echo.ts",
            "export function run(input: Record<string, unknown>, config: unknown) {\n  return { input, config };\n}\n",
        ),
        (
            "tools/async_default.mts",
            "export default async function (input: { x: number }) {\n  await new Promise((r) => setTimeout(r, 5));\n  return input.x * 2;\n}\n",
        ),
        (
            "tools/throws.ts",
            "class CustomError extends Error {\n  constructor(message: string) {\n    super(message);\n    this.name = \"CustomError\";\n  }\n}\nexport function run() {\n  throw new CustomError(\"the weather service is down\");\n}\n",
        ),
        (
            "tools/never.ts",
            "export function run() {\n  return new Promise(() => {});\n}\n",
        ),
        (
            "tools/spawns.ts",
            "import { spawn } from \"node:child_process\";\nimport { writeFileSync } from \"node:fs\";\nexport function run(input: { pidFile: string }) {\n  const child = spawn(\"sleep\", [\"1000\"], { stdio: \"ignore\" });\n  writeFileSync(input.pidFile, String(child.pid));\n  return new Promise(() => {});\n}\n",
        ),
        (
            "tools/noisy.ts",
            "import { writeSync } from \"node:fs\";\nexport function run() {\n  console.log(\"console-log-line\");\n  console.error(\"console-error-line\");\n  process.stdout.write(\"stdout-write-line\\n\");\n  writeSync(1, \"fd1-write-line\\n\");\n  return { ok: true };\n}\n",
        ),
        (
            "tools/big.ts",
            "export function run() {\n  return { data: \"x\".repeat(20 * 1024 * 1024), end: \"END\" };\n}\n",
        ),
        (
            "tools/interval.ts",
            "export function run() {\n  setInterval(() => {}, 1000);\n  return \"done\";\n}\n",
        ),
        (
            "tools/bigint.ts",
            "export function run() {\n  return { n: 10n };\n}\n",
        ),
        (
            "tools/exits.ts",
            "export function run() {\n  process.exit(3);\n}\n",
        ),
        (
            "tools/typed.ts",
            "import { writeFileSync } from \"node:fs\";\nexport function run(input: { x: number; marker?: string }) {\n  if (input.marker) writeFileSync(input.marker, \"ran\");\n  return { doubled: input.x * 2 };\n}\n",
        ),
        (
            "tools/env.ts",
            "export function run() {\n  const e = process.env;\n  return { secret: e.SECRET_TOKEN ?? null, passed: e.PASSED_VAR ?? null, runtime: e.FROM_RUNTIME ?? null, tool: e.FROM_TOOL ?? null, request: e.FROM_REQUEST ?? null, dotenv: e.FROM_DOTENV ?? null, path: typeof e.PATH };\n}\n",
        ),
        (".env", "FROM_DOTENV=dotenv\nFROM_TOOL=overridden-by-tool\n"),
        (
            "tools/cwd.ts",
            "export function run() {\n  return process.cwd();\n}\n",
        ),
    ])
}

/// How long one `compozy exec` may take before the test kills it and fails.
const LIMIT: Duration = Duration::from_secs(60);

/// `compozy exec` with both runtimes pinned, and `SECRET_TOKEN`/`PASSED_VAR` set in compozy's
/// own environment. One-shot; in a test of [`on_both_ways!`]'s `warm` modules, forwarded to a
/// `compozy serve` of the fixture started for the test (and it must be: `COMPOZY_FORWARD=require`).
fn exec_command(project: &Fixture, runtime: &str, args: &[&str]) -> std::process::Command {
    let warm = WARM.with(std::cell::Cell::get);
    if warm {
        warm_server::ensure_server(project, runtime);
    }
    let mut cmd = project.compozy(&["exec", "--runtime", runtime]);
    cmd.args(args)
        .env("COMPOZY_BUN", runtime_bin("bun"))
        .env("COMPOZY_NODE", runtime_bin("node"))
        .env("COMPOZY_FORWARD", if warm { "require" } else { "off" })
        .env("SECRET_TOKEN", "s3cret")
        .env("PASSED_VAR", "passed");
    cmd
}

thread_local! {
    /// Set by the tests of the `warm` modules (each test runs on a thread of its own).
    static WARM: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Instantiates each `fn case(runtime: &str)` one-shot and forwarded to a warm server, on Bun and
/// on Node: the two ways must give the same results.
macro_rules! on_both_ways {
    ($($case:ident),* $(,)?) => {
        on_both_runtimes!($($case),*);
        mod warm {
            mod bun {
                $(#[test] fn $case() {
                    super::super::WARM.with(|w| w.set(true));
                    super::super::$case("bun")
                })*
            }
            mod node {
                $(#[test] fn $case() {
                    super::super::WARM.with(|w| w.set(true));
                    super::super::$case("node")
                })*
            }
        }
    };
}

/// The warm server of a test's fixture.
mod warm_server {
    use std::io::BufRead;
    use std::path::{Path, PathBuf};
    use std::process::{Child, Stdio};
    use std::time::{Duration, SystemTime};

    use crate::common::{Fixture, runtime_bin};

    struct Server {
        root: PathBuf,
        runtime: String,
        child: Child,
    }

    impl Drop for Server {
        fn drop(&mut self) {
            // SIGTERM: the server stops its workers and removes its socket.
            crate::common::signal(self.child.id(), nix::sys::signal::Signal::SIGTERM);
            let _ = self.child.wait();
        }
    }

    thread_local! {
        /// Stopped when the test's thread ends.
        static SERVER: std::cell::RefCell<Option<Server>> = const { std::cell::RefCell::new(None) };
    }

    /// Files changed within the last second are not trusted by the fingerprint, and a project
    /// that is not found unchanged is never forwarded: the fixture's files are made older.
    fn age(path: &Path) {
        let then = SystemTime::now() - Duration::from_secs(10);
        if let Ok(entries) = std::fs::read_dir(path) {
            for entry in entries.flatten() {
                age(&entry.path());
            }
        }
        let file = std::fs::File::open(path).expect("open a fixture file");
        file.set_modified(then).expect("age a fixture file");
    }

    /// Starts `compozy serve` for the fixture (once per test) and waits until it listens.
    pub fn ensure_server(project: &Fixture, runtime: &str) {
        let running = SERVER.with(|s| {
            s.borrow()
                .as_ref()
                .is_some_and(|s| s.root == project.root() && s.runtime == runtime)
        });
        if running {
            return;
        }
        SERVER.with(|s| drop(s.borrow_mut().take()));
        age(project.root());
        let mut child = project
            .compozy(&["-v", "serve", "--runtime", runtime])
            .env("COMPOZY_BUN", runtime_bin("bun"))
            .env("COMPOZY_NODE", runtime_bin("node"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start compozy serve");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    // Keep draining: a full pipe would stop the server.
                    continue;
                }
            }
        });
        let server = Server {
            root: project.root().to_path_buf(),
            runtime: runtime.to_owned(),
            child,
        };
        let mut seen = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) if line.contains("answering `compozy exec` on") => break,
                Ok(line) => seen.push(line),
                Err(_) => panic!(
                    "the warm server did not start listening:\n{}",
                    seen.join("\n")
                ),
            }
        }
        SERVER.with(|s| *s.borrow_mut() = Some(server));
    }
}

/// Runs `compozy exec` (see [`exec_command`]) to its end; returns its output and how long it took.
fn exec(project: &Fixture, runtime: &str, args: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let out = output_within(&mut exec_command(project, runtime, args), LIMIT);
    (out, started.elapsed())
}

/// Starts `compozy exec` (see [`exec_command`]) in the background, output captured.
fn spawn_exec(project: &Fixture, runtime: &str, args: &[&str]) -> std::process::Child {
    exec_command(project, runtime, args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start compozy exec")
}

/// The pid a tool wrote to `file`, waiting for it to be written.
#[track_caller]
fn pid_from(file: &std::path::Path) -> i64 {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if let Ok(pid) = text.trim().parse() {
            return pid;
        }
        assert!(
            Instant::now() < until,
            "the tool did not write a pid to {}",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn result(out: &Output) -> Value {
    out.expect_code(0);
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON value ({e}):\n{}", out.stdout))
}

fn sync_tool_gets_input_with_defaults_and_config(runtime: &str) {
    let p = project();
    let (out, _) = exec(&p, runtime, &["echo", "--input", r#"{"city":"Oslo"}"#]);
    assert_eq!(
        result(&out),
        json!({"input": {"unit": "metric", "city": "Oslo"}, "config": {"retries": 3}})
    );
    let (out, _) = exec(
        &p,
        runtime,
        &["echo", "--input", "{}", "--config", r#"{"retries":0}"#],
    );
    assert_eq!(result(&out)["config"], json!({"retries": 0}));
}

/// A variable of compozy's environment that is not UTF-8 is left out of the tool's, not a panic.
fn a_variable_that_is_not_utf8_is_left_out(runtime: &str) {
    use std::os::unix::ffi::OsStrExt;
    let p = project();
    let mut cmd = exec_command(&p, runtime, &["env"]);
    cmd.env("NOT_UTF8", std::ffi::OsStr::from_bytes(b"\xff\xfe"));
    let out = output_within(&mut cmd, LIMIT);
    assert_eq!(result(&out)["passed"], "passed", "{}", out.stderr);
}

fn async_default_export(runtime: &str) {
    let p = project();
    let (out, _) = exec(&p, runtime, &["async_default", "--input", r#"{"x":21}"#]);
    assert_eq!(result(&out), json!(42));
}

/// An input larger than a pipe holds (written from a helper thread) arrives whole.
fn large_input_arrives_whole(runtime: &str) {
    let p = project();
    let big = "y".repeat(3 << 20);
    p.write("big.json", &json!({"city": big}).to_string());
    let (out, _) = exec(&p, runtime, &["echo", "--input-file", "big.json"]);
    let result = result(&out);
    assert_eq!(
        result["input"]["city"].as_str().map(str::len),
        Some(3 << 20)
    );
    assert_eq!(result["input"]["unit"], "metric");
}

fn input_from_a_file_and_stdin(runtime: &str) {
    let p = project();
    p.write("in.json", r#"{"x": 5}"#);
    let (out, _) = exec(&p, runtime, &["async_default", "--input-file", "in.json"]);
    assert_eq!(result(&out), json!(10));
    let mut cmd = p.compozy(&["exec", "async_default", "--runtime", runtime]);
    cmd.env("COMPOZY_BUN", runtime_bin("bun"))
        .env("COMPOZY_NODE", runtime_bin("node"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), br#"{"x": 7}"#).unwrap();
    let out = wait_within(child, LIMIT);
    assert_eq!(result(&out), json!(14));
}

fn thrown_error_keeps_class_name_and_ts_stack(runtime: &str) {
    let p = project();
    let (out, _) = exec(&p, runtime, &["throws"]);
    out.expect_code(1).stderr_has(&[
        "CustomError",
        "the weather service is down",
        "tools/throws.ts:8",
    ]);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    // The stack ends at the tool's code: the worker's own frames are left out.
    let (_, trace) = out.stderr.split_once("failed:").expect("the failure");
    assert!(!trace.contains("_worker."), "{}", out.stderr);
}

fn never_settling_tool_times_out(runtime: &str) {
    let p = project();
    // Each window starts at the deadline (which runs from the worker's start) and leaves room
    // for killing the worker, but not for the other deadline.
    let (out, elapsed) = exec(&p, runtime, &["never_settles"]);
    out.expect_code(124)
        .stderr_has(&["did not finish within 1s"]);
    assert!(
        (Duration::from_secs(1)..Duration::from_millis(1600)).contains(&elapsed),
        "the tool's 1s timeout took {elapsed:?}"
    );
    // --timeout overrides the tool's.
    let (out, elapsed) = exec(&p, runtime, &["never_settles", "--timeout", "300ms"]);
    out.expect_code(124)
        .stderr_has(&["did not finish within 300ms"]);
    assert!(
        (Duration::from_millis(300)..Duration::from_millis(800)).contains(&elapsed),
        "--timeout 300ms took {elapsed:?}"
    );
}

/// A timeout too long to be added to a clock reading is refused before the tool runs: the
/// deadline computed from it used to panic.
#[test]
fn timeout_too_long_for_a_deadline_is_refused() {
    let p = project();
    let (out, _) = exec(&p, "bun", &["never_settles", "--timeout", "300000000000y"]);
    out.expect_code(2)
        .stderr_has(&["300000000000y", "must be at most 18446744073709551615ms"]);
}

#[cfg(unix)]
fn timeout_kills_the_tools_children(runtime: &str) {
    let p = project();
    let pid_file = p.path("child.pid");
    let input = json!({"pidFile": pid_file}).to_string();
    // Longer than the tool's 1s, to leave time to see the child alive before the deadline.
    let exec = spawn_exec(
        &p,
        runtime,
        &["spawns_and_hangs", "--input", &input, "--timeout", "3s"],
    );
    let pid = pid_from(&pid_file);
    assert!(alive(pid), "the tool's child {pid} was not running");
    wait_within(exec, LIMIT)
        .expect_code(124)
        .stderr_has(&["did not finish within 3s"]);
    assert!(
        gone_within(pid, Duration::from_secs(2)),
        "the tool's child {pid} survived the timeout"
    );
}

fn tool_output_goes_to_stderr_not_the_result(runtime: &str) {
    let p = project();
    let (out, _) = exec(&p, runtime, &["noisy"]);
    assert_eq!(result(&out), json!({"ok": true}));
    assert_eq!(out.stdout, "{\"ok\":true}\n");
    out.stderr_has(&[
        "console-log-line",
        "console-error-line",
        "stdout-write-line",
        "fd1-write-line",
    ]);
}

fn twenty_mib_result_arrives_intact(runtime: &str) {
    let p = project();
    let (out, _) = exec(&p, runtime, &["big"]);
    let value = result(&out);
    assert_eq!(value["data"].as_str().unwrap().len(), 20 * 1024 * 1024);
    assert!(value["data"].as_str().unwrap().bytes().all(|b| b == b'x'));
    assert_eq!(value["end"], "END");
}

fn open_interval_does_not_keep_exec_alive(runtime: &str) {
    let p = project();
    let (out, elapsed) = exec(&p, runtime, &["interval"]);
    assert_eq!(result(&out), json!("done"));
    assert!(elapsed < Duration::from_secs(5), "took {elapsed:?}");
}

fn bigint_result_is_a_clear_error(runtime: &str) {
    let p = project();
    let (out, _) = exec(&p, runtime, &["bigint"]);
    out.expect_code(1).stderr_has(&[
        "NotSerializableError",
        "not JSON-serialisable: BigInt 10n at .n",
    ]);
}

fn process_exit_in_the_tool(runtime: &str) {
    let p = project();
    let (out, _) = exec(&p, runtime, &["exits"]);
    out.expect_code(1)
        .stderr_has(&["exited (exit code 3) before answering", "process.exit()"]);
}

fn invalid_input_is_refused_before_running(runtime: &str) {
    let p = project();
    let marker = p.path("ran.txt");
    let input = json!({"x": "not a number", "marker": marker}).to_string();
    let (out, _) = exec(&p, runtime, &["typed", "--input", &input]);
    out.expect_code(2)
        .stderr_has(&["does not match the schema of `typed`", "/x"]);
    assert!(!marker.exists(), "the tool ran despite invalid input");
    let (out, _) = exec(&p, runtime, &["typed", "--input", r#"{"x": 2}"#]);
    assert_eq!(result(&out), json!({"doubled": 4}));
    let (out, _) = exec(&p, runtime, &["bad_output", "--input", r#"{"x": 2}"#]);
    // What the tool returned is shown: a schema break says what was expected, not what came.
    out.expect_code(1).stderr_has(&[
        "does not match its output schema",
        r#"it returned {"doubled":4}"#,
    ]);
    // Each way in gets an example of its own.
    let (out, _) = exec(&p, runtime, &["echo", "--config", "{retries: 3}"]);
    out.expect_code(2)
        .stderr_has(&["--config is not valid JSON", "e.g. --config '{"]);
    assert!(!out.stderr.contains("--input"), "{}", out.stderr);
    let (out, _) = exec(&p, runtime, &["echo", "--input", "{city: Oslo}"]);
    out.expect_code(2)
        .stderr_has(&["--input is not valid JSON", "e.g. --input '{"]);
}

fn unknown_tool_suggests_the_closest_ids(runtime: &str) {
    let p = project();
    let (out, _) = exec(&p, runtime, &["bad_outpt"]);
    out.expect_code(2)
        .stderr_has(&["unknown tool `bad_outpt`", "did you mean `bad_output`?"]);
    assert!(
        !out.stderr.contains("async_default"),
        "the whole list of ids was printed:\n{}",
        out.stderr
    );
    let (out, _) = exec(&p, runtime, &["zzzzzz"]);
    out.expect_code(2)
        .stderr_has(&["unknown tool `zzzzzz`", "`compozy inspect` lists them"]);
    assert!(!out.stderr.contains("did you mean"), "{}", out.stderr);
}

/// `exec ID` runs the newest major, `exec ID@MAJOR` the one asked for (each with its own input
/// schema); a deprecated one says so once on stderr.
fn each_major_by_its_name(runtime: &str) {
    let p = crate::side_by_side::project();
    let (out, _) = exec(&p, runtime, &["weather", "--input", r#"{"city_id":7}"#]);
    out.expect_code(0);
    assert_eq!(result(&out), json!({"major": 2, "city_id": 7}));
    assert!(!out.stderr.contains("deprecated"), "{}", out.stderr);
    let (out, _) = exec(&p, runtime, &["weather@1", "--input", r#"{"city":"Oslo"}"#]);
    out.expect_code(0).stderr_has(&[
        "compozy: warning: tool `weather@1` 1.4.0 is deprecated: use weather 2, which takes a city id",
    ]);
    assert_eq!(
        out.stderr.matches("is deprecated").count(),
        1,
        "{}",
        out.stderr
    );
    assert_eq!(result(&out), json!({"major": 1, "city": "Oslo"}));
    let (out, _) = exec(&p, runtime, &["weather@2", "--input", r#"{"city_id":8}"#]);
    assert_eq!(result(&out), json!({"major": 2, "city_id": 8}));
    let (out, _) = exec(&p, runtime, &["weather@1", "--input", r#"{"city_id":7}"#]);
    out.expect_code(2)
        .stderr_has(&["the input does not match the schema of `weather@1`"]);
    let (out, _) = exec(&p, runtime, &["weather@9"]);
    out.expect_code(2).stderr_has(&[
        "tool `weather` has no major version 9; its major versions are 2 (`weather`), 1 (`weather@1`)",
        "compozy exec weather@1",
    ]);
    let (out, _) = exec(&p, runtime, &["weather@x"]);
    out.expect_code(2)
        .stderr_has(&["`weather@x`: `x` is not a major version"]);
    assert!(out.stdout.is_empty());
}

fn environment_is_minimal_and_layered(runtime: &str) {
    let p = project();
    let (out, _) = exec(&p, runtime, &["env", "--env", "FROM_REQUEST=request"]);
    assert_eq!(
        result(&out),
        json!({
            "secret": null,
            "passed": "passed",
            "runtime": "runtime",
            "tool": "tool",
            "request": "request",
            "dotenv": "dotenv",
            "path": "string",
        })
    );
    let (out, _) = exec(&p, runtime, &["env", "--env", "NODE_OPTIONS=--require=x"]);
    out.expect_code(2)
        .stderr_has(&["`NODE_OPTIONS` may not be set by a request"]);
}

/// Wherever compozy is started, the tool runs in the project root.
fn tool_runs_in_the_project_root(runtime: &str) {
    let p = project();
    let mut cmd = exec_command(&p, runtime, &["cwd"]);
    let out = output_within(cmd.current_dir(p.path("tools")), LIMIT);
    let root = p.root().canonicalize().unwrap();
    assert_eq!(result(&out), json!(root.display().to_string()));
}

/// The workers hold their table of tools in a template literal: a module path with a backtick or
/// `${` in it must reach `import()` as written.
fn module_paths_with_template_literal_characters(runtime: &str) {
    let p = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: odd\n    execute: './tools/a`b${c}.ts'\n  - id: plain\n    execute: ./tools/plain.ts\n",
        ),
        (
            "tools/a`b${c}.ts",
            "export function run() {\n  return \"odd\";\n}\n",
        ),
        (
            "tools/plain.ts",
            "export default function () {\n  return \"plain\";\n}\n",
        ),
    ]);
    p.run(&["gen"]).expect_code(0);
    for (tool, answer) in [("odd", "odd"), ("plain", "plain")] {
        let (out, _) = exec(&p, runtime, &[tool]);
        out.expect_code(0);
        assert_eq!(result(&out), json!(answer), "{tool}");
    }
}

on_both_ways!(
    module_paths_with_template_literal_characters,
    a_variable_that_is_not_utf8_is_left_out,
    large_input_arrives_whole,
    tool_runs_in_the_project_root,
    sync_tool_gets_input_with_defaults_and_config,
    async_default_export,
    input_from_a_file_and_stdin,
    thrown_error_keeps_class_name_and_ts_stack,
    never_settling_tool_times_out,
    timeout_kills_the_tools_children,
    tool_output_goes_to_stderr_not_the_result,
    twenty_mib_result_arrives_intact,
    open_interval_does_not_keep_exec_alive,
    bigint_result_is_a_clear_error,
    process_exit_in_the_tool,
    invalid_input_is_refused_before_running,
    unknown_tool_suggests_the_closest_ids,
    environment_is_minimal_and_layered,
    each_major_by_its_name,
);

// About how exec finds the project, not how the call runs: one-shot only.
mod stored_project {
    #[test]
    fn bun() {
        super::unchanged_project_runs_from_the_stored_project("bun");
    }
    #[test]
    fn node() {
        super::unchanged_project_runs_from_the_stored_project("node");
    }
}

#[test]
fn node_permission_model_blocks_reads_outside_the_grants() {
    let p = Fixture::with(&[
        (
            "compozy.yaml",
            "runtime:\n  type: node\n  permissions: [\"--allow-fs-read=./data\"]\ntools:\n  - id: read\n    execute: ./tools/read.ts\n",
        ),
        (
            "tools/read.ts",
            "import { readFileSync } from \"node:fs\";\nexport function run(input: { path: string }) {\n  return readFileSync(input.path, \"utf8\");\n}\n",
        ),
        ("data/allowed.txt", "allowed"),
    ]);
    let outside = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(outside.path(), "secret").unwrap();
    let input = json!({"path": p.path("data/allowed.txt")}).to_string();
    let (out, _) = exec(&p, "node", &["read", "--input", &input]);
    assert_eq!(result(&out), json!("allowed"));
    let input = json!({"path": outside.path()}).to_string();
    let (out, _) = exec(&p, "node", &["read", "--input", &input]);
    out.expect_code(1)
        .stderr_has(&["Access to this API has been restricted"]);
    assert!(!out.stdout.contains("secret"));
    // Under Bun the same configuration runs, the read succeeds, and compozy says plainly that
    // the permissions are not enforced.
    let (out, _) = exec(&p, "bun", &["read", "--input", &input]);
    assert_eq!(result(&out), json!("secret"));
    out.stderr_has(&["permissions are not enforced under Bun"]);
}

#[test]
fn exec_regenerates_stale_output_first() {
    let p = project();
    let (out, _) = exec(&p, "bun", &["async_default", "--input", r#"{"x":1}"#]);
    assert_eq!(result(&out), json!(2));
    // What it wrote is named, as `gen` names it.
    out.stderr_has(&["compozy: created .compozy/tools.ts"]);
    p.write(
        "compozy.yaml",
        &format!("{CONFIG}  - id: added_later\n    execute: ./tools/async_default.mts\n"),
    );
    let (out, _) = exec(&p, "bun", &["added_later", "--input", r#"{"x":2}"#]);
    assert_eq!(result(&out), json!(4));
    assert!(p.read(".compozy/tools.ts").contains("added_later"));
    out.stderr_has(&["compozy: updated .compozy/tools.ts"]);
    // Nothing changed: not a word.
    let (out, _) = exec(&p, "bun", &["added_later", "--input", r#"{"x":2}"#]);
    assert_eq!(result(&out), json!(4));
    assert!(!out.stderr.contains("compozy:"), "{}", out.stderr);
}

#[test]
fn verbose_exec_says_it_reads_stdin() {
    let p = project();
    // stdin is not a terminal here (closed at once): it is read, and -v says so, since an open
    // pipe would be waited for.
    let (out, _) = exec(&p, "bun", &["async_default", "-v"]);
    out.expect_code(0);
    out.stderr_has(&["compozy: reading the input from stdin until it closes"]);
    let (out, _) = exec(&p, "bun", &["async_default", "-v", "--input", r#"{"x":1}"#]);
    assert_eq!(result(&out), json!(2));
    assert!(!out.stderr.contains("reading the input"), "{}", out.stderr);
}

#[test]
fn runtime_too_old_or_missing_exits_127() {
    let p = project();
    let fake = p.path("old-node");
    std::fs::write(&fake, "#!/bin/sh\necho v20.1.0\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let out = output_within(
        p.compozy(&["exec", "echo", "--runtime", "node"])
            .env("COMPOZY_NODE", &fake),
        LIMIT,
    );
    out.expect_code(127)
        .stderr_has(&["node 20.1.0, which is too old"]);
    let out = output_within(
        p.compozy(&["exec", "echo", "--runtime", "bun"])
            .env("COMPOZY_BUN", p.path("no-such-bun")),
        LIMIT,
    );
    out.expect_code(127).stderr_has(&[
        "bun was not found",
        "point COMPOZY_BUN at an executable bun binary",
    ]);
}

/// A project outside any directory with `node_modules/.bin`, on a machine without bun or node on
/// PATH: the message says the one command that fixes it for this project.
#[test]
fn no_runtime_says_how_to_install_one_for_this_project() {
    let p = project();
    let empty = Fixture::new();
    let root = p.root().canonicalize().unwrap();
    for runtime in ["bun", "node"] {
        let out = output_within(
            p.compozy(&["exec", "echo", "--runtime", runtime])
                .env("PATH", empty.root())
                .env_remove("COMPOZY_BUN")
                .env_remove("COMPOZY_NODE"),
            LIMIT,
        );
        let upper = runtime.to_uppercase();
        out.expect_code(127).stderr_has(&[
            &format!("{runtime} was not found"),
            &format!("run `npm i -D {runtime}` in {}", root.display()),
            &format!("COMPOZY_{upper}=/path/to/{runtime}"),
        ]);
    }
    // The fix works: a runtime in the project's node_modules/.bin is found.
    let bin = p.path("node_modules/.bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(runtime_bin("bun"), bin.join("bun")).unwrap();
    let out = output_within(
        p.compozy(&["exec", "async_default", "--input", r#"{"x":1}"#])
            .env("PATH", empty.root())
            .env_remove("COMPOZY_BUN"),
        LIMIT,
    );
    assert_eq!(result(&out), json!(2));
}

#[test]
fn output_caps_are_enforced_with_a_clear_error() {
    let p = project();
    let mut cmd = exec_command(&p, "bun", &["big"]);
    let out = output_within(cmd.env("COMPOZY_MAX_RESULT_BYTES", "1000000"), LIMIT);
    out.expect_code(1).stderr_has(&[
        "larger than the limit of 1000000 bytes",
        "COMPOZY_MAX_RESULT_BYTES",
    ]);
    assert!(out.stdout.is_empty(), "a truncated result was printed");

    let mut cmd = exec_command(&p, "bun", &["noisy"]);
    output_within(cmd.env("COMPOZY_MAX_LOG_BYTES", "20"), LIMIT)
        .expect_code(1)
        .stderr_has(&["more than 20 bytes of log output"]);
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_the_tool_and_its_children() {
    let p = project();
    p.write(
        "compozy.yaml",
        &CONFIG.replace(
            "    execute: ./tools/spawns.ts\n    timeout: 1s\n",
            "    execute: ./tools/spawns.ts\n    timeout: 60s\n",
        ),
    );
    let pid_file = p.path("child.pid");
    let input = json!({"pidFile": pid_file}).to_string();
    let child = spawn_exec(&p, "bun", &["spawns_and_hangs", "--input", &input]);
    let tool_child = pid_from(&pid_file);
    assert!(
        alive(tool_child),
        "the tool's child {tool_child} was not running"
    );
    signal(child.id(), nix::sys::signal::Signal::SIGINT);
    wait_within(child, Duration::from_secs(5))
        .expect_code(130)
        .stderr_has(&["interrupted"]);
    assert!(
        gone_within(tool_child, Duration::from_secs(2)),
        "the tool's child {tool_child} survived Ctrl-C"
    );
}

#[test]
fn inspect_env_shows_sources_and_masks_what_the_project_does_not_declare() {
    let p = project();
    let out = p
        .compozy(&["inspect", "--env", "env", "--format", "json"])
        .env("SECRET_TOKEN", "s3cret")
        .env("PASSED_VAR", "passed-value")
        .env("HOME", "/home/someone")
        .output()
        .unwrap();
    let out = Output::from(out);
    let json = out.expect_code(0).json();
    let vars: std::collections::BTreeMap<String, Value> = json["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["name"].as_str().unwrap().to_owned(), v.clone()))
        .collect();
    assert!(!vars.contains_key("SECRET_TOKEN"), "{vars:?}");
    assert_eq!(vars["PASSED_VAR"]["value"], Value::Null);
    assert_eq!(
        vars["PASSED_VAR"]["source"],
        json!({"kind": "passthrough", "glob": "PASSED_*"})
    );
    assert_eq!(vars["HOME"]["value"], Value::Null);
    assert_eq!(vars["FROM_DOTENV"]["value"], "dotenv");
    assert_eq!(
        vars["FROM_DOTENV"]["source"],
        json!({"kind": "env_file", "file": ".env"})
    );
    assert_eq!(vars["FROM_TOOL"]["value"], "tool");
    assert_eq!(vars["FROM_TOOL"]["source"], json!({"kind": "tool_env"}));
    assert_eq!(
        vars["FROM_RUNTIME"]["source"],
        json!({"kind": "runtime_env"})
    );
    assert!(!out.stdout.contains("s3cret") && !out.stdout.contains("passed-value"));
    // For a person: the environment, not the table of every tool before it.
    let out = Output::from(p.compozy(&["inspect", "--env", "env"]).output().unwrap());
    out.expect_code(0);
    assert!(out.stdout.starts_with("environment ("), "{}", out.stdout);
    assert!(!out.stdout.contains("tools ("), "{}", out.stdout);
    assert!(!out.stdout.contains("async_default"), "{}", out.stdout);
}

/// Rewrites `rel` with `text` of the same length and puts its modification time back, so that
/// only its content tells the change (which compozy's fast path, by design, does not read).
fn rewrite_keeping_stamp(p: &Fixture, rel: &str, text: &str) {
    let path = p.path(rel);
    let before = std::fs::metadata(&path).unwrap();
    assert_eq!(
        before.len() as usize,
        text.len(),
        "the new text must keep the size"
    );
    std::fs::write(&path, text).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(before.modified().unwrap())
        .unwrap();
}

fn unchanged_project_runs_from_the_stored_project(runtime: &str) {
    let p = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: add\n    execute: ./add.ts\n    with: { a: 1, b: 2 }\n",
        ),
        (
            "add.ts",
            "export function run(i: { a: number; b: number }) {\n  return i.a + i.b;\n}\n",
        ),
    ]);
    p.run(&["gen"]).expect_code(0);
    // Inputs modified within the last second are not trusted; let them age.
    std::thread::sleep(Duration::from_millis(1100));
    p.run(&["gen"]).expect_code(0);
    let stored = p.path(".compozy/.cache/project");
    assert!(stored.is_file(), "gen stored no compiled project");
    let (out, _) = exec(&p, runtime, &["add"]);
    assert_eq!(result(&out), json!(3));

    // An edit that keeps the file's size and mtime is not seen: exec read the stored project,
    // not the YAML.
    let yaml = p.read("compozy.yaml");
    rewrite_keeping_stamp(&p, "compozy.yaml", &yaml.replace("a: 1", "a: 5"));
    let (out, _) = exec(&p, runtime, &["add"]);
    assert_eq!(result(&out), json!(3), "exec re-read the YAML");

    // A real edit (a new mtime) is: the project is regenerated and stored again.
    p.write("compozy.yaml", &yaml.replace("a: 1", "a: 7"));
    let (out, _) = exec(&p, runtime, &["add"]);
    assert_eq!(result(&out), json!(9));

    // A corrupt stored project (same size and mtime) is ignored, and rebuilt.
    std::thread::sleep(Duration::from_millis(1100));
    p.run(&["gen"]).expect_code(0);
    let len = std::fs::metadata(&stored).unwrap().len() as usize;
    rewrite_keeping_stamp(&p, ".compozy/.cache/project", &"x".repeat(len));
    let (out, _) = exec(&p, runtime, &["add"]);
    assert_eq!(result(&out), json!(9));
    assert!(
        std::fs::read_to_string(&stored)
            .unwrap()
            .starts_with("compozy-project "),
        "the corrupt stored project was not rebuilt"
    );
}

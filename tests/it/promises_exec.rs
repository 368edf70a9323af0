//! Promises of `compozy exec` in the README that the other modules do not check: no process
//! left behind after a successful run, SIGTERM then SIGKILL, SIGTERM on compozy, results that are
//! not JSON, `--input-file -`, and the environment's base against `.env` files and `["*"]`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::common::{Fixture, Output, output_within, runtime_bin, signal, wait_within};
use crate::processes::{Reaper, assert_all_alive, assert_all_gone, pids_from};

/// How long one `compozy exec` may take before the test kills it and fails.
const LIMIT: Duration = Duration::from_secs(60);

const CONFIG: &str = r#"
tools:
  - id: leaves_a_grandchild
    execute: ./tools/leaves_a_grandchild.ts
  - id: hangs
    execute: ./tools/hangs.ts
  - id: ignores_sigterm
    execute: ./tools/ignores_sigterm.ts
    timeout: 3s
  - id: cycle
    execute: ./tools/cycle.ts
  - id: function
    execute: ./tools/function.ts
  - id: symbol
    execute: ./tools/symbol.ts
  - id: nothing
    execute: ./tools/nothing.ts
  - id: double
    execute: ./tools/double.ts
  - id: env
    execute: ./tools/env.ts
"#;

fn project() -> Fixture {
    Fixture::with(&[
        ("compozy.yaml", CONFIG),
        (
            "tools/leaves_a_grandchild.ts",
            "import { spawnSync } from \"node:child_process\";\nimport { existsSync } from \"node:fs\";\nexport function run() {\n  // The shell exits at once: only the process group still knows about its `sleep`.\n  const r = spawnSync(\"sh\", [\"-c\", \"sleep 1000 >/dev/null 2>&1 & echo $!\"], { stdio: [\"ignore\", \"pipe\", \"ignore\"] });\n  const pid = Number(r.stdout.toString().trim());\n  return { pid, running: existsSync(`/proc/${pid}`) };\n}\n",
        ),
        (
            "tools/hangs.ts",
            "import { spawn } from \"node:child_process\";\nimport { writeFileSync } from \"node:fs\";\nexport function run(i: { pidFile: string }) {\n  const child = spawn(\"sleep\", [\"1000\"], { stdio: \"ignore\" });\n  writeFileSync(i.pidFile, `${process.pid} ${child.pid}\\n`);\n  return new Promise(() => {});\n}\n",
        ),
        (
            "tools/ignores_sigterm.ts",
            "import { spawn } from \"node:child_process\";\nimport { writeFileSync } from \"node:fs\";\nexport function run(i: { pidFile: string; termFile: string }) {\n  // The worker's own handler would end the process at SIGTERM: this tool takes the signal\n  // over and ignores it.\n  process.removeAllListeners(\"SIGTERM\");\n  process.on(\"SIGTERM\", () => writeFileSync(i.termFile, `${Date.now()}\\n`));\n  // Its child ignores SIGTERM too (an ignored signal stays ignored across exec).\n  const child = spawn(\"sh\", [\"-c\", \"trap '' TERM; exec sleep 1000\"], { stdio: \"ignore\" });\n  writeFileSync(i.pidFile, `${process.pid} ${child.pid}\\n`);\n  return new Promise(() => {});\n}\n",
        ),
        (
            "tools/cycle.ts",
            "export function run() {\n  const a: Record<string, unknown> = { name: \"a\" };\n  const root = { a };\n  a.self = root;\n  return root;\n}\n",
        ),
        (
            "tools/function.ts",
            "export function run() {\n  return { items: [1, function onClick() {}] };\n}\n",
        ),
        (
            "tools/symbol.ts",
            "export function run() {\n  return { ok: true, tag: Symbol(\"red\") };\n}\n",
        ),
        (
            "tools/nothing.ts",
            "export function run() {\n  return undefined;\n}\n",
        ),
        (
            "tools/double.ts",
            "export default function (i: { x: number }) {\n  return i.x * 2;\n}\n",
        ),
        (
            "tools/env.ts",
            "export function run(i: { names: string[] }) {\n  return Object.fromEntries(i.names.map((n) => [n, process.env[n] ?? null]));\n}\n",
        ),
    ])
}

/// `compozy exec --runtime RUNTIME ARGS` with both runtimes pinned.
fn exec_command(p: &Fixture, runtime: &str, args: &[&str]) -> Command {
    let mut cmd = p.compozy(&["exec", "--runtime", runtime]);
    cmd.args(args)
        .env("COMPOZY_BUN", runtime_bin("bun"))
        .env("COMPOZY_NODE", runtime_bin("node"));
    cmd
}

fn exec(p: &Fixture, runtime: &str, args: &[&str]) -> Output {
    output_within(&mut exec_command(p, runtime, args), LIMIT)
}

/// `compozy exec` in the background, output captured.
fn spawn_exec(p: &Fixture, runtime: &str, args: &[&str]) -> std::process::Child {
    exec_command(p, runtime, args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start compozy exec")
}

#[track_caller]
fn result(out: &Output) -> Value {
    out.expect_code(0);
    serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON value ({e}):\n{}", out.stdout))
}

/// A process the tool left running (here a grandchild whose parent already exited) is killed
/// when the run ends, even though the tool answered normally.
fn a_successful_run_leaves_no_process_behind(runtime: &str) {
    let p = project();
    let out = exec(&p, runtime, &["leaves_a_grandchild"]);
    let answer = result(&out);
    let pid = answer["pid"].as_i64().expect("the grandchild's pid");
    let _reaper = Reaper::new(&[pid]);
    assert_eq!(
        answer["running"], true,
        "the grandchild never ran: {answer}"
    );
    assert_all_gone(&[pid], "a successful exec");
}

/// SIGTERM on `compozy exec` stops the tool's process group and exits 130.
fn sigterm_stops_the_tool_and_exits_130(runtime: &str) {
    let p = project();
    let pid_file = p.path("pids");
    let input = json!({"pidFile": pid_file}).to_string();
    let child = spawn_exec(&p, runtime, &["hangs", "--input", &input]);
    let pids = pids_from(&pid_file, 2);
    let _reaper = Reaper::new(&pids);
    assert_all_alive(&pids, "the worker and the tool's child");
    signal(child.id(), nix::sys::signal::Signal::SIGTERM);
    let out = wait_within(child, Duration::from_secs(10));
    assert_all_gone(&pids, "SIGTERM on compozy exec");
    out.expect_code(130).stderr_has(&["interrupted"]);
}

fn millis_since_epoch() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_millis()
}

/// A worker that ignores SIGTERM, with a child that ignores it too, gets SIGKILL 500 ms after
/// the SIGTERM of its deadline; nothing of it is left.
fn sigterm_then_sigkill_after_500ms(runtime: &str) {
    let p = project();
    let pid_file = p.path("pids");
    let term_file = p.path("term");
    let input = json!({"pidFile": pid_file, "termFile": term_file}).to_string();
    let started = Instant::now();
    let child = spawn_exec(&p, runtime, &["ignores_sigterm", "--input", &input]);
    let pids = pids_from(&pid_file, 2);
    let _reaper = Reaper::new(&pids);
    assert_all_alive(&pids, "before the deadline");
    let out = wait_within(child, LIMIT);
    let ended = millis_since_epoch();
    let elapsed = started.elapsed();
    assert_all_gone(&pids, "the SIGKILL after the grace");
    out.expect_code(124)
        .stderr_has(&["did not finish within 3s"]);
    let term: u128 = std::fs::read_to_string(&term_file)
        .expect("the worker got no SIGTERM")
        .trim()
        .parse()
        .expect("a time in the SIGTERM file");
    let grace = Duration::from_millis(u64::try_from(ended.saturating_sub(term)).unwrap());
    assert!(
        (Duration::from_millis(400)..Duration::from_secs(2)).contains(&grace),
        "exec ended {grace:?} after the worker's SIGTERM; expected the 500 ms grace"
    );
    assert!(elapsed >= Duration::from_millis(3500), "took {elapsed:?}");
}

/// Each value JSON cannot hold is named, with where it sits in the result.
fn unserialisable_results_name_the_value_and_where(runtime: &str) {
    let p = project();
    for (tool, message) in [
        (
            "cycle",
            "not JSON-serialisable: a circular reference at .a.self",
        ),
        (
            "function",
            "not JSON-serialisable: function onClick at .items[1]",
        ),
        ("symbol", "not JSON-serialisable: Symbol(red) at .tag"),
    ] {
        let out = exec(&p, runtime, &[tool]);
        out.expect_code(1)
            .stderr_has(&["NotSerializableError", message]);
        assert_eq!(out.stdout, "", "{tool} printed a result");
    }
}

fn undefined_becomes_null(runtime: &str) {
    let p = project();
    let out = exec(&p, runtime, &["nothing"]);
    out.expect_code(0);
    assert_eq!(out.stdout, "null\n");
}

/// `--input-file -` reads the input from stdin.
fn input_file_dash_reads_stdin(runtime: &str) {
    let p = project();
    let mut child = exec_command(&p, runtime, &["double", "--input-file", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start compozy exec");
    let mut stdin = child.stdin.take().expect("stdin");
    std::io::Write::write_all(&mut stdin, br#"{"x": 21}"#).expect("write the input");
    drop(stdin);
    assert_eq!(result(&wait_within(child, LIMIT)), json!(42));
}

/// The variables of compozy's base (`PATH`, `HOME`) win over a `.env` file, which still sees
/// them in its `${…}` expansions.
fn dotenv_files_never_override_path_or_home(runtime: &str) {
    let p = project();
    p.write(
        ".env",
        "PATH=/from/dotenv\nHOME=/from/dotenv\nFROM_FILE=${HOME}/file\n",
    );
    let home = p.path("home");
    std::fs::create_dir_all(&home).unwrap();
    let home = home.display().to_string();
    let path = std::env::var("PATH").expect("PATH is set");
    let input = json!({"names": ["PATH", "HOME", "FROM_FILE"]}).to_string();
    let mut cmd = exec_command(&p, runtime, &["env", "--input", &input]);
    cmd.env("PATH", &path).env("HOME", &home);
    let out = output_within(&mut cmd, LIMIT);
    assert_eq!(
        result(&out),
        json!({"PATH": path, "HOME": home, "FROM_FILE": format!("{home}/file")})
    );
}

/// `env_passthrough: ["*"]` passes every variable of compozy's environment; without it the same
/// variables do not reach the tool. A passed-through variable wins over a `.env` file.
fn passthrough_star_passes_everything(runtime: &str) {
    let p = project();
    p.write(".env", "UNLISTED_ONE=from-file\n");
    let input = json!({"names": ["UNLISTED_ONE", "unlisted_two", "SOME_TOKEN"]}).to_string();
    let run = |p: &Fixture| {
        let mut cmd = exec_command(p, runtime, &["env", "--input", &input]);
        cmd.env("UNLISTED_ONE", "one")
            .env("unlisted_two", "two")
            .env("SOME_TOKEN", "t0k3n");
        result(&output_within(&mut cmd, LIMIT))
    };
    assert_eq!(
        run(&p),
        json!({"UNLISTED_ONE": "from-file", "unlisted_two": null, "SOME_TOKEN": null}),
        "without a passthrough"
    );
    p.write(
        "compozy.yaml",
        &format!("runtime:\n  env_passthrough: [\"*\"]\n{CONFIG}"),
    );
    assert_eq!(
        run(&p),
        json!({"UNLISTED_ONE": "one", "unlisted_two": "two", "SOME_TOKEN": "t0k3n"}),
        "with [\"*\"]"
    );
}

on_both_runtimes!(
    a_successful_run_leaves_no_process_behind,
    sigterm_stops_the_tool_and_exits_130,
    sigterm_then_sigkill_after_500ms,
    unserialisable_results_name_the_value_and_where,
    undefined_becomes_null,
    input_file_dash_reads_stdin,
    dotenv_files_never_override_path_or_home,
    passthrough_star_passes_everything,
);

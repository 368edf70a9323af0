//! Process tools (`execute: {command: …}`) end to end: the same tools as a POSIX shell script, a
//! Python script, a C program compiled here with `cc`, a Rust program compiled with `rustc`, and
//! `jq`, under exec, serve and mcp, with the guarantees of a TypeScript tool (input checked before
//! the program starts, the deadline that kills its process group, the clean environment, the
//! caps).

use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Fixture, gone_within, output_within};
use crate::serving::Serve;

/// 20 MiB of `a`, as one JSON string.
const BIG: usize = 20 << 20;

const SHELL: &str = r#"#!/bin/sh
# A tool per first argument, stdio protocol: the input on stdin, the result on stdout.
case "$1" in
echo) cat ;;
add)
  : > add.ran
  input=$(cat)
  a=$(printf '%s' "$input" | sed 's/.*"a":\([0-9-]*\).*/\1/')
  b=$(printf '%s' "$input" | sed 's/.*"b":\([0-9-]*\).*/\1/')
  echo $((a + b)) ;;
fail) echo "boom: the shell tool failed" >&2; exit 3 ;;
hang)
  sleep 1000 &
  echo $! > hang.pid
  wait ;;
polluted) echo "hello from the tool"; echo '{"ok":true}' ;;
big) printf '"'; head -c 20971520 /dev/zero | tr '\0' a; printf '"\n' ;;
env)
  if [ -n "${SECRET_OUTSIDE+x}" ]; then s="\"$SECRET_OUTSIDE\""; else s=null; fi
  printf '{"from_tool":"%s","secret":%s}\n' "$FROM_TOOL" "$s" ;;
esac
"#;

const PYTHON: &str = r#"#!/usr/bin/env python3
import json, os, subprocess, sys, time
tool = sys.argv[1]
data = json.load(sys.stdin)
if tool == "echo":
    json.dump(data, sys.stdout)
elif tool == "add":
    open("add.ran", "w").close()
    print(data["a"] + data["b"])
elif tool == "fail":
    print("boom: the python tool failed", file=sys.stderr)
    sys.exit(3)
elif tool == "hang":
    child = subprocess.Popen(["sleep", "1000"])
    open("hang.pid", "w").write(f"{child.pid}\n")
    time.sleep(1000)
elif tool == "polluted":
    print("hello from the tool")
    print(json.dumps({"ok": True}))
elif tool == "big":
    sys.stdout.write('"' + "a" * 20971520 + '"')
elif tool == "env":
    print(json.dumps({"from_tool": os.environ.get("FROM_TOOL"), "secret": os.environ.get("SECRET_OUTSIDE")}))
"#;

const C: &str = r#"#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/types.h>

int main(int argc, char **argv) {
  static char input[1 << 16];
  size_t n = fread(input, 1, sizeof input - 1, stdin);
  input[n] = 0;
  const char *tool = argc > 1 ? argv[1] : "";
  if (!strcmp(tool, "echo")) {
    fputs(input, stdout);
  } else if (!strcmp(tool, "add")) {
    fclose(fopen("add.ran", "w"));
    double a, b;
    if (sscanf(input, "{\"a\":%lf,\"b\":%lf}", &a, &b) != 2) return 9;
    printf("%g\n", a + b);
  } else if (!strcmp(tool, "fail")) {
    fputs("boom: the c tool failed\n", stderr);
    return 3;
  } else if (!strcmp(tool, "hang")) {
    pid_t child = fork();
    if (child == 0) { execlp("sleep", "sleep", "1000", (char *)0); _exit(127); }
    FILE *f = fopen("hang.pid", "w");
    fprintf(f, "%d\n", (int)child);
    fclose(f);
    for (;;) pause();
  } else if (!strcmp(tool, "polluted")) {
    puts("hello from the tool");
    puts("{\"ok\":true}");
  } else if (!strcmp(tool, "big")) {
    putchar('"');
    for (int i = 0; i < 20971520; i++) putchar('a');
    putchar('"');
  } else if (!strcmp(tool, "env")) {
    const char *t = getenv("FROM_TOOL"), *s = getenv("SECRET_OUTSIDE");
    printf("{\"from_tool\":\"%s\",\"secret\":", t ? t : "");
    if (s) printf("\"%s\"}", s); else fputs("null}", stdout);
  }
  return 0;
}
"#;

const RUST: &str = r#"use std::io::{Read, Write};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).unwrap();
    let tool = std::env::args().nth(1).unwrap_or_default();
    let mut out = std::io::stdout().lock();
    match tool.as_str() {
        "echo" => out.write_all(input.as_bytes()).unwrap(),
        "add" => {
            std::fs::write("add.ran", "").unwrap();
            let number = |key: &str| -> f64 {
                let rest = &input[input.find(key).unwrap() + key.len()..];
                let end = rest.find(|c: char| c == ',' || c == '}').unwrap();
                rest[..end].trim().parse().unwrap()
            };
            writeln!(out, "{}", number("\"a\":") + number("\"b\":")).unwrap();
        }
        "fail" => {
            eprintln!("boom: the rust tool failed");
            return ExitCode::from(3);
        }
        "hang" => {
            let child = Command::new("sleep").arg("1000").spawn().unwrap();
            std::fs::write("hang.pid", format!("{}\n", child.id())).unwrap();
            std::thread::sleep(std::time::Duration::from_secs(1000));
        }
        "polluted" => {
            writeln!(out, "hello from the tool").unwrap();
            writeln!(out, "{{\"ok\":true}}").unwrap();
        }
        "big" => {
            let mut big = vec![b'a'; 20971520 + 2];
            big[0] = b'"';
            big[20971521] = b'"';
            out.write_all(&big).unwrap();
        }
        "env" => {
            let tool = std::env::var("FROM_TOOL").unwrap_or_default();
            let secret = std::env::var("SECRET_OUTSIDE").map_or("null".to_owned(), |s| format!("\"{s}\""));
            write!(out, "{{\"from_tool\":\"{tool}\",\"secret\":{secret}}}").unwrap();
        }
        _ => {}
    }
    ExitCode::SUCCESS
}
"#;

/// The tools of one language: `command` gives the `command:` list of a tool.
fn config(command: impl Fn(&str) -> String) -> String {
    let tool = |id: &str, extra: &str| {
        format!(
            "  - id: {id}\n    execute: {{command: {}, protocol: stdio}}\n{extra}",
            command(id)
        )
    };
    [
        "runtime:\n  timeout: 20s\ntools:\n".to_owned(),
        tool("echo", ""),
        tool(
            "add",
            "    input: {type: object, properties: {a: {type: number}, b: {type: number}}, required: [a, b]}\n",
        ),
        tool("fail", ""),
        tool("hang", "    timeout: 1s\n"),
        tool("polluted", ""),
        tool("big", ""),
        tool("env", "    env: {FROM_TOOL: tool}\n"),
    ]
    .concat()
}

fn executable(p: &Fixture, rel: &str, text: &str) {
    p.write(rel, text);
    std::fs::set_permissions(p.path(rel), std::fs::Permissions::from_mode(0o755))
        .expect("chmod +x");
}

fn shell_project() -> Fixture {
    let p = Fixture::new();
    executable(&p, "bin/tool.sh", SHELL);
    p.write(
        "compozy.yaml",
        &config(|id| format!("[./bin/tool.sh, {id}]")),
    );
    p
}

fn python_project() -> Fixture {
    let p = Fixture::new();
    executable(&p, "bin/tool.py", PYTHON);
    p.write(
        "compozy.yaml",
        &config(|id| format!("[./bin/tool.py, {id}]")),
    );
    p
}

fn c_project() -> Fixture {
    let p = Fixture::new();
    p.write("src/tool.c", C);
    std::fs::create_dir_all(p.path("bin")).expect("mkdir bin");
    let built = Command::new("cc")
        .args(["-O2", "-o", "bin/tool", "src/tool.c"])
        .current_dir(p.root())
        .output()
        .expect("these tests need a C compiler: `cc` was not found");
    assert!(
        built.status.success(),
        "cc failed: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    // The tool file lives in a subdirectory: paths are relative to its YAML file.
    p.write("compozy.yaml", "autoload:\n  include: [tools/*.yaml]\n");
    p.write(
        "tools/c.yaml",
        &config(|id| format!("[../bin/tool, {id}]")).replace("runtime:\n  timeout: 20s\n", ""),
    );
    p
}

/// The same tools as a Rust program, compiled here with `rustc` (the toolchain that builds
/// compozy).
fn rust_project() -> Fixture {
    let p = Fixture::new();
    p.write("src/tool.rs", RUST);
    std::fs::create_dir_all(p.path("bin")).expect("mkdir bin");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let built = Command::new(&rustc)
        .args(["-O", "--edition", "2021", "-o", "bin/tool", "src/tool.rs"])
        .current_dir(p.root())
        .output()
        .unwrap_or_else(|e| panic!("these tests need `{rustc}` ({e})"));
    assert!(
        built.status.success(),
        "rustc failed: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    p.write("compozy.yaml", &config(|id| format!("[./bin/tool, {id}]")));
    p
}

/// `jq` is a tool with no code at all (it cannot start a child: no `hang`; its `fail` is jq's
/// own `error`).
fn jq_project() -> Fixture {
    let p = Fixture::new();
    let filters = [
        ("echo", "."),
        ("add", ".a + .b"),
        ("fail", "error(\"boom: the jq tool failed\")"),
        ("polluted", "\"hello from the tool\", {ok: true}"),
        ("big", "\"a\" * 20971520"),
        (
            "env",
            "{from_tool: $ENV.FROM_TOOL, secret: $ENV.SECRET_OUTSIDE}",
        ),
    ];
    let filter = |id: &str| {
        filters
            .iter()
            .find(|(tool, _)| *tool == id)
            .map_or("empty", |(_, f)| f)
            .to_owned()
    };
    let yaml = config(|id| {
        format!(
            "[jq, -c, {}]",
            serde_json::to_string(&filter(id)).expect("a string")
        )
    });
    p.write("compozy.yaml", &yaml);
    p
}

fn projects() -> Vec<(&'static str, Fixture)> {
    let jq = Command::new("jq").arg("--version").output();
    assert!(
        jq.is_ok_and(|o| o.status.success()),
        "these tests need `jq` on PATH (apt-get install jq)"
    );
    vec![
        ("shell", shell_project()),
        ("python", python_project()),
        ("c", c_project()),
        ("rust", rust_project()),
        ("jq", jq_project()),
    ]
}

fn exec(p: &Fixture, tool: &str, input: &Value) -> crate::common::Output {
    let mut cmd = p.compozy(&["exec", tool, "--input", &input.to_string()]);
    // No Bun or Node anywhere: a project of programs needs neither.
    cmd.env("SECRET_OUTSIDE", "leaked")
        .env("COMPOZY_BUN", "/nonexistent/bun")
        .env("COMPOZY_NODE", "/nonexistent/node");
    output_within(&mut cmd, Duration::from_secs(60))
}

fn read_pid(p: &Fixture) -> i64 {
    p.read("hang.pid")
        .trim()
        .parse()
        .expect("a pid in hang.pid")
}

#[test]
fn exec_runs_programs_with_the_guarantees_of_a_typescript_tool() {
    for (lang, p) in projects() {
        let context = |what: &str| format!("{lang}: {what}");
        let out = exec(&p, "echo", &json!({"text": "héllo", "n": [1, 2]}));
        out.expect_code(0);
        assert_eq!(
            out.json(),
            json!({"text": "héllo", "n": [1, 2]}),
            "{}",
            context("echo")
        );

        let out = exec(&p, "add", &json!({"a": 2, "b": 3}));
        out.expect_code(0);
        assert_eq!(out.json(), json!(5), "{}", context("add"));

        if lang != "jq" {
            std::fs::remove_file(p.path("add.ran")).expect("add ran and left add.ran");
        }
        // Invalid input: exit 2, and the program never started.
        let out = exec(&p, "add", &json!({"a": "two"}));
        out.expect_code(2)
            .stderr_has(&["does not match the schema of `add`"]);
        assert!(
            !p.path("add.ran").exists(),
            "{}",
            context("the program ran")
        );

        // A non-zero exit: 1, with the tail of stderr.
        let out = exec(&p, "fail", &json!({}));
        out.expect_code(1).stderr_has(&[
            "tool `fail` failed",
            &format!("boom: the {lang} tool failed"),
        ]);

        // Logs on stdout break the protocol: 1, quoting them.
        let out = exec(&p, "polluted", &json!({}));
        out.expect_code(1).stderr_has(&[
            "broke the `stdio` protocol",
            "hello from the tool",
            "write logs to stderr",
        ]);

        // A 20 MiB result, whole.
        let out = exec(&p, "big", &json!({}));
        out.expect_code(0);
        assert_eq!(out.stdout.trim_end().len(), BIG + 2, "{}", context("big"));
        // … and the result cap.
        let mut cmd = p.compozy(&["exec", "big", "--input", "{}"]);
        cmd.env("COMPOZY_MAX_RESULT_BYTES", "1000");
        output_within(&mut cmd, Duration::from_secs(60))
            .expect_code(1)
            .stderr_has(&["larger than the limit of 1000 bytes"]);

        // The tool's `env:`, and nothing of compozy's environment that was not passed through.
        let out = exec(&p, "env", &json!({}));
        out.expect_code(0);
        assert_eq!(
            out.json(),
            json!({"from_tool": "tool", "secret": null}),
            "{}",
            context("env")
        );

        if lang == "jq" {
            continue;
        }
        // The deadline: 124, and the program's child is killed with it.
        let out = exec(&p, "hang", &json!({}));
        out.expect_code(124)
            .stderr_has(&["did not finish within 1s"]);
        let child = read_pid(&p);
        assert!(
            gone_within(child, Duration::from_secs(5)),
            "{}",
            context("the hanging tool's child outlived the deadline")
        );
    }
}

#[test]
fn gen_refuses_a_missing_or_non_executable_command() {
    let p = Fixture::with(&[(
        "compozy.yaml",
        "tools:\n  - id: a\n    execute: {command: [./bin/a], protocol: stdio}\n  - id: b\n    execute: {command: [./bin/b]}\n  - id: c\n    execute: {command: [./bin/b], protocol: stdoi}\n  - id: d\n    execute: {command: [./bin/b], protocol: stdio, persistent: true}\n  - id: e\n    execute: {path: ./bin/b}\n",
    )]);
    p.write("bin/b", "#!/bin/sh\n");
    p.run(&["gen"]).expect_code(2).stderr_has(&[
        "the command `./bin/a` of tool `a` does not exist",
        "paths are relative to the YAML file",
        "the command `./bin/b` of tool `b` is not executable",
        "chmod +x",
        "unknown protocol `stdoi`",
        "did you mean `stdio`?",
        "asks for a persistent `stdio` process",
        "unknown key `path` in `execute:`",
    ]);
    assert!(
        !p.run(&["gen"])
            .stderr
            .contains("tool `e` has no `command:`"),
        "a misspelt `command` is reported once"
    );
    assert!(crate::common::nothing_generated(&p));
}

#[test]
fn gen_types_process_tools_leaves_them_out_of_the_entrypoint_and_inspect_shows_them() {
    let p = shell_project();
    p.run(&["gen"]).expect_code(0);
    let types = p.read(".compozy/types.ts");
    assert!(
        types.contains("add") && types.contains("a: number"),
        "types.ts:\n{types}"
    );
    let entry = p.read(".compozy/tools.ts");
    assert!(entry.contains("export {};"), "tools.ts:\n{entry}");
    // `inspect` shows what runs a process tool.
    let out = p.run(&["inspect"]);
    out.expect_code(0);
    assert!(
        out.stdout.contains("bin/tool.sh add (stdio)"),
        "inspect:\n{}",
        out.stdout
    );
}

fn serve(p: &Fixture, workers: usize) -> Serve {
    let mut cmd = p.compozy(&["serve", "--workers", &workers.to_string()]);
    cmd.env("SECRET_OUTSIDE", "leaked")
        .env("COMPOZY_BUN", "/nonexistent/bun")
        .env("COMPOZY_NODE", "/nonexistent/node");
    Serve::spawn(cmd)
}

#[test]
fn serve_runs_programs_with_the_guarantees_of_a_typescript_tool() {
    for (lang, p) in projects() {
        let mut s = serve(&p, 2);
        let context = |what: &str| format!("{lang}: {what}");
        let r = s.call(&json!({"id": 1, "tool_id": "echo", "input": {"x": [1, "é"]}}));
        assert_eq!(r["result"], json!({"x": [1, "é"]}), "{}", context("echo"));
        let r = s.call(&json!({"id": 2, "tool_id": "add", "input": {"a": 40, "b": 2}}));
        assert_eq!(r["result"], json!(42), "{}", context("add"));
        let _ = std::fs::remove_file(p.path("add.ran"));
        let r = s.call(&json!({"id": 3, "tool_id": "add", "input": {"a": 1}}));
        assert_eq!(
            r["error"]["name"],
            "InvalidInputError",
            "{}",
            context("invalid")
        );
        assert!(
            !p.path("add.ran").exists(),
            "{}",
            context("the program ran")
        );
        // Each failure carries its own stderr, however soon the program exits after writing it.
        for _ in 0..20 {
            let r = s.call(&json!({"id": 4, "tool_id": "fail"}));
            assert_eq!(r["error"]["name"], "ExitError", "{r}");
            assert!(
                r["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("boom: the {lang} tool failed")),
                "{r}"
            );
        }
        let r = s.call(&json!({"id": 5, "tool_id": "polluted"}));
        assert_eq!(r["error"]["name"], "ProtocolError", "{r}");
        assert!(
            r["error"]["message"]
                .as_str()
                .unwrap()
                .contains("write logs to stderr"),
            "{r}"
        );
        let r = s.call(&json!({"id": 6, "tool_id": "big"}));
        assert_eq!(
            r["result"].as_str().map(str::len),
            Some(BIG),
            "{}",
            context("big")
        );
        let r = s.call(&json!({"id": 7, "tool_id": "env", "env": {"FROM_REQUEST": "r"}}));
        assert_eq!(
            r["result"],
            json!({"from_tool": "tool", "secret": null}),
            "{}",
            context("env")
        );
        if lang != "jq" {
            let r = s.call(&json!({"id": 8, "tool_id": "hang"}));
            assert_eq!(r["error"]["name"], "TimeoutError", "{r}");
            assert!(
                gone_within(read_pid(&p), Duration::from_secs(5)),
                "{}",
                context("the hanging tool's child outlived the deadline")
            );
            // The pool goes on.
            let r = s.call(&json!({"id": 9, "tool_id": "add", "input": {"a": 1, "b": 1}}));
            assert_eq!(r["result"], json!(2), "{}", context("after a timeout"));
        }
        s.close_stdin();
        assert_eq!(s.wait(Duration::from_secs(20)), 0, "{}", context("serve"));
    }
}

/// A program that speaks compozy's worker protocol and stays warm: requests as NDJSON on stdin,
/// answers on fd 3.
const WARM: &str = r#"#!/usr/bin/env python3
import json, os, sys, time
out = os.fdopen(3, "w")
for line in sys.stdin:
    req = json.loads(line)
    if req["input"].get("sleep"):
        time.sleep(1000)
    if req.get("progress"):
        out.write(json.dumps({"progress": {"progress": 1, "total": 2, "message": "half way"}}) + "\n")
        out.flush()
    result = {"echo": req["input"], "pid": os.getpid(), "cwd": os.getcwd()}
    out.write(json.dumps({"id": req["id"], "result": result, "error": None,
        "metadata": {"tool_id": req["tool_id"], "tool_exec_id": req["tool_exec_id"], "execution_time_ms": 0}}) + "\n")
    out.flush()
"#;

fn warm_project() -> Fixture {
    let p = Fixture::with(&[(
        "compozy.yaml",
        "tools:\n  - id: warm\n    timeout: 3s\n    execute: {command: [./bin/warm.py], persistent: true}\n  - id: once\n    execute: {command: [./bin/warm.py]}\n",
    )]);
    executable(&p, "bin/warm.py", WARM);
    p
}

#[test]
fn a_persistent_program_stays_warm_and_a_hang_replaces_it() {
    let p = warm_project();
    let root = p.root().canonicalize().expect("canonical root");
    // Started elsewhere, the program still runs in the project root.
    let mut cmd = p.compozy(&["exec", "warm", "--input", r#"{"n": 1}"#]);
    cmd.current_dir(p.path("bin"));
    let out = output_within(&mut cmd, Duration::from_secs(30));
    out.expect_code(0);
    assert_eq!(out.json()["echo"], json!({"n": 1}));
    assert_eq!(out.json()["cwd"], json!(root.display().to_string()));

    let mut s = serve(&p, 1);
    let first = s.call(&json!({"id": 1, "tool_id": "warm", "input": {"n": 1}}));
    let second = s.call(&json!({"id": 2, "tool_id": "warm", "input": {"n": 2}}));
    assert_eq!(second["result"]["echo"], json!({"n": 2}), "{second}");
    assert_eq!(
        first["result"]["pid"], second["result"]["pid"],
        "a persistent program answers many requests"
    );
    // Not persistent: a process per request.
    let a = s.call(&json!({"id": 3, "tool_id": "once", "input": {}}));
    let b = s.call(&json!({"id": 4, "tool_id": "once", "input": {}}));
    assert_ne!(a["result"]["pid"], b["result"]["pid"], "{a} {b}");
    // The deadline kills the warm process; the next request gets a new one.
    let warm_pid = s.call(&json!({"id": 5, "tool_id": "warm", "input": {}}))["result"]["pid"]
        .as_i64()
        .expect("a pid");
    let r = s.call(&json!({"id": 6, "tool_id": "warm", "input": {"sleep": true}}));
    assert_eq!(r["error"]["name"], "TimeoutError", "{r}");
    assert!(gone_within(warm_pid, Duration::from_secs(5)));
    let r = s.call(&json!({"id": 7, "tool_id": "warm", "input": {}}));
    assert_ne!(r["result"]["pid"].as_i64(), Some(warm_pid), "{r}");
    s.close_stdin();
    assert_eq!(s.wait(Duration::from_secs(20)), 0);
}

/// The same tools in TypeScript, for the MCP comparison.
fn typescript_project() -> Fixture {
    let p = Fixture::new();
    p.write(
        "compozy.yaml",
        &config(|id| format!("[unused, {id}]"))
            .replace("execute: {command: [unused, ", "execute: ./tools/")
            .replace("], protocol: stdio}", ".ts"),
    );
    for (id, body) in [
        (
            "echo",
            "export function run(i: unknown) {\n  return i;\n}\n",
        ),
        (
            "add",
            "export function run(i: { a: number; b: number }) {\n  return i.a + i.b;\n}\n",
        ),
        (
            "fail",
            "export function run() {\n  throw new Error(\"boom: the typescript tool failed\");\n}\n",
        ),
        (
            "hang",
            "export function run() {\n  return new Promise(() => {});\n}\n",
        ),
        (
            "polluted",
            "export function run() {\n  console.log(\"hello from the tool\");\n  return { ok: true };\n}\n",
        ),
        (
            "big",
            "export function run() {\n  return \"a\".repeat(20971520);\n}\n",
        ),
        (
            "env",
            "export function run() {\n  return { from_tool: process.env.FROM_TOOL ?? null, secret: process.env.SECRET_OUTSIDE ?? null };\n}\n",
        ),
    ] {
        p.write(&format!("tools/{id}.ts"), body);
    }
    p
}

#[test]
fn mcp_gives_the_results_of_the_typescript_tools() {
    let steps = json!([
        {"op": "call", "name": "echo", "args": {"text": "héllo", "n": [1, 2]}},
        {"op": "call", "name": "add", "args": {"a": 2, "b": 3}},
        {"op": "call", "name": "add", "args": {"a": "two"}},
        {"op": "call", "name": "env"},
        {"op": "call", "name": "fail"},
        // No `big`: the official client refuses a message over 10 MiB on stdio ("ReadBuffer
        // exceeded maximum size"); exec and serve carry the 20 MiB result above.
        {"op": "call", "name": "hang"},
    ]);
    let ts = typescript_project();
    let reference = crate::mcp::over_stdio(&ts, "bun", "modern", &[], &steps);
    let r = &reference["results"];
    assert_eq!(r[0]["isError"], false, "{reference:#}");
    assert_eq!(
        r[0]["structuredContent"],
        json!({"text": "héllo", "n": [1, 2]})
    );
    assert_eq!(r[2]["isError"], true, "{reference:#}");
    assert_eq!(
        r[3]["structuredContent"],
        json!({"from_tool": "tool", "secret": null})
    );
    let same = |report: &Value, i: usize| {
        let r = &report["results"][i];
        (
            r["isError"].clone(),
            r["content"].clone(),
            r["structuredContent"].clone(),
        )
    };
    for (lang, p) in projects() {
        if lang != "jq" {
            // Cancelling a call stops the program and its child (written to hang.pid).
            let pid_file = p.path("hang.pid");
            let cancel = json!([{"op": "cancel", "name": "hang", "pidFile": pid_file}]);
            let cancelled = crate::mcp::over_stdio(&p, "bun", "modern", &[], &cancel);
            let c = &cancelled["results"][0];
            assert_eq!(c["aliveBefore"], json!([true]), "{lang}: {cancelled:#}");
            assert_eq!(c["aliveAfter"], json!([false]), "{lang}: {cancelled:#}");
            assert!(
                c["settled"]
                    .as_str()
                    .unwrap_or_default()
                    .starts_with("rejected"),
                "{lang}: {cancelled:#}"
            );
            std::fs::remove_file(&pid_file).expect("remove hang.pid");
        }
        let report = crate::mcp::over_stdio(&p, "bun", "modern", &[], &steps);
        let r = &report["results"];
        for (i, what) in [(0, "echo"), (1, "add"), (2, "invalid input"), (3, "env")] {
            assert_eq!(
                same(&report, i),
                same(&reference, i),
                "{lang}: {what} differs from the TypeScript tool\n{report:#}\n{reference:#}"
            );
        }
        assert_eq!(r[1]["structuredContent"], json!(5), "{lang}: {report:#}");
        assert_eq!(crate::mcp::text(&r[1]), "5", "{lang}: {report:#}");
        assert_eq!(r[4]["isError"], true, "{lang}: {report:#}");
        assert!(
            crate::mcp::text(&r[4]).contains(&format!("boom: the {lang} tool failed")),
            "{lang}: {report:#}"
        );
        if lang != "jq" {
            assert_eq!(r[5]["isError"], true, "{lang}: {report:#}");
            assert!(
                crate::mcp::text(&r[5])
                    .starts_with("TimeoutError: tool `hang` did not finish within 1s"),
                "{lang}: {report:#}"
            );
            assert!(gone_within(read_pid(&p), Duration::from_secs(5)), "{lang}");
        }
    }
}

#[test]
fn a_rebuilt_program_replaces_its_warm_processes_under_watch_serve() {
    let p = warm_project();
    let mut w = crate::watcher::Watch::start(&p, &["--serve", "--workers", "1"]);
    let before = w.call(&json!({"id": 1, "tool_id": "warm", "input": {}}));
    assert_eq!(before["result"]["echo"], json!({}), "{before}");
    // The rebuilt program answers differently: only a replaced process can say so.
    executable(
        &p,
        "bin/warm.py",
        &WARM.replace("\"echo\": req[\"input\"]", "\"echo\": \"rebuilt\""),
    );
    w.wait_until("a reload", |s| s.contains("workers reloaded"));
    let after = w.call(&json!({"id": 2, "tool_id": "warm", "input": {}}));
    assert_eq!(after["result"]["echo"], "rebuilt", "{after}");
    assert_ne!(after["result"]["pid"], before["result"]["pid"]);
}

#[test]
fn mcp_over_http_carries_a_20_mib_result_and_refuses_a_polluted_stdout() {
    let steps = json!([
        {"op": "call", "name": "big"},
        {"op": "call", "name": "polluted"},
    ]);
    let ts = typescript_project();
    let server = crate::mcp::HttpServer::start_at(&ts, "bun", "127.0.0.1:0", &[], &[]);
    let reference = crate::mcp::over_http(&ts, &server.url, "modern", &steps);
    drop(server);
    // A string result is the call's text content (structured content is an object).
    let big = |report: &Value| report["results"][0]["content"].clone();
    assert_eq!(
        big(&reference)[0]["text"].as_str().map(str::len),
        Some(BIG),
        "the TypeScript tool's 20 MiB result"
    );
    for (lang, p) in projects() {
        let server = crate::mcp::HttpServer::start_at(&p, "bun", "127.0.0.1:0", &[], &[]);
        let report = crate::mcp::over_http(&p, &server.url, "modern", &steps);
        let r = &report["results"];
        assert_eq!(r[0]["isError"], false, "{lang}: big");
        assert!(
            big(&report) == big(&reference),
            "{lang}: the 20 MiB result differs"
        );
        // TypeScript's `console.log` goes to the logs; a program's stdout is its result.
        assert_eq!(reference["results"][1]["isError"], false);
        assert_eq!(r[1]["isError"], true, "{lang}: {:#}", r[1]);
        assert!(
            crate::mcp::text(&r[1]).contains("write logs to stderr"),
            "{lang}: {:#}",
            r[1]
        );
    }
}

#[test]
fn a_program_speaking_the_protocol_reports_progress_to_mcp_clients() {
    let p = warm_project();
    let steps = json!([
        {"op": "call", "name": "warm", "args": {"n": 1}, "progress": true},
        {"op": "call", "name": "once", "args": {}, "progress": true},
    ]);
    let report = crate::mcp::over_stdio(&p, "bun", "modern", &[], &steps);
    for (i, tool) in ["warm", "once"].iter().enumerate() {
        let r = &report["results"][i];
        assert_eq!(r["isError"], false, "{tool}: {report:#}");
        assert_eq!(
            r["progress"][0]["message"], "half way",
            "{tool}: {report:#}"
        );
        assert_eq!(r["progress"][0]["total"], 2, "{tool}: {report:#}");
    }
}

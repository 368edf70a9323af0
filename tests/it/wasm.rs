//! WebAssembly tools (`execute: ./x.wasm`) end to end: modules written in the text format and
//! assembled here, run by compozy's own engine under exec, serve and mcp, in a sandbox that
//! grants nothing but what `execute:` lists; and the same module under Node's `node:wasi`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Fixture, output_within};
use crate::serving::Serve;

/// The imports, the memory and the helpers every test module shares; `BODY` is `_start`'s.
const TEMPLATE: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 256) "hello from the tool\0a{\"ok\":true}\0a")
  (data (i32.const 320) "boom: the wasm tool failed\0a")
  (data (i32.const 352) "../secret")
  (data (i32.const 368) "made.txt")
  (data (i32.const 384) "hello.txt")
  (data (i32.const 400) "add.ran")
  (data (i32.const 416) "[\22\22,\22]}\0a{\22errno\22:{\22pages\22:")
  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))
  ;; stdin into 1024.., its length
  (func $read_all (result i32) (local $n i32) (local $total i32)
    (block $done (loop $more
      (i32.store (i32.const 0) (i32.add (i32.const 1024) (local.get $total)))
      (i32.store (i32.const 4) (i32.sub (i32.const 60000) (local.get $total)))
      (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $n (i32.load (i32.const 8)))
      (br_if $done (i32.eqz (local.get $n)))
      (local.set $total (i32.add (local.get $total) (local.get $n)))
      (br $more)))
    (local.get $total))
  ;; a non-negative number in decimal to stdout
  (func $number (param $v i32) (local $at i32)
    (local.set $at (i32.const 100))
    (loop $digit
      (local.set $at (i32.sub (local.get $at) (i32.const 1)))
      (i32.store8 (local.get $at) (i32.add (i32.const 48) (i32.rem_u (local.get $v) (i32.const 10))))
      (local.set $v (i32.div_u (local.get $v) (i32.const 10)))
      (br_if $digit (local.get $v)))
    (call $write (i32.const 1) (local.get $at) (i32.sub (i32.const 100) (local.get $at))))
  ;; the next run of digits in the input from $at*, as a number; $at moves past it
  (func $next (param $at i32) (result i32) (local $v i32) (local $c i32)
    (block $found (loop $skip
      (local.set $c (i32.load8_u (i32.load (local.get $at))))
      (br_if $found (i32.lt_u (i32.sub (local.get $c) (i32.const 48)) (i32.const 10)))
      (i32.store (local.get $at) (i32.add (i32.load (local.get $at)) (i32.const 1)))
      (br $skip)))
    (block $end (loop $digits
      (local.set $c (i32.load8_u (i32.load (local.get $at))))
      (br_if $end (i32.ge_u (i32.sub (local.get $c) (i32.const 48)) (i32.const 10)))
      (local.set $v (i32.add (i32.mul (local.get $v) (i32.const 10)) (i32.sub (local.get $c) (i32.const 48))))
      (i32.store (local.get $at) (i32.add (i32.load (local.get $at)) (i32.const 1)))
      (br $digits)))
    (local.get $v))
  (func $errno (param $e i32)
    (call $write (i32.const 1) (i32.const 424) (i32.const 9))
    (call $number (local.get $e))
    (call $write (i32.const 1) (i32.const 422) (i32.const 1)))
  (func (export "_start") (local $i i32) (local $n i32) (local $size i32)
    BODY))
"#;

/// `(name, body of _start)` of every test module.
const TOOLS: &[(&str, &str)] = &[
    (
        "echo",
        "(call $write (i32.const 1) (i32.const 1024) (call $read_all))",
    ),
    (
        "add",
        r#"(drop (call $read_all))
        ;; mark that it ran: /out/add.ran
        (drop (call $path_open (i32.const 3) (i32.const 0) (i32.const 400) (i32.const 7)
          (i32.const 1) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 16)))
        (i32.store (i32.const 12) (i32.const 1024))
        (call $number (i32.add (call $next (i32.const 12)) (call $next (i32.const 12))))"#,
    ),
    (
        "fail",
        "(call $write (i32.const 2) (i32.const 320) (i32.const 27)) (call $proc_exit (i32.const 3))",
    ),
    ("hang", "(loop $forever (br $forever))"),
    (
        "polluted",
        "(call $write (i32.const 1) (i32.const 256) (i32.const 32))",
    ),
    (
        "big",
        r#"(memory.fill (i32.const 65536) (i32.const 97) (i32.const 65536))
        (call $write (i32.const 1) (i32.const 417) (i32.const 1))
        (loop $chunk
          (call $write (i32.const 1) (i32.const 65536) (i32.const 65536))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $chunk (i32.lt_u (local.get $i) (i32.const 320))))
        (call $write (i32.const 1) (i32.const 417) (i32.const 1))"#,
    ),
    (
        // Every variable it sees, as a JSON list of `NAME=value`.
        "env",
        r#"(drop (call $environ_sizes_get (i32.const 16) (i32.const 20)))
        (drop (call $environ_get (i32.const 2048) (i32.const 4096)))
        (local.set $size (i32.load (i32.const 20)))
        (call $write (i32.const 1) (i32.const 416) (i32.const 1))
        (if (local.get $size) (then
          (call $write (i32.const 1) (i32.const 417) (i32.const 1))
          (loop $byte
            (if (i32.load8_u (i32.add (i32.const 4096) (local.get $i)))
              (then (call $write (i32.const 1) (i32.add (i32.const 4096) (local.get $i)) (i32.const 1)))
              (else (if (i32.lt_u (i32.add (local.get $i) (i32.const 1)) (local.get $size))
                (then (call $write (i32.const 1) (i32.const 418) (i32.const 3))))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $byte (i32.lt_u (local.get $i) (local.get $size))))
          (call $write (i32.const 1) (i32.const 417) (i32.const 1))))
        (call $write (i32.const 1) (i32.const 421) (i32.const 1))
        (call $write (i32.const 1) (i32.const 423) (i32.const 1))"#,
    ),
    (
        // /data/../secret, as wasi-libc asks for it: `../secret` below the /data preopen.
        "secret",
        r#"(call $errno (call $path_open (i32.const 3) (i32.const 0) (i32.const 352) (i32.const 9)
          (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 16)))"#,
    ),
    (
        // Appends to /data/made.txt a byte at a time, forever: a call that only a deadline or a
        // cancel ends, and that shows whether it still runs.
        "tick",
        r#"(drop (call $path_open (i32.const 3) (i32.const 0) (i32.const 368) (i32.const 8)
          (i32.const 1) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 16)))
        (loop $forever
          (call $write (i32.load (i32.const 16)) (i32.const 256) (i32.const 1))
          (br $forever))"#,
    ),
    (
        // Creates /data/made.txt for writing.
        "write",
        r#"(call $errno (call $path_open (i32.const 3) (i32.const 0) (i32.const 368) (i32.const 8)
          (i32.const 1) (i64.const 64) (i64.const 0) (i32.const 0) (i32.const 16)))"#,
    ),
    (
        // /data/hello.txt, whole, as its result.
        "read",
        r#"(drop (call $path_open (i32.const 3) (i32.const 0) (i32.const 384) (i32.const 9)
          (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 16)))
        (i32.store (i32.const 0) (i32.const 1024))
        (i32.store (i32.const 4) (i32.const 1000))
        (drop (call $fd_read (i32.load (i32.const 16)) (i32.const 0) (i32.const 1) (i32.const 8)))
        (call $write (i32.const 1) (i32.const 1024) (i32.load (i32.const 8)))"#,
    ),
    (
        // Grows its memory a page at a time until refused: {"pages":N} grown.
        "grow",
        r#"(block $refused (loop $more
          (br_if $refused (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
          (local.set $n (i32.add (local.get $n) (i32.const 1)))
          (br_if $more (i32.lt_u (local.get $n) (i32.const 65536)))))
        (call $write (i32.const 1) (i32.const 433) (i32.const 9))
        (call $number (local.get $n))
        (call $write (i32.const 1) (i32.const 422) (i32.const 1))"#,
    ),
];

fn module(body: &str) -> Vec<u8> {
    wat::parse_str(TEMPLATE.replace("BODY", body)).expect("the test module assembles")
}

const CONFIG: &str = r#"runtime:
  timeout: 20s
tools:
  - id: echo
    execute: ./wasm/echo.wasm
  - id: add
    execute: {wasm: ./wasm/add.wasm, dirs: [{path: ./out, write: true}]}
    input: {type: object, properties: {a: {type: number}, b: {type: number}}, required: [a, b]}
  - id: fail
    execute: ./wasm/fail.wasm
  - id: hang
    execute: ./wasm/hang.wasm
    timeout: 1s
  - id: polluted
    execute: ./wasm/polluted.wasm
  - id: big
    execute: ./wasm/big.wasm
  - id: env
    execute: {wasm: ./wasm/env.wasm, env: [FROM_TOOL, SECRET_OUTSIDE]}
    env: {FROM_TOOL: tool, NOT_GRANTED: x}
  - id: secret
    execute: {wasm: ./wasm/secret.wasm, dirs: [./data]}
  - id: write
    execute: {wasm: ./wasm/write.wasm, dirs: [./data]}
  - id: write-granted
    execute: {wasm: ./wasm/write.wasm, dirs: [{path: ./data, write: true}]}
  - id: read
    execute: {wasm: ./wasm/read.wasm, dirs: [./data]}
  - id: tick
    execute: {wasm: ./wasm/tick.wasm, dirs: [{path: ./data, write: true}]}
  - id: grow
    execute: {wasm: ./wasm/grow.wasm, memory: 1MiB}
"#;

fn project() -> Fixture {
    let p = Fixture::with(&[
        ("compozy.yaml", CONFIG),
        ("secret", "\"the secret\""),
        ("data/hello.txt", "\"hi from data\""),
        ("out/.keep", ""),
    ]);
    std::fs::create_dir_all(p.path("wasm")).expect("mkdir wasm");
    for (name, body) in TOOLS {
        std::fs::write(p.path(&format!("wasm/{name}.wasm")), module(body)).expect("write module");
    }
    p
}

fn exec(p: &Fixture, tool: &str, input: &Value) -> crate::common::Output {
    let mut cmd = p.compozy(&["exec", tool, "--input", &input.to_string()]);
    // No Bun or Node anywhere: a project of modules needs neither.
    cmd.env("SECRET_OUTSIDE", "leaked")
        .env("COMPOZY_BUN", "/nonexistent/bun")
        .env("COMPOZY_NODE", "/nonexistent/node");
    output_within(&mut cmd, Duration::from_secs(60))
}

#[test]
fn exec_runs_modules_with_the_guarantees_of_a_typescript_tool() {
    let p = project();
    let out = exec(&p, "echo", &json!({"text": "héllo", "n": [1, 2]}));
    out.expect_code(0);
    assert_eq!(out.json(), json!({"text": "héllo", "n": [1, 2]}));

    let out = exec(&p, "add", &json!({"a": 2, "b": 3}));
    out.expect_code(0);
    assert_eq!(out.json(), json!(5));
    std::fs::remove_file(p.path("out/add.ran")).expect("add ran and left out/add.ran");
    // Invalid input: exit 2, and the module never started.
    exec(&p, "add", &json!({"a": "two"}))
        .expect_code(2)
        .stderr_has(&["does not match the schema of `add`"]);
    assert!(!p.path("out/add.ran").exists(), "the module ran");

    exec(&p, "fail", &json!({}))
        .expect_code(1)
        .stderr_has(&["tool `fail` failed", "boom: the wasm tool failed"]);
    exec(&p, "polluted", &json!({}))
        .expect_code(1)
        .stderr_has(&["hello from the tool", "write logs to stderr"]);
    // `loop {}`: the engine's deadline, 124.
    exec(&p, "hang", &json!({}))
        .expect_code(124)
        .stderr_has(&["did not finish within 1s"]);

    let out = exec(&p, "big", &json!({}));
    out.expect_code(0);
    assert_eq!(out.stdout.trim_end().len(), (20 << 20) + 2);
    let mut cmd = p.compozy(&["exec", "big", "--input", "{}"]);
    cmd.env("COMPOZY_MAX_RESULT_BYTES", "1000");
    output_within(&mut cmd, Duration::from_secs(60))
        .expect_code(1)
        .stderr_has(&["larger than the limit of 1000 bytes"]);

    // Only the granted variables, from the tool's environment: NOT_GRANTED is the tool's but
    // not granted, SECRET_OUTSIDE is granted but not the tool's.
    let out = exec(&p, "env", &json!({}));
    out.expect_code(0);
    assert_eq!(out.json(), json!(["FROM_TOOL=tool"]));
}

#[test]
fn the_sandbox_refuses_what_was_not_granted() {
    let p = project();
    // /data/../secret: ENOTCAPABLE (76).
    let out = exec(&p, "secret", &json!({}));
    out.expect_code(0);
    assert_eq!(out.json(), json!({"errno": 76}));
    // A write to a read-only directory: EROFS (69), nothing written.
    let out = exec(&p, "write", &json!({}));
    out.expect_code(0);
    assert_eq!(out.json(), json!({"errno": 69}));
    assert!(!p.path("data/made.txt").exists());
    // … and allowed where granted.
    let out = exec(&p, "write-granted", &json!({}));
    out.expect_code(0);
    assert_eq!(out.json(), json!({"errno": 0}));
    assert!(p.path("data/made.txt").exists());
    let out = exec(&p, "read", &json!({}));
    out.expect_code(0);
    assert_eq!(out.json(), json!("hi from data"));
    // memory.grow past 1 MiB (16 pages, 2 of them initial) is refused.
    let out = exec(&p, "grow", &json!({}));
    out.expect_code(0);
    assert_eq!(out.json(), json!({"pages": 14}));
}

#[test]
fn gen_refuses_what_cannot_run() {
    let cases: &[(&str, &[u8], &str)] = &[
        (
            "component",
            b"\0asm\x0d\0\x01\0",
            "is a WebAssembly component, not a module",
        ),
        (
            "reactor",
            b"",
            "is a reactor module: it exports no `_start`",
        ),
        ("foreign", b"", "imports `now` from `env`"),
        ("garbage", b"not wasm at all", "is not a WebAssembly module"),
    ];
    for (name, bytes, expected) in cases {
        let bytes: Vec<u8> = match *name {
            "reactor" => wat::parse_str("(module (func (export \"run\")))").expect("wat"),
            "foreign" => wat::parse_str(
                "(module (import \"env\" \"now\" (func)) (func (export \"_start\")))",
            )
            .expect("wat"),
            _ => bytes.to_vec(),
        };
        let p = Fixture::with(&[("compozy.yaml", "tools:\n  - id: t\n    execute: ./t.wasm\n")]);
        std::fs::write(p.path("t.wasm"), bytes).expect("write");
        p.run(&["gen"]).expect_code(2).stderr_has(&[expected]);
    }
    let p = Fixture::with(&[(
        "compozy.yaml",
        "tools:\n  - id: t\n    execute: {wasm: ./missing.wasm, dirs: [../outside]}\n",
    )]);
    p.run(&["gen"]).expect_code(2).stderr_has(&[
        "does not exist",
        "wasm32-wasip1",
        "outside the project root",
    ]);
}

#[test]
fn serve_and_mcp_run_modules() {
    let p = project();
    let mut cmd = p.compozy(&["serve", "--workers", "2"]);
    cmd.env("COMPOZY_BUN", "/nonexistent/bun")
        .env("COMPOZY_NODE", "/nonexistent/node");
    let mut s = Serve::spawn(cmd);
    let r = s.call(&json!({"id": 1, "tool_id": "echo", "input": {"x": [1, "é"]}}));
    assert_eq!(r["result"], json!({"x": [1, "é"]}), "{r}");
    let r = s.call(&json!({"id": 2, "tool_id": "add", "input": {"a": 40, "b": 2}}));
    assert_eq!(r["result"], json!(42), "{r}");
    let r = s.call(&json!({"id": 3, "tool_id": "hang", "input": {}}));
    assert_eq!(r["error"]["name"], "TimeoutError", "{r}");
    let r = s.call(&json!({"id": 4, "tool_id": "fail", "input": {}}));
    assert_eq!(r["error"]["name"], "ExitError", "{r}");
    drop(s);

    let steps = json!([
        {"op": "call", "name": "echo", "args": {"text": "héllo"}},
        {"op": "call", "name": "add", "args": {"a": 2, "b": 3}},
        {"op": "call", "name": "add", "args": {"a": "two"}},
        {"op": "call", "name": "hang"},
        {"op": "call", "name": "fail"},
        {"op": "call", "name": "polluted"},
        {"op": "call", "name": "env"},
    ]);
    let report = crate::mcp::over_stdio(&p, "bun", "modern", &[], &steps);
    let r = &report["results"];
    assert_eq!(r[4]["isError"], true, "{report:#}");
    assert!(
        crate::mcp::text(&r[4]).contains("boom: the wasm tool failed"),
        "{report:#}"
    );
    assert_eq!(r[5]["isError"], true, "{report:#}");
    assert!(
        crate::mcp::text(&r[5]).contains("write logs to stderr"),
        "{report:#}"
    );
    assert_eq!(r[6]["isError"], false, "{report:#}");
    assert_eq!(
        crate::mcp::text(&r[6]),
        r#"["FROM_TOOL=tool"]"#,
        "{report:#}"
    );

    // A 20 MiB result, whole, over HTTP (the official client refuses over 10 MiB on stdio).
    let server = crate::mcp::HttpServer::start_at(&p, "bun", "127.0.0.1:0", &[], &[]);
    let big = crate::mcp::over_http(
        &p,
        &server.url,
        "modern",
        &json!([{"op": "call", "name": "big"}]),
    );
    let text = crate::mcp::text(&big["results"][0]);
    assert_eq!(text.len(), 20 << 20, "the 20 MiB result");
    assert!(text.bytes().all(|b| b == b'a'), "the 20 MiB result's bytes");
    assert_eq!(
        r[0]["structuredContent"],
        json!({"text": "héllo"}),
        "{report:#}"
    );
    assert_eq!(r[1]["structuredContent"], json!(5), "{report:#}");
    assert_eq!(r[2]["isError"], true, "{report:#}");
    assert!(
        crate::mcp::text(&r[3]).starts_with("TimeoutError: tool `hang` did not finish within 1s"),
        "{report:#}"
    );
}

/// A server runs at most `--workers` module calls at once: with one, a call waits for the one
/// before it, and a cancel takes a waiting call out.
#[test]
fn module_calls_take_turns_under_workers() {
    let p = project();
    let mut cmd = p.compozy(&["serve", "--workers", "1"]);
    cmd.env("COMPOZY_BUN", "/nonexistent/bun")
        .env("COMPOZY_NODE", "/nonexistent/node");
    let mut s = Serve::spawn(cmd);
    s.send(&json!({"id": 1, "tool_id": "hang", "tool_exec_id": "h1"}));
    s.send(&json!({"id": 2, "tool_id": "echo", "tool_exec_id": "e2", "input": {"n": 2}}));
    s.send(&json!({"id": 3, "tool_id": "echo", "tool_exec_id": "e3", "input": {"n": 3}}));
    s.send(&json!({"cancel": "e2"}));
    // The cancelled call answers at once; the other waits for `hang`'s deadline (1s).
    let first = s.recv();
    assert_eq!(first["id"], 2, "{first}");
    assert_eq!(first["error"]["name"], "CancelledError", "{first}");
    let second = s.recv();
    assert_eq!(second["id"], 1, "{second}");
    assert_eq!(second["error"]["name"], "TimeoutError", "{second}");
    let third = s.recv();
    assert_eq!(third["id"], 3, "{third}");
    assert_eq!(third["result"], json!({"n": 3}), "{third}");
}

#[test]
fn a_rebuilt_module_is_picked_up_under_watch_serve() {
    let p = project();
    let mut w = crate::watcher::Watch::start(&p, &["--serve", "--workers", "1"]);
    let before = w.call(&json!({"id": 1, "tool_id": "echo", "input": {"v": 1}}));
    assert_eq!(before["result"], json!({"v": 1}), "{before}");
    std::fs::write(p.path("wasm/echo.wasm"), module(TOOLS[4].1)).expect("rebuild");
    w.wait_until("a reload", |s| s.contains("workers reloaded"));
    let after = w.call(&json!({"id": 2, "tool_id": "echo", "input": {"v": 1}}));
    assert_eq!(after["error"]["name"], "ProtocolError", "{after}");
}

/// The same module gives the same bytes under compozy and Node's `node:wasi`.
#[test]
fn node_wasi_gives_byte_identical_output() {
    let p = project();
    let node = crate::common::runtime_bin("node");
    let script = r#"
const { WASI } = require('node:wasi');
const fs = require('node:fs');
const [file, input, out] = process.argv.slice(2);
const stdin = fs.openSync(input, 'r');
const stdout = fs.openSync(out, 'w');
const wasi = new WASI({ version: 'preview1', args: ['m'], env: { FROM_TOOL: 'tool' }, stdin, stdout, returnOnExit: true });
const instance = new WebAssembly.Instance(new WebAssembly.Module(fs.readFileSync(file)), wasi.getImportObject());
process.exitCode = wasi.start(instance);
"#;
    p.write("host.cjs", script);
    for (tool, input) in [
        ("echo", json!({"text": "héllo", "n": [1, 2.5, null]})),
        ("add", json!({"a": 20, "b": 22})),
        ("env", json!({})),
    ] {
        p.write("input.json", &format!("{input}\n"));
        let mut cmd = std::process::Command::new(&node);
        cmd.current_dir(p.root()).args([
            "host.cjs",
            &format!("wasm/{tool}.wasm"),
            "input.json",
            "node.out",
        ]);
        let status = cmd.status().expect("run node");
        assert!(status.success(), "node:wasi failed on {tool}");
        let mut cmd = p.compozy(&["exec", tool, "--input", &input.to_string()]);
        let ours = output_within(&mut cmd, Duration::from_secs(60));
        ours.expect_code(0);
        let theirs = p.read("node.out");
        assert_eq!(ours.stdout.trim_end(), theirs.trim_end(), "{tool}");
    }
}

#[test]
fn gen_types_modules_leaves_them_out_of_the_entrypoint_and_inspect_shows_their_grants() {
    let p = project();
    p.run(&["gen"]).expect_code(0);
    let types = p.read(".compozy/types.ts");
    assert!(
        types.contains("add") && types.contains("a: number"),
        "types.ts:\n{types}"
    );
    let entry = p.read(".compozy/tools.ts");
    assert!(entry.contains("export {};"), "tools.ts:\n{entry}");
    let out = p.run(&["inspect"]);
    out.expect_code(0);
    for line in [
        "wasm/add.wasm (/out (writable), memory 256 MiB)",
        "wasm/env.wasm (env FROM_TOOL, SECRET_OUTSIDE, memory 256 MiB)",
        "wasm/secret.wasm (/data (read-only), memory 256 MiB)",
        "wasm/grow.wasm (memory 1 MiB)",
    ] {
        assert!(
            out.stdout.contains(line),
            "{line}\ninspect:\n{}",
            out.stdout
        );
    }
}

#[test]
fn an_mcp_cancel_stops_a_running_module() {
    let p = project();
    let made = p.path("data/made.txt");
    let steps = json!([
        {"op": "cancel", "name": "tick", "waitMs": 500},
        {"op": "fileGrowth", "path": made, "pauseMs": 50},
        {"op": "fileGrowth", "path": made, "pauseMs": 500},
        {"op": "call", "name": "echo", "args": {"after": "cancel"}},
    ]);
    let report = crate::mcp::over_stdio(&p, "bun", "modern", &[], &steps);
    let r = &report["results"];
    assert!(
        r[0]["settled"]
            .as_str()
            .unwrap_or_default()
            .starts_with("rejected"),
        "{report:#}"
    );
    // It was writing, and stopped with the cancel (the server still runs: the report's last call).
    assert!(r[1]["before"].as_i64() > Some(0), "{report:#}");
    assert_eq!(r[2]["before"], r[2]["after"], "still writing: {report:#}");
    assert_eq!(
        r[3]["structuredContent"],
        json!({"after": "cancel"}),
        "{report:#}"
    );
}

#[test]
fn the_deadline_ends_a_module_that_spends_its_time_in_host_calls() {
    let p = project();
    let started = std::time::Instant::now();
    let mut cmd = p.compozy(&["exec", "tick", "--input", "{}", "--timeout", "1s"]);
    output_within(&mut cmd, Duration::from_secs(60))
        .expect_code(124)
        .stderr_has(&["did not finish within 1s"]);
    // Within a slice of the deadline, not when a slice of a million writes ends.
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

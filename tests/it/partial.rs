//! One broken tool file does not stop the others: `exec`, `serve` and `mcp` run the tools whose
//! own files are fine, with a warning naming the broken files; `gen` still fails and writes
//! nothing.

use std::io::{Read, Write};
use std::process::Stdio;

use serde_json::{Value, json};

use crate::common::{Fixture, Output, output_within, runtime_bin};

fn project() -> Fixture {
    Fixture::with(&[
        ("compozy.yaml", "name: p\n"),
        (
            "tools/hello.yaml",
            "id: hello\ndescription: Greets\nexecute: ./hello.ts\n",
        ),
        (
            "tools/hello.ts",
            "export function run() {\n  return \"hello\";\n}\n",
        ),
        // A typo in one tool file, a syntax error in another tool's module.
        (
            "tools/calc.yaml",
            "id: calc\ndescription: Adds\nexecute: ./calc.ts\ntimout: 3s\n",
        ),
        ("tools/calc.ts", "export function run() {\n  return 1;\n}\n"),
        (
            "tools/bad.yaml",
            "id: bad\ndescription: Broken\nexecute: ./bad.ts\n",
        ),
        ("tools/bad.ts", "export function run( {\n"),
    ])
}

fn run(p: &Fixture, args: &[&str]) -> Output {
    let mut cmd = p.compozy(args);
    cmd.env("COMPOZY_BUN", runtime_bin("bun"));
    output_within(&mut cmd, std::time::Duration::from_secs(30))
}

const WARNING: &str = "tools/bad.ts, tools/calc.yaml have problems";

#[test]
fn exec_runs_a_sound_tool_with_a_warning_and_gen_still_fails() {
    let p = project();
    let out = run(&p, &["exec", "hello"]);
    out.expect_code(0).stderr_has(&[WARNING, "running `hello`"]);
    assert_eq!(out.stdout.trim(), "\"hello\"");
    // `.compozy/` is left as it was: nothing generated.
    for file in ["tools.ts", "types.ts", "bun_worker.ts", "node_worker.mjs"] {
        assert!(
            !p.path(".compozy").join(file).exists(),
            "{file} was written"
        );
    }
    // The broken tools themselves fail with their problems.
    run(&p, &["exec", "calc"])
        .expect_code(2)
        .stderr_has(&["unknown key `timout`"]);
    run(&p, &["exec", "bad"]).expect_code(2);
    run(&p, &["gen"])
        .expect_code(2)
        .stderr_has(&["unknown key `timout`", "tools/bad.ts"]);
    assert!(!p.path(".compozy/tools.ts").exists(), "gen wrote output");
    run(&p, &["gen", "--check"]).expect_code(2);
    // Fixed: gen writes everything, and the workers of the run without them are no output.
    p.write(
        "tools/calc.yaml",
        "id: calc\ndescription: Adds\nexecute: ./calc.ts\ntimeout: 3s\n",
    );
    p.write("tools/bad.ts", "export function run() {\n  return 2;\n}\n");
    run(&p, &["gen"]).expect_code(0);
    run(&p, &["gen", "--check"]).expect_code(0);
    let out = run(&p, &["exec", "calc"]);
    out.expect_code(0);
    assert!(!out.stderr.contains("problems"), "{}", out.stderr);
}

#[test]
fn a_problem_in_compozy_yaml_stops_every_tool() {
    let p = project();
    p.write("compozy.yaml", "name: p\nruntme: {}\n");
    run(&p, &["exec", "hello"])
        .expect_code(2)
        .stderr_has(&["unknown key `runtme`"]);
}

#[test]
fn serve_answers_for_the_sound_tools() {
    let p = project();
    let mut child = p
        .compozy(&["serve", "--workers", "1"])
        .env("COMPOZY_BUN", runtime_bin("bun"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start compozy serve");
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, "{}", json!({"id": 1, "tool_id": "hello"})).unwrap();
    drop(stdin);
    let out = crate::common::wait_within(child, std::time::Duration::from_secs(30));
    out.expect_code(0)
        .stderr_has(&[WARNING, "serving the other tools"]);
    let answer: Value = serde_json::from_str(out.stdout.trim()).expect("one answer");
    assert_eq!(answer["result"], "hello", "{answer}");
}

#[test]
fn mcp_lists_the_sound_tools() {
    let p = project();
    let mut child = p
        .compozy(&["mcp", "--workers", "1"])
        .env("COMPOZY_BUN", runtime_bin("bun"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start compozy mcp");
    let mut stdin = child.stdin.take().expect("stdin");
    for line in [
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"}}}),
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}),
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
            "params": {"name": "hello", "arguments": {}}}),
    ] {
        writeln!(stdin, "{line}").unwrap();
    }
    // Wait for the call's answer before closing stdin.
    let mut stdout = child.stdout.take().expect("stdout");
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !seen.contains(r#""id":3"#) {
        let n = stdout.read(&mut buf).expect("read stdout");
        assert!(n > 0, "mcp ended early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    drop(stdin);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(child.wait().unwrap().success(), "{stderr}");
    assert!(stderr.contains(WARNING), "{stderr}");
    let answers: Vec<Value> = seen
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let list = answers.iter().find(|a| a["id"] == 2).expect("tools/list");
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["hello"], "{list}");
    let call = answers.iter().find(|a| a["id"] == 3).expect("tools/call");
    assert_eq!(call["result"]["content"][0]["text"], "hello", "{call}");
}

/// The workers of a run without some tools are compozy's cache, not output: once the broken file
/// is as it was, the generated output is up to date as it was.
#[test]
fn the_partial_run_leaves_generated_output_up_to_date() {
    let p = project();
    let calc = "id: calc\ndescription: Adds\nexecute: ./calc.ts\n";
    p.write("tools/calc.yaml", calc);
    p.write("tools/bad.ts", "export function run() {\n  return 2;\n}\n");
    run(&p, &["gen"]).expect_code(0);
    p.write("tools/calc.yaml", &format!("{calc}timout: 3s\n"));
    run(&p, &["exec", "hello"])
        .expect_code(0)
        .stderr_has(&["tools/calc.yaml has problems"]);
    p.write("tools/calc.yaml", calc);
    run(&p, &["gen", "--check"]).expect_code(0);
    let out = run(&p, &["gen", "-v"]);
    out.expect_code(0);
    assert!(!out.stderr.contains("removed"), "{}", out.stderr);
}

/// `watch --serve` starts as `serve` does: the sound tools answer at once, and the change that
/// fixes the broken files brings their tools in.
#[test]
fn watch_serve_starts_with_the_sound_tools_and_takes_the_others_when_fixed() {
    let p = project();
    let mut w = crate::watcher::Watch::start(&p, &["--serve", "--workers", "1"]);
    let answer = w.call(&json!({"id": 1, "tool_id": "hello"}));
    assert_eq!(answer["result"], "hello", "{answer}");
    assert!(w.stderr().contains(WARNING), "{}", w.stderr());
    let answer = w.call(&json!({"id": 2, "tool_id": "calc"}));
    assert!(answer["error"].is_object(), "{answer}");
    p.write(
        "tools/calc.yaml",
        "id: calc\ndescription: Adds\nexecute: ./calc.ts\ntimeout: 3s\n",
    );
    p.write("tools/bad.ts", "export function run() {\n  return 2;\n}\n");
    w.wait_for_stderr("workers reloaded");
    for (id, tool, result) in [(3, "calc", 1), (4, "bad", 2)] {
        let answer = w.call(&json!({"id": id, "tool_id": tool}));
        assert_eq!(answer["result"], result, "{answer}");
    }
}

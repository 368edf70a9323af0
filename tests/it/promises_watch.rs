//! Promises of `compozy watch` in the README that `watch.rs` does not check: `.env` edits,
//! edits of a re-exported module and of a hand-written entrypoint reach the next request, a tool
//! in new nested directories is generated, and Ctrl-C.

use serde_json::{Value, json};

use crate::common::{Fixture, signal};
use crate::processes::{Reaper, assert_all_alive, assert_all_gone, wait_for_children};
use crate::watcher::Watch;

/// `watch --serve` with one worker: it loads a module once, so only a reload makes it run new
/// code.
fn serving(p: &Fixture, runtime: &str) -> Watch {
    Watch::start(p, &["--serve", "--workers", "1", "--runtime", runtime])
}

#[track_caller]
fn result_of(w: &mut Watch, tool: &str) -> Value {
    let answer = w.call(&json!({"id": 1, "tool_id": tool}));
    assert!(answer["error"].is_null(), "{answer}");
    answer["result"].clone()
}

fn dotenv_edit_reaches_the_next_request(runtime: &str) {
    let p = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: greeting\n    execute: ./tools/greeting.ts\n",
        ),
        (
            "tools/greeting.ts",
            "export function run() {\n  return process.env.GREETING ?? null;\n}\n",
        ),
        (".env", "GREETING=hello\n"),
    ]);
    let mut w = serving(&p, runtime);
    assert_eq!(result_of(&mut w, "greeting"), "hello");
    p.write(".env", "GREETING=bonjour\n");
    w.wait_for_reload(1);
    assert_eq!(result_of(&mut w, "greeting"), "bonjour");
    // A file that did not exist before counts too.
    p.write(".env.local", "GREETING=hej\n");
    w.wait_for_reload(2);
    assert_eq!(result_of(&mut w, "greeting"), "hej");
}

fn reexported_module_edit_reaches_the_next_request(runtime: &str) {
    let p = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: answer\n    execute: ./tools/answer.ts\n",
        ),
        (
            "tools/answer.ts",
            "export { run } from \"../lib/impl.ts\";\n",
        ),
        (
            "lib/impl.ts",
            "export function run() {\n  return \"first\";\n}\n",
        ),
    ]);
    let mut w = serving(&p, runtime);
    assert_eq!(result_of(&mut w, "answer"), "first");
    p.write(
        "lib/impl.ts",
        "export function run() {\n  return \"second\";\n}\n",
    );
    w.wait_for_reload(1);
    assert_eq!(result_of(&mut w, "answer"), "second");
}

fn handwritten_entrypoint_edit_reaches_the_next_request(runtime: &str) {
    let p = crate::entrypoint::project();
    let mut w = serving(&p, runtime);
    let answer = w.call(&json!({"id": 1, "tool_id": "math.add", "input": {"a": 2, "b": 3}}));
    assert_eq!(answer["result"], 5, "{answer}");
    p.write(
        "src/tools.ts",
        &crate::entrypoint::ENTRYPOINT.replace("i.a + i.b", "i.a * i.b"),
    );
    w.wait_for_reload(1);
    let answer = w.call(&json!({"id": 2, "tool_id": "math.add", "input": {"a": 2, "b": 3}}));
    assert_eq!(answer["result"], 6, "{answer}");
    // An entrypoint that drops a tool is reported; the last good tools keep serving.
    p.write(
        "src/tools.ts",
        &crate::entrypoint::ENTRYPOINT.replace("  async weather(", "  async weatherx("),
    );
    w.wait_until("the missing tool to be reported", |s| {
        s.contains("`weather`")
    });
    let answer = w.call(&json!({"id": 3, "tool_id": "math.add", "input": {"a": 2, "b": 3}}));
    assert_eq!(answer["result"], 6, "{answer}");
}

/// Directories created at once, several levels deep, with a tool in the deepest: the tool is
/// generated (a watch added to the new directory after the files were written must not miss
/// them).
#[test]
fn tool_in_new_nested_directories_is_generated() {
    let p = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: first\n    execute: ./tools/first.ts\n",
        ),
        ("tools/first.ts", "export const run = () => 1;\n"),
    ]);
    let w = Watch::start(&p, &[]);
    p.write("tools/a/b/c/deep.yaml", "id: deep\nexecute: ./deep.ts\n");
    p.write("tools/a/b/c/deep.ts", "export const run = () => 2;\n");
    w.wait_until("the new tool in tools.ts", |_| {
        std::fs::read_to_string(p.path(".compozy/tools.ts"))
            .unwrap_or_default()
            .contains(" as deep,")
    });
    // The new directories are watched from now on: an edit there is seen.
    p.write("tools/a/b/c/deep.ts", "export default () => 3;\n");
    w.wait_until("the edit in the new directory", |_| {
        std::fs::read_to_string(p.path(".compozy/tools.ts"))
            .unwrap_or_default()
            .contains("import { default as tool_0 }")
    });
}

/// Ctrl-C ends a plain watch with exit 0.
#[test]
fn ctrl_c_ends_watch_with_0() {
    let p = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: first\n    execute: ./tools/first.ts\n",
        ),
        ("tools/first.ts", "export const run = () => 1;\n"),
    ]);
    let mut w = Watch::start(&p, &[]);
    signal(w.child.id(), nix::sys::signal::Signal::SIGINT);
    assert_eq!(w.wait(), 0, "{}", w.stderr());
}

/// With `--serve`, Ctrl-C stops the workers (and what a tool started) and exits 130.
fn ctrl_c_ends_watch_serve_with_130(runtime: &str) {
    let p = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: spawns\n    execute: ./tools/spawns.ts\n  - id: holds\n    execute: ./tools/holds.ts\n",
        ),
        (
            "tools/spawns.ts",
            "import { spawn } from \"node:child_process\";\nexport function run() {\n  const child = spawn(\"sleep\", [\"1000\"], { stdio: \"ignore\" });\n  return [process.pid, child.pid];\n}\n",
        ),
        (
            "tools/holds.ts",
            "export async function run() {\n  await new Promise((r) => setTimeout(r, 60000));\n}\n",
        ),
    ]);
    let mut w = Watch::start(&p, &["--serve", "--workers", "2", "--runtime", runtime]);
    // A call in flight makes the next one start the second worker (workers start on demand).
    w.send(&json!({"id": 0, "tool_id": "holds"}));
    let answer = w.call(&json!({"id": 1, "tool_id": "spawns"}));
    let tool: Vec<i64> = serde_json::from_value(answer["result"].clone())
        .unwrap_or_else(|e| panic!("{e}: {answer}"));
    let mut pids = wait_for_children(w.child.id(), 2);
    assert!(pids.contains(&tool[0]), "{tool:?} {pids:?}");
    pids.push(tool[1]);
    let _reaper = Reaper::new(&pids);
    assert_all_alive(&pids, "before Ctrl-C");
    signal(w.child.id(), nix::sys::signal::Signal::SIGINT);
    let code = w.wait();
    assert_all_gone(&pids, "Ctrl-C on compozy watch --serve");
    assert_eq!(code, 130, "{}", w.stderr());
}

on_both_runtimes!(
    dotenv_edit_reaches_the_next_request,
    reexported_module_edit_reaches_the_next_request,
    handwritten_entrypoint_edit_reaches_the_next_request,
    ctrl_c_ends_watch_serve_with_130,
);

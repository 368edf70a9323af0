//! How many workers a pool runs: one at start, more when calls overlap (up to `--workers`), and
//! back to one after `COMPOZY_WORKER_IDLE`; under serve, mcp and watch --serve. Workers are
//! counted as compozy's running child processes, through `/proc`.

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{Fixture, alive, runtime_bin};
use crate::processes::children_of;
use crate::serving::Serve;

fn project() -> Fixture {
    Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: pid\n    execute: ./tools/pid.ts\n  - id: wait\n    execute: ./tools/wait.ts\n",
        ),
        (
            "tools/pid.ts",
            "export function run() {\n  return process.pid;\n}\n",
        ),
        (
            "tools/wait.ts",
            "export async function run(i: { ms: number }) {\n  await new Promise((r) => setTimeout(r, i.ms));\n  return process.pid;\n}\n",
        ),
    ])
}

/// `parent`'s running children.
fn workers_of(parent: u32) -> Vec<i64> {
    children_of(parent)
        .into_iter()
        .filter(|&pid| alive(pid))
        .collect()
}

/// Waits up to 20 s for `parent` to have the same `count` running children twice, 500 ms apart (a
/// pool that starts more at once has started them by then; a short-lived child, such as a probe
/// of the runtime's version, is gone), and returns them.
#[track_caller]
fn settles_at(parent: u32, count: usize) -> Vec<i64> {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let workers = workers_of(parent);
        if workers.len() == count {
            std::thread::sleep(Duration::from_millis(500));
            if workers_of(parent) == workers {
                return workers;
            }
        }
        assert!(
            Instant::now() < until,
            "{parent} has {} running children ({workers:?}), expected {count}",
            workers.len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn pid_of(answer: &serde_json::Value) -> i64 {
    answer["result"]
        .as_i64()
        .unwrap_or_else(|| panic!("no pid in {answer}"))
}

/// `--workers 4` runs one worker until two calls overlap, then two, and one again once the second
/// has been idle for `COMPOZY_WORKER_IDLE`; the first, warm one is never stopped for idling.
fn serve_starts_workers_on_demand_and_retires_idle_ones(runtime: &str) {
    let p = project();
    let mut serve = Serve::start(&p, runtime, 4, &[("COMPOZY_WORKER_IDLE", "1s")]);
    let pid = serve.child.id();
    let first = settles_at(pid, 1);
    assert_eq!(
        pid_of(&serve.call(&json!({"id": 0, "tool_id": "pid"}))),
        first[0]
    );

    serve.send(&json!({"id": "slow", "tool_id": "wait", "input": {"ms": 1500}}));
    let quick = serve.call(&json!({"id": "quick", "tool_id": "pid"}));
    assert_eq!(quick["id"], "quick", "{quick}");
    let second = pid_of(&quick);
    assert_ne!(
        second, first[0],
        "the overlapping call waited for the busy worker"
    );
    let both = workers_of(pid);
    assert_eq!(both.len(), 2, "{both:?}");
    assert!(
        both.contains(&first[0]) && both.contains(&second),
        "{both:?}"
    );
    let slow = serve.recv();
    assert_eq!(
        (slow["id"].as_str(), pid_of(&slow)),
        (Some("slow"), first[0])
    );

    // The second worker has been idle since its answer; 1 s later it is stopped.
    let left = settles_at(pid, 1);
    assert_eq!(
        left, first,
        "the warm worker was stopped instead of the idle one"
    );
    assert!(!alive(second), "{second} still runs");
    // The warm worker outlives the idle timeout too.
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(workers_of(pid), first);
    assert_eq!(
        pid_of(&serve.call(&json!({"id": 1, "tool_id": "pid"}))),
        first[0]
    );
    serve.close_stdin();
    assert_eq!(serve.wait(Duration::from_secs(10)), 0);
}

/// `COMPOZY_WARM_WORKERS` = `--workers` starts them all at once, and none is stopped for idling.
fn warm_workers_start_at_once(runtime: &str) {
    let p = project();
    let mut serve = Serve::start(
        &p,
        runtime,
        3,
        &[
            ("COMPOZY_WARM_WORKERS", "3"),
            ("COMPOZY_WORKER_IDLE", "200ms"),
        ],
    );
    let pid = serve.child.id();
    let workers = settles_at(pid, 3);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(workers_of(pid), workers);
    serve.close_stdin();
    assert_eq!(serve.wait(Duration::from_secs(10)), 0);
}

on_both_runtimes!(
    serve_starts_workers_on_demand_and_retires_idle_ones,
    warm_workers_start_at_once,
);

/// Starts `compozy ARGS` with stdin open and the output thrown away.
fn start(p: &Fixture, args: &[&str]) -> Child {
    p.compozy(args)
        .env("COMPOZY_BUN", runtime_bin("bun"))
        .env("COMPOZY_NODE", runtime_bin("node"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start compozy")
}

/// `mcp` and `watch --serve` start one of their `--workers 4` too.
#[test]
fn mcp_and_watch_serve_start_one_worker() {
    let p = project();
    for args in [
        &["mcp", "--workers", "4"][..],
        &["mcp", "--workers", "4", "--watch"],
        &["watch", "--serve", "--workers", "4"],
    ] {
        let mut child = start(&p, args);
        settles_at(child.id(), 1);
        crate::processes::stop(&mut child);
    }
}

/// A bad setting is refused before anything starts, with what to write instead.
#[test]
fn bad_pool_settings_are_refused() {
    let p = project();
    for (name, value, expected) in [
        (
            "COMPOZY_WORKER_IDLE",
            "soon",
            "invalid COMPOZY_WORKER_IDLE `soon`",
        ),
        (
            "COMPOZY_WARM_WORKERS",
            "0",
            "invalid COMPOZY_WARM_WORKERS `0`",
        ),
    ] {
        let out = crate::common::output_within(
            p.compozy(&["serve"])
                .env("COMPOZY_BUN", runtime_bin("bun"))
                .env(name, value),
            Duration::from_secs(30),
        );
        out.expect_code(2);
        assert!(
            out.stderr.contains(expected) && out.stderr.contains(&format!("help: set {name}")),
            "{}",
            out.stderr
        );
    }
}

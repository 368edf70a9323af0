//! `plugins:` and `runtime.preload:` end to end on the real Bun and Node, through `exec`,
//! `serve` and `mcp` (the official client), and the onion semantics against `koa-compose`.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

use crate::common::{Fixture, runtime_bin, tsc};
use crate::serving::Serve;

const CONFIG: &str = r#"
runtime: {preload: [./plugins/setup.ts]}
plugins:
  - {use: ./plugins/outer.ts, config: {tag: O}}
  - {use: ./plugins/inner.ts, tools: ["crm.*"]}
  - {use: ./plugins/reads.ts, annotations: {readOnlyHint: true}}
tools:
  - id: crm.echo
    description: Echoes `s`.
    execute: ./tools/echo.ts
    input: {type: object, properties: {s: {type: string}}, required: [s]}
    output: {type: object, properties: {s: {type: string}}, required: [s]}
  - id: lookup
    description: Echoes `s`, read-only.
    execute: ./tools/echo.ts
    annotations: {readOnlyHint: true}
  - id: plain
    description: A tool no filter of inner.ts or reads.ts matches.
    execute: ./tools/echo.ts
"#;

const OUTER: &str = r#"
import type { Plugin } from "../.compozy/types.ts";
let tag = "";
let setups = 0;
export default {
  setup(config: { tag: string }) {
    tag = config.tag;
    setups += 1;
  },
  async callTool(call, next) {
    const r = (await next()) as Record<string, unknown>;
    return { ...r, outer: tag, setups, preloaded: (globalThis as any).preloaded ?? null };
  },
} satisfies Plugin<{ tag: string }>;
"#;

const INNER: &str = r#"
import type { Plugin } from "../.compozy/types.ts";
export default {
  async callTool(call, next) {
    const { s } = call.input as { s: string };
    if (s === "short") return { s: "cut short" };
    if (s === "twice") {
      await next();
      return next();
    }
    if (s === "bad") return { nope: 1 };
    if (s === "throw") throw new Error("inner failed");
    if (s === "tool-throws") return next();
    // Inputs the tool's schema refuses: a new one, and the same object changed in place.
    if (s === "widen") return next({ ...call, input: { s: 42 } });
    if (s === "mutate") {
      (call.input as { s: unknown }).s = ["x"];
      return next();
    }
    return next({ ...call, input: { s: s.trim() } });
  },
} satisfies Plugin;
"#;

const READS: &str = r#"
import type { Plugin } from "../.compozy/types.ts";
export default {
  async callTool(_call, next) {
    return { ...((await next()) as object), read: true };
  },
} satisfies Plugin;
"#;

const ECHO: &str = r#"
export default function echo(input: { s: string }) {
  if (input.s === "tool-throws") throw new RangeError("the tool's own error");
  return { s: `[${input.s}]` };
}
"#;

fn project() -> Fixture {
    let p = Fixture::with(&[
        ("compozy.yaml", CONFIG),
        (
            "plugins/setup.ts",
            "(globalThis as any).preloaded = \"yes\";\n",
        ),
        ("plugins/outer.ts", OUTER),
        ("plugins/inner.ts", INNER),
        ("plugins/reads.ts", READS),
        ("tools/echo.ts", ECHO),
    ]);
    p.run(&["gen"]).expect_code(0);
    p
}

fn exec_wraps_tools_in_declared_order(runtime: &str) {
    let p = project();
    // outer › inner › tool; inner trims the input it passes on; setup ran once with `config:`;
    // the preload ran before any plugin.
    let out = p.exec_on(runtime, "crm.echo", &json!({"s": "  hi "}));
    out.expect_code(0);
    assert_eq!(
        out.json(),
        json!({"s": "[hi]", "outer": "O", "setups": 1, "preloaded": "yes"})
    );
    // A short circuit: the tool never runs.
    let out = p.exec_on(runtime, "crm.echo", &json!({"s": "short"}));
    out.expect_code(0);
    assert_eq!(out.json()["s"], "cut short");
    // The annotation filter: only the read-only tool gets reads.ts, and not inner.ts.
    let out = p.exec_on(runtime, "lookup", &json!({"s": " x "}));
    out.expect_code(0);
    assert_eq!(
        out.json(),
        json!({"s": "[ x ]", "outer": "O", "setups": 1, "preloaded": "yes", "read": true})
    );
}

fn exec_errors_name_the_plugin(runtime: &str) {
    let p = project();
    let out = p.exec_on(runtime, "crm.echo", &json!({"s": "twice"}));
    out.expect_code(1).stderr_has(&[
        "PluginError",
        "plugin ./plugins/inner.ts called next() more than once",
    ]);
    let out = p.exec_on(runtime, "crm.echo", &json!({"s": "throw"}));
    out.expect_code(1)
        .stderr_has(&["plugin ./plugins/inner.ts: inner failed"]);
    // The tool's own error passes through the plugins as it is.
    let out = p.exec_on(runtime, "crm.echo", &json!({"s": "tool-throws"}));
    out.expect_code(1)
        .stderr_has(&["RangeError: the tool's own error"]);
    assert!(!out.stderr.contains("plugin ./plugins/"), "{}", out.stderr);
    // The output is checked after the whole chain, naming who changed it.
    let out = p.exec_on(runtime, "crm.echo", &json!({"s": "bad"}));
    out.expect_code(1).stderr_has(&[
        "exec::invalid-output",
        "the result of `crm.echo` (changed by ./plugins/inner.ts, ./plugins/outer.ts)",
    ]);
    // The input is checked before the chain.
    let out = p.exec_on(runtime, "crm.echo", &json!({"s": 3}));
    out.expect_code(2);
}

/// The input a plugin changed is checked again before the tool runs: a refusal names the
/// plugin that changed it, and the tool never runs.
fn exec_checks_an_input_a_plugin_changed(runtime: &str) {
    let p = project();
    for (s, shows) in [("widen", "42"), ("mutate", "[\"x\"]")] {
        let out = p.exec_on(runtime, "crm.echo", &json!({ "s": s }));
        out.expect_code(1).stderr_has(&[
            "InvalidInputError",
            "the input (changed by ./plugins/inner.ts) does not match the schema of `crm.echo`",
            shows,
        ]);
        assert!(
            !out.stderr.contains("at "),
            "no worker frames: {}",
            out.stderr
        );
    }
    // A change the schema allows runs (inner.ts trims `s`).
    let out = p.exec_on(runtime, "crm.echo", &json!({"s": " ok "}));
    out.expect_code(0);
    assert_eq!(out.json()["s"], "[ok]");
}

fn serve_runs_the_same_chain_and_survives_throwing_plugins(runtime: &str) {
    let p = project();
    let mut serve = Serve::start(&p, runtime, 1, &[]);
    let a = serve.call(&json!({"id": 1, "tool_id": "crm.echo", "input": {"s": " a "}}));
    assert_eq!(a["result"]["s"], "[a]", "{a}");
    assert_eq!(a["result"]["setups"], 1, "{a}");
    let a = serve.call(&json!({"id": 2, "tool_id": "crm.echo", "input": {"s": "throw"}}));
    assert!(
        a["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("plugin ./plugins/inner.ts: inner failed"),
        "{a}"
    );
    let a = serve.call(&json!({"id": 3, "tool_id": "crm.echo", "input": {"s": "bad"}}));
    assert_eq!(a["error"]["name"], "InvalidOutputError", "{a}");
    assert!(
        a["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("changed by ./plugins/inner.ts"),
        "{a}"
    );
    // An input the plugin changed into one the schema refuses, asked about on the worker
    // channel; the same worker then serves the next calls.
    for (id, s) in [(5, "widen"), (6, "mutate")] {
        let a = serve.call(&json!({"id": id, "tool_id": "crm.echo", "input": {"s": s}}));
        assert_eq!(a["error"]["name"], "InvalidInputError", "{a}");
        assert!(
            a["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("the input (changed by ./plugins/inner.ts) does not match"),
            "{a}"
        );
    }
    // The same worker again: setup ran once in it, and it still serves.
    let a = serve.call(&json!({"id": 4, "tool_id": "crm.echo", "input": {"s": "b"}}));
    assert_eq!(a["result"]["s"], "[b]", "{a}");
    assert_eq!(a["result"]["setups"], 1, "{a}");
    serve.close_stdin();
    assert_eq!(serve.wait(std::time::Duration::from_secs(10)), 0);
}

fn mcp_client_sees_plugin_results_and_errors(runtime: &str) {
    let p = project();
    let steps = json!([
        {"op": "call", "name": "crm.echo", "args": {"s": " m "}},
        {"op": "call", "name": "crm.echo", "args": {"s": "throw"}},
        {"op": "call", "name": "crm.echo", "args": {"s": "n"}},
        {"op": "call", "name": "crm.echo", "args": {"s": "widen"}},
    ]);
    let report = crate::mcp::over_stdio(&p, runtime, "modern", &[], &steps);
    let r = &report["results"];
    assert_eq!(r[0]["isError"], false, "{report:#}");
    assert_eq!(r[0]["structuredContent"]["s"], "[m]", "{report:#}");
    assert_eq!(r[0]["structuredContent"]["preloaded"], "yes", "{report:#}");
    assert_eq!(r[1]["isError"], true, "{report:#}");
    assert!(
        crate::mcp::text(&r[1]).contains("plugin ./plugins/inner.ts: inner failed"),
        "{report:#}"
    );
    assert_eq!(r[2]["structuredContent"]["s"], "[n]", "{report:#}");
    assert_eq!(r[3]["isError"], true, "{report:#}");
    assert!(
        crate::mcp::text(&r[3]).contains("InvalidInputError")
            && crate::mcp::text(&r[3]).contains("changed by ./plugins/inner.ts"),
        "{report:#}"
    );
}

fn cache_answers_repeated_calls_until_the_ttl(runtime: &str) {
    let p = policy_project();
    let mut serve = Serve::start(&p, runtime, 1, &[]);
    let mut call = |id: i64, tool: &str, input: Value| {
        let a = serve.call(&json!({"id": id, "tool_id": tool, "input": input}));
        assert_eq!(a["id"], id, "{a}");
        a["result"]["n"]
            .as_f64()
            .unwrap_or_else(|| panic!("no result: {a}"))
    };
    let first = call(1, "nonce", json!({"k": {"a": 1, "b": 2}}));
    // The same input, its keys in another order: the cached answer.
    assert_eq!(call(2, "nonce", json!({"k": {"b": 2, "a": 1}})), first);
    // Another input: a run of its own.
    assert_ne!(call(3, "nonce", json!({"k": 2})), first);
    // The shortest ttl that applies wins; after it, a fresh run.
    let short = call(4, "short", json!({}));
    assert_eq!(call(5, "short", json!({})), short);
    std::thread::sleep(std::time::Duration::from_millis(400));
    assert_ne!(call(6, "short", json!({})), short);
    // Request variables are part of the key, by their values.
    let mut with_env = |id: i64, value: &str| {
        let a = serve.call(&json!({"id": id, "tool_id": "nonce", "input": {"k": "env"},
            "env": {"REQUEST_VAR": value}}));
        a["result"]["n"]
            .as_f64()
            .unwrap_or_else(|| panic!("no result: {a}"))
    };
    let one = with_env(7, "1");
    assert_eq!(
        with_env(8, "1"),
        one,
        "the same variables: the cached answer"
    );
    assert_ne!(with_env(9, "2"), one, "other variables: a run of its own");
    serve.close_stdin();
    assert_eq!(serve.wait(std::time::Duration::from_secs(10)), 0);

    // Through the official MCP client, too.
    let steps = json!([
        {"op": "call", "name": "nonce", "args": {"k": 7}},
        {"op": "call", "name": "nonce", "args": {"k": 7}},
    ]);
    let report = crate::mcp::over_stdio(&p, runtime, "modern", &[], &steps);
    let r = &report["results"];
    assert_eq!(r[0]["isError"], false, "{report:#}");
    assert_eq!(
        r[0]["structuredContent"], r[1]["structuredContent"],
        "{report:#}"
    );
}

#[test]
fn cache_needs_a_read_only_or_idempotent_tool() {
    let p = Fixture::with(&[
        (
            "compozy.yaml",
            "plugins:\n  - {use: \"builtin:cache\", ttl: 1m}\ntools:\n  - id: send_mail\n    description: d\n    execute: ./t.ts\n  - id: read\n    description: d\n    execute: ./t.ts\n    annotations: {readOnlyHint: true}\n",
        ),
        ("t.ts", "export default () => 1;\n"),
    ]);
    let out = p.run(&["gen"]);
    out.expect_code(2).stderr_has(&[
        "`builtin:cache` would cache tool `send_mail`, which is neither read-only nor idempotent",
        "readOnlyHint: true",
    ]);
    p.write(
        "compozy.yaml",
        "plugins:\n  - {use: \"builtin:retry\", attempts: 2}\ntools:\n  - id: send_mail\n    description: d\n    execute: ./t.ts\n",
    );
    p.run(&["gen"]).expect_code(2).stderr_has(&[
        "`builtin:retry` would retry tool `send_mail`, which is neither read-only nor idempotent",
    ]);
    assert!(!out.stderr.contains("tool `read`"), "{}", out.stderr);
}

on_both_runtimes!(
    trace_posts_a_call_span_and_a_worker_span,
    a_server_posts_its_last_spans_before_it_exits,
    trace_continues_the_clients_traceparent,
    sensitive_values_are_never_shown,
    a_hand_written_entrypoint_exports_its_plugins,
    audit_writes_one_line_per_call_without_values,
    retry_reruns_infrastructure_failures_only,
    cache_answers_repeated_calls_until_the_ttl,
    rate_limit_refuses_with_a_retry_time,
    concurrency_cap_queues_calls,
    exec_wraps_tools_in_declared_order,
    exec_errors_name_the_plugin,
    exec_checks_an_input_a_plugin_changed,
    serve_runs_the_same_chain_and_survives_throwing_plugins,
    mcp_client_sees_plugin_results_and_errors,
);

#[test]
fn a_tool_no_plugin_matches_gets_no_chain() {
    let p = project();
    let worker = p.read(".compozy/node_worker.mjs");
    let line = |id: &str| {
        worker
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("\"{id}\":")))
            .unwrap_or_else(|| panic!("no table line for {id}:\n{worker}"))
            .to_owned()
    };
    // outer.ts wraps every tool: index 0. plain gets only it; crm.echo outer and inner.
    assert!(
        line("crm.echo").ends_with(",[0,1]],"),
        "{}",
        line("crm.echo")
    );
    assert!(line("lookup").ends_with(",[0,2]],"), "{}", line("lookup"));
    // Without `plugins:` the table is as it always was: two elements.
    let q = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: plain\n    description: d\n    execute: ./t.ts\n",
        ),
        ("t.ts", "export default () => 1;\n"),
    ]);
    q.run(&["gen"]).expect_code(0);
    let w = q.read(".compozy/bun_worker.ts");
    assert!(w.contains("\"plain\": [\"../t.ts\",\"default\"]\n"), "{w}");
}

#[test]
fn plugin_types_are_checked_by_tsc() {
    let p = project();
    p.write(
        "tsconfig.json",
        r#"{"compilerOptions": {"strict": true, "noEmit": true, "target": "es2022", "module": "nodenext", "allowImportingTsExtensions": true}, "include": ["plugins/*.ts", ".compozy/types.ts"]}"#,
    );
    let out = tsc().arg("-p").arg(p.root()).output().expect("run tsc");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // A plugin whose `callTool` has the wrong shape is a type error in the same run.
    p.write(
        "plugins/wrong.ts",
        "import type { Plugin } from \"../.compozy/types.ts\";\nexport default { callTool(call: string) { return call; } } satisfies Plugin;\n",
    );
    let out = tsc().arg("-p").arg(p.root()).output().expect("run tsc");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success() && text.contains("plugins/wrong.ts"),
        "{text}"
    );
}

#[test]
fn bad_plugins_are_reported_at_gen_all_at_once() {
    let p = Fixture::with(&[
        (
            "compozy.yaml",
            r#"tools:
  - id: a
    description: d
    execute: ./a.ts
plugins:
  - {use: ./plugins/named.ts}
  - {use: ./plugins/nokey.ts}
  - {use: ./plugins/missing.ts}
  - {use: ./plugins/ok.ts, tols: ["a"]}
  - {use: ./plugins/ok.ts, tools: ["zzz.*"]}
  - {use: ./plugins/ok.ts, annotations: {readOnlyHnt: true}}
  - {use: "builtin:rate-limt", limit: 3}
  - {use: "builtin:concurrency", maxx: 1}
  - {use: "builtin:tracing", endpoint: "http://127.0.0.1:4318"}
  - {use: "builtin:rate-limit", limit: 0, per: soon}
runtime: {preload: [./nope.ts]}
"#,
        ),
        ("a.ts", "export default () => 1;\n"),
        (
            "plugins/named.ts",
            "export function callTool() {}\nexport const x = 1;\n",
        ),
        ("plugins/nokey.ts", "export default { setup() {} };\n"),
        (
            "plugins/ok.ts",
            "export default { callTool: (c: unknown, n: () => unknown) => n() };\n",
        ),
    ]);
    let out = p.run(&["gen"]);
    out.expect_code(2).stderr_has(&[
        "compozy.yaml:8:5",
        "the plugin module `./plugins/missing.ts` does not exist",
        "unknown key `tols` in a plugin",
        "did you mean `tools`",
        "unknown annotation `readOnlyHnt`",
        "did you mean `readOnlyHint`",
        "unknown built-in policy `builtin:rate-limt`",
        "did you mean `rate-limit`",
        "unknown key `maxx` in a plugin",
        "did you mean `max`",
        "unknown built-in policy `builtin:tracing`",
        "did you mean `trace`",
        "`limit` of `builtin:rate-limit` must be a whole number above 0",
        "`per` of `builtin:rate-limit` must be a duration above zero",
        "the preload module `./nope.ts` does not exist",
    ]);
    // With the config fixed, the module checks run (and the filter warning).
    p.write(
        "compozy.yaml",
        "tools:\n  - id: a\n    description: d\n    execute: ./a.ts\nplugins:\n  - {use: ./plugins/named.ts}\n  - {use: ./plugins/nokey.ts}\n  - {use: ./plugins/ok.ts, tools: [\"zzz.*\"]}\n",
    );
    let out = p.run(&["gen"]);
    out.expect_code(2).stderr_has(&[
        "the plugin `./plugins/named.ts` has no default export (it exports `callTool`, `x`)",
        "the plugin `./plugins/nokey.ts` default-exports an object without `callTool`",
        "`setup`)",
        "the filter of plugin `./plugins/ok.ts` matches no tool",
    ]);
}

const POLICIES: &str = r#"
plugins:
  - {use: "builtin:rate-limit", tools: ["search.*"], limit: 2, per: 1h}
  - {use: "builtin:concurrency", tools: [slow], max: 1}
  - {use: "builtin:cache", tools: [nonce, short], ttl: 1h}
  - {use: "builtin:cache", tools: [short], ttl: 300ms}
tools:
  - id: nonce
    description: A fresh number each run.
    execute: ./tools/nonce.ts
    annotations: {readOnlyHint: true}
  - id: short
    description: A fresh number each run, cached briefly.
    execute: ./tools/nonce.ts
    annotations: {idempotentHint: true}
  - id: search.web
    description: Searches.
    execute: ./tools/search.ts
  - id: other
    description: Not rate-limited.
    execute: ./tools/search.ts
  - id: slow
    description: Sleeps, and says when.
    execute: ./tools/slow.ts
"#;

fn policy_project() -> Fixture {
    let p = Fixture::with(&[
        ("compozy.yaml", POLICIES),
        ("tools/search.ts", "export default () => ({ ok: true });\n"),
        (
            "tools/nonce.ts",
            "export default (input: { k?: unknown }) => ({ k: input.k ?? null, n: Math.random() });\n",
        ),
        (
            "tools/slow.ts",
            "export default async () => {\n  const start = Date.now();\n  await new Promise((r) => setTimeout(r, 300));\n  return { start, end: Date.now() };\n};\n",
        ),
    ]);
    p.run(&["gen"]).expect_code(0);
    p
}

fn rate_limit_refuses_with_a_retry_time(runtime: &str) {
    let p = policy_project();
    let mut serve = Serve::start(&p, runtime, 2, &[]);
    for i in 0..2 {
        let a = serve.call(&json!({"id": i, "tool_id": "search.web"}));
        assert_eq!(a["result"]["ok"], true, "{a}");
    }
    let a = serve.call(&json!({"id": 2, "tool_id": "search.web"}));
    assert_eq!(a["error"]["name"], "RateLimitedError", "{a}");
    let message = a["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("2 calls per 1h for `search.web`") && message.contains("retry in 30m"),
        "{a}"
    );
    // Another tool has no limit.
    for i in 3..6 {
        let a = serve.call(&json!({"id": i, "tool_id": "other"}));
        assert_eq!(a["result"]["ok"], true, "{a}");
    }
    serve.close_stdin();
    assert_eq!(serve.wait(std::time::Duration::from_secs(10)), 0);

    // Through the official MCP client, an isError result: the limit is the project's, kept in
    // its state directory, so a server started afterwards finds the bucket `serve` emptied.
    let steps = json!([
        {"op": "call", "name": "search.web"},
        {"op": "call", "name": "other"},
    ]);
    let report = crate::mcp::over_stdio(&p, runtime, "modern", &[], &steps);
    let r = &report["results"];
    assert_eq!(r[0]["isError"], true, "{report:#}");
    assert!(
        crate::mcp::text(&r[0]).contains("rate limit reached: 2 calls per 1h"),
        "{report:#}"
    );
    assert_eq!(r[1]["isError"], false, "{report:#}");
}

fn concurrency_cap_queues_calls(runtime: &str) {
    let p = policy_project();
    // Two workers, but at most one `slow` at once: the calls run one after the other.
    let mut serve = Serve::start(&p, runtime, 2, &[]);
    serve.send(&json!({"id": 1, "tool_id": "slow"}));
    serve.send(&json!({"id": 2, "tool_id": "slow"}));
    serve.send(&json!({"id": 3, "tool_id": "slow"}));
    let mut spans: Vec<(i64, i64)> = (0..3)
        .map(|_| {
            let a = serve.recv();
            (
                a["result"]["start"]
                    .as_i64()
                    .unwrap_or_else(|| panic!("{a}")),
                a["result"]["end"].as_i64().unwrap_or_else(|| panic!("{a}")),
            )
        })
        .collect();
    spans.sort_unstable();
    for pair in spans.windows(2) {
        assert!(pair[1].0 >= pair[0].1, "calls overlapped: {spans:?}");
    }
    serve.close_stdin();
    assert_eq!(serve.wait(std::time::Duration::from_secs(10)), 0);
}

const RETRIES: &str = r#"
plugins:
  - {use: "builtin:retry", annotations: {readOnlyHint: true}, attempts: 3}
tools:
  - id: flaky
    description: Crashes its worker on its first run.
    execute: ./tools/flaky.ts
    annotations: {readOnlyHint: true}
  - id: slow_once
    description: Runs past its deadline on its first run.
    execute: ./tools/slow_once.ts
    timeout: 500ms
    annotations: {readOnlyHint: true}
  - id: throws
    description: Throws its own error.
    execute: ./tools/throws.ts
    annotations: {readOnlyHint: true}
  - id: crashes_unannotated
    description: Crashes, and is not read-only.
    execute: ./tools/flaky.ts
  - id: flaky_mcp
    description: Crashes its worker on its first run (called over MCP).
    execute: ./tools/flaky.ts
    annotations: {readOnlyHint: true}
  - id: crashes_mcp
    description: Crashes, and is not read-only (called over MCP).
    execute: ./tools/flaky.ts
"#;

/// Counts the runs of each tool in `runs/ID` and returns the count.
const COUNT: &str = r#"
import { appendFileSync, readFileSync, mkdirSync } from "node:fs";
export function count(id: string): number {
  mkdirSync("runs", { recursive: true });
  appendFileSync(`runs/${id}`, "x");
  return readFileSync(`runs/${id}`, "utf8").length;
}
"#;

fn retry_reruns_infrastructure_failures_only(runtime: &str) {
    let p = Fixture::with(&[
        ("compozy.yaml", RETRIES),
        ("tools/count.ts", COUNT),
        (
            "tools/flaky.ts",
            "import { count } from \"./count.ts\";\nexport default (_i: unknown, _c: unknown, ctx: { toolId: string }) => {\n  const n = count(ctx.toolId);\n  if (n === 1) process.exit(3);\n  return { runs: n, pid: process.pid };\n};\n",
        ),
        (
            "tools/slow_once.ts",
            "import { count } from \"./count.ts\";\nexport default async () => {\n  const n = count(\"slow_once\");\n  if (n === 1) await new Promise((r) => setTimeout(r, 5000));\n  return { runs: n };\n};\n",
        ),
        (
            "tools/throws.ts",
            "import { count } from \"./count.ts\";\nexport default () => {\n  count(\"throws\");\n  throw new Error(\"the tool's own error\");\n};\n",
        ),
    ]);
    p.run(&["gen"]).expect_code(0);
    let runs =
        |id: &str| std::fs::read_to_string(p.path(&format!("runs/{id}"))).map_or(0, |s| s.len());
    let mut serve = Serve::start(&p, runtime, 1, &[]);
    let a = serve.call(&json!({"id": 1, "tool_id": "flaky"}));
    assert_eq!(a["result"]["runs"], 2, "{a}");
    let a = serve.call(&json!({"id": 2, "tool_id": "slow_once"}));
    assert_eq!(a["result"]["runs"], 2, "{a}");
    // The tool's own error is an answer: one run.
    let a = serve.call(&json!({"id": 3, "tool_id": "throws"}));
    assert_eq!(a["error"]["name"], "Error", "{a}");
    assert_eq!(runs("throws"), 1);
    // A tool that is not read-only or idempotent is never retried.
    let a = serve.call(&json!({"id": 4, "tool_id": "crashes_unannotated"}));
    assert_eq!(a["error"]["name"], "WorkerExitedError", "{a}");
    assert_eq!(runs("crashes_unannotated"), 1);
    serve.close_stdin();
    assert_eq!(serve.wait(std::time::Duration::from_secs(10)), 0);

    // The same through the official MCP client.
    let steps = json!([
        {"op": "call", "name": "flaky_mcp"},
        {"op": "call", "name": "throws"},
        {"op": "call", "name": "crashes_mcp"},
    ]);
    let report = crate::mcp::over_stdio(&p, runtime, "modern", &[], &steps);
    let r = &report["results"];
    assert_eq!(r[0]["isError"], false, "{report:#}");
    let answer: Value = serde_json::from_str(crate::mcp::text(&r[0])).unwrap_or_default();
    assert_eq!(answer["runs"], 2, "{report:#}");
    assert_eq!(r[1]["isError"], true, "{report:#}");
    assert_eq!(runs("throws"), 2, "the tool's own error is not retried");
    assert_eq!(r[2]["isError"], true, "{report:#}");
    assert_eq!(
        runs("crashes_mcp"),
        1,
        "a tool that is not read-only is not retried"
    );
}

fn audit_writes_one_line_per_call_without_values(runtime: &str) {
    let p = Fixture::with(&[
        (
            "compozy.yaml",
            r#"
plugins:
  - {use: "builtin:audit", path: logs/audit.jsonl}
  - {use: "builtin:rate-limit", tools: [login], limit: 2, per: 1h}
tools:
  - id: login
    description: Checks a password.
    version: 1.2.0
    execute: ./login.ts
    input: {type: object, properties: {user: {type: string}, password: {type: string, x-compozy-sensitive: true}}}
"#,
        ),
        (
            "login.ts",
            "export default (i: { user: string }) => {\n  if (i.user === \"bad\") throw new TypeError(\"no such user\");\n  return { ok: true };\n};\n",
        ),
    ]);
    p.run(&["gen"]).expect_code(0);
    let mut serve = Serve::start(&p, runtime, 1, &[]);
    let input = |user: &str| json!({"user": user, "password": "hunter2-secret"});
    let a = serve
        .call(&json!({"id": 1, "tool_id": "login", "input": input("ann"), "tool_exec_id": "e1"}));
    assert_eq!(a["result"]["ok"], true, "{a}");
    let a = serve
        .call(&json!({"id": 2, "tool_id": "login", "input": input("bad"), "tool_exec_id": "e2"}));
    assert_eq!(a["error"]["name"], "TypeError", "{a}");
    let a = serve
        .call(&json!({"id": 3, "tool_id": "login", "input": input("ann"), "tool_exec_id": "e3"}));
    assert_eq!(a["error"]["name"], "RateLimitedError", "{a}");
    serve.close_stdin();
    assert_eq!(serve.wait(std::time::Duration::from_secs(10)), 0);
    let text = p.read("logs/audit.jsonl");
    assert!(!text.contains("hunter2"), "{text}");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 3, "{text}");
    let outcomes: Vec<&str> = lines
        .iter()
        .map(|l| l["outcome"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        outcomes,
        ["ok", "error:TypeError", "error:RateLimitedError"],
        "{text}"
    );
    for (line, id) in lines.iter().zip(["e1", "e2", "e3"]) {
        assert_eq!(line["tool"], "login", "{line}");
        assert_eq!(line["version"], "1.2.0", "{line}");
        assert_eq!(line["exec_id"], id, "{line}");
        assert_eq!(line["argument_keys"], json!(["user", "password"]), "{line}");
        assert!(
            line["time"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{line}"
        );
        assert!(line["duration_ms"].as_f64().is_some(), "{line}");
    }

    // A call through the official MCP client is one more line, with its caller, and no value.
    let steps = json!([{"op": "call", "name": "login", "args": input("ann")}]);
    let report = crate::mcp::over_stdio(&p, runtime, "modern", &[], &steps);
    assert_eq!(report["results"][0]["isError"], true, "{report:#}");
    let text = p.read("logs/audit.jsonl");
    assert!(!text.contains("hunter2"), "{text}");
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 4, "{text}");
    let last = &lines[3];
    assert_eq!(last["outcome"], "error:RateLimitedError", "{last}");
    assert!(
        last["caller"]
            .as_str()
            .is_some_and(|c| c.starts_with("user:") || c.starts_with("uid:")),
        "{last}"
    );
    assert_eq!(last["argument_keys"], json!(["user", "password"]), "{last}");
}

/// A hand-written entrypoint whose `plugins` export wraps `echo` (after compozy.yaml's own).
fn entrypoint_project(plugins: &str) -> Fixture {
    Fixture::with(&[
        (
            "compozy.yaml",
            "runtime:\n  entrypoint: ./src/tools.ts\nplugins:\n  - {use: ./src/yaml_tag.ts, tools: [echo], config: {tag: yaml}}\ntools:\n  - id: echo\n    input: {type: object, properties: {s: {type: string}}}\n  - id: other\n",
        ),
        (
            "src/tools.ts",
            &format!(
                "{plugins}\nexport function echo(i: {{ s: string }}) {{\n  return {{ s: i.s, tags: [] as string[] }};\n}}\nexport function other() {{\n  return 1;\n}}\n"
            ),
        ),
        (
            "src/tag.ts",
            "let tag = \"\";\nexport default {\n  setup(config: { tag: string }) {\n    tag = config.tag;\n  },\n  async callTool(_call: unknown, next: () => Promise<unknown>) {\n    const r = (await next()) as { tags: string[] };\n    return { ...r, tags: [...r.tags, tag] };\n  },\n};\n",
        ),
        (
            "src/yaml_tag.ts",
            "let tag = \"\";\nexport default {\n  setup(config: { tag: string }) {\n    tag = config.tag;\n  },\n  async callTool(_call: unknown, next: () => Promise<unknown>) {\n    const r = (await next()) as { tags: string[] };\n    return { ...r, tags: [...r.tags, tag] };\n  },\n};\n",
        ),
    ])
}

/// `export const plugins = [...]` in a hand-written entrypoint: read statically, its modules
/// relative to the entrypoint, wrapping inside compozy.yaml's plugins.
fn a_hand_written_entrypoint_exports_its_plugins(runtime: &str) {
    let p = entrypoint_project(
        "export const plugins = [\n  { use: \"./tag.ts\", tools: [\"echo\"], config: { tag: \"entry\", n: -1.5, on: true, none: null } },\n] as const;\n",
    );
    p.run(&["gen"]).expect_code(0);
    let out = p.exec_on(runtime, "echo", &json!({"s": "hi"}));
    out.expect_code(0);
    // The entrypoint's plugin is inner to compozy.yaml's: it tags the result first.
    assert_eq!(out.json(), json!({"s": "hi", "tags": ["entry", "yaml"]}));
    let out = p.exec_on(runtime, "other", &json!({}));
    out.expect_code(0);
    assert_eq!(out.json(), json!(1));
}

/// What cannot be read without running the entrypoint is an error at its line, with how to
/// write it; an entry's mistakes are reported as in compozy.yaml (with "did you mean").
#[test]
fn entrypoint_plugins_that_cannot_be_read_statically_are_errors() {
    let cases: [(&str, &[&str]); 6] = [
        (
            "const limit = 3;\nexport const plugins = [\n  { use: \"./tag.ts\", config: { limit } },\n];\n",
            &[
                "src/tools.ts:3",
                "cannot be read without running it",
                "shorthand",
            ],
        ),
        (
            "export const plugins = [\n  { use: \"./tag.ts\", config: { at: Date.now() } },\n];\n",
            &["src/tools.ts:2", "cannot be read without running it"],
        ),
        (
            "import tag from \"./tag.ts\";\nexport const plugins = [tag];\n",
            &[
                "src/tools.ts:2",
                "`tag` is a name, not a literal",
                "use: \"./plugins/x.ts\"",
            ],
        ),
        (
            "export let plugins = [{ use: \"./tag.ts\" }];\n",
            &["src/tools.ts:1", "must be a `const`"],
        ),
        (
            "export { plugins } from \"./tag.ts\";\n",
            &["src/tools.ts:1", "re-exports `plugins` from another module"],
        ),
        (
            "export const plugins = [\n  { use: \"./tag.ts\", tols: [\"echo\"] },\n  { use: \"builtin:cache\", ttl: \"1m\" },\n];\n",
            &[
                "src/tools.ts:2",
                "unknown key `tols` in a plugin",
                "did you mean `tools`",
                "src/tools.ts:3",
                "would cache tool",
            ],
        ),
    ];
    for (plugins, expected) in cases {
        let p = entrypoint_project(plugins);
        let out = p.run(&["gen"]);
        out.expect_code(2).stderr_has(expected);
        assert!(
            !p.path(".compozy/bun_worker.ts").exists(),
            "nothing is written: {plugins}"
        );
    }
}

/// A value under `x-compozy-sensitive: true` (here `password`).
const SECRET: &str = "hunter2-correct-horse";

/// A login tool whose `password` is sensitive, audited and traced, with a plugin that cuts the
/// password short (a changed input the schema refuses).
fn sensitive_project(port: u16) -> Fixture {
    let p = Fixture::with(&[
        (
            "compozy.yaml",
            &format!(
                r#"
plugins:
  - {{use: "builtin:audit", path: audit.jsonl}}
  - {{use: "builtin:trace", endpoint: "http://127.0.0.1:{port}"}}
  - {{use: ./cut.ts}}
tools:
  - id: login
    description: Checks a password.
    execute: ./login.ts
    input:
      type: object
      properties:
        user: {{type: string}}
        password: {{type: string, minLength: 12, x-compozy-sensitive: true}}
      required: [user, password]
"#
            ),
        ),
        (
            "login.ts",
            "export default (i: { user: string; password: string }) => ({ ok: i.password.length });\n",
        ),
        (
            "cut.ts",
            "export default {\n  callTool(call: any, next: any) {\n    if (call.input.user !== \"cut\") return next();\n    return next({ ...call, input: { ...call.input, password: call.input.password.slice(0, 9) } });\n  },\n};\n",
        ),
    ]);
    p.run(&["gen"]).expect_code(0);
    p
}

/// No sensitive value (nor a cut-short copy of one) in the audit file, the spans, the error
/// messages, or the stderr of exec, serve and mcp with -vv; the calls still work.
fn sensitive_values_are_never_shown(runtime: &str) {
    let (port, spans) = otlp_receiver();
    let p = sensitive_project(port);
    let cut = &SECRET[..9];
    let clean = |what: &str, text: &str| {
        assert!(
            !text.contains(SECRET) && !text.contains(cut),
            "{what} shows a sensitive value:\n{text}"
        );
    };
    let good = json!({"user": "ann", "password": SECRET});
    let short = json!({"user": "ann", "password": cut});
    let changed = json!({"user": "cut", "password": SECRET});

    // exec -vv: a good call, a refused input, and an input the plugin broke.
    let exec = |input: &Value| {
        let input = input.to_string();
        let out = p
            .compozy(&[
                "-vv",
                "exec",
                "login",
                "--runtime",
                runtime,
                "--input",
                &input,
            ])
            .env("COMPOZY_BUN", runtime_bin("bun"))
            .env("COMPOZY_NODE", runtime_bin("node"))
            .output()
            .expect("exec");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        clean("exec's stderr", &stderr);
        clean("exec's stdout", &String::from_utf8_lossy(&out.stdout));
        (out.status.code(), stderr, out.stdout)
    };
    let (code, stderr, stdout) = exec(&good);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        serde_json::from_slice::<Value>(&stdout).ok(),
        Some(json!({"ok": SECRET.len()}))
    );
    let (code, stderr, _) = exec(&short);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("/password") && stderr.contains("[redacted]"),
        "{stderr}"
    );
    let (code, stderr, _) = exec(&changed);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("changed by ./cut.ts") && stderr.contains("[redacted]"),
        "{stderr}"
    );

    // serve -vv.
    let mut child = p
        .compozy(&["-vv", "serve", "--runtime", runtime, "--workers", "1"])
        .env("COMPOZY_BUN", runtime_bin("bun"))
        .env("COMPOZY_NODE", runtime_bin("node"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("serve");
    {
        let mut stdin = child.stdin.take().expect("stdin");
        for (id, input) in [(1, &good), (2, &short), (3, &changed)] {
            writeln!(
                stdin,
                "{}",
                json!({"id": id, "tool_id": "login", "input": input})
            )
            .expect("write");
        }
    }
    let out = crate::common::wait_within(child, std::time::Duration::from_secs(30));
    let stdout = out.stdout.clone();
    clean("serve's stderr", &out.stderr);
    clean("serve's answers", &stdout);
    let answers: Vec<Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let by_id = |id: i64| {
        answers
            .iter()
            .find(|a| a["id"] == id)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(by_id(1)["result"]["ok"], SECRET.len(), "{stdout}");
    assert_eq!(by_id(2)["error"]["name"], "InvalidInputError", "{stdout}");
    assert_eq!(by_id(3)["error"]["name"], "InvalidInputError", "{stdout}");

    // mcp -vv, with the official client.
    let steps = json!([
        {"op": "call", "name": "login", "args": good},
        {"op": "call", "name": "login", "args": short},
        {"op": "call", "name": "login", "args": changed},
        // The spans are posted from a background thread: time for them before the server ends.
        {"op": "sleep", "ms": 1000},
    ]);
    let report = crate::mcp::over_stdio(&p, runtime, "modern", &["-vv"], &steps);
    clean(
        "mcp's stderr",
        report["stderr"].as_str().unwrap_or_default(),
    );
    clean("mcp's results", &report["results"].to_string());
    let r = &report["results"];
    assert_eq!(r[0]["isError"], false, "{report:#}");
    assert!(r[1].to_string().contains("[redacted]"), "{report:#}");
    assert!(r[2].to_string().contains("[redacted]"), "{report:#}");

    // The audit lines and the spans of every call served.
    clean("the audit file", &p.read("audit.jsonl"));
    let mut posted = 0;
    while let Ok((_, body)) = spans.recv_timeout(std::time::Duration::from_secs(3)) {
        clean("the spans", &body.to_string());
        posted += 1;
    }
    // At least the two traced MCP calls (a refused input takes no span; a server that ends at
    // once may end before its exporter posts).
    assert!(posted >= 2, "the served calls were traced ({posted} posts)");
}

/// A local OTLP/HTTP receiver: answers every POST with 200 and passes its JSON body on.
pub(crate) fn otlp_receiver() -> (u16, std::sync::mpsc::Receiver<(String, Value)>) {
    use std::io::{BufRead, BufReader, Read};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                loop {
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut length = 0;
                    loop {
                        let mut header = String::new();
                        reader.read_line(&mut header).expect("header");
                        let header = header.trim_end();
                        if header.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = header.split_once(':')
                            && name.eq_ignore_ascii_case("content-length")
                        {
                            length = value.trim().parse().expect("length");
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).expect("body");
                    let path = request_line.split(' ').nth(1).unwrap_or("").to_owned();
                    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
                    let _ = tx.send((path, json));
                    let mut out = &stream;
                    let _ = out.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}");
                }
            });
        }
    });
    (port, rx)
}

/// A caller's W3C trace context: `_meta.traceparent` over MCP, `traceparent` over serve.
const CLIENT_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";

/// The call's span is the child of the client's, and the tool gets the call's own span context
/// as `ctx.traceparent`, over MCP (`_meta`) and serve; without `builtin:trace` it gets the
/// client's.
fn trace_continues_the_clients_traceparent(runtime: &str) {
    let (port, spans) = otlp_receiver();
    let traceparent = format!("00-{CLIENT_TRACE}-{CLIENT_SPAN}-01");
    let p = Fixture::with(&[
        (
            "compozy.yaml",
            &format!(
                "plugins:\n  - {{use: \"builtin:trace\", tools: [traced], endpoint: \"http://127.0.0.1:{port}\"}}\ntools:\n  - id: traced\n    description: d\n    execute: ./t.ts\n  - id: untraced\n    description: d\n    execute: ./t.ts\n"
            ),
        ),
        (
            "t.ts",
            "export default (_i: unknown, _c: unknown, ctx: { traceparent?: string }) => ({ tp: ctx.traceparent ?? null });\n",
        ),
    ]);
    p.run(&["gen"]).expect_code(0);
    let steps = json!([
        {"op": "call", "name": "traced", "args": {}, "meta": {"traceparent": traceparent}},
        {"op": "call", "name": "untraced", "args": {}, "meta": {"traceparent": traceparent}},
        {"op": "call", "name": "traced", "args": {}},
    ]);
    let report = crate::mcp::over_stdio(&p, runtime, "modern", &[], &steps);
    let r = &report["results"];
    let tp = |i: usize| -> Value {
        let text = crate::mcp::text(&r[i]);
        serde_json::from_str::<Value>(text).unwrap_or_else(|e| panic!("{e}: {report:#}"))["tp"]
            .clone()
    };
    // Two traced calls, two posts of [call span, worker span].
    let mut got = Vec::new();
    for _ in 0..2 {
        let (path, body) = spans
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("spans posted to the receiver");
        assert_eq!(path, "/v1/traces");
        got.push(body["resourceSpans"][0]["scopeSpans"][0]["spans"].clone());
    }
    let (child, root): (Vec<&Value>, Vec<&Value>) =
        got.iter().partition(|s| s[0]["traceId"] == CLIENT_TRACE);
    assert_eq!((child.len(), root.len()), (1, 1), "{got:#?}");
    let (child, root) = (child[0], root[0]);
    // The client's span is the parent of the call's span, in the client's trace.
    assert_eq!(child[0]["parentSpanId"], CLIENT_SPAN, "{child:#}");
    assert_eq!(child[1]["parentSpanId"], child[0]["spanId"], "{child:#}");
    // The tool continues from the call's span.
    let span = child[0]["spanId"].as_str().unwrap_or_default();
    assert_eq!(
        tp(0),
        json!(format!("00-{CLIENT_TRACE}-{span}-01")),
        "{report:#}"
    );
    // Without builtin:trace the tool continues the client's own context.
    assert_eq!(tp(1), json!(traceparent), "{report:#}");
    // No client context: a new trace, whose call span has no parent.
    assert!(root[0].get("parentSpanId").is_none(), "{root:#}");
    let root_span = root[0]["spanId"].as_str().unwrap_or_default();
    let root_trace = root[0]["traceId"].as_str().unwrap_or_default();
    assert_eq!(
        tp(2),
        json!(format!("00-{root_trace}-{root_span}-01")),
        "{report:#}"
    );

    // serve: the request's `traceparent`.
    let mut serve = Serve::start(&p, runtime, 1, &[]);
    let a = serve.call(&json!({"id": 1, "tool_id": "traced", "traceparent": traceparent}));
    let (_, body) = spans
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("spans of the serve call");
    let call = &body["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
    assert_eq!(call["traceId"], CLIENT_TRACE, "{call:#}");
    assert_eq!(call["parentSpanId"], CLIENT_SPAN, "{call:#}");
    let span = call["spanId"].as_str().unwrap_or_default();
    assert_eq!(
        a["result"]["tp"],
        json!(format!("00-{CLIENT_TRACE}-{span}-01")),
        "{a}"
    );
    let a = serve.call(&json!({"id": 2, "tool_id": "traced", "traceparent": "00-zz-1-01"}));
    assert_eq!(a["error"]["name"], "InvalidRequestError", "{a}");
    serve.close_stdin();
    assert_eq!(serve.wait(std::time::Duration::from_secs(10)), 0);

    // exec: `TRACEPARENT` in its environment reaches the tool.
    let out = p
        .compozy(&["exec", "untraced", "--input", "{}", "--runtime", runtime])
        .env("COMPOZY_BUN", runtime_bin("bun"))
        .env("COMPOZY_NODE", runtime_bin("node"))
        .env("TRACEPARENT", &traceparent)
        .output()
        .expect("exec");
    assert!(out.status.success(), "{out:?}");
    let result: Value = serde_json::from_slice(&out.stdout).expect("JSON result");
    assert_eq!(result["tp"], json!(traceparent));
}

fn trace_posts_a_call_span_and_a_worker_span(runtime: &str) {
    let (port, spans) = otlp_receiver();
    let p = Fixture::with(&[
        (
            "compozy.yaml",
            &format!(
                "plugins:\n  - {{use: \"builtin:trace\", endpoint: \"http://127.0.0.1:{port}\"}}\ntools:\n  - id: ok\n    description: d\n    execute: ./t.ts\n  - id: fails\n    description: d\n    execute: ./f.ts\n"
            ),
        ),
        ("t.ts", "export default () => 1;\n"),
        (
            "f.ts",
            "export default () => { throw new RangeError(\"no\"); };\n",
        ),
    ]);
    p.run(&["gen"]).expect_code(0);
    let mut serve = Serve::start(&p, runtime, 1, &[]);
    serve.call(&json!({"id": 1, "tool_id": "ok", "tool_exec_id": "x1"}));
    serve.call(&json!({"id": 2, "tool_id": "fails", "tool_exec_id": "x2"}));
    let mut got = Vec::new();
    for _ in 0..2 {
        let (path, body) = spans
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("spans posted to the receiver");
        assert_eq!(path, "/v1/traces");
        got.push(body["resourceSpans"][0]["scopeSpans"][0]["spans"].clone());
    }
    serve.close_stdin();
    assert_eq!(serve.wait(std::time::Duration::from_secs(10)), 0);
    got.sort_by_key(|s| s[0]["name"].as_str().unwrap_or("").to_owned());
    let (fails, ok) = (&got[0], &got[1]);
    assert_eq!(ok[0]["name"], "execute_tool ok", "{ok:#}");
    assert_eq!(ok[0]["status"]["code"], 1, "{ok:#}");
    let attrs = ok[0]["attributes"].to_string();
    assert!(
        attrs.contains("gen_ai.tool.name") && attrs.contains("\"x1\""),
        "{ok:#}"
    );
    // The worker's run is a child of the call, in the same trace.
    assert_eq!(ok[1]["parentSpanId"], ok[0]["spanId"], "{ok:#}");
    assert_eq!(ok[1]["traceId"], ok[0]["traceId"], "{ok:#}");
    assert_eq!(ok[0]["traceId"].as_str().map(str::len), Some(32), "{ok:#}");
    assert_ne!(fails[0]["traceId"], ok[0]["traceId"]);
    assert_eq!(fails[0]["status"]["code"], 2, "{fails:#}");
    assert!(
        fails[0]["attributes"].to_string().contains("RangeError"),
        "{fails:#}"
    );
}

/// A server that ends right after its last answers posts their spans first: `serve` whose stdin
/// closes at once.
fn a_server_posts_its_last_spans_before_it_exits(runtime: &str) {
    let (port, spans) = otlp_receiver();
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
    let mut serve = Serve::start(&p, runtime, 1, &[]);
    for id in 1..=3 {
        serve.send(&json!({"id": id, "tool_id": "ok"}));
    }
    serve.close_stdin();
    for _ in 1..=3 {
        let answer = serve.recv();
        assert_eq!(answer["result"], 1, "{answer}");
    }
    assert_eq!(serve.wait(std::time::Duration::from_secs(10)), 0);
    // Every post reached the receiver before serve exited.
    let posted = spans.try_iter().count();
    assert_eq!(posted, 3, "spans posted before serve exited");
}

/// `koa-compose` (npm), the reference for onion middleware; `COMPOZY_TEST_KOA_COMPOSE` may name
/// its directory. Fails loudly when it is missing.
fn koa_compose() -> PathBuf {
    if let Some(dir) = std::env::var_os("COMPOZY_TEST_KOA_COMPOSE") {
        return PathBuf::from(dir);
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/koa-compose");
    assert!(
        dir.join("index.js").exists(),
        "koa-compose is required for this test but {} does not exist: run `npm ci` in the \
         repository root (or set COMPOZY_TEST_KOA_COMPOSE)",
        dir.display()
    );
    dir
}

/// What each middleware of a generated chain does (`plugins/behave.mjs`).
const BEHAVE: &str = r#"
export function make(i, kind) {
  return async (call, next) => {
    const ev = globalThis.events;
    ev.push(`${i}:before`);
    switch (kind) {
      case "log": { const r = await next(); ev.push(`${i}:after`); return r; }
      case "short": return { v: `short${i}` };
      case "throwBefore": throw new Error(`boom${i}`);
      case "throwAfter": { await next(); ev.push(`${i}:after`); throw new Error(`boom${i}`); }
      case "twice": { await next(); ev.push(`${i}:again`); return next(); }
      case "input": { const r = await next({ ...call, input: { v: `${call.input.v}+${i}` } }); ev.push(`${i}:after`); return r; }
      case "result": { const r = await next(); return { v: `${r.v}!${i}` }; }
      case "catch": { try { return await next(); } catch (e) { ev.push(`${i}:caught`); return { v: `recovered${i}` }; } }
    }
    throw new Error(`unknown kind ${kind}`);
  };
}

// The outermost middleware of every chain: records the events and the outcome.
export async function record(next) {
  globalThis.events = [];
  try {
    return { ok: await next(), events: globalThis.events };
  } catch (e) {
    const m = String(e?.message ?? e);
    const token = /more than once|multiple times/.test(m) ? "twice" : (m.match(/boom\d+/)?.[0] ?? m);
    return { err: token, events: globalThis.events };
  }
}

export function tool(input) {
  globalThis.events.push(`tool:${input.v}`);
  return { v: `t${input.v}` };
}
"#;

const KOA_RUNNER: &str = r#"
import compose from "KOA";
import { make, record, tool } from "./plugins/behave.mjs";
const chains = JSON.parse(process.argv[2]);
const out = [];
for (const chain of chains) {
  const mws = chain.map((kind, i) => (ctx, next) =>
    make(i, kind)(ctx.call, (c) => {
      if (c !== undefined) ctx.call = c;
      return next();
    }));
  const ctx = { call: { input: { v: "x" } } };
  out.push(await record(() => compose(mws)(ctx, () => tool(ctx.call.input))));
}
console.log(JSON.stringify(out));
"#;

/// Chains of up to four middleware of every kind, from a fixed seed.
fn chains() -> Vec<Vec<&'static str>> {
    const KINDS: [&str; 8] = [
        "log",
        "short",
        "throwBefore",
        "throwAfter",
        "twice",
        "input",
        "result",
        "catch",
    ];
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rand = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut out: Vec<Vec<&str>> = KINDS.iter().map(|k| vec![*k]).collect();
    for _ in 0..40 {
        let len = 2 + rand(3);
        out.push((0..len).map(|_| KINDS[rand(KINDS.len())]).collect());
    }
    out
}

fn onion_matches_koa_compose(runtime: &str) {
    let koa = koa_compose();
    let chains = chains();
    let mut yaml = String::from("plugins:\n");
    let mut tools = String::from("tools:\n");
    let mut files: Vec<(String, String)> = vec![
        ("plugins/behave.mjs".into(), BEHAVE.into()),
        (
            "plugins/record.mjs".into(),
            "import { record } from \"./behave.mjs\";\nexport default { callTool: (call, next) => record(() => next()) };\n".into(),
        ),
        (
            "tool.mjs".into(),
            "import { tool } from \"./plugins/behave.mjs\";\nexport default tool;\n".into(),
        ),
    ];
    yaml.push_str("  - {use: ./plugins/record.mjs}\n");
    for (k, chain) in chains.iter().enumerate() {
        tools.push_str(&format!(
            "  - id: c{k}\n    description: chain {k}\n    execute: ./tool.mjs\n"
        ));
        for (i, kind) in chain.iter().enumerate() {
            let file = format!("plugins/c{k}_{i}.mjs");
            files.push((
                file.clone(),
                format!(
                    "import {{ make }} from \"./behave.mjs\";\nexport default {{ callTool: make({i}, \"{kind}\") }};\n"
                ),
            ));
            yaml.push_str(&format!("  - {{use: ./{file}, tools: [c{k}]}}\n"));
        }
    }
    files.push(("compozy.yaml".into(), format!("{yaml}{tools}")));
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let p = Fixture::with(&refs);
    p.run(&["gen"]).expect_code(0);

    let runner = KOA_RUNNER.replace("KOA", &url_of(&koa.join("index.js")));
    p.write("koa_runner.mjs", &runner);
    let out = Command::new(runtime_bin("node"))
        .arg(p.path("koa_runner.mjs"))
        .arg(serde_json::to_string(&chains).expect("json"))
        .current_dir(p.root())
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: Vec<Value> =
        serde_json::from_slice(&out.stdout).expect("the koa runner prints JSON");

    let mut serve = Serve::start(&p, runtime, 1, &[]);
    for (k, chain) in chains.iter().enumerate() {
        let answer = serve.call(&json!({"id": k, "tool_id": format!("c{k}"), "input": {"v": "x"}}));
        assert_eq!(
            answer["result"], expected[k],
            "chain {k} {chain:?} differs from koa-compose: {answer}"
        );
    }
    serve.close_stdin();
    assert_eq!(serve.wait(std::time::Duration::from_secs(10)), 0);
}

fn url_of(path: &std::path::Path) -> String {
    format!("file://{}", path.display())
}

mod koa {
    #[test]
    fn bun() {
        super::onion_matches_koa_compose("bun")
    }
    #[test]
    fn node() {
        super::onion_matches_koa_compose("node")
    }
}

#!/usr/bin/env python3
"""Benchmarks plugins (`plugins:` in compozy.yaml) against a baseline from the same run.

The warm round trip of `serve --workers 1` on one tool, in three projects that differ only in
their `plugins:`, run alternately (several processes each, see serve_bench.compare_round_trips):

1. `none`: no plugins (the baseline).
2. `one`: one JavaScript middleware that passes the call on. Target: <= 1.1x the baseline.
3. `other`: one middleware whose filter matches another tool only. Target: no measurable
   change (the tool's table entry has no plugin list, so the worker takes the old path).
4. `policy`: a `builtin:rate-limit` high enough never to refuse, on the tool (the cost of the
   policy check in front of the pool).
5. A cache hit: the same call again and again to a project with `builtin:cache` on the tool,
   against the same calls without a cache. Target: <= 0.5x.

Usage: python3 benches/plugins_bench.py [--calls N] [--binary PATH]
"""

import argparse
import io
import json
import os
import statistics
import time
import subprocess
import tempfile

from common import bun_binary, compozy_binary
from serve_bench import compare_round_trips, write

TOOLS = (
    "tools:\n"
    "  - id: add\n    description: Adds.\n    execute: ./tools/add.ts\n"
    "  - id: other\n    description: Another tool.\n    execute: ./tools/add.ts\n"
)

PLUGINS = {
    "none": "",
    "one": "plugins:\n  - {use: ./plugins/pass.ts}\n",
    "other": "plugins:\n  - {use: ./plugins/pass.ts, tools: [other]}\n",
    "policy": "plugins:\n  - {use: \"builtin:rate-limit\", limit: 1000000000, per: 1s}\n",
    "cached": "plugins:\n  - {use: \"builtin:cache\", tools: [add], ttl: 1h}\n",
}


def same_call(binary, root, env, calls):
    """Median round trip of one call repeated `calls` times through one `serve --workers 1`."""
    proc = subprocess.Popen([binary, "serve", "--workers", "1"], cwd=root, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, bufsize=0)
    reader = io.BufferedReader(proc.stdout)
    line = json.dumps({"id": 1, "tool_id": "add", "input": {"a": 1, "b": 2}}).encode() + b"\n"
    samples = []
    for i in range(calls + 200):
        start = time.perf_counter()
        proc.stdin.write(line)
        answer = reader.readline()
        elapsed = time.perf_counter() - start
        if json.loads(answer)["result"] != 3:
            raise SystemExit(f"wrong answer: {answer!r}")
        if i >= 200:
            samples.append(elapsed)
    proc.stdin.close()
    proc.wait()
    return statistics.median(samples)


def make_project(root, plugins):
    tools = TOOLS
    if "cache" in plugins:
        tools = tools.replace("execute: ./tools/add.ts\n  - id: other",
                              "execute: ./tools/add.ts\n    annotations: {readOnlyHint: true}\n  - id: other")
    write(os.path.join(root, "compozy.yaml"), plugins + tools)
    write(os.path.join(root, "tools", "add.ts"),
          "export function run(i: { a: number; b: number }) { return i.a + i.b; }\n")
    write(os.path.join(root, "plugins", "pass.ts"),
          "export default { callTool(call, next) { return next(); } };\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--binary")
    args = parser.parse_args()
    binary = compozy_binary(args.binary)
    env = dict(os.environ, COMPOZY_BUN=bun_binary())
    env.pop("RUST_LOG", None)
    with tempfile.TemporaryDirectory() as tmp:
        roots = {}
        for name, plugins in PLUGINS.items():
            root = os.path.join(tmp, name)
            make_project(root, plugins)
            subprocess.run([binary, "gen"], cwd=root, env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            roots[name] = root
        # compare_round_trips runs every command in one directory: each command names its own.
        commands = {name: [binary, "serve", "--workers", "1", "--project", root]
                    for name, root in roots.items() if name != "cached"}
        print(f"warm round trip of `serve --workers 1`, {args.calls} calls per project")
        medians = compare_round_trips(commands, tmp, env, args.calls)
        base = medians["none"]
        for name, median in medians.items():
            print(f"  {name:>6}: {median * 1e6:7.1f} us  {median / base:5.2f}x none")
        print(f"one middleware: {medians['one'] / base:.2f}x (target <= 1.10x)")
        print(f"no plugin matches: {medians['other'] / base:.2f}x (target: no measurable change)")
        print(f"rate-limit check: {medians['policy'] / base:.2f}x")
        hits, misses = [], []
        for _ in range(5):
            misses.append(same_call(binary, roots["none"], env, args.calls // 5))
            hits.append(same_call(binary, roots["cached"], env, args.calls // 5))
        hit, miss = statistics.median(hits), statistics.median(misses)
        print(f"cache hit: {hit * 1e6:.1f} us against a warm call's {miss * 1e6:.1f} us: "
              f"{hit / miss:.2f}x (target <= 0.50x)")


if __name__ == "__main__":
    main()

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

Usage: python3 benches/plugins_bench.py [--calls N] [--binary PATH]
"""

import argparse
import os
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
}


def make_project(root, plugins):
    write(os.path.join(root, "compozy.yaml"), plugins + TOOLS)
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
                    for name, root in roots.items()}
        print(f"warm round trip of `serve --workers 1`, {args.calls} calls per project")
        medians = compare_round_trips(commands, tmp, env, args.calls)
        base = medians["none"]
        for name, median in medians.items():
            print(f"  {name:>6}: {median * 1e6:7.1f} us  {median / base:5.2f}x none")
        print(f"one middleware: {medians['one'] / base:.2f}x (target <= 1.10x)")
        print(f"no plugin matches: {medians['other'] / base:.2f}x (target: no measurable change)")
        print(f"rate-limit check: {medians['policy'] / base:.2f}x")


if __name__ == "__main__":
    main()

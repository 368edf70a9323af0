#!/usr/bin/env python3
"""Benchmarks plugins (`plugins:` in compozy.yaml) against a baseline from the same run.

The warm round trip of `serve --workers 1` on one tool, in projects that differ only in their
`plugins:`. Each round starts one fresh server per project and sends the same call to each in
turn, call by call (the order rotating), so that a burst of load from other processes on a busy
machine falls on every project alike; a round's ratio is its median against the baseline's
median in the same round, and the result is the median of the rounds' ratios, with their range.
`none2` is the baseline again (an A/A comparison): its range is the noise floor, against which
"no measurable change" is judged.

1. `none`: no plugins (the baseline).
2. `one`: one JavaScript middleware that passes the call on. Target: <= 1.1x the baseline.
3. `other`: one middleware whose filter matches another tool only. Target: no measurable
   change (the tool's table entry has no plugin list, so the worker takes the old path).
4. `policy`: a `builtin:rate-limit` high enough never to refuse, on the tool (the cost of the
   policy check in front of the pool).
5. `cached`: `builtin:cache` on the tool, the same call each time: every call after the first
   is a hit. Target: <= 0.5x a warm call.
6. `changes`: one middleware that passes a changed input on, which compozy checks again (a
   question and answer on the worker's channel). No target; reported.

Usage: python3 benches/plugins_bench.py [--rounds N] [--calls N] [--binary PATH]
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
from serve_bench import write

TOOLS = (
    "tools:\n"
    "  - id: add\n    description: Adds.\n    execute: ./tools/add.ts\n"
    "  - id: other\n    description: Another tool.\n    execute: ./tools/add.ts\n"
)

PLUGINS = {
    "none": "",
    "none2": "",
    "one": "plugins:\n  - {use: ./plugins/pass.ts}\n",
    "other": "plugins:\n  - {use: ./plugins/pass.ts, tools: [other]}\n",
    "policy": "plugins:\n  - {use: \"builtin:rate-limit\", limit: 1000000000, per: 1s}\n",
    "cached": "plugins:\n  - {use: \"builtin:cache\", tools: [add], ttl: 1h}\n",
    "changes": "plugins:\n  - {use: ./plugins/change.ts}\n",
}

CALL = json.dumps({"id": 1, "tool_id": "add", "input": {"a": 1, "b": 2}}).encode() + b"\n"
WARM_UP = 200


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
    # The same sum from a changed input: a + b == (a - 1) + (b + 1).
    write(os.path.join(root, "plugins", "change.ts"),
          "export default { callTool(call, next) {\n"
          "  const { a, b } = call.input;\n"
          "  return next({ ...call, input: { a: a - 1, b: b + 1 } });\n} };\n")


class Server:
    """One `serve --workers 1` process of a project."""

    def __init__(self, binary, root, env):
        self.proc = subprocess.Popen([binary, "serve", "--workers", "1"], cwd=root, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, bufsize=0)
        # Buffered: a raw pipe's readline() reads one byte per syscall.
        self.reader = io.BufferedReader(self.proc.stdout)

    def call(self):
        start = time.perf_counter()
        self.proc.stdin.write(CALL)
        answer = self.reader.readline()
        elapsed = time.perf_counter() - start
        # A byte search, not json.loads: the client's own time is in every sample and dilutes
        # every ratio towards 1.
        if b'"result":3,' not in answer:
            raise SystemExit(f"wrong answer: {answer!r}")
        return elapsed

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def interleaved(binary, roots, env, rounds, calls):
    """Per round and project, the median round trip; servers of a round answer in turn."""
    names = list(roots)
    medians = {name: [] for name in names}
    for r in range(rounds):
        servers = {name: Server(binary, roots[name], env) for name in names}
        for server in servers.values():
            for _ in range(WARM_UP):
                server.call()
        samples = {name: [] for name in names}
        for i in range(calls):
            k = (i + r) % len(names)
            for name in names[k:] + names[:k]:
                samples[name].append(servers[name].call())
        for name, server in servers.items():
            server.close()
            medians[name].append(statistics.median(samples[name]))
        print(f"  round {r + 1:>2}: " + " ".join(
            f"{name} {medians[name][-1] * 1e6:.0f}" for name in names) + " us", flush=True)
    return medians


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--binary")
    args = parser.parse_args()
    binary = compozy_binary(args.binary)
    env = dict(os.environ, COMPOZY_BUN=bun_binary())
    env.pop("RUST_LOG", None)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        roots = {}
        for name, plugins in PLUGINS.items():
            root = os.path.join(tmp, name)
            make_project(root, plugins)
            subprocess.run([binary, "gen"], cwd=root, env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            roots[name] = root
        print(f"warm round trip of `serve --workers 1`: {args.rounds} rounds of {args.calls} "
              f"calls per project, interleaved call by call ({os.cpu_count()} cores, load "
              f"average {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f})")
        medians = interleaved(binary, roots, env, args.rounds, args.calls)
    load_after = os.getloadavg()
    base = medians["none"]
    ratios = {name: [m / b for m, b in zip(ms, base)] for name, ms in medians.items()}

    def summary(name):
        rs = ratios[name]
        return statistics.median(rs), min(rs), max(rs)

    print("median round trip, and the median (range) of the rounds' ratios to `none`:")
    for name in medians:
        if name == "none":
            continue
        mid, lo, hi = summary(name)
        print(f"  {name:>7}: {statistics.median(medians[name]) * 1e6:6.1f} us  "
              f"{mid:5.2f}x ({lo:.2f}-{hi:.2f})")
    print(f"  {'none':>7}: {statistics.median(base) * 1e6:6.1f} us")
    # The A/A comparison's widest round either way: what two identical servers differ by here.
    noise = max(abs(r - 1) for r in ratios["none2"])
    one = summary("one")[0]
    other = summary("other")[0]
    hit = summary("cached")[0]
    verdict = lambda ok: "met" if ok else "MISSED"
    print(f"one middleware: {one:.2f}x (target <= 1.10x): {verdict(one <= 1.10)}")
    print(f"no plugin matches: {other:.2f}x, A/A noise +-{noise:.2f} "
          f"(target: within the noise): {verdict(abs(other - 1) <= noise)}")
    print(f"cache hit: {hit:.2f}x a warm call (target <= 0.50x): {verdict(hit <= 0.50)}")
    print(f"rate-limit check: {summary('policy')[0]:.2f}x; a changed input checked again: "
          f"{summary('changes')[0]:.2f}x")
    print(f"load average after: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")


if __name__ == "__main__":
    main()

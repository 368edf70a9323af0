#!/usr/bin/env python3
"""Benchmarks `compozy mcp` over stdio against `compozy serve`, both measured in the same run.

Per-call round trip of a `tools/call` of a warm trivial tool (`add`, on Bun) through
`mcp --workers 1`, against the NDJSON round trip of the same tool through `serve --workers 1`,
driven by the same driver (one request line out, one answer line back, sequentially).
Target (SPEC §7): MCP within 1.5x of serve.

- 2025-11-25 era: `initialize` and `notifications/initialized` first, then the calls.
- 2026-07-28 era (unless --no-2026): no handshake; every request carries the protocol version
  and client capabilities in `params._meta`.

Processes of each side alternate (several per side, each a warm-up then sequential calls):
where the scheduler places them changes a round trip for a process's whole lifetime, so one
process per side would measure that luck rather than compozy.

Usage: python3 benches/mcp_bench.py [--calls N] [--processes N] [--binary PATH] [--no-2026]
"""

import argparse
import io
import json
import os
import statistics
import subprocess
import tempfile
import time

from common import bun_binary, compozy_binary

WARM_UP = 200
ARGUMENTS = {"a": 1, "b": 2}
META_2026 = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientCapabilities": {},
}


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def make_project(root):
    write(os.path.join(root, "compozy.yaml"),
          "tools:\n  - id: add\n    description: Adds two numbers.\n    execute: ./tools/add.ts\n")
    write(os.path.join(root, "tools", "add.ts"),
          "export function run(i: { a: number; b: number }) { return i.a + i.b; }\n")


def line(message):
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


class Serve:
    """`serve`'s NDJSON: `{"id", "tool_id", "input"}` in, `{"id", "result", ...}` out."""

    def command(self, binary):
        return [binary, "serve", "--workers", "1"]

    def handshake(self):
        return []

    def request(self, i):
        return line({"id": i, "tool_id": "add", "input": ARGUMENTS})

    def check(self, i, answer):
        if answer.get("id") != i or answer.get("result") != 3:
            raise SystemExit(f"serve: wrong answer to request {i}: {answer!r}")


class Mcp:
    """MCP's newline-delimited JSON-RPC over stdio, in one of the two protocol eras."""

    def __init__(self, era):
        self.era = era

    def command(self, binary):
        return [binary, "mcp", "--workers", "1"]

    def handshake(self):
        if self.era == "2026-07-28":
            return []
        return [
            (line({"jsonrpc": "2.0", "id": "init", "method": "initialize",
                   "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                              "clientInfo": {"name": "mcp_bench", "version": "0"}}}), "init"),
            (line({"jsonrpc": "2.0", "method": "notifications/initialized"}), None),
        ]

    def request(self, i):
        params = {"name": "add", "arguments": ARGUMENTS}
        if self.era == "2026-07-28":
            params["_meta"] = META_2026
        return line({"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": params})

    def check(self, i, answer):
        result = answer.get("result") or {}
        if answer.get("id") != i or result.get("isError") or result.get("content") != [{"type": "text", "text": "3"}]:
            raise SystemExit(f"mcp {self.era}: wrong answer to request {i}: {answer!r}")


def read_answer(reader, side):
    """The next line of `reader` that is an answer (notifications, if any, are skipped)."""
    while True:
        raw = reader.readline()
        if not raw:
            raise SystemExit(f"{side}: the server closed its stdout")
        if b'"id"' in raw:
            return raw


def round_trips(side, name, binary, cwd, env, calls):
    """Per-call round trips (seconds) of sequential requests through one process of `side`."""
    proc = subprocess.Popen(side.command(binary), cwd=cwd, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
    # Buffered: a raw pipe's readline() reads one byte per syscall, which would charge each side
    # by the length of its answers rather than by its round trip.
    reader = io.BufferedReader(proc.stdout)
    for message, answer_id in side.handshake():
        proc.stdin.write(message)
        if answer_id is not None:
            answer = json.loads(read_answer(reader, name))
            if answer.get("id") != answer_id or "result" not in answer:
                raise SystemExit(f"{name}: handshake failed: {answer!r}")
    samples = []
    for i in range(calls + WARM_UP):
        request = side.request(i)
        start = time.perf_counter()
        proc.stdin.write(request)
        answer = read_answer(reader, name)
        elapsed = time.perf_counter() - start
        side.check(i, json.loads(answer))
        if i >= WARM_UP:
            samples.append(elapsed)
    proc.stdin.close()
    proc.wait()
    return samples


def compare_round_trips(sides, binary, cwd, env, calls, processes):
    """Pooled median round trip of each side, over `processes` processes each, run alternately."""
    samples = {name: [] for name in sides}
    per_process = {name: [] for name in sides}
    for _ in range(processes):
        for name, side in sides.items():
            run = round_trips(side, name, binary, cwd, env, max(1, calls // processes))
            samples[name] += run
            per_process[name].append(statistics.median(run))
    for name, medians in per_process.items():
        print(f"  {name:>8}: per-process medians " + " ".join(f"{m * 1e6:.0f}" for m in medians) + " us")
    return {name: statistics.median(s) for name, s in samples.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=4000, help="measured calls per side, over all processes")
    parser.add_argument("--processes", type=int, default=10, help="processes per side, run alternately")
    parser.add_argument("--binary", help="the compozy binary (default: a fresh `cargo build --release`)")
    parser.add_argument("--no-2026", dest="era_2026", action="store_false",
                        help="skip the 2026-07-28 era variant")
    args = parser.parse_args()
    binary = compozy_binary(args.binary)
    bun = bun_binary()
    env = dict(os.environ, COMPOZY_BUN=bun)

    sides = {"serve": Serve(), "mcp": Mcp("2025-11-25")}
    if args.era_2026:
        sides["mcp-2026"] = Mcp("2026-07-28")
    with tempfile.TemporaryDirectory(prefix="compozy-mcp-bench-") as root:
        make_project(root)
        subprocess.run([binary, "gen", "-q"], cwd=root, env=env, check=True)
        print(f"mcp over stdio against serve, {os.cpu_count()} cores, "
              f"{args.processes} processes x {max(1, args.calls // args.processes)} calls per side")
        medians = compare_round_trips(sides, binary, root, env, args.calls, args.processes)

    serve = medians["serve"]
    print(f"  compozy serve --workers 1              {serve * 1e6:8.1f} us/call   1.00x")
    print(f"  compozy mcp --workers 1 (2025-11-25)   {medians['mcp'] * 1e6:8.1f} us/call   "
          f"{medians['mcp'] / serve:.2f}x   target <= 1.50x")
    if "mcp-2026" in medians:
        print(f"  compozy mcp --workers 1 (2026-07-28)   {medians['mcp-2026'] * 1e6:8.1f} us/call   "
              f"{medians['mcp-2026'] / serve:.2f}x   target <= 1.50x")


if __name__ == "__main__":
    main()

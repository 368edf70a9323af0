#!/usr/bin/env python3
"""Benchmarks the pool's worker start-up policy: on demand (the default) against all at once.

`compozy serve --workers N` (N = 8 by default) is run in two ways, alternately, in the same run:

  eager      COMPOZY_WARM_WORKERS=N: every worker starts with the server and none is stopped for
             idling. This is the baseline: the pool as it was before workers started on demand
             (the same binary, so that nothing else differs; --baseline-binary runs an older
             build instead, which starts all workers whatever the variable says).
  on demand  the default: one worker at start, another when a call finds every running worker
             busy, and a worker beyond the first stopped after COMPOZY_WORKER_IDLE (2s here, to
             keep the run short; 60s by default).

Measured, each the median over --rounds servers per side:

1. Idle memory once the server has answered one call and settled (1 s): the summed RSS of
   compozy and every process under it (what `ps` shows a user), and the summed PSS (shared pages
   divided among the processes that share them, so that the sum does not count them twice).
2. First call: from starting `compozy serve` to the answer of one request sent at once (the
   cold start a host pays when it starts `compozy mcp` for a call).
3. First burst: N calls sent together to a tool that awaits 50 ms, after the server settled;
   time until all are answered. On demand, N-1 workers start here: this is what the saving
   costs.
4. Second burst: the same again right after; every worker is warm on both sides.
5. Memory after the burst and the idle timeout: the on-demand pool is back to one worker.

Usage: python3 benches/pool_bench.py [--workers N] [--rounds R] [--binary PATH]
                                     [--baseline-binary PATH]
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

IDLE = "2s"


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def make_project(root):
    write(os.path.join(root, "compozy.yaml"),
          "tools:\n  - id: add\n    execute: ./tools/add.ts\n"
          "  - id: sleep50\n    execute: ./tools/sleep50.ts\n")
    write(os.path.join(root, "tools", "add.ts"),
          "export function run(i: { a: number; b: number }) { return i.a + i.b; }\n")
    write(os.path.join(root, "tools", "sleep50.ts"),
          "export async function run() { await new Promise((r) => setTimeout(r, 50)); return process.pid; }\n")


def children():
    """pid -> parent pid of every process, from /proc."""
    parents = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        parents[int(name)] = int(stat.rsplit(")", 1)[1].split()[1])
    return parents


def tree(root):
    """`root` and every process under it."""
    parents = children()
    found, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def memory(root):
    """(summed RSS, summed PSS, processes) of `root`'s tree, in bytes."""
    rss = pss = 0
    pids = tree(root)
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    key, value = line.split(":", 1)
                    if key in ("Rss", "Pss"):
                        kib = int(value.split()[0]) * 1024
                        if key == "Rss":
                            rss += kib
                        else:
                            pss += kib
        except OSError:
            pass
    return rss, pss, len(pids)


class Server:
    def __init__(self, binary, root, env, workers):
        self.started = time.perf_counter()
        self.proc = subprocess.Popen([binary, "serve", "--workers", str(workers)], cwd=root,
                                     env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, bufsize=0)
        self.reader = io.BufferedReader(self.proc.stdout)
        self.next_id = 0

    def send(self, tool, payload=None):
        self.next_id += 1
        line = {"id": self.next_id, "tool_id": tool}
        if payload is not None:
            line["input"] = payload
        self.proc.stdin.write(json.dumps(line).encode() + b"\n")

    def recv(self):
        answer = json.loads(self.reader.readline())
        if answer.get("error"):
            raise SystemExit(f"error answer: {answer}")
        return answer

    def burst(self, n):
        start = time.perf_counter()
        for _ in range(n):
            self.send("sleep50")
        for _ in range(n):
            self.recv()
        return time.perf_counter() - start

    def settle(self, seconds=1.0):
        time.sleep(seconds)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def one_round(binary, root, env, workers):
    server = Server(binary, root, env, workers)
    server.send("add", {"a": 1, "b": 2})
    answer = server.recv()
    first_call = time.perf_counter() - server.started
    if answer["result"] != 3:
        raise SystemExit(f"wrong answer: {answer}")
    server.settle()
    idle = memory(server.proc.pid)
    first_burst = server.burst(workers)
    second_burst = server.burst(workers)
    # Past the idle timeout (2 s) and the retirement's grace period.
    server.settle(3.5)
    after = memory(server.proc.pid)
    server.close()
    return {"first_call": first_call, "idle_rss": idle[0], "idle_pss": idle[1],
            "idle_procs": idle[2], "first_burst": first_burst, "second_burst": second_burst,
            "after_rss": after[0], "after_pss": after[1], "after_procs": after[2]}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--binary")
    parser.add_argument("--baseline-binary",
                        help="run the baseline on this (older) build instead of this one")
    args = parser.parse_args()
    binary = compozy_binary(args.binary)
    baseline_binary = compozy_binary(args.baseline_binary) if args.baseline_binary else binary
    bun = bun_binary()
    base_env = dict(os.environ, COMPOZY_BUN=bun, COMPOZY_WORKER_IDLE=IDLE)
    base_env.pop("COMPOZY_WARM_WORKERS", None)
    sides = {
        "eager": (baseline_binary, dict(base_env, COMPOZY_WARM_WORKERS=str(args.workers))),
        "on demand": (binary, base_env),
    }
    with tempfile.TemporaryDirectory(prefix="compozy-pool-bench-") as root:
        make_project(root)
        subprocess.run([binary, "gen", "-q"], cwd=root, env=base_env, check=True)
        runs = {name: [] for name in sides}
        for _ in range(args.rounds):
            for name, (exe, env) in sides.items():
                runs[name].append(one_round(exe, root, env, args.workers))
    med = {name: {key: statistics.median(r[key] for r in rs) for key in rs[0]}
           for name, rs in runs.items()}
    base, new = med["eager"], med["on demand"]
    mib = 1 << 20
    print(f"compozy serve --workers {args.workers}, bun, median of {args.rounds} servers per side "
          f"(baseline: {'--baseline-binary' if args.baseline_binary else 'COMPOZY_WARM_WORKERS=N'})")
    print(f"{'':34}{'eager':>12}{'on demand':>12}{'ratio':>9}")

    def row(label, key, scale, unit):
        b, n = base[key] / scale, new[key] / scale
        print(f"  {label:32}{b:>9.1f} {unit:<2}{n:>9.1f} {unit:<2}{n / b:>8.2f}x")

    print(f"  {'processes (compozy + workers), idle':32}{base['idle_procs']:>12.0f}{new['idle_procs']:>12.0f}")
    row("idle RSS (summed)", "idle_rss", mib, "MiB")
    row("idle PSS (summed)", "idle_pss", mib, "MiB")
    row("start to first answer", "first_call", 1e-3, "ms")
    row(f"first burst of {args.workers} x 50 ms", "first_burst", 1e-3, "ms")
    row(f"second burst of {args.workers} x 50 ms", "second_burst", 1e-3, "ms")
    print(f"  {'processes after idle ' + IDLE:32}{base['after_procs']:>12.0f}{new['after_procs']:>12.0f}")
    row("RSS after the burst, idle", "after_rss", mib, "MiB")


if __name__ == "__main__":
    main()

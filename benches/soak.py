#!/usr/bin/env python3
"""Soak test of `compozy serve`: many requests of every kind, on Bun and on Node.

Drives one `serve --workers N` per runtime with a mix of normal calls, throws, crashes
(`process.exit`), hangs past their deadline (their child processes too) and 5 MiB results,
pipelined in windows, and checks:

- every request gets exactly one answer, of the expected kind (by id);
- no process outlives the run (workers, and the children the hanging tools started);
- compozy's RSS after the run is within 10 % of its RSS after the warm-up.

Prints the figures and exits 1 when a check fails.

Usage: python3 benches/soak.py [--requests N] [--workers N] [--runtime bun|node|both] [--binary PATH]
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time

from common import REPO, bun_binary, compozy_binary

TOOLS = {
    "ok": "export function run(i: { n: number }) { return { n: i.n, twice: i.n * 2 }; }\n",
    "throws": "export function run(i: { n: number }) { throw new RangeError(`bad ${i.n}`); }\n",
    "crash": "export function run() { process.exit(3); }\n",
    "hang": (
        'import { spawn } from "node:child_process";\n'
        'import { appendFileSync } from "node:fs";\n'
        "export function run(i: { pids: string }) {\n"
        '  const child = spawn("sleep", ["1000"], { stdio: "ignore" });\n'
        "  appendFileSync(i.pids, `${process.pid} ${child.pid}\\n`);\n"
        "  return new Promise(() => {});\n"
        "}\n"
    ),
    "big": 'export function run() { return "x".repeat(5 * 1024 * 1024); }\n',
}

# The mix, as weights: mostly normal calls, with every failure mode present throughout.
MIX = [("ok", 940), ("throws", 40), ("crash", 5), ("hang", 5), ("big", 10)]


def make_project(root):
    lines = ["runtime:\n  timeout: 10s\ntools:\n"]
    for name, source in TOOLS.items():
        with open(os.path.join(root, "tools", f"{name}.ts"), "w") as f:
            f.write(source)
        lines.append(f"  - id: {name}\n    description: {name}\n    execute: ./tools/{name}.ts\n")
        if name == "hang":
            lines.append("    timeout: 200ms\n")
    with open(os.path.join(root, "compozy.yaml"), "w") as f:
        f.write("".join(lines))


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def alive(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            return not any(l.startswith("State:") and "Z" in l for l in f)
    except FileNotFoundError:
        return False


def descendants(pid):
    """Every process below `pid` (workers, and what the tools started in their groups)."""
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        try:
            for task in os.listdir(f"/proc/{parent}/task"):
                with open(f"/proc/{parent}/task/{task}/children") as f:
                    kids = [int(k) for k in f.read().split()]
                found += kids
                frontier += kids
        except FileNotFoundError:
            pass
    return found


def expected(kind):
    return {"ok": None, "throws": "RangeError", "crash": "WorkerExitedError", "hang": "TimeoutError",
            "big": None}[kind]


def soak(binary, runtime, requests, workers, env, root):
    pids_file = os.path.join(root, f"hang-pids-{runtime}.txt")
    open(pids_file, "w").close()
    proc = subprocess.Popen([binary, "serve", "--runtime", runtime, "--workers", str(workers)], cwd=root,
                            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    answers = {}
    problems = []
    done = threading.Event()

    def read():
        for line in proc.stdout:
            answer = json.loads(line)
            key = answer["id"]
            if key in answers:
                problems.append(f"request {key} answered twice")
            answers[key] = answer
        done.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    rng = random.Random(20261129)
    kinds, weights = zip(*MIX)
    plan = [rng.choices(kinds, weights)[0] for _ in range(requests)]

    def send(i, kind):
        req = {"id": i, "tool_id": kind, "input": {"n": i}}
        if kind == "hang":
            req["input"] = {"pids": pids_file}
        proc.stdin.write(json.dumps(req).encode() + b"\n")

    # Warm-up: every kind once, then a window of normal calls, before the baseline RSS.
    warm = 2000
    for i, kind in enumerate(["ok", "throws", "crash", "hang", "big"] + ["ok"] * (warm - 5)):
        send(-1 - i, kind)
    proc.stdin.flush()
    while len(answers) < warm:
        time.sleep(0.05)
    rss_warm = rss_kib(proc.pid)

    started = time.time()
    window = 200
    sent = 0
    # RSS at every tenth of the run: a leak grows steadily, a heap that settles does not.
    trajectory = []
    while sent < requests:
        if sent * 10 // requests > len(trajectory):
            trajectory.append(rss_kib(proc.pid))
        # Keep at most `window` requests in flight: a 5 MiB answer is not to be queued by the
        # thousand.
        while sent - (len(answers) - warm) >= window:
            time.sleep(0.001)
        upto = min(requests, sent + 50)
        for i in range(sent, upto):
            send(i, plan[i])
        proc.stdin.flush()
        sent = upto
    while len(answers) - warm < requests and time.time() - started < 3600:
        time.sleep(0.05)
    elapsed = time.time() - started
    time.sleep(0.5)
    rss_end = rss_kib(proc.pid)
    below = descendants(proc.pid)
    proc.stdin.close()
    done.wait(120)
    code = proc.wait(120)

    for i, kind in enumerate(plan):
        answer = answers.get(i)
        if answer is None:
            problems.append(f"request {i} ({kind}) got no answer")
            continue
        error = answer.get("error")
        want = expected(kind)
        got = error["name"] if error else None
        if got != want:
            problems.append(f"request {i} ({kind}): expected {want}, got {got}: {str(answer)[:200]}")
        elif kind == "ok" and answer["result"] != {"n": i, "twice": 2 * i}:
            problems.append(f"request {i}: wrong result {answer['result']}")
        elif kind == "big" and len(answer["result"]) != 5 * 1024 * 1024:
            problems.append(f"request {i}: result of {len(answer['result'])} bytes")
    if code != 0:
        problems.append(f"serve exited {code}")
    # Everything the run started must be gone: workers, and the hanging tools' children.
    time.sleep(0.5)
    leftovers = [p for p in below if alive(p)]
    with open(pids_file) as f:
        hang_pids = [int(p) for line in f for p in line.split()]
    leftovers += [p for p in hang_pids if alive(p)]
    if leftovers:
        problems.append(f"{len(set(leftovers))} processes outlived serve: {sorted(set(leftovers))[:10]}")
    growth = (rss_end - rss_warm) / rss_warm
    if growth > 0.10:
        problems.append(f"RSS grew {growth:.1%} ({rss_warm} KiB after warm-up, {rss_end} KiB after the run)")

    counts = {kind: plan.count(kind) for kind in kinds}
    print(f"{runtime}: {requests} requests in {elapsed:.1f} s ({requests / elapsed:.0f}/s), {workers} workers; "
          + ", ".join(f"{k} {v}" for k, v in counts.items()))
    print(f"  answers: {len(answers) - warm} (each request exactly once: {not any('twice' in p or 'no answer' in p for p in problems)})")
    print(f"  RSS: {rss_warm} KiB after warm-up, {rss_end} KiB after the run ({growth:+.1%}; limit +10%)")
    print(f"  RSS at each tenth of the run (KiB): {' '.join(str(r) for r in trajectory + [rss_end])}")
    print(f"  processes left: {len(set(leftovers))} (of {len(below)} under serve at the end and {len(hang_pids)} tool children)")
    for p in problems[:20]:
        print(f"  PROBLEM: {p}")
    return not problems


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--runtime", choices=["bun", "node", "both"], default="both")
    parser.add_argument("--binary")
    args = parser.parse_args()
    binary = compozy_binary(args.binary)
    bun_binary()
    env = dict(os.environ)
    env["PATH"] = os.path.join(REPO, "node_modules", ".bin") + os.pathsep + env.get("PATH", "")
    ok = True
    with tempfile.TemporaryDirectory(prefix="compozy-soak-") as root:
        os.makedirs(os.path.join(root, "tools"))
        make_project(root)
        subprocess.run([binary, "gen", "-q"], cwd=root, env=env, check=True)
        for runtime in (["bun", "node"] if args.runtime == "both" else [args.runtime]):
            ok &= soak(binary, runtime, args.requests, args.workers, env, root)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

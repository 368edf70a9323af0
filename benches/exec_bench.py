#!/usr/bin/env python3
"""Benchmarks `compozy exec` against the floor: a bare `bun` one-shot that imports the same tool
module and prints its result. Both are timed in this run, alternating, as medians.

Target (SPEC §7, issue #3): exec within 20 % of the bare one-shot (about 7-8 ms here).
Also times the generated worker started directly (no compozy), to show what the worker itself
costs over the bare script, and `compozy --version`: the cost of starting and ending the compozy
process at all, which every exec pays.

Usage: python3 benches/exec_bench.py [--runs N] [--binary PATH]
Needs `npm ci` (for bun); builds compozy with `cargo build --release` unless --binary is given.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from common import bun_binary, compozy_binary


def timed(cmd, cwd, stdin=None, protocol_fd=None, env=None):
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          pass_fds=(protocol_fd,) if protocol_fd is not None else (), env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr.decode()}")
    return elapsed, proc.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--binary")
    args = parser.parse_args()

    binary = compozy_binary(args.binary)
    bun = bun_binary()

    with tempfile.TemporaryDirectory(prefix="compozy-exec-bench-") as root:
        os.makedirs(os.path.join(root, "tools"))
        with open(os.path.join(root, "compozy.yaml"), "w") as f:
            f.write("tools:\n  - id: add\n    execute: ./tools/add.ts\n")
        with open(os.path.join(root, "tools", "add.ts"), "w") as f:
            f.write("export function run(input: { a: number; b: number }) { return input.a + input.b; }\n")
        with open(os.path.join(root, "bare.ts"), "w") as f:
            f.write('import { run } from "./tools/add.ts";\n'
                    'console.log(JSON.stringify(run(JSON.parse(process.argv[2]))));\n')
        subprocess.run([binary, "gen", "-q"], cwd=root, check=True)
        env = dict(os.environ, COMPOZY_BUN=bun)
        # Warm the runtime-version cache and the file cache.
        timed([binary, "exec", "add", "--input", '{"a":1,"b":2}'], root, env=env)
        # compozy's fast path trusts files older than a second.
        time.sleep(1.1)

        request = b'{"id":1,"tool_id":"add","tool_exec_id":"x","input":{"a":1,"b":2},"config":{},"env":{},"timeout_ms":1000}'
        bare, exec_, worker, start = [], [], [], []
        for _ in range(args.runs):
            t, out = timed([bun, "--no-env-file", "bare.ts", '{"a":1,"b":2}'], root)
            assert out.strip() == b"3", out
            bare.append(t)
            t, out = timed([binary, "exec", "add", "--input", '{"a":1,"b":2}'], root, env=env)
            assert out.strip() == b"3", out
            exec_.append(t)
            t, _ = timed([binary, "--version"], root)
            start.append(t)
            # The worker answers on fd 3, as compozy sets it up.
            r, w = os.pipe()
            if 3 in (r, w):
                r, w = os.dup(r), os.dup(w)
                os.close(3)
            os.dup2(w, 3)
            os.close(w)
            t, _ = timed([bun, "--no-env-file", ".compozy/bun_worker.ts"], root, stdin=request, protocol_fd=3)
            os.close(3)
            answer = os.read(r, 1 << 16)
            os.close(r)
            assert b'"result":3' in answer, answer
            worker.append(t)

    base = statistics.median(bare) * 1000
    e = statistics.median(exec_) * 1000
    wk = statistics.median(worker) * 1000
    print(f"trivial tool, medians of {args.runs} runs, {os.cpu_count()} cores")
    print(f"  bare bun one-shot (baseline)  {base:7.2f} ms   1.00x")
    print(f"  generated worker, bare        {wk:7.2f} ms   {wk / base:.2f}x")
    print(f"  compozy exec                  {e:7.2f} ms   {e / base:.2f}x   target <= 1.20x")
    sv = statistics.median(start) * 1000
    print(f"  compozy --version (start+exit of the compozy process alone, part of exec)"
          f"  {sv:.2f} ms   {sv / base:.2f}x")


if __name__ == "__main__":
    main()

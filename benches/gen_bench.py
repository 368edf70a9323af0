#!/usr/bin/env python3
"""Benchmarks `compozy gen` against `bun build` of the same entrypoint, from one run.

Builds a synthetic project (default 1,000 tools), then times, as medians of repeated runs:
  - cold `compozy gen` (no .compozy/ yet),
  - unchanged `compozy gen` (everything up to date),
  - `bun build` of the generated entrypoint (the baseline),
  - `compozy --version` (time and peak RSS).
Prints each number and its ratio to the baseline. Targets (SPEC §7 and issue #2): cold gen no
slower than bun build, unchanged gen at most half of it; --version under 5 ms and 10 MB.

Usage: python3 benches/gen_bench.py [--tools N] [--runs N] [--binary PATH]
Needs `npm ci` (for bun) and builds compozy with `cargo build --release` unless --binary is given.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from common import bun_binary, compozy_binary, make_project


def run_timed(cmd, cwd):
    """Runs cmd and returns its wall time in seconds; fails loudly on a non-zero exit."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr.decode()}")
    return elapsed


def peak_rss_kib(cmd):
    """Peak RSS of cmd, through GNU time: a child forked from Python inherits Python's RSS high-water
    mark, which would swamp a small binary's."""
    gnu_time = shutil.which("time", path="/usr/bin:/bin")
    if gnu_time is None:
        sys.exit("GNU time (/usr/bin/time) is needed to measure RSS: apt-get install time")
    proc = subprocess.run([gnu_time, "-f", "%M", *cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=True)
    return int(proc.stderr.decode().strip().splitlines()[-1])


def median_ms(samples):
    return statistics.median(samples) * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tools", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--binary", help="compozy binary (default: build target/release/compozy)")
    args = parser.parse_args()

    binary = compozy_binary(args.binary)
    bun = bun_binary()

    with tempfile.TemporaryDirectory(prefix="compozy-bench-") as root:
        make_project(root, args.tools)
        out_dir = os.path.join(root, ".compozy")

        cold = []
        for _ in range(args.runs):
            shutil.rmtree(out_dir, ignore_errors=True)
            cold.append(run_timed([binary, "gen", "-q"], root))
        # compozy does not trust files modified within the last second (they may still change
        # within one timestamp tick), as after a save in an editor; a pre-commit run comes later.
        time.sleep(1.1)
        run_timed([binary, "gen", "-q"], root)
        unchanged = [run_timed([binary, "gen", "-q"], root) for _ in range(args.runs)]
        bundle = os.path.join(root, "bundle")
        bun_build = [
            run_timed([bun, "build", "--target", "bun", "--outdir", bundle, os.path.join(out_dir, "tools.ts")], root)
            for _ in range(max(3, args.runs // 3))
        ]
        version = [run_timed([binary, "--version"], root) for _ in range(args.runs * 2)]
        version_rss_mb = max(peak_rss_kib([binary, "--version"]) for _ in range(5)) / 1024
        gen_rss_mb = peak_rss_kib([binary, "gen", "-q", "--project", root]) / 1024

    base = median_ms(bun_build)
    cold_ms, unchanged_ms = median_ms(cold), median_ms(unchanged)
    version_ms = median_ms(version)
    print(f"project: {args.tools} tools; medians of {args.runs} runs; machine: {os.cpu_count()} cores")
    print(f"  bun build (baseline)   {base:8.1f} ms   1.00x")
    print(f"  compozy gen, cold      {cold_ms:8.1f} ms   {cold_ms / base:.2f}x   target <= 1.00x, and < 100 ms")
    print(f"  compozy gen, unchanged {unchanged_ms:8.1f} ms   {unchanged_ms / base:.2f}x   target <= 0.50x, and < 10 ms   peak RSS {gen_rss_mb:.1f} MB")
    print(f"  compozy --version      {version_ms:8.2f} ms   peak RSS {version_rss_mb:.1f} MB   target < 5 ms, < 10 MB")


if __name__ == "__main__":
    main()

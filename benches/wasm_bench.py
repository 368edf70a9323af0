#!/usr/bin/env python3
"""Benchmarks WebAssembly tools (`execute: ./x.wasm`) against baselines timed in the same run
(alternating, medians):

1. Warm `serve --workers 1` round trip to a WebAssembly echo tool whose module is about 100 KiB
   (a fresh instance per call) against the same round trip to a native C `stdio` echo program
   (a fresh process per call), and against a 200-byte module (what the module's size costs).
   Target: a call <= 1 ms.
2. `compozy --version` start-up and the binary's size against a baseline binary (`--baseline`,
   e.g. a release build of the commit before WebAssembly tools). Target: within 10% (<= 1.10x).

The modules are encoded by the script itself (no assembler needed).

Usage: python3 benches/wasm_bench.py [--calls N] [--runs N] [--binary PATH] [--baseline PATH]
Needs a C compiler (`cc`).
"""

import argparse
import io
import json
import os
import statistics
import subprocess
import tempfile
import time

from common import compozy_binary

ECHO_C = r"""
#include <stdio.h>
#include <unistd.h>
int main(void) {
    char buf[1 << 16];
    for (ssize_t n; (n = read(0, buf, sizeof buf)) > 0;) fwrite(buf, 1, (size_t)n, stdout);
    return 0;
}
"""

def uleb(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def sleb(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        done = (n == 0 and not byte & 0x40) or (n == -1 and byte & 0x40)
        out.append(byte | (0 if done else 0x80))
        if done:
            return bytes(out)


def vec(items):
    return uleb(len(items)) + b"".join(items)


def name(text):
    return uleb(len(text)) + text.encode()


def section(kind, body):
    return bytes([kind]) + uleb(len(body)) + body


def const(n):
    return b"\x41" + sleb(n)


# _start: read stdin into 1024.. and write each chunk to stdout (fd_read is import 0, fd_write 1).
STORE = b"\x36\x02\x00"  # i32.store align=4 offset=0
ECHO_BODY = (
    b"\x02\x40\x03\x40"
    + const(0) + const(1024) + STORE + const(4) + const(60000) + STORE
    + const(0) + const(0) + const(1) + const(8) + b"\x10\x00\x1a"
    + const(8) + b"\x28\x02\x00\x21\x00"
    + b"\x20\x00\x45\x0d\x01"
    + const(4) + b"\x20\x00" + STORE
    + const(1) + const(0) + const(1) + const(8) + b"\x10\x01\x1a"
    + b"\x0c\x00\x0b\x0b\x0b"
)


def echo_module(fillers):
    """A WASI echo command module with `fillers` extra exported functions of some arithmetic
    (about 50 bytes apiece), encoded by hand: no assembler needed."""
    io_type = b"\x60" + vec([b"\x7f"] * 4) + vec([b"\x7f"])
    start_type = b"\x60\x00\x00"
    fill_type = b"\x60\x01\x7f\x01\x7f"
    types = section(1, vec([io_type, start_type, fill_type]))
    imports = section(2, vec([
        name("wasi_snapshot_preview1") + name(n) + b"\x00\x00" for n in ("fd_read", "fd_write")
    ]))
    functions = section(3, vec([b"\x01"] + [b"\x02"] * fillers))
    memory = section(5, vec([b"\x00\x02"]))
    exports = section(7, vec(
        [name("memory") + b"\x02\x00", name("_start") + b"\x00\x02"]
        + [name(f"f{i}") + b"\x00" + uleb(i + 3) for i in range(fillers)]
    ))
    bodies = [vec([b"\x01\x7f"]) + ECHO_BODY]
    for i in range(fillers):
        code = b""
        for k in range(4):
            code += b"\x20\x00" + const(i + k) + b"\x6a" + b"\x20\x00" + const(7 + k) + b"\x6c\x73"
            code += b"\x1a" if k < 3 else b""
        bodies.append(vec([]) + code + b"\x0b")
    code = section(10, vec([uleb(len(b)) + b for b in bodies]))
    return b"\0asm\x01\0\0\0" + types + imports + functions + memory + exports + code


def make_project(root):
    os.makedirs(os.path.join(root, "bin"))
    os.makedirs(os.path.join(root, "wasm"))
    with open(os.path.join(root, "echo.c"), "w") as f:
        f.write(ECHO_C)
    subprocess.run(["cc", "-O2", "-o", os.path.join(root, "bin", "echo"), os.path.join(root, "echo.c")], check=True)
    for file, fillers in [("big.wasm", 1630), ("small.wasm", 0)]:
        with open(os.path.join(root, "wasm", file), "wb") as f:
            f.write(echo_module(fillers))
    with open(os.path.join(root, "compozy.yaml"), "w") as f:
        f.write("tools:\n"
                "  - id: wasm_100k\n    execute: ./wasm/big.wasm\n"
                "  - id: wasm_small\n    execute: ./wasm/small.wasm\n"
                "  - id: echo_c\n    execute: {command: [./bin/echo], protocol: stdio}\n")
    return os.path.getsize(os.path.join(root, "wasm", "big.wasm"))


def round_trips(cmd, cwd, tool, calls):
    proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, bufsize=0)
    reader = io.BufferedReader(proc.stdout)
    samples = []
    for i in range(calls + 50):
        line = json.dumps({"id": i, "tool_id": tool, "input": {"n": i}}).encode() + b"\n"
        start = time.perf_counter()
        proc.stdin.write(line)
        answer = json.loads(reader.readline())
        elapsed = time.perf_counter() - start
        if answer.get("result") != {"n": i}:
            raise SystemExit(f"wrong answer from {tool}: {answer!r}")
        if i >= 50:
            samples.append(elapsed)
    proc.stdin.close()
    proc.wait()
    return samples


def start_up(binary, runs):
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([binary, "--version"], stdout=subprocess.DEVNULL, check=True)
        samples.append(time.perf_counter() - start)
    return samples


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--binary")
    parser.add_argument("--baseline", help="the compozy binary to compare start-up and size with")
    args = parser.parse_args()
    binary = compozy_binary(args.binary)
    with tempfile.TemporaryDirectory(prefix="compozy-wasm-bench-") as root:
        size = make_project(root)
        subprocess.run([binary, "gen", "-q"], cwd=root, check=True)
        print(f"1. warm serve --workers 1 round trip (medians; the big module is {size / 1024:.0f} KiB)")
        rounds = 10
        samples = {"echo_c": [], "wasm_small": [], "wasm_100k": []}
        for _ in range(rounds):
            for tool in samples:
                samples[tool] += round_trips([binary, "serve", "--workers", "1"], root, tool, args.calls // rounds)
        native = statistics.median(samples["echo_c"])
        for tool, label in [("echo_c", "C stdio program"), ("wasm_small", "200 B module"),
                            ("wasm_100k", f"{size / 1024:.0f} KiB module")]:
            t = statistics.median(samples[tool])
            target = "   target <= 1000 us" if tool == "wasm_100k" else ""
            print(f"  {label:16} {t * 1e6:8.1f} us/call   {t / native:.2f}x{target}")
    if not args.baseline:
        print("2. start-up and size: pass --baseline PATH (a release build without WebAssembly tools)")
        return
    baseline = compozy_binary(args.baseline)
    print("2. compozy --version start-up and binary size vs --baseline (medians)")
    ours, theirs = [], []
    for _ in range(10):
        theirs += start_up(baseline, args.runs // 10)
        ours += start_up(binary, args.runs // 10)
    a, b = statistics.median(theirs), statistics.median(ours)
    print(f"  start-up   baseline {a * 1e3:6.2f} ms   this {b * 1e3:6.2f} ms   {b / a:.2f}x   target <= 1.10x")
    sa, sb = os.path.getsize(baseline), os.path.getsize(binary)
    print(f"  size       baseline {sa / 2**20:6.2f} MiB  this {sb / 2**20:6.2f} MiB  {sb / sa:.2f}x   target <= 1.10x")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Benchmarks process tools (`execute: {command: …}`) against baselines timed in the same run
(alternating, medians):

1. `compozy exec` of a native `stdio` echo tool against running the same program directly with
   the same input on stdin: for a C program (compiled here) and a Python script. Target <= 1.3x.
   The C program runs in well under a millisecond, so its ratio is compozy's own fixed cost (the
   start of compozy, the project cache, the input check) over almost nothing; the Python one shows
   the ratio for a program that does some work. The floor row times `compozy --version` against
   the same direct run: no exec can be faster than compozy's own start, so when the floor is over
   1.30x the C target cannot be met by exec itself (the start of a 27 MB position-independent
   binary is page faults and relocations; the profile shows no user code above 1%).
2. Warm `serve --workers 1` round trip to a persistent native tool (a C program speaking the
   compozy protocol) against the same round trip to the Bun tool. Target <= 1.0x.

Usage: python3 benches/native_bench.py [--runs N] [--calls N] [--binary PATH]
Needs a C compiler (`cc`), python3 and (for 2.) `npm ci` for bun.
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

ECHO_C = r"""
#include <stdio.h>
#include <unistd.h>
int main(void) {
    char buf[1 << 16];
    for (ssize_t n; (n = read(0, buf, sizeof buf)) > 0;) fwrite(buf, 1, (size_t)n, stdout);
    return 0;
}
"""

ECHO_PY = """#!/usr/bin/env python3
import sys
sys.stdout.write(sys.stdin.read())
"""

# A persistent compozy-protocol tool: one request a line on stdin, the answer on fd 3 with the
# request's id and tool_exec_id, and its input as the result.
WARM_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *after(const char *s, const char *key) {
    const char *p = strstr(s, key);
    return p ? p + strlen(key) : NULL;
}

/* The end of the JSON value starting at p (objects, arrays, strings, bare tokens). */
static const char *value_end(const char *p) {
    int depth = 0, in_string = 0;
    for (; *p; p++) {
        if (in_string) {
            if (*p == '\\') p++;
            else if (*p == '"') { in_string = 0; if (depth == 0) return p + 1; }
        } else if (*p == '"') in_string = 1;
        else if (*p == '{' || *p == '[') depth++;
        else if (*p == '}' || *p == ']') { if (--depth <= 0) return p + (depth == 0); }
        else if (depth == 0 && (*p == ',')) return p;
    }
    return p;
}

int main(void) {
    FILE *out = fdopen(3, "w");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) > 0) {
        const char *id = after(line, "\"id\":");
        const char *exec_id = after(line, "\"tool_exec_id\":");
        const char *input = after(line, "\"input\":");
        if (!id || !exec_id || !input) continue;
        fprintf(out, "{\"id\":%.*s,\"result\":%.*s,\"error\":null,\"metadata\":{\"tool_exec_id\":%.*s,\"execution_time_ms\":0}}\n",
                (int)(value_end(id) - id), id, (int)(value_end(input) - input), input,
                (int)(value_end(exec_id) - exec_id), exec_id);
        fflush(out);
    }
    return 0;
}
"""


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def make_project(root):
    write(os.path.join(root, "src", "echo.c"), ECHO_C)
    write(os.path.join(root, "src", "warm.c"), WARM_C)
    write(os.path.join(root, "bin", "echo.py"), ECHO_PY, 0o755)
    for name in ["echo", "warm"]:
        subprocess.run(["cc", "-O2", "-o", os.path.join(root, "bin", name), os.path.join(root, "src", f"{name}.c")],
                       check=True)
    write(os.path.join(root, "tools", "echo.ts"), "export function run(i: unknown) { return i; }\n")
    write(os.path.join(root, "compozy.yaml"),
          "tools:\n"
          "  - id: echo_c\n    description: echo\n    execute: {command: [./bin/echo], protocol: stdio}\n"
          "  - id: echo_py\n    description: echo\n    execute: {command: [./bin/echo.py], protocol: stdio}\n"
          "  - id: warm_c\n    description: echo\n    execute: {command: [./bin/warm], persistent: true}\n"
          "  - id: echo_ts\n    description: echo\n    execute: ./tools/echo.ts\n")


def timed(cmd, cwd, env, stdin):
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{cmd} failed ({done.returncode})")
    return elapsed, done.stdout


def compare_exec(binary, root, env, program, tool, runs):
    payload = json.dumps({"text": "hello", "n": [1, 2, 3]})
    direct, via = [], []
    for _ in range(runs):
        t, out = timed([os.path.join(root, program)], root, env, payload.encode())
        direct.append(t)
        t, out2 = timed([binary, "exec", tool, "--input", payload], root, env, None)
        via.append(t)
        if json.loads(out2) != json.loads(out):
            raise SystemExit(f"exec answered {out2!r}, the program {out!r}")
    return statistics.median(direct), statistics.median(via)


def round_trips(cmd, cwd, env, tool, calls):
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, bufsize=0)
    reader = io.BufferedReader(proc.stdout)
    samples = []
    for i in range(calls + 200):
        line = json.dumps({"id": i, "tool_id": tool, "input": {"n": i}}).encode() + b"\n"
        start = time.perf_counter()
        proc.stdin.write(line)
        answer = json.loads(reader.readline())
        elapsed = time.perf_counter() - start
        if answer.get("result") != {"n": i}:
            raise SystemExit(f"wrong answer from {tool}: {answer!r}")
        if i >= 200:
            samples.append(elapsed)
    proc.stdin.close()
    proc.wait()
    return samples


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--binary")
    args = parser.parse_args()
    binary = compozy_binary(args.binary)
    bun = bun_binary()
    env = dict(os.environ, COMPOZY_BUN=bun)
    with tempfile.TemporaryDirectory(prefix="compozy-native-bench-") as root:
        make_project(root)
        subprocess.run([binary, "gen", "-q"], cwd=root, env=env, check=True)
        print("1. exec of a native stdio echo tool vs the program run directly (medians)")
        for program, tool in [("bin/echo", "echo_c"), ("bin/echo.py", "echo_py")]:
            direct, via = compare_exec(binary, root, env, program, tool, args.runs)
            print(f"  {tool:8} direct {direct * 1e3:7.2f} ms   exec {via * 1e3:7.2f} ms   "
                  f"{via / direct:.2f}x   (+{(via - direct) * 1e3:.2f} ms)   target <= 1.30x")
        floor_direct, floor = [], []
        for _ in range(args.runs):
            floor_direct.append(timed([os.path.join(root, "bin/echo")], root, env, b"{}")[0])
            floor.append(timed([binary, "--version"], root, env, None)[0])
        direct, version = statistics.median(floor_direct), statistics.median(floor)
        print(f"  floor    direct {direct * 1e3:7.2f} ms   --version {version * 1e3:4.2f} ms   "
              f"{version / direct:.2f}x   (compozy's own start, no exec can go below it)")
        print("2. warm serve --workers 1 round trip: persistent native tool vs the Bun tool (medians)")
        rounds = 10
        samples = {"warm_c": [], "echo_ts": []}
        for _ in range(rounds):
            for tool in samples:
                samples[tool] += round_trips([binary, "serve", "--workers", "1"], root, env, tool,
                                             args.calls // rounds)
        native = statistics.median(samples["warm_c"])
        ts = statistics.median(samples["echo_ts"])
        print(f"  bun tool      {ts * 1e6:8.1f} us/call   1.00x")
        print(f"  native tool   {native * 1e6:8.1f} us/call   {native / ts:.2f}x   target <= 1.00x")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Benchmarks `compozy exec` against baselines timed in the same run (alternating, medians):

a. exec of a trivial tool on real Bun vs a bare `bun` one-shot that imports the same module and
   prints its result: target <= 1.25x. Also the generated worker started alone (no compozy).
b. compozy's own cost: exec with a stand-in runtime (a C program, compiled here, that answers the
   worker protocol at once) vs a C hello world: the difference is what compozy itself costs a
   call, target <= 1.5 ms. Also `compozy --version` (the start and exit of the process alone),
   against the C hello world and, when `rustc` is there, a Rust hello world.
c. exec on a 1,000-tool project vs on a 2-tool project of the same shape (every tool has an input
   schema of a few properties), with the stand-in runtime (so the runtime's own noise does not
   hide compozy's scaling) and with real Bun: target <= 1.1x.
d. `gen` on the 1,000-tool project: unchanged (target <= 10 ms) and cold (recorded, so that a
   change can be seen not to make it slower).

Usage: python3 benches/exec_bench.py [--runs N] [--tools N] [--binary PATH]
Needs `npm ci` (for bun) and a C compiler (`cc`); builds compozy with `cargo build --release`
unless --binary is given.
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

# A runtime that answers at once. compozy probes `bun --version` (and caches the answer per binary
# in .compozy/.cache/runtimes); the worker is started as `bun --no-env-file --cwd=ROOT WORKER`,
# gets the request on stdin (closed after it) and answers on fd 3. The executor refuses an answer
# whose metadata.tool_exec_id is not the request's, so it is copied over.
STANDIN_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The value after `"key":` in a flat scan: a string's contents, or a bare token. */
static void value_of(const char *json, const char *key, char *out, size_t size, int *is_string) {
    const char *p = strstr(json, key);
    size_t n = 0;
    *is_string = 0;
    if (p) {
        p += strlen(key);
        if (*p == '"') {
            *is_string = 1;
            for (p++; *p && *p != '"' && n + 1 < size; p++) {
                if (*p == '\\' && p[1]) out[n++] = *p++;
                out[n++] = *p;
            }
        } else {
            for (; *p && *p != ',' && *p != '}' && n + 1 < size; p++) out[n++] = *p;
        }
    }
    out[n] = 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        puts("1.4.5");
        return 0;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    for (ssize_t got; (got = read(0, buf + len, cap - len - 1)) > 0;) {
        len += (size_t)got;
        if (cap - len < 2) buf = realloc(buf, cap *= 2);
    }
    buf[len] = 0;
    char id[256], tool[512], exec_id[512];
    int id_is_string, string;
    /* `"id":` is the request's first key: input keys named id come after it. */
    value_of(buf, "\"id\":", id, sizeof id, &id_is_string);
    value_of(buf, "\"tool_id\":", tool, sizeof tool, &string);
    value_of(buf, "\"tool_exec_id\":", exec_id, sizeof exec_id, &string);
    const char *q = id_is_string ? "\"" : "";
    dprintf(3, "{\"id\":%s%s%s,\"result\":3,\"error\":null,\"metadata\":{\"tool_id\":\"%s\","
               "\"tool_exec_id\":\"%s\",\"execution_time_ms\":0}}\n",
            q, id[0] ? id : "null", q, tool, exec_id);
    return 0;
}
"""

HELLO_C = '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n'
HELLO_RS = 'fn main() { println!("hello"); }\n'

# A few properties per tool, so that work done on every tool's schema shows in (c).
SCHEMA = (
    "{ type: object, properties: { x: { type: number, minimum: 0 }, "
    "label: { type: string, maxLength: 64 }, mode: { enum: [fast, exact] }, "
    "tags: { type: array, items: { type: string } } }, required: [x], additionalProperties: false }"
)


def timed(cmd, cwd, stdin=None, protocol_fd=None, env=None):
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          pass_fds=(protocol_fd,) if protocol_fd is not None else (), env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr.decode()}")
    return elapsed, proc.stdout


def compile_programs(tmp):
    """The stand-in runtime and the hello worlds, built into `tmp`; the Rust one is None without rustc."""
    programs = {}
    for name, source in (("standin", STANDIN_C), ("hello", HELLO_C)):
        path = os.path.join(tmp, f"{name}.c")
        with open(path, "w") as f:
            f.write(source)
        out = os.path.join(tmp, name)
        subprocess.run(["cc", "-O2", "-o", out, path], check=True)
        programs[name] = out
    programs["hello_rs"] = None
    if shutil.which("rustc"):
        path = os.path.join(tmp, "hello.rs")
        with open(path, "w") as f:
            f.write(HELLO_RS)
        out = os.path.join(tmp, "hello_rs")
        subprocess.run(["rustc", "-C", "opt-level=3", "-o", out, path], check=True)
        programs["hello_rs"] = out
    return programs


def trivial_project(root):
    os.makedirs(os.path.join(root, "tools"))
    with open(os.path.join(root, "compozy.yaml"), "w") as f:
        f.write("tools:\n  - id: add\n    execute: ./tools/add.ts\n")
    with open(os.path.join(root, "tools", "add.ts"), "w") as f:
        f.write("export function run(input: { a: number; b: number }) { return input.a + input.b; }\n")
    with open(os.path.join(root, "bare.ts"), "w") as f:
        f.write('import { run } from "./tools/add.ts";\n'
                'console.log(JSON.stringify(run(JSON.parse(process.argv[2]))));\n')


def run_worker(bun, root, request):
    """Starts the generated worker alone, answering on fd 3 as compozy sets it up."""
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
    return t


def median_ms(samples):
    return statistics.median(samples) * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--tools", type=int, default=1000, help="tools of the large project (default 1000)")
    parser.add_argument("--binary", help="compozy binary (default: build target/release/compozy)")
    args = parser.parse_args()

    binary = compozy_binary(args.binary)
    bun = bun_binary()

    with tempfile.TemporaryDirectory(prefix="compozy-exec-bench-") as tmp:
        programs = compile_programs(tmp)
        trivial, small, large, cold = (os.path.join(tmp, d) for d in ("trivial", "small", "large", "cold"))
        trivial_project(trivial)
        make_project(small, 2, SCHEMA)
        make_project(large, args.tools, SCHEMA)
        # A copy for cold `gen`, so that removing its output does not put `large` off the fast path.
        make_project(cold, args.tools, SCHEMA)
        with_bun = dict(os.environ, COMPOZY_BUN=bun)
        with_standin = dict(os.environ, COMPOZY_BUN=programs["standin"])

        for root in (trivial, small, large):
            subprocess.run([binary, "gen", "-q"], cwd=root, check=True)
        # compozy's fast path trusts files older than a second: only a run after that records the
        # fingerprint that the timed runs use.
        time.sleep(1.1)
        for root in (trivial, small, large):
            subprocess.run([binary, "gen", "-q"], cwd=root, check=True)

        add = ["exec", "add", "--input", '{"a":1,"b":2}']
        tool = ["exec", "tool_1", "--input", '{"x":1,"label":"a","mode":"fast","tags":["t"]}']
        # Each case: (cwd, command, environment, expected stdout). Warmed up once (runtime-version
        # cache, page cache), then timed in turn within every round.
        cases = {
            "bare": (trivial, [bun, "--no-env-file", "bare.ts", '{"a":1,"b":2}'], None, b"3"),
            "exec": (trivial, [binary, *add], with_bun, b"3"),
            "version": (trivial, [binary, "--version"], None, None),
            "hello": (trivial, [programs["hello"]], None, b"hello"),
            "standin": (trivial, [binary, *add], with_standin, b"3"),
            "small_standin": (small, [binary, *tool], with_standin, b"3"),
            "large_standin": (large, [binary, *tool], with_standin, b"3"),
            "small_bun": (small, [binary, *tool], with_bun, b'{"y":1}'),
            "large_bun": (large, [binary, *tool], with_bun, b'{"y":1}'),
            "gen_unchanged": (large, [binary, "gen", "-q"], None, None),
        }
        if programs["hello_rs"]:
            cases["hello_rs"] = (trivial, [programs["hello_rs"]], None, b"hello")
        for cwd, cmd, env, expected in cases.values():
            _, out = timed(cmd, cwd, env=env)
            assert expected is None or out.strip() == expected, (cmd, out)

        request = b'{"id":1,"tool_id":"add","tool_exec_id":"x","input":{"a":1,"b":2},"config":{},"env":{},"timeout_ms":1000}'
        samples = {name: [] for name in [*cases, "worker", "gen_cold"]}
        for _ in range(args.runs):
            for name, (cwd, cmd, env, _) in cases.items():
                samples[name].append(timed(cmd, cwd, env=env)[0])
            samples["worker"].append(run_worker(bun, trivial, request))
            shutil.rmtree(os.path.join(cold, ".compozy"), ignore_errors=True)
            samples["gen_cold"].append(timed([binary, "gen", "-q"], cold)[0])

    ms = {name: median_ms(s) for name, s in samples.items()}

    def row(label, value, base=None, note=""):
        ratio = f"{value / base:5.2f}x" if base else " " * 6
        print(f"   {label:<38} {value:8.2f} ms   {ratio}   {note}".rstrip())

    print(f"medians of {args.runs} runs, alternating; {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    print("a. exec of a trivial tool on Bun vs a bare bun one-shot importing the same module")
    row("bare bun one-shot (baseline)", ms["bare"], ms["bare"])
    row("generated worker, alone", ms["worker"], ms["bare"])
    row("compozy exec", ms["exec"], ms["bare"], "target <= 1.25x")

    print("b. compozy's own cost: exec with a stand-in runtime (C, answers at once) vs a C hello world")
    row("C hello world (baseline)", ms["hello"], ms["hello"])
    row("compozy exec, stand-in runtime", ms["standin"], ms["hello"])
    row("compozy's own share (the difference)", ms["standin"] - ms["hello"], None, "target <= 1.5 ms")
    row("compozy --version", ms["version"], ms["hello"])
    if programs["hello_rs"]:
        row("Rust hello world", ms["hello_rs"], ms["hello"])
        row("compozy --version, vs the Rust one", ms["version"], ms["hello_rs"])

    print(f"c. exec on {args.tools:,} tools vs on 2 tools (same shape; a few schema properties per tool)")
    for runtime, label, target in (("standin", "stand-in runtime", "target <= 1.1x"), ("bun", "Bun", "")):
        small_ms, large_ms = ms[f"small_{runtime}"], ms[f"large_{runtime}"]
        row(f"{label}, 2 tools (baseline)", small_ms, small_ms)
        row(f"{label}, {args.tools:,} tools", large_ms, small_ms, f"{target}  (+{large_ms - small_ms:.2f} ms)".strip())

    print(f"d. gen on {args.tools:,} tools")
    row("unchanged", ms["gen_unchanged"], None, "target <= 10 ms")
    row("cold (no .compozy/)", ms["gen_cold"], None, "recorded: not to get slower")


if __name__ == "__main__":
    main()

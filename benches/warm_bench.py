#!/usr/bin/env python3
"""exec forwarded to a running server of the project (a warm pool) vs the ways without one.

a. At 2, 50 and 300 tools (each module imports a helper and a node built-in), exec forwarded to
   a `compozy serve` of the project vs a Compozy-style one-shot: `bun run worker.ts`, where the
   worker imports every tool module first, then answers the one request on stdin, as Compozy's
   own runtime does. Target <= 0.3x at every size.
b. exec forwarded vs `compozy --version` (the call costs little more than starting compozy):
   target <= 1.5x.
c. exec when no server runs (it looks for a socket, finds none, runs one-shot) vs exec that does
   not look (COMPOZY_FORWARD=off, the one-shot path as it was): target <= 1.02x.

Usage: python3 benches/warm_bench.py [--runs N] [--binary target/release/compozy]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import bun_binary, compozy_binary, make_project  # noqa: E402

SIZES = (2, 50, 300)


def compozy_style(root, tools):
    """Tool modules as a Compozy project has them (a helper, a node built-in), and a worker that
    imports them all before it answers."""
    impl = os.path.join(root, "tools", "impl")
    with open(os.path.join(impl, "helper.ts"), "w") as f:
        f.write("export const scale = (n: number, by: number) => n * by;\n")
    for i in range(tools):
        with open(os.path.join(impl, f"t{i}.ts"), "w") as f:
            f.write(
                'import { basename } from "node:path";\n'
                'import { scale } from "./helper.ts";\n'
                "export interface Input { x: number }\n"
                f"export const name{i} = basename(\"/tools/t{i}.ts\");\n"
                f"export async function run(input: Input) {{ return {{ y: scale(input.x, {i}) }}; }}\n"
            )
    with open(os.path.join(root, "worker.ts"), "w") as f:
        for i in range(tools):
            f.write(f'import * as t{i} from "./tools/impl/t{i}.ts";\n')
        f.write("const tools: Record<string, any> = {\n")
        for i in range(tools):
            f.write(f"  tool_{i}: t{i},\n")
        f.write("};\n")
        f.write(
            "const text = await Bun.stdin.text();\n"
            "const request = JSON.parse(text);\n"
            "const result = await tools[request.tool_id].run(request.input);\n"
            "process.stdout.write(JSON.stringify(result) + \"\\n\");\n"
        )


def timed(cmd, cwd, env, stdin=None):
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, input=stdin, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr.decode()}")
    return elapsed, proc.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--binary", help="compozy binary (default: build target/release/compozy)")
    args = parser.parse_args()
    binary = compozy_binary(args.binary)
    bun = bun_binary()

    with tempfile.TemporaryDirectory(prefix="compozy-warm-bench-") as tmp:
        runtime_dir = os.path.join(tmp, "run")
        os.mkdir(runtime_dir, 0o700)
        env = dict(os.environ, COMPOZY_BUN=bun, XDG_RUNTIME_DIR=runtime_dir)
        env.pop("COMPOZY_FORWARD", None)
        roots = {}
        for n in SIZES:
            root = os.path.join(tmp, f"p{n}")
            make_project(root, n)
            compozy_style(root, n)
            roots[n] = root
            subprocess.run([binary, "gen", "-q"], cwd=root, env=env, check=True)
        # The fingerprint trusts files older than a second: the timed runs take the fast path.
        time.sleep(1.1)
        for root in roots.values():
            subprocess.run([binary, "gen", "-q"], cwd=root, env=env, check=True)

        call = ["exec", "tool_1", "--input", '{"x":1}']
        request = b'{"tool_id":"tool_1","input":{"x":1}}'
        expected = b'{"y":1}'
        off = dict(env, COMPOZY_FORWARD="off")
        require = dict(env, COMPOZY_FORWARD="require")
        cases = {}
        for n, root in roots.items():
            cases[f"style_{n}"] = (root, [bun, "run", "worker.ts"], env, request)
            cases[f"oneshot_{n}"] = (root, [binary, *call], off, None)
            cases[f"noserver_{n}"] = (root, [binary, *call], env, None)
        cases["version"] = (roots[2], [binary, "--version"], env, None)

        samples = {name: [] for name in cases}
        for n in SIZES:
            samples[f"warm_{n}"] = []
        # One-shot cases first (no server may run for them), then the forwarded ones.
        for _ in range(args.runs):
            for name, (cwd, cmd, case_env, stdin) in cases.items():
                t, out = timed(cmd, cwd, case_env, stdin)
                assert name == "version" or out.strip() == expected, (name, out)
                samples[name].append(t)
        servers = []
        for n, root in roots.items():
            server = subprocess.Popen([binary, "serve", "--workers", "1"], cwd=root, env=env,
                                      stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            servers.append(server)
        try:
            # Until each server listens (and its worker has the tool loaded).
            for n, root in roots.items():
                until = time.time() + 30
                while subprocess.run([binary, *call], cwd=root, env=require,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode:
                    if time.time() > until:
                        sys.exit(f"the server of the {n}-tool project did not answer")
                    time.sleep(0.05)
            for _ in range(args.runs):
                for n, root in roots.items():
                    t, out = timed([binary, *call], root, require)
                    assert out.strip() == expected, out
                    samples[f"warm_{n}"].append(t)
                samples["version"].append(timed([binary, "--version"], roots[2], env)[0])
        finally:
            for server in servers:
                server.stdin.close()
                server.wait()

    ms = {name: statistics.median(s) * 1000 for name, s in samples.items()}

    def row(label, value, base=None, note=""):
        ratio = f"{value / base:5.2f}x" if base else " " * 6
        print(f"   {label:<44} {value:8.2f} ms   {ratio}   {note}".rstrip())

    print(f"medians of {args.runs} runs; {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}")
    print("a. exec forwarded to a warm server vs a Compozy-style one-shot (imports every tool)")
    for n in SIZES:
        row(f"Compozy-style one-shot, {n} tools (baseline)", ms[f"style_{n}"], ms[f"style_{n}"])
        row(f"exec one-shot, {n} tools", ms[f"oneshot_{n}"], ms[f"style_{n}"])
        row(f"exec forwarded, {n} tools", ms[f"warm_{n}"], ms[f"style_{n}"], "target <= 0.3x")
    print("b. exec forwarded vs starting compozy")
    row("compozy --version (baseline)", ms["version"], ms["version"])
    for n in SIZES:
        row(f"exec forwarded, {n} tools", ms[f"warm_{n}"], ms["version"], "target <= 1.5x")
    print("c. exec with no server running vs exec that does not look for one")
    for n in SIZES:
        row(f"COMPOZY_FORWARD=off, {n} tools (baseline)", ms[f"oneshot_{n}"], ms[f"oneshot_{n}"])
        row(f"no server running, {n} tools", ms[f"noserver_{n}"], ms[f"oneshot_{n}"],
            "target <= 1.02x")


if __name__ == "__main__":
    main()

"""Shared set-up of the benchmark scripts: the compozy binary and the pinned bun."""

import atexit
import os
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def compozy_binary(given):
    """The binary to measure (`given`, or a fresh `cargo build --release`), copied as an install
    copies it: a file the linker has just written starts measurably slower than a copy of it
    (0.2 ms on `--version`, 0.4-0.8 ms on `exec`, here), and users run a copy."""
    if given:
        source = os.path.abspath(given)
    else:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
        source = os.path.join(REPO, "target", "release", "compozy")
    place = tempfile.mkdtemp(prefix="compozy-bench-bin-")
    atexit.register(shutil.rmtree, place, ignore_errors=True)
    installed = os.path.join(place, "compozy")
    shutil.copy2(source, installed)
    return installed


def bun_binary():
    """The pinned bun from `npm ci` (or COMPOZY_BUN); exits with a message when missing."""
    bun = os.environ.get("COMPOZY_BUN", os.path.join(REPO, "node_modules", ".bin", "bun"))
    if not os.path.exists(bun):
        sys.exit(f"bun not found at {bun}: run `npm ci` first")
    return bun


# The input schema gen_bench.py gives every tool (one property).
ONE_PROPERTY_SCHEMA = "{ type: object, properties: { x: { type: number } } }"


def make_project(root, tools, input_schema=ONE_PROPERTY_SCHEMA):
    """A synthetic project of `tools` tools (`tool_0` …), 100 per file in tools/groupN.yaml, each
    with its own module tools/impl/tN.ts and `input_schema` (a YAML flow mapping) as its input."""
    os.makedirs(os.path.join(root, "tools", "impl"))
    with open(os.path.join(root, "compozy.yaml"), "w") as f:
        f.write("name: bench\nruntime:\n  type: bun\n")
    per_file = 100
    for start in range(0, tools, per_file):
        with open(os.path.join(root, "tools", f"group{start // per_file}.yaml"), "w") as f:
            f.write("tools:\n")
            for i in range(start, min(start + per_file, tools)):
                f.write(
                    f"  - id: tool_{i}\n    description: Tool number {i}\n"
                    f"    execute: ./impl/t{i}.ts\n    timeout: 5s\n"
                    f"    input: {input_schema}\n"
                )
    for i in range(tools):
        with open(os.path.join(root, "tools", "impl", f"t{i}.ts"), "w") as f:
            f.write(
                "export interface Input { x: number }\n"
                f"export const helper{i} = (n: number) => n * {i};\n"
                f"export async function run(input: Input) {{ return {{ y: helper{i}(input.x) }}; }}\n"
            )

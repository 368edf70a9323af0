"""Shared set-up of the benchmark scripts: the compozy binary and the pinned bun."""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def compozy_binary(given):
    """The binary to measure: `given`, or a fresh `cargo build --release`."""
    if given:
        return os.path.abspath(given)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
    return os.path.join(REPO, "target", "release", "compozy")


def bun_binary():
    """The pinned bun from `npm ci` (or COMPOZY_BUN); exits with a message when missing."""
    bun = os.environ.get("COMPOZY_BUN", os.path.join(REPO, "node_modules", ".bin", "bun"))
    if not os.path.exists(bun):
        sys.exit(f"bun not found at {bun}: run `npm ci` first")
    return bun

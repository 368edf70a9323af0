#!/usr/bin/env python3
"""Writes the seed corpora (fuzz/corpus/TARGET/seed-*) from the test fixtures.

The fixtures are string literals in tests/it/*.rs and the files of examples/weather; each is
sorted to the target whose input it looks like. Run from anywhere: `python3 fuzz/seed.py`.
"""

import hashlib
import json
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"
MAX_SIZE = 4096
MAX_SEEDS = 60

# A Rust string or byte-string literal: raw (r#"…"#) or with escapes.
LITERAL = re.compile(r'b?r(#*)"(.*?)"\1|b?"((?:[^"\\]|\\.)*)"', re.S)


def unescape(body):
    out, i = [], 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        n = body[i + 1]
        if n == "\n":  # a line continuation skips the next line's indentation
            i += 2
            while i < len(body) and body[i] in " \t\n\r":
                i += 1
            continue
        if n == "u":
            end = body.index("}", i)
            out.append(chr(int(body[i + 3 : end], 16)))
            i = end + 1
            continue
        if n == "x":
            out.append(chr(int(body[i + 2 : i + 4], 16)))
            i += 4
            continue
        out.append({"n": "\n", "t": "\t", "r": "\r", "0": "\0"}.get(n, n))
        i += 2
    return "".join(out)


def literals(path):
    for m in LITERAL.finditer(path.read_text()):
        if m.group(2) is not None:
            yield m.group(2)
        else:
            yield unescape(m.group(3))


def json_macros(path):
    """The `json!({…})` requests of a test whose body is plain JSON."""
    text = path.read_text()
    for m in re.finditer(r"json!\(", text):
        depth, i = 0, m.end()
        for j in range(i, len(text)):
            depth += text[j] in "{[" and 1 or text[j] in "}]" and -1 or 0
            if depth == 0:
                try:
                    yield json.dumps(json.loads(text[i : j + 1]), separators=(",", ":"))
                except ValueError:
                    pass
                break


def kind(text, source):
    if "jsonrpc" in text:
        return "mcp_message"
    if "tool_id" in text and text.lstrip().startswith("{"):
        return "serve_request"
    if source.name == "dotenv.rs" and "=" in text and "\n" in text:
        return "dotenv"
    if re.search(r"^(tools|runtime|name|autoload):", text, re.M):
        return "config"
    if re.search(r"\bexport\b|module\.exports|exports\.", text):
        return "exports"
    return None


def main():
    seeds = {t: set() for t in ["config", "exports", "dotenv", "serve_request", "mcp_message"]}
    for path in sorted((ROOT / "tests" / "it").glob("*.rs")):
        for text in list(literals(path)) + list(json_macros(path)):
            target = kind(text, path)
            if target and len(text.encode()) <= MAX_SIZE:
                seeds[target].add(text)
    for path in sorted((ROOT / "examples" / "weather").rglob("*")):
        if path.suffix in (".yaml", ".yml"):
            seeds["config"].add(path.read_text())
        elif path.suffix in (".ts", ".mjs", ".js", ".cjs"):
            seeds["exports"].add(path.read_text())
    # serve's and MCP's lines as a client sends them, one request per line.
    seeds["serve_request"] |= {
        '{"id":1,"tool_id":"add","tool_exec_id":"x1","input":{"a":1,"b":2},"config":{},'
        '"timeout_ms":300,"env":{"K":"v"}}',
        '{"id":null,"tool_id":"env","env":{"LD_PRELOAD":"x"}}',
        "not json",
    }
    # The MCP pump reads several lines; its first byte is the read size.
    mcp = sorted(seeds["mcp_message"])
    seeds["mcp_message"] = {"\x10" + line + "\n" for line in mcp}
    seeds["mcp_message"].add("\x07" + "".join(line + "\n" for line in mcp[:4]))

    for target, texts in seeds.items():
        out = CORPUS / target
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob("seed-*"):
            old.unlink()
        for text in sorted(texts)[:MAX_SEEDS]:
            data = text.encode()
            (out / f"seed-{hashlib.sha1(data).hexdigest()[:12]}").write_bytes(data)
        print(f"{target}: {min(len(texts), MAX_SEEDS)} seeds")


if __name__ == "__main__":
    main()

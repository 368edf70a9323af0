# Drives `compozy mcp` with the official MCP Python SDK client (`mcp` on PyPI, pinned in
# requirements.txt), for the integration tests in tests/it/mcp_python.rs. Like tests/mcp/client.mjs,
# it runs the steps it reads as JSON on stdin and prints one JSON object with what each step
# observed; the assertions live in the Rust tests.
#
#   python client.py --era legacy|modern [--token T] [--no-connect] (--stdio CMD ARGS... | --url URL)
#
# Steps: {"op":"list"} · {"op":"call","name","args","progress":bool,"timeoutMs"} ·
# {"op":"authProbe","token"?,"body"?} (a POST with that bearer token, or none: its status and
# `WWW-Authenticate` as the SDK reads them; on a 401, the protected-resource metadata found from
# there the way the SDK discovers it).
#
# `timeoutMs` is a timeout that starts again on each progress notification, which is what hosts
# do (the TypeScript SDK's `resetTimeoutOnProgress`); the Python SDK's own `read_timeout_seconds`
# never restarts, so the script keeps that clock itself and cancels the call when it runs out.
import json
import os
import sys
import time

import anyio
import httpx2
from mcp.client.auth.utils import (
    build_protected_resource_metadata_discovery_urls,
    extract_field_from_www_auth,
    extract_resource_metadata_from_www_auth,
)
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import ProtectedResourceMetadata

argv = sys.argv[1:]


def opt(name):
    return argv[argv.index(name) + 1] if name in argv else None


ERA = opt("--era") or "legacy"
TOKEN = opt("--token")
URL = opt("--url")
STDIO = argv[argv.index("--stdio") + 1 :] if "--stdio" in argv else None
STEPS = json.loads(sys.stdin.read())


def dump(model):
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def outcome(result):
    return {
        "isError": bool(result.is_error),
        "content": [dump(block) for block in result.content],
        "structuredContent": result.structured_content,
    }


async def call(session, step):
    progress = []
    last = [time.monotonic()]

    async def on_progress(value, total, message):
        progress.append({"progress": value, "total": total, "message": message})
        last[0] = time.monotonic()

    limit = step.get("timeoutMs")
    box = {}

    async def run(scope):
        try:
            result = await session.call_tool(
                step["name"],
                step.get("args") or {},
                progress_callback=on_progress if step.get("progress") else None,
            )
            box["result"] = outcome(result)
        except Exception as e:  # noqa: BLE001 - reported to the test, which decides
            box["thrown"] = {"code": getattr(getattr(e, "error", None), "code", None), "message": str(e)}
        scope.cancel()

    async with anyio.create_task_group() as tg:
        tg.start_soon(run, tg.cancel_scope)
        if limit:
            while True:
                await anyio.sleep(0.02)
                if time.monotonic() - last[0] > limit / 1000:
                    box["thrown"] = {"code": None, "message": f"request timed out after {limit} ms without progress"}
                    tg.cancel_scope.cancel()
                    break
    # Notifications are handled a turn after the answer.
    await anyio.sleep(0.02)
    return {**box.get("result", {}), **({"thrown": box["thrown"]} if "thrown" in box else {}), "progress": progress}


async def auth_probe(step):
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
    if step.get("token") is not None:
        headers["authorization"] = f"Bearer {step['token']}"
    body = step.get("body") or {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    async with create_mcp_http_client() as http:
        res = await http.post(URL, headers=headers, content=json.dumps(body))
        report = {
            "status": res.status_code,
            "wwwAuthenticate": res.headers.get("WWW-Authenticate"),
            "error": extract_field_from_www_auth(res, "error"),
            "errorDescription": extract_field_from_www_auth(res, "error_description"),
            "scope": extract_field_from_www_auth(res, "scope"),
            "resourceMetadataUrl": extract_resource_metadata_from_www_auth(res),
        }
        if res.status_code == 401:
            # The SDK's discovery order (RFC 9728 / SEP-985): the header's URL first, then the
            # well-known paths; the first document that parses wins.
            for candidate in build_protected_resource_metadata_discovery_urls(report["resourceMetadataUrl"], URL):
                found = await http.get(candidate)
                if found.status_code == 200:
                    report["metadataFrom"] = candidate
                    report["metadata"] = dump(ProtectedResourceMetadata.model_validate_json(found.content))
                    break
        return report


async def run_steps(session):
    results = []
    negotiated = None
    if session is not None:
        if ERA == "modern":
            found = await session.discover()
            negotiated = {"era": "modern", "server": dump(found).get("serverInfo")}
        else:
            found = await session.initialize()
            negotiated = {"era": "legacy", "version": found.protocol_version, "server": dump(found.server_info)}
    for step in STEPS:
        op = step["op"]
        if op == "list":
            listed = await session.list_tools()
            results.append({"tools": [dump(tool) for tool in listed.tools]})
        elif op == "call":
            results.append(await call(session, step))
        elif op == "authProbe":
            results.append(await auth_probe(step))
        else:
            raise SystemExit(f"client.py: unknown step {op!r}")
    return {"negotiated": negotiated, "results": results}


async def main():
    if "--no-connect" in argv:
        return await run_steps(None)
    if URL is not None:
        headers = {"authorization": f"Bearer {TOKEN}"} if TOKEN else None
        async with create_mcp_http_client(headers=headers) as http:
            async with streamable_http_client(URL, http_client=http) as (read, write):
                async with ClientSession(read, write) as session:
                    return await run_steps(session)
    # The whole environment, as the TypeScript client passes it (the SDK keeps only a few
    # variables by default): the tests set the server's through it.
    params = StdioServerParameters(command=STDIO[0], args=STDIO[1:], env=dict(os.environ))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            return await run_steps(session)


report = anyio.run(main)
print(json.dumps(report))

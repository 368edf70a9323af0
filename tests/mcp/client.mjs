// Drives `compozy mcp` with the official MCP TypeScript SDK client, for the integration tests in
// tests/it/mcp.rs. It runs the steps it reads as JSON on stdin and prints one JSON object with
// what each step observed; the assertions live in the Rust tests.
//
//   node client.mjs --era legacy|auto|modern [--version V] [--token T] [--no-connect]
//                   (--stdio CMD ARGS... | --url URL)
//
// Steps: {"op":"list"} · {"op":"call","name","args","progress":bool,"logLevel","timeoutMs"} ·
// {"op":"calls","calls":[…]} (concurrently) · {"op":"cancel","name","args","pidFile","waitMs"} ·
// {"op":"fileGrowth","path","pauseMs"} ·
// {"op":"setLevel","level"} · {"op":"write","path","text"} · {"op":"sleep","ms"} ·
// {"op":"waitListChanged","name","ms"} (until a refreshed list has `name`) ·
// {"op":"authProbe"} (an unauthenticated POST: its status and `WWW-Authenticate` as the SDK
// reads them, then the protected-resource metadata the SDK discovers from there).
import { readFileSync, writeFileSync, existsSync, statSync } from "node:fs";
import {
  Client,
  StreamableHTTPClientTransport,
  LOG_LEVEL_META_KEY,
  extractWWWAuthenticateParams,
  discoverOAuthProtectedResourceMetadata,
} from "@modelcontextprotocol/client";
import { StdioClientTransport } from "@modelcontextprotocol/client/stdio";

const argv = process.argv.slice(2);
const opt = (name) => {
  const i = argv.indexOf(name);
  return i < 0 ? undefined : argv[i + 1];
};
const era = opt("--era") ?? "legacy";
const version = opt("--version");
const token = opt("--token");
const url = opt("--url");
const stdioAt = argv.indexOf("--stdio");
const [command, ...args] = stdioAt < 0 ? [] : argv.slice(stdioAt + 1);
const steps = JSON.parse(readFileSync(0, "utf8"));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const changed = [];
const client = new Client(
  { name: "compozy-tests", version: "1.0.0" },
  {
    versionNegotiation:
      era === "legacy" ? { mode: "legacy" } : era === "modern" ? { mode: { pin: "2026-07-28" } } : { mode: "auto" },
    ...(version && { supportedProtocolVersions: [version, "2026-07-28"] }),
    listChanged: {
      tools: { autoRefresh: true, debounceMs: 0, onChanged: (err, tools) => changed.push(err ? String(err) : tools.map((t) => t.name)) },
    },
  },
);
const logs = [];
client.setNotificationHandler("notifications/message", (n) => logs.push(n.params));
const errors = [];
client.onerror = (e) => errors.push(String(e?.message ?? e));

const transport = url
  ? new StreamableHTTPClientTransport(new URL(url), token ? { authProvider: { token: async () => token } } : {})
  : new StdioClientTransport({ command, args, stderr: "inherit", env: { ...process.env } });
if (!argv.includes("--no-connect")) await client.connect(transport);
const negotiated = {
  era: client.getProtocolEra(),
  version: client.getNegotiatedProtocolVersion(),
  server: client.getServerVersion(),
};
const modern = negotiated.era === "modern";

function outcome(result) {
  return {
    isError: result.isError === true,
    content: result.content,
    structuredContent: result.structuredContent ?? null,
  };
}

async function call(step) {
  const progress = [];
  const logsBefore = logs.length;
  // `step.meta`: more `_meta` keys (a W3C `traceparent`).
  const fields = { ...(step.logLevel && modern && { [LOG_LEVEL_META_KEY]: step.logLevel }), ...step.meta };
  const meta = Object.keys(fields).length > 0 ? fields : undefined;
  try {
    const result = await client.callTool(
      { name: step.name, arguments: step.args ?? {}, ...(meta && { _meta: meta }) },
      {
        ...(step.progress && { onprogress: (p) => progress.push(p), resetTimeoutOnProgress: true }),
        ...(step.timeoutMs && { timeout: step.timeoutMs }),
      },
    );
    // Notifications are handled a turn after the answer.
    await sleep(20);
    return { ...outcome(result), progress, logs: logs.slice(logsBefore) };
  } catch (e) {
    return { thrown: { code: e.code ?? null, message: String(e.message) }, progress, logs: logs.slice(logsBefore) };
  }
}

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const results = [];
for (const step of steps) {
  switch (step.op) {
    case "list": {
      const { tools } = await client.listTools(undefined, modern ? { cacheMode: "refresh" } : undefined);
      results.push({ tools });
      break;
    }
    case "call":
      results.push(await call(step));
      break;
    case "calls":
      results.push({ results: await Promise.all(step.calls.map(call)) });
      break;
    case "cancel": {
      const ac = new AbortController();
      const pending = client.callTool({ name: step.name, arguments: step.args ?? {} }, { signal: ac.signal });
      let pids = null;
      if (step.waitMs) await sleep(step.waitMs);
      for (let i = 0; i < 200 && pids === null && step.pidFile; i++) {
        if (existsSync(step.pidFile)) {
          const text = readFileSync(step.pidFile, "utf8");
          if (text.endsWith("\n")) pids = text.trim().split(/\s+/).map(Number);
        }
        if (pids === null) await sleep(25);
      }
      const aliveBefore = (pids ?? []).map(alive);
      ac.abort("cancelled by the test");
      const settled = await pending.then(() => "answered", (e) => `rejected: ${e.message}`);
      let aliveAfter = (pids ?? []).map(alive);
      for (let i = 0; i < 80 && aliveAfter.some(Boolean); i++) {
        await sleep(25);
        aliveAfter = (pids ?? []).map(alive);
      }
      results.push({ pids, aliveBefore, aliveAfter, settled });
      break;
    }
    case "fileGrowth": {
      // The size of a file, then again after a pause: whether something still writes it.
      const size = () => (existsSync(step.path) ? statSync(step.path).size : -1);
      const before = size();
      await sleep(step.pauseMs ?? 500);
      results.push({ before, after: size() });
      break;
    }
    case "authProbe": {
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
      });
      const params = extractWWWAuthenticateParams(res);
      const resourceMetadataUrl = params.resourceMetadataUrl ? String(params.resourceMetadataUrl) : null;
      const metadata = await discoverOAuthProtectedResourceMetadata(url, { resourceMetadataUrl: resourceMetadataUrl ?? undefined });
      results.push({ status: res.status, ...params, resourceMetadataUrl, metadata });
      break;
    }
    case "setLevel":
      await client.setLoggingLevel(step.level);
      results.push({});
      break;
    case "write":
      writeFileSync(step.path, step.text);
      results.push({});
      break;
    case "sleep":
      await sleep(step.ms);
      results.push({});
      break;
    case "waitListChanged": {
      const until = Date.now() + (step.ms ?? 5000);
      while (Date.now() < until && !changed.some((c) => Array.isArray(c) && c.includes(step.name))) await sleep(25);
      results.push({ changed });
      break;
    }
    default:
      throw new Error(`unknown step ${step.op}`);
  }
}
if (!argv.includes("--no-connect")) await client.close();
// Exit only once the report is written: a pipe takes a large one in several writes.
process.stdout.write(`${JSON.stringify({ ...negotiated, results, errors })}\n`, () => process.exit(0));

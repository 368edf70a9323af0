//! `compozy mcp` with the official MCP Python SDK client (`tests/python/client.py`, `mcp` pinned
//! in `tests/python/requirements.txt`, installed by the test setup into `target/py-venv`), over
//! stdio and Streamable HTTP, in both protocol eras, with tools on Bun and Node: what the
//! TypeScript client sees in tests/it/mcp.rs and mcp_auth.rs, seen by a second client.

use serde_json::{Value, json};

use crate::common::Fixture;
use crate::mcp::{CONTENT_TOOL, HttpServer, metadata_project, run_py_client_env, text};
use crate::mcp_auth::{ISSUER, STATIC_TOKEN, free_port, jwt, now, project};

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

/// The Python client against `compozy mcp` over stdio, in `era`.
fn py_stdio(p: &Fixture, runtime: &str, era: &str, env: &[(&str, &str)], steps: &Value) -> Value {
    let root = p.root().display().to_string();
    let args = strings(&[
        "--era",
        era,
        "--stdio",
        env!("CARGO_BIN_EXE_compozy"),
        "mcp",
        "--project",
        &root,
        "--runtime",
        runtime,
    ]);
    run_py_client_env(p, &args, env, steps)
}

/// The Python client against the server at `url`, in `era`, with a bearer token or none.
fn py_http(p: &Fixture, url: &str, era: &str, token: Option<&str>, steps: &Value) -> Value {
    let mut args = strings(&["--era", era, "--url", url]);
    if let Some(token) = token {
        args.extend(strings(&["--token", token]));
    }
    run_py_client_env(p, &args, &[], steps)
}

fn python_sees_titles_annotations_and_icons(runtime: &str) {
    let p = metadata_project();
    let server = HttpServer::start(&p, runtime, &["--workers", "1"]);
    let list = json!([{"op": "list"}]);
    for (how, report) in [
        ("stdio legacy", py_stdio(&p, runtime, "legacy", &[], &list)),
        ("stdio modern", py_stdio(&p, runtime, "modern", &[], &list)),
        (
            "http legacy",
            py_http(&p, &server.url, "legacy", None, &list),
        ),
        (
            "http modern",
            py_http(&p, &server.url, "modern", None, &list),
        ),
    ] {
        assert_eq!(
            report["negotiated"]["era"],
            how.split(' ').nth(1).unwrap(),
            "{how}: {report:#}"
        );
        crate::mcp::assert_tool_metadata(&report["results"][0]["tools"], how);
    }
}

fn python_receives_every_content_kind(runtime: &str) {
    let b64 = |s: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(s)
    };
    let p = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: media\n    description: Returns MCP content\n    execute: ./media.ts\n    returns: content\n",
        ),
        ("media.ts", CONTENT_TOOL),
        ("chart.png", "PNG bytes!"),
    ]);
    let server = HttpServer::start(&p, runtime, &["--workers", "1"]);
    let steps = json!([
        {"op": "call", "name": "media", "args": {"kind": "blocks"}},
        {"op": "call", "name": "media", "args": {"kind": "mixed"}},
        {"op": "call", "name": "media", "args": {"kind": "broken"}},
        {"op": "call", "name": "media", "args": {"kind": "helpers"}},
    ]);
    let every_kind = json!([
        {"type": "text", "text": "a chart"},
        {"type": "image", "data": b64("PNG bytes!"), "mimeType": "image/png"},
        {"type": "audio", "data": b64("WAV bytes!!"), "mimeType": "audio/wav"},
        {"type": "resource_link", "uri": "file:///tmp/report.csv", "name": "report.csv",
         "mimeType": "text/csv"},
        {"type": "resource", "resource": {"uri": "mem://notes", "text": "some notes",
                                          "mimeType": "text/plain"}},
        {"type": "resource", "resource": {"uri": "mem://blob", "blob": b64("raw!"),
                                          "mimeType": "application/octet-stream"}},
    ]);
    for (how, report) in [
        ("stdio legacy", py_stdio(&p, runtime, "legacy", &[], &steps)),
        ("stdio modern", py_stdio(&p, runtime, "modern", &[], &steps)),
        (
            "http legacy",
            py_http(&p, &server.url, "legacy", None, &steps),
        ),
        (
            "http modern",
            py_http(&p, &server.url, "modern", None, &steps),
        ),
    ] {
        let r = &report["results"];
        assert_eq!(r[0]["isError"], false, "{how}: {report:#}");
        assert_eq!(r[0]["content"], every_kind, "{how}: {report:#}");
        assert!(r[0]["structuredContent"].is_null(), "{how}: {report:#}");
        assert_eq!(
            r[1]["content"],
            json!(every_kind.as_array().unwrap()[..2]),
            "{how}"
        );
        assert_eq!(r[1]["structuredContent"], json!({"points": 3}), "{how}");
        assert_eq!(r[2]["isError"], true, "{how}: {report:#}");
        assert!(
            text(&r[2]).starts_with("InvalidOutputError: the result of `media` is not valid MCP content: content[1] (image): `data` is not base64"),
            "{how}: {report:#}"
        );
        // The builders of `.compozy/types.ts` make the same blocks.
        assert_eq!(r[3]["content"], every_kind, "{how}: {report:#}");
    }
}

fn python_keeps_waiting_on_heartbeats(runtime: &str) {
    let p = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: long\n    description: Runs longer than the client waits\n    execute: ./long.ts\n",
        ),
        (
            "long.ts",
            "export async function run() {\n  await new Promise((r) => setTimeout(r, 1500));\n  return \"finished\";\n}\n",
        ),
    ]);
    // The client gives up after 500 ms without progress; the tool reports none for 1.5 s.
    let steps = json!([{"op": "call", "name": "long", "progress": true, "timeoutMs": 500}]);
    let beat = [("COMPOZY_MCP_HEARTBEAT", "150ms")];
    let server = HttpServer::start_at(&p, runtime, "127.0.0.1:0", &[], &beat);
    for (how, report) in [
        ("stdio", py_stdio(&p, runtime, "legacy", &beat, &steps)),
        ("http", py_http(&p, &server.url, "modern", None, &steps)),
    ] {
        let r = &report["results"][0];
        assert_eq!(text(r), "finished", "{how}: {report:#}");
        let progress = r["progress"].as_array().unwrap();
        assert!(progress.len() >= 4, "{how}: {report:#}");
        let values: Vec<f64> = progress
            .iter()
            .map(|p| p["progress"].as_f64().unwrap())
            .collect();
        assert!(values.windows(2).all(|w| w[0] < w[1]), "{how}: {values:?}");
        assert!(
            progress[0]["message"]
                .as_str()
                .unwrap()
                .starts_with("still running"),
            "{how}: {report:#}"
        );
    }
    // Without heartbeats, the same client gives up.
    let report = py_stdio(
        &p,
        runtime,
        "legacy",
        &[("COMPOZY_MCP_HEARTBEAT", "0")],
        &steps,
    );
    let r = &report["results"][0];
    assert!(
        r["thrown"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("timed out"),
        "{report:#}"
    );
    assert_eq!(r["progress"], json!([]), "{report:#}");
}

fn python_is_kept_out_without_a_good_token(runtime: &str) {
    let port = free_port();
    let resource = format!("http://127.0.0.1:{port}/mcp");
    let metadata_url = format!("http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp");
    let p = project(&resource, "./jwks.json");
    let server = HttpServer::start_at(
        &p,
        runtime,
        &format!("127.0.0.1:{port}"),
        &["--workers", "1"],
        &[("TEST_MCP_TOKEN", STATIC_TOKEN)],
    );
    let url = &server.url;
    let expired = jwt(
        "k1",
        &resource,
        json!({"exp": now() - 3600, "iat": now() - 7200}),
    );
    let not_yet = jwt("k1", &resource, json!({"nbf": now() + 3600}));
    let other_aud = jwt(
        "k1",
        &resource,
        json!({"aud": "https://elsewhere.example/mcp"}),
    );
    let other_iss = jwt("k1", &resource, json!({"iss": "https://evil.example"}));
    let unknown_kid = jwt("k3", &resource, json!({}));
    let plain = jwt("k1", &resource, json!({"scope": "tools:read"}));
    let admin = jwt("k1", &resource, json!({"scope": "tools:read tools:admin"}));
    let call_admin = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                            "params": {"name": "admin", "arguments": {}}});
    let refused = [
        (None, "the request has no bearer token"),
        (
            Some("wrong-token"),
            "the token is not one this server accepts",
        ),
        (Some(expired.as_str()), "the token has expired"),
        (Some(not_yet.as_str()), "the token is not valid yet"),
        (Some(other_aud.as_str()), "the token is not for this server"),
        (Some(other_iss.as_str()), "the token's `iss` is not"),
        (
            Some(unknown_kid.as_str()),
            "the token's key `k3` is not in the JWKS",
        ),
    ];
    // The probes run without connecting (the connection itself would be refused).
    let args: Vec<String> = strings(&["--era", "legacy", "--no-connect", "--url", url]);
    let mut steps: Vec<Value> = refused
        .iter()
        .map(|(token, _)| json!({"op": "authProbe", "token": token}))
        .collect();
    steps.push(json!({"op": "authProbe", "token": plain, "body": call_admin}));
    steps.push(json!({"op": "authProbe", "token": admin, "body": call_admin}));
    let report = run_py_client_env(&p, &args, &[], &Value::Array(steps));
    let r = report["results"].as_array().unwrap();
    let metadata = json!({"resource": resource, "authorization_servers": [ISSUER],
                          "bearer_methods_supported": ["header"],
                          "scopes_supported": ["tools:admin"], "resource_name": "Test tools"});
    for (k, (_, why)) in refused.iter().enumerate() {
        let probe = &r[k];
        assert_eq!(probe["status"], 401, "{why}: {probe:#}");
        assert_eq!(
            probe["resourceMetadataUrl"], metadata_url,
            "{why}: {probe:#}"
        );
        if k == 0 {
            // No token: no error code (RFC 6750 §3.1), only where to learn how to get one.
            assert!(probe["error"].is_null(), "{probe:#}");
        } else {
            assert_eq!(probe["error"], "invalid_token", "{why}: {probe:#}");
            assert!(
                probe["errorDescription"]
                    .as_str()
                    .is_some_and(|d| d.contains(why)),
                "{why}: {probe:#}"
            );
        }
        // The metadata document, found the way the SDK looks for it.
        assert_eq!(probe["metadataFrom"], metadata_url, "{why}: {probe:#}");
        assert_eq!(probe["metadata"], metadata, "{why}: {probe:#}");
    }
    let scope_missing = &r[refused.len()];
    assert_eq!(scope_missing["status"], 403, "{scope_missing:#}");
    assert_eq!(
        scope_missing["error"], "insufficient_scope",
        "{scope_missing:#}"
    );
    assert_eq!(scope_missing["scope"], "tools:admin", "{scope_missing:#}");
    assert_eq!(scope_missing["resourceMetadataUrl"], metadata_url);
    assert_eq!(r[refused.len() + 1]["status"], 200, "{report:#}");

    // The SDK client with a valid token, in both eras; and the static token.
    let steps = json!([
        {"op": "list"},
        {"op": "call", "name": "echo", "args": {"text": "let in"}},
        {"op": "call", "name": "admin"},
    ]);
    for (token, era) in [
        (&admin, "legacy"),
        (&admin, "modern"),
        (&STATIC_TOKEN.to_owned(), "modern"),
    ] {
        let report = py_http(&p, url, era, Some(token), &steps);
        let r = &report["results"];
        assert_eq!(r[0]["tools"].as_array().unwrap().len(), 2, "{report:#}");
        assert_eq!(text(&r[1]), "let in", "{report:#}");
        assert_eq!(text(&r[2]), "admin done", "{report:#}");
    }
    // Without the scope, the SDK client lists every tool (scopes are checked on calls), calls
    // the one that needs none, and its call to the other fails: the SDK turns the 403 (seen
    // above with its status and header) into a generic error.
    let steps = json!([
        {"op": "list"},
        {"op": "call", "name": "echo", "args": {"text": "fine"}},
        {"op": "call", "name": "admin"},
    ]);
    let report = py_http(&p, url, "legacy", Some(&plain), &steps);
    let r = &report["results"];
    assert_eq!(r[0]["tools"].as_array().unwrap().len(), 2, "{report:#}");
    assert_eq!(text(&r[1]), "fine", "{report:#}");
    assert_eq!(
        r[2]["thrown"]["message"], "Server returned an error response",
        "{report:#}"
    );
    assert!(r[2].get("content").is_none(), "{report:#}");
}

on_both_runtimes!(
    python_sees_titles_annotations_and_icons,
    python_receives_every_content_kind,
    python_keeps_waiting_on_heartbeats,
    python_is_kept_out_without_a_good_token,
);

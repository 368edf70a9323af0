//! `compozy mcp --http` with `auth:`: bearer tokens (static and JWT), scopes, the RFC 9728
//! metadata, and the refusal to serve a public address open; with the official TypeScript client
//! and raw HTTP, on Bun and Node.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::common::Fixture;
use crate::mcp::{HttpServer, path_with_runtimes, post, run_client, text};

/// P-256 keys (PKCS#8 DER) and their public halves as JWK coordinates; `k1` is in the JWKS
/// file, `k2` only at the JWKS URL after a rotation, `k3` nowhere.
pub(crate) const KEYS: [(&str, &str, &str, &str); 3] = [
    (
        "k1",
        "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgVPCtuEKebpt6rnrUAUz2MrqwSz931QUif3ne2JNMRKahRANCAARUgfZwAKbdDJRa8LbxFlMtmY2ukFdSczzZnTSBUKRZFpI4+c6EeG45t94oq1RMBsAPqbf4hQoFYwDH3J1asWOK",
        "VIH2cACm3QyUWvC28RZTLZmNrpBXUnM82Z00gVCkWRY",
        "kjj5zoR4bjm33iirVEwGwA-pt_iFCgVjAMfcnVqxY4o",
    ),
    (
        "k2",
        "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgDYzjQEfsoGWN83fxC6u594qEhvZg/4hsJra6jlgroPqhRANCAATeCnJDGIZm+Zxao4y7/rsBQjH4gKbwlQGo6yk0j6Ob37YGk2SvrriOOs4Nqpaep/IiOf16OMWBss4OM8puXA0P",
        "3gpyQxiGZvmcWqOMu_67AUIx-ICm8JUBqOspNI-jm98",
        "tgaTZK-uuI46zg2qlp6n8iI5_Xo4xYGyzg4zym5cDQ8",
    ),
    (
        "k3",
        "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQglR3fU3xahxqrwdwzyKCniDtRQKbZ9FPztjs9uO78DMihRANCAATY9H4d7hCZQp/MWSMoNKoWcBz7ADbFsuClZgBZc2TGkieiITs1/A+b+bAU6SoPdlXXsE32hv9k/TB9oNfo2A8R",
        "2PR-He4QmUKfzFkjKDSqFnAc-wA2xbLgpWYAWXNkxpI",
        "J6IhOzX8D5v5sBTpKg92VdewTfaG_2T9MH2g1-jYDxE",
    ),
];

pub(crate) const ISSUER: &str = "https://auth.example.test";
pub(crate) const STATIC_TOKEN: &str = "s3cret-static-token-for-tests";

pub(crate) fn jwks(kids: &[&str]) -> String {
    let keys: Vec<Value> = KEYS
        .iter()
        .filter(|(kid, ..)| kids.contains(kid))
        .map(|(kid, _, x, y)| {
            json!({"kty": "EC", "crv": "P-256", "x": x, "y": y, "kid": kid, "alg": "ES256", "use": "sig"})
        })
        .collect();
    json!({ "keys": keys }).to_string()
}

pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A JWT signed with key `kid`, with `claims` over valid defaults (`null` removes a claim).
pub(crate) fn jwt(kid: &str, resource: &str, claims: Value) -> String {
    let (_, der, ..) = KEYS.iter().find(|(k, ..)| *k == kid).unwrap();
    let der = base64::engine::general_purpose::STANDARD
        .decode(der)
        .unwrap();
    let mut body = json!({"iss": ISSUER, "aud": resource, "sub": "tester",
                          "iat": now(), "exp": now() + 600, "scope": ""});
    for (k, v) in claims.as_object().unwrap() {
        if v.is_null() {
            body.as_object_mut().unwrap().remove(k);
        } else {
            body[k] = v.clone();
        }
    }
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, &body, &EncodingKey::from_ec_der(&der)).unwrap()
}

/// A free port on loopback (the server's URL must be known before it starts: it is its
/// `resource`).
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) fn project(resource: &str, jwks_src: &str) -> Fixture {
    let config = format!(
        r#"
auth:
  resource: {resource}
  authorization_servers: [{ISSUER}]
  resource_name: Test tools
  tokens: {{ env: TEST_MCP_TOKEN }}
  jwt: {{ issuer: "{ISSUER}", jwks: "{jwks_src}" }}
tools:
  - id: echo
    description: Echo a text with its length
    execute: ./tools/echo.ts
    input: {{ type: object, properties: {{ text: {{ type: string }} }}, required: [text] }}
  - id: admin
    description: Needs a scope
    execute: ./tools/admin.ts
    scopes: [tools:admin]
"#
    );
    Fixture::with(&[
        ("compozy.yaml", &config),
        ("jwks.json", &jwks(&["k1"])),
        (
            "tools/echo.ts",
            "export function run(i: { text: string }) {\n  return i.text;\n}\n",
        ),
        (
            "tools/admin.ts",
            "export function run() {\n  return \"admin done\";\n}\n",
        ),
    ])
}

const PING: &str = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;

fn call(name: &str) -> String {
    json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
           "params": {"name": name, "arguments": {}}})
    .to_string()
}

/// The `WWW-Authenticate` header of a raw response.
fn challenge(response: &str) -> &str {
    response
        .lines()
        .find_map(|l| {
            l.strip_prefix("www-authenticate: ")
                .or_else(|| l.strip_prefix("WWW-Authenticate: "))
        })
        .unwrap_or("")
}

fn with_token(url: &str, token: &str, body: &str) -> (u16, String) {
    post(url, &[("Authorization", &format!("Bearer {token}"))], body)
}

fn tokens_and_scopes_are_checked(runtime: &str) {
    let port = free_port();
    let resource = format!("http://127.0.0.1:{port}/mcp");
    let metadata_url = format!("http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp");
    let p = project(&resource, "./jwks.json");
    let server = HttpServer::start_at(
        &p,
        runtime,
        &format!("127.0.0.1:{port}"),
        // Everything logged, down to the SDK's and hyper's traces: still no token.
        &["--workers", "1", "-vvv"],
        &[("TEST_MCP_TOKEN", STATIC_TOKEN)],
    );
    let url = &server.url;

    // No token: 401 and where to learn how to get one.
    let (code, response) = post(url, &[], PING);
    assert_eq!(code, 401, "{response}");
    assert_eq!(
        challenge(&response),
        format!("Bearer resource_metadata=\"{metadata_url}\""),
        "{response}"
    );

    // The official client reads the challenge and finds the metadata from it (RFC 9728).
    let args: Vec<String> = ["--era", "legacy", "--no-connect", "--url", url]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    let report = run_client(&p, &args, &json!([{"op": "authProbe"}]));
    let probe = &report["results"][0];
    assert_eq!(probe["status"], 401, "{report:#}");
    assert_eq!(probe["resourceMetadataUrl"], metadata_url, "{report:#}");
    assert_eq!(
        probe["metadata"],
        json!({"resource": resource, "authorization_servers": [ISSUER],
               "bearer_methods_supported": ["header"], "scopes_supported": ["tools:admin"],
               "resource_name": "Test tools"}),
        "{report:#}"
    );

    // Bad tokens: 401 with `invalid_token` and why.
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
    let no_exp = jwt("k1", &resource, json!({"exp": null}));
    let b64 = |v: Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
    };
    let alg_none = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT", "kid": "k1"})),
        b64(json!({"iss": ISSUER, "aud": resource, "exp": now() + 600, "scope": "tools:admin"}))
    );
    // A k1 header over a k3 signature.
    let forged = {
        let good = jwt("k1", &resource, json!({"scope": "tools:admin"}));
        let other = jwt("k3", &resource, json!({"scope": "tools:admin"}));
        let mut parts: Vec<&str> = good.split('.').collect();
        parts[2] = other.rsplit('.').next().unwrap();
        parts.join(".")
    };
    for (token, why) in [
        ("wrong-token", "the token is not one this server accepts"),
        (expired.as_str(), "the token has expired"),
        (not_yet.as_str(), "the token is not valid yet"),
        (other_aud.as_str(), "the token is not for this server"),
        (other_iss.as_str(), "the token's `iss` is not"),
        (
            unknown_kid.as_str(),
            "the token's key `k3` is not in the JWKS",
        ),
        (no_exp.as_str(), "the token has no `exp`"),
        (alg_none.as_str(), "not a JWT this server accepts"),
        (forged.as_str(), "signature does not verify"),
    ] {
        let (code, response) = with_token(url, token, PING);
        assert_eq!(code, 401, "{why}: {response}");
        let header = challenge(&response);
        assert!(
            header.starts_with("Bearer error=\"invalid_token\"")
                && header.contains(why)
                && header.contains(&format!("resource_metadata=\"{metadata_url}\"")),
            "{why}: {header}"
        );
    }

    // A valid token without the tool's scope: 403 naming the scope.
    let plain = jwt("k1", &resource, json!({"scope": "tools:read"}));
    let (code, response) = with_token(url, &plain, &call("admin"));
    assert_eq!(code, 403, "{response}");
    let header = challenge(&response);
    assert!(
        header.starts_with("Bearer error=\"insufficient_scope\"")
            && header.contains("scope=\"tools:admin\"")
            && header.contains(&format!("resource_metadata=\"{metadata_url}\"")),
        "{header}"
    );
    // … which may still call a tool that needs none.
    let (code, response) = with_token(url, &plain, PING);
    assert_eq!(code, 200, "{response}");

    // The official client with a valid token, in both eras; with the scope, and with the
    // static token (which may call every tool).
    let admin = jwt("k1", &resource, json!({"scope": "tools:read tools:admin"}));
    for (token, era) in [
        (&admin, "legacy"),
        (&admin, "modern"),
        (&STATIC_TOKEN.to_owned(), "modern"),
    ] {
        let args: Vec<String> = ["--era", era, "--token", token, "--url", url]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let report = run_client(
            &p,
            &args,
            &json!([
                {"op": "list"},
                {"op": "call", "name": "echo", "args": {"text": "let in"}},
                {"op": "call", "name": "admin"},
            ]),
        );
        let r = &report["results"];
        assert_eq!(r[0]["tools"].as_array().unwrap().len(), 2, "{report:#}");
        assert_eq!(text(&r[1]), "let in", "{report:#}");
        assert_eq!(text(&r[2]), "admin done", "{report:#}");
    }
    // The official client without the scope: the call fails.
    let report = over_http_with_token(&p, url, &plain, &json!([{"op": "call", "name": "admin"}]));
    assert!(
        report["results"][0]["thrown"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("403") || m.to_lowercase().contains("scope")),
        "{report:#}"
    );

    // No token ever reaches the log.
    std::thread::sleep(Duration::from_millis(200));
    let stderr = server.stderr.lock().unwrap().join("\n");
    for token in [STATIC_TOKEN, &expired, &plain, &admin, &forged] {
        let signature = token.rsplit('.').next().unwrap();
        assert!(!stderr.contains(signature), "a token was logged:\n{stderr}");
    }
    assert!(stderr.contains("refused an MCP request"), "{stderr}");
}

fn over_http_with_token(p: &Fixture, url: &str, token: &str, steps: &Value) -> Value {
    let args: Vec<String> = ["--era", "legacy", "--token", token, "--url", url]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    run_client(p, &args, steps)
}

/// A JWKS server: answers every request with the current set, counting them.
struct JwksServer {
    url: String,
    set: Arc<Mutex<String>>,
    hits: Arc<Mutex<usize>>,
}

impl JwksServer {
    fn start(initial: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let set = Arc::new(Mutex::new(initial));
        let hits = Arc::new(Mutex::new(0));
        let (s, h) = (Arc::clone(&set), Arc::clone(&hits));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                *h.lock().unwrap() += 1;
                let body = s.lock().unwrap().clone();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.flush();
            }
        });
        Self { url, set, hits }
    }
}

fn jwks_url_is_fetched_again_for_an_unknown_key(runtime: &str) {
    let keys = JwksServer::start(jwks(&["k1"]));
    let resource = "https://tools.example.test/mcp";
    let p = project(resource, &keys.url);
    let server = HttpServer::start_at(
        &p,
        runtime,
        "127.0.0.1:0",
        &["--workers", "1"],
        &[("TEST_MCP_TOKEN", STATIC_TOKEN)],
    );
    assert_eq!(*keys.hits.lock().unwrap(), 1, "fetched once at start");
    let (code, response) = with_token(&server.url, &jwt("k1", resource, json!({})), PING);
    assert_eq!(code, 200, "{response}");
    // The authorization server rotates to k2: a token signed with it makes the server fetch
    // the set again.
    *keys.set.lock().unwrap() = jwks(&["k1", "k2"]);
    let (code, response) = with_token(&server.url, &jwt("k2", resource, json!({})), PING);
    assert_eq!(code, 200, "{response}");
    assert_eq!(*keys.hits.lock().unwrap(), 2);
    // Another unknown key right after: refused without fetching again.
    let (code, response) = with_token(&server.url, &jwt("k3", resource, json!({})), PING);
    assert_eq!(code, 401, "{response}");
    assert_eq!(*keys.hits.lock().unwrap(), 2);
}

/// `compozy mcp --http` on an address other than loopback.
fn public_address_needs_auth_or_no_auth(runtime: &str) {
    let open = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: echo\n    description: Echo\n    execute: ./echo.ts\n",
        ),
        ("echo.ts", "export function run() { return 1; }\n"),
    ]);
    let out = crate::common::output_within(
        open.compozy(&["mcp", "--runtime", runtime, "--http", "0.0.0.0:0"])
            .env("PATH", path_with_runtimes())
            .stdin(std::process::Stdio::null()),
        Duration::from_secs(60),
    );
    let stderr = &out.stderr;
    out.expect_code(2);
    assert!(
        stderr.contains("refusing to serve MCP on 0.0.0.0:0 without authorization")
            && stderr.contains("anyone who can reach it could call every tool")
            && stderr.contains("--no-auth"),
        "{stderr}"
    );
    // Said explicitly, it starts.
    let server = HttpServer::start_at(&open, runtime, "0.0.0.0:0", &["--no-auth"], &[]);
    let url = server.url.replace("0.0.0.0", "127.0.0.1");
    let (code, response) = post(&url, &[], PING);
    assert_eq!(code, 200, "{response}");
    drop(server);

    // With `auth:`, it starts, and checks tokens.
    let p = project("https://tools.example.test/mcp", "./jwks.json");
    let server = HttpServer::start_at(
        &p,
        runtime,
        "0.0.0.0:0",
        &[],
        &[("TEST_MCP_TOKEN", STATIC_TOKEN)],
    );
    let url = server.url.replace("0.0.0.0", "127.0.0.1");
    assert_eq!(post(&url, &[], PING).0, 401);
    assert_eq!(with_token(&url, STATIC_TOKEN, PING).0, 200);
    drop(server);

    // A token variable that is not set: no start.
    let out = crate::common::output_within(
        p.compozy(&["mcp", "--runtime", runtime, "--http", "127.0.0.1:0"])
            .env("PATH", path_with_runtimes())
            .env_remove("TEST_MCP_TOKEN")
            .stdin(std::process::Stdio::null()),
        Duration::from_secs(60),
    );
    let stderr = &out.stderr;
    out.expect_code(2);
    assert!(
        stderr.contains("`auth.tokens.env`: `TEST_MCP_TOKEN` is not set"),
        "{stderr}"
    );
}

/// Every address that is not loopback is refused open: the wildcard addresses of both families,
/// and this machine's own address (the check is on the address bound, so a host name is judged
/// by what it resolves to; `localhost` resolves to loopback, and serves open).
#[test]
fn no_public_address_serves_open() {
    let open = Fixture::with(&[
        (
            "compozy.yaml",
            "tools:\n  - id: echo\n    description: Echo\n    execute: ./echo.ts\n",
        ),
        ("echo.ts", "export function run() { return 1; }\n"),
    ]);
    // The address this machine would send from (a UDP connect sends nothing).
    let own = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("192.0.2.1:9").and_then(|()| s.local_addr()))
        .expect("this test needs a non-loopback IPv4 address on this machine")
        .ip();
    assert!(!own.is_loopback(), "{own}");
    for addr in [
        "0.0.0.0:0".to_owned(),
        "[::]:0".to_owned(),
        format!("{own}:0"),
    ] {
        let out = crate::common::output_within(
            open.compozy(&["mcp", "--runtime", "node", "--http", &addr])
                .env("PATH", path_with_runtimes())
                .stdin(std::process::Stdio::null()),
            Duration::from_secs(60),
        );
        out.expect_code(2).stderr_has(&[
            &format!("refusing to serve MCP on {addr} without authorization"),
            "--no-auth",
        ]);
    }
    let server = HttpServer::start_at(&open, "node", "localhost:0", &[], &[]);
    assert_eq!(post(&server.url, &[], PING).0, 200);
}

/// A CORS preflight carries no credentials: with `auth:` it gets what it would get without
/// (compozy answers no CORS; a browser client needs a proxy that does), never a 401.
#[test]
fn preflight_is_not_asked_for_a_token() {
    let port = free_port();
    let p = project(&format!("http://127.0.0.1:{port}/mcp"), "./jwks.json");
    let server = HttpServer::start_at(
        &p,
        "node",
        &format!("127.0.0.1:{port}"),
        &["--workers", "1"],
        &[("TEST_MCP_TOKEN", STATIC_TOKEN)],
    );
    let rest = server.url.strip_prefix("http://").unwrap();
    let (authority, path) = rest.split_at(rest.find('/').unwrap());
    let mut stream = std::net::TcpStream::connect(authority).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "OPTIONS {path} HTTP/1.1\r\nHost: {authority}\r\nOrigin: http://localhost:3000\r\n\
         Access-Control-Request-Method: POST\r\n\
         Access-Control-Request-Headers: authorization, content-type\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    let _ = std::io::Read::read_to_string(&mut stream, &mut response);
    assert!(response.starts_with("HTTP/1.1 405"), "{response}");
    assert!(challenge(&response).is_empty(), "{response}");
    // A POST still needs one.
    assert_eq!(post(&server.url, &[], PING).0, 401);
}

#[test]
fn auth_settings_are_checked() {
    let p = Fixture::with(&[
        (
            "compozy.yaml",
            "auth:\n  resource: tools.example.com\n  tokns: { env: X }\n  jwt: { issuer: https://a.example, jwks: ./missing.json, algorithms: [RS265, none] }\ntools:\n  - id: a\n    execute: ./a.ts\n    scopes: [\"bad scope\"]\n",
        ),
        ("a.ts", "export function run() { return 1; }\n"),
    ]);
    p.run(&["gen"]).expect_code(2).stderr_has(&[
        "`auth.resource` `tools.example.com` is not an https:// (or http://) URL",
        "unknown key `tokns` in `auth:`",
        "did you mean `tokens`?",
        "the JWKS `./missing.json` does not exist",
        "unknown JWT algorithm `RS265`",
        "did you mean `RS256`",
        "unknown JWT algorithm `none`",
        "invalid scope `bad scope`",
    ]);
}

on_both_runtimes!(
    tokens_and_scopes_are_checked,
    jwks_url_is_fetched_again_for_an_unknown_key,
    public_address_needs_auth_or_no_auth,
);

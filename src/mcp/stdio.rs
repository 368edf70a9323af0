//! MCP over stdio: newline-delimited JSON-RPC on stdin/stdout, nothing else on stdout.

use rmcp::ServiceExt;
use rmcp::model::RequestId;
use rmcp::transport::async_rw::AsyncRwTransport;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

use super::handler::{Handler, TOO_LARGE_METHOD, UNINITIALIZED_KEY};

/// The largest request line, or `COMPOZY_MAX_REQUEST_BYTES`.
pub fn max_request_bytes() -> usize {
    std::env::var("COMPOZY_MAX_REQUEST_BYTES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(16 << 20)
}

/// Serves `handler` until stdin ends.
pub async fn serve(handler: Handler) -> std::io::Result<()> {
    let limit = max_request_bytes();
    let (to_rmcp, from_pump) = tokio::io::duplex(1 << 16);
    // Pipes (as hosts start servers) are read and written on the runtime's own thread; tokio's
    // stdin and stdout would hand every read and write to a thread of their own, a wake-up each
    // way that cost more than the rest of a call.
    let (stdin, stdout) = rmcp::transport::stdio_pipes();
    let stdin = tokio::io::BufReader::with_capacity(1 << 16, stdin);
    tokio::spawn(pump(stdin, to_rmcp, limit));
    let transport = AsyncRwTransport::new_server(from_pump, stdout)
        .with_max_line_length(limit.saturating_add(1024));
    let running = match handler.serve(transport).await {
        Ok(running) => running,
        // stdin closed before `initialize` (or a 2026-era request): nothing to serve.
        Err(e) => {
            tracing::debug!("MCP session did not start: {e}");
            return Ok(());
        }
    };
    let reason = running.waiting().await.map_err(std::io::Error::other)?;
    tracing::debug!("MCP session ended: {reason:?}");
    Ok(())
}

/// Copies request lines from `input` to `out`; a line over `limit` bytes is replaced by a small
/// request the handler answers with an error (with the line's `id` where one can be read), so
/// that its sender is not left waiting and the server keeps serving.
#[doc(hidden)]
pub async fn pump(
    mut input: impl AsyncBufRead + Unpin,
    mut out: impl AsyncWrite + Unpin,
    limit: usize,
) {
    let mut line: Vec<u8> = Vec::new();
    // For a line over the limit: its size, its first and its last bytes.
    let mut over = 0usize;
    let mut head: Vec<u8> = Vec::new();
    let mut tail: Vec<u8> = Vec::new();
    // Until the client shows its protocol era (`initialize`, or a 2026-era `_meta`), each
    // request is looked at: one sent too early gets an answer that says what to send first.
    let mut era_known = false;
    loop {
        let buf = match input.fill_buf().await {
            Ok(buf) => buf,
            Err(e) => {
                tracing::debug!("stdin: {e}");
                break;
            }
        };
        if buf.is_empty() {
            if over == 0 && !line.is_empty() {
                let _ = out.write_all(&line).await;
            }
            break;
        }
        let newline = buf.iter().position(|&b| b == b'\n');
        let chunk = &buf[..newline.map_or(buf.len(), |i| i + 1)];
        let n = chunk.len();
        if over == 0 && line.len() + n <= limit + 1 {
            line.extend_from_slice(chunk);
        } else {
            if over == 0 {
                over = line.len();
                head = line[..line.len().min(4096)].to_vec();
                line.clear();
            }
            over += n;
            tail.extend_from_slice(chunk);
            if tail.len() > 4096 {
                tail.drain(..tail.len() - 4096);
            }
        }
        input.consume(n);
        if newline.is_some() {
            let result = if over > 0 {
                let size = over.saturating_sub(1);
                tracing::warn!("a request line of {size} bytes is over the limit of {limit}");
                out.write_all(too_large(&head, &tail, size, limit).as_bytes())
                    .await
            } else if era_known {
                out.write_all(&line).await
            } else {
                match first_request(&line) {
                    Early::Uninitialized(stand_in) => out.write_all(stand_in.as_bytes()).await,
                    early => {
                        era_known = early == Early::EraKnown;
                        out.write_all(&line).await
                    }
                }
            };
            if result.is_err() {
                break;
            }
            line.clear();
            head.clear();
            tail.clear();
            over = 0;
        }
    }
    let _ = out.shutdown().await;
}

/// What a line sent before the client's protocol era is known is.
#[derive(Debug, PartialEq)]
enum Early {
    /// `initialize`, or a request with the 2026 era's `_meta`: pass it on, and the rest.
    EraKnown,
    /// A request of neither era: the stand-in request to send instead.
    Uninitialized(String),
    /// Anything else (a notification, `ping`, a line that is not JSON): pass it on.
    Other,
}

/// Sorts a line sent before the client's protocol era is known.
fn first_request(line: &[u8]) -> Early {
    let Ok(serde_json::Value::Object(message)) = serde_json::from_slice(line) else {
        return Early::Other;
    };
    let Some(method) = message.get("method").and_then(|m| m.as_str()) else {
        return Early::Other;
    };
    let modern = message
        .get("params")
        .and_then(|p| p.get("_meta"))
        .and_then(|m| m.get("io.modelcontextprotocol/protocolVersion"))
        .is_some();
    if method == "initialize" || modern {
        return Early::EraKnown;
    }
    match message.get("id") {
        Some(id) if !matches!(method, "ping" | "server/discover") => {
            let stand_in = serde_json::json!({
                "jsonrpc": "2.0",
                "id": id,
                "method": "server/discover",
                "params": { "_meta": {
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientCapabilities": {},
                    UNINITIALIZED_KEY: method,
                } },
            });
            Early::Uninitialized(format!("{stand_in}\n"))
        }
        _ => Early::Other,
    }
}

/// The request that stands in for a line that is too large.
#[doc(hidden)]
pub fn too_large(head: &[u8], tail: &[u8], size: usize, limit: usize) -> String {
    match find_id(head, tail) {
        Some(id) => {
            format!(
                r#"{{"jsonrpc":"2.0","id":{id},"method":"{TOO_LARGE_METHOD}","params":{{"size":{size},"limit":{limit}}}}}"#
            ) + "\n"
        }
        // Without an id, an answer cannot be matched anyway: an invalid request gets an error
        // without one.
        None => "{\"jsonrpc\":\"2.0\",\"compozy\":\"request too large\"}\n".into(),
    }
}

/// The request's `id`, read from the first bytes of its line (`head`) or else the last (`tail`). Only the outermost object's key counts: an `id`
/// inside `params` is not the request's.
#[doc(hidden)]
pub fn find_id(head: &[u8], tail: &[u8]) -> Option<String> {
    id_from_start(head).or_else(|| id_from_end(tail))
}

/// Scans forward from the start of the line.
fn id_from_start(bytes: &[u8]) -> Option<String> {
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.checked_sub(1)?,
            b'"' => {
                let mut end = i + 1;
                loop {
                    match *bytes.get(end)? {
                        b'\\' => end += 2,
                        b'"' => break,
                        _ => end += 1,
                    }
                }
                if depth == 1
                    && &bytes[i + 1..end] == b"id"
                    && let Some(id) = id_value(&bytes[end + 1..])
                {
                    return Some(id);
                }
                i = end;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Scans backward from the end of the line (where the bytes start is unknown: a string cut
/// there ends the search).
fn id_from_end(bytes: &[u8]) -> Option<String> {
    // A quote is escaped when an odd number of backslashes precede it; unknown if they run
    // back to the start.
    let escaped = |at: usize| {
        let run = bytes[..at]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        (run < at).then_some(run % 2 == 1)
    };
    let mut depth = 0usize;
    let mut i = bytes.len();
    while i > 0 {
        i -= 1;
        match bytes[i] {
            b'}' | b']' => depth += 1,
            b'{' | b'[' => depth = depth.checked_sub(1)?,
            // Outside strings, a quote closes one: find where it opens.
            b'"' => {
                let mut open = i;
                loop {
                    open = open.checked_sub(1)?;
                    if bytes[open] == b'"' && !escaped(open)? {
                        break;
                    }
                }
                if depth == 1
                    && &bytes[open + 1..i] == b"id"
                    && let Some(id) = id_value(&bytes[i + 1..])
                {
                    return Some(id);
                }
                i = open;
            }
            _ => {}
        }
    }
    None
}

/// After a key `"id"`: its value as rmcp reads a request id (an integer, possibly written as
/// `1.0` or `1e2`, or a string), as JSON; `None` if the key is not followed by `:` (so not a key).
fn id_value(rest: &[u8]) -> Option<String> {
    let start = rest.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = rest[start..].strip_prefix(b":")?;
    let mut values = serde_json::Deserializer::from_slice(rest).into_iter::<RequestId>();
    let id = values.next()?.ok()?;
    // A number that runs to the end of the bytes may go on past them.
    if values.byte_offset() == rest.len() {
        return None;
    }
    serde_json::to_string(&id).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_ids_at_either_end() {
        assert_eq!(
            find_id(br#"{"jsonrpc":"2.0","id":17,"method":"x""#, b"").as_deref(),
            Some("17")
        );
        assert_eq!(
            find_id(b"", br#"xxxx"},"jsonrpc":"2.0","id":"abc"}"#).as_deref(),
            Some("\"abc\"")
        );
        assert_eq!(find_id(br#"{"method":"x","params":{"#, b""), None);
        // rmcp reads `1e2` as 100 and `3.0` as 3; a string id may hold escapes.
        assert_eq!(find_id(br#"{"id":1e2,"#, b"").as_deref(), Some("100"));
        assert_eq!(find_id(b"", br#"x","id":3.0}"#).as_deref(), Some("3"));
        assert_eq!(
            find_id(br#"{"id":"a\"b","#, b"").as_deref(),
            Some(r#""a\"b""#)
        );
        // A number cut at the end of the head may be longer.
        assert_eq!(find_id(br#"{"id":12"#, b""), None);
    }

    /// A key `id` inside `params` is not the request's: the answer must reach the sender.
    #[tokio::test(flavor = "current_thread")]
    async fn the_stand_in_carries_the_requests_own_id() {
        let payload = "a".repeat(100);
        for line in [
            format!(
                r#"{{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{{"arguments":{{"blob":"{payload}","id":"nested"}}}}}}"#
            ),
            format!(
                r#"{{"jsonrpc":"2.0","method":"tools/call","params":{{"arguments":{{"id":9,"blob":"{payload}"}}}},"id":4}}"#
            ),
            format!(
                r#"{{"jsonrpc":"2.0","method":"tools/call","params":{{"arguments":{{"blob":"{payload}","x":"\"id\":7"}}}},"id":4}}"#
            ),
        ] {
            let mut out = Vec::new();
            pump(format!("{line}\n").as_bytes(), &mut out, 64).await;
            let answer: serde_json::Value = serde_json::from_slice(&out).unwrap();
            assert_eq!(answer["id"], 4, "{line}");
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn lines_over_the_limit_are_replaced() {
        let big = format!(
            "{{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\",\"params\":{{\"x\":\"{}\"}},\"id\":4}}\n",
            "a".repeat(100)
        );
        let input = format!("{{\"small\":1}}\n{big}{{\"small\":2}}\n");
        let mut out = Vec::new();
        pump(input.as_bytes(), &mut out, 64).await;
        let out = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 3, "{out}");
        assert_eq!(lines[0], "{\"small\":1}");
        assert!(
            lines[1].contains("\"id\":4") && lines[1].contains(TOO_LARGE_METHOD),
            "{}",
            lines[1]
        );
        assert!(
            lines[1].contains(&format!("\"size\":{}", big.len() - 1)),
            "{}",
            lines[1]
        );
        assert_eq!(lines[2], "{\"small\":2}");
    }
}

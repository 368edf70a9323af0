//! MCP over stdio: newline-delimited JSON-RPC on stdin/stdout, nothing else on stdout.

use rmcp::ServiceExt;
use rmcp::transport::async_rw::AsyncRwTransport;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

use super::handler::{Handler, TOO_LARGE_METHOD};

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
            } else {
                out.write_all(&line).await
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

/// The request that stands in for a line that is too large.
#[doc(hidden)]
pub fn too_large(head: &[u8], tail: &[u8], size: usize, limit: usize) -> String {
    match find_id(tail).or_else(|| find_id(head)) {
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

/// The value of the last `"id":` key in `bytes` when it is a number or a simple string.
#[doc(hidden)]
pub fn find_id(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let at = text.rfind("\"id\"")?;
    let rest = text[at + 4..].trim_start().strip_prefix(':')?.trim_start();
    if let Some(s) = rest.strip_prefix('"') {
        let end = s.find('"')?;
        let id = &s[..end];
        return (!id.contains('\\')).then(|| format!("\"{id}\""));
    }
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '-'))
        .unwrap_or(rest.len());
    let id = &rest[..end];
    (!id.is_empty() && id.parse::<i64>().is_ok()).then(|| id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_ids_at_either_end() {
        assert_eq!(
            find_id(br#"{"jsonrpc":"2.0","id":17,"method":"x""#).as_deref(),
            Some("17")
        );
        assert_eq!(
            find_id(br#"xxxx"},"jsonrpc":"2.0","id":"abc"}"#).as_deref(),
            Some("\"abc\"")
        );
        assert_eq!(find_id(br#"{"method":"x","params":{"#), None);
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

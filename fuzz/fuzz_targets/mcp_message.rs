//! Bytes → what `compozy mcp` decodes: stdin through compozy's line pump (with its size cap),
//! then each line as rmcp decodes a client message. A panic anywhere is a bug, and so is a
//! stand-in for an oversized line that is not JSON.

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rmcp::model::ClientJsonRpcMessage;

/// A small cap, so that inputs of a few hundred bytes reach the oversized-line path.
const LIMIT: usize = 64;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a tokio runtime")
    })
}

/// As rmcp's stdio transport: without `\n`, a trailing `\r` and a BOM; blank lines skipped.
fn decode(line: &[u8]) -> Option<Result<ClientJsonRpcMessage, serde_json::Error>> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    (!line.is_empty()).then(|| serde_json::from_slice(line))
}

/// The id of a request, as rmcp reads it.
fn request_id(line: &[u8]) -> Option<rmcp::model::RequestId> {
    match decode(line)? {
        Ok(rmcp::model::JsonRpcMessage::Request(request)) => Some(request.id),
        _ => None,
    }
}

fn is_json(line: &[u8]) -> bool {
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    serde_json::from_slice::<serde_json::Value>(line).is_ok()
}

fuzz_target!(|data: &[u8]| {
    // The first byte picks the read size, so that lines arrive split in many ways.
    let Some((&chunk, data)) = data.split_first() else {
        return;
    };
    for line in data.split_inclusive(|&b| b == b'\n') {
        if let Some(Ok(message)) = decode(line) {
            serde_json::to_string(&message).expect("a decoded message serializes");
        }
    }

    let mut out = Vec::new();
    let reader = tokio::io::BufReader::with_capacity(usize::from(chunk).max(1), data);
    runtime().block_on(compozy::mcp::pump(reader, &mut out, LIMIT));
    // Every complete input line gives one output line: itself, or a stand-in when too long.
    let lines: Vec<&[u8]> = data.split_inclusive(|&b| b == b'\n').collect();
    let outs: Vec<&[u8]> = out.split_inclusive(|&b| b == b'\n').collect();
    let complete = lines.iter().filter(|l| l.ends_with(b"\n")).count();
    assert!(
        outs.len() == complete || outs.len() == complete + 1,
        "{} lines for {complete}",
        outs.len()
    );
    for (line, out) in lines.iter().zip(&outs) {
        if line.len() <= LIMIT + 1 {
            assert_eq!(line, out, "a line under the cap is passed on as it is");
        } else if line.ends_with(b"\n") && is_json(line) {
            // A long line that is JSON gets a stand-in that is JSON too (rmcp answers it, while it
            // drops a line that is not JSON); one that is a JSON-RPC request with an id, a request.
            let stand_in: serde_json::Value =
                serde_json::from_slice(out).expect("the stand-in for a JSON line is JSON");
            if let Some(id) = request_id(line)
                && stand_in.get("id").is_some()
            {
                serde_json::from_slice::<ClientJsonRpcMessage>(out)
                    .expect("the stand-in for a request decodes as a request");
                // ... and carries the request's own id, so that its answer reaches the sender.
                assert_eq!(request_id(out), Some(id), "the stand-in's id");
            }
        }
    }
});

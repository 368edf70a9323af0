//! A worker's answer as an MCP `tools/call` result.

use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::Value;

use crate::runtime::Response;

/// The result a client sees: a thrown error, a timeout or an output-schema break is
/// `isError: true` with the error's name and message; a string result is one text block; any
/// other result is `structuredContent` plus the same JSON as a text block (rmcp keeps only the
/// text block for a client of the 2025 era when the result is not an object, as that era wants).
///
/// A tool declared `returns: content` answers with its own content blocks (and
/// `structuredContent`), already checked by the server.
pub fn to_result(response: &Response, returns_content: bool) -> CallToolResult {
    if let Some(error) = &response.error {
        return CallToolResult::error(vec![ContentBlock::text(format!(
            "{}: {}",
            error.name, error.message
        ))]);
    }
    if returns_content {
        let blocks = response
            .result_value()
            .map_err(|e| e.to_string())
            .and_then(|result| {
                let (blocks, structured) = super::content::split(&result)?;
                let blocks: Vec<ContentBlock> =
                    serde_json::from_value(Value::Array(blocks.to_vec()))
                        .map_err(|e| e.to_string())?;
                Ok((blocks, structured.cloned()))
            });
        return match blocks {
            Ok((blocks, structured)) => {
                let mut result = CallToolResult::success(blocks);
                result.structured_content = structured;
                result
            }
            Err(e) => CallToolResult::error(vec![ContentBlock::text(format!(
                "InvalidOutputError: the result is not valid MCP content: {e}"
            ))]),
        };
    }
    match response.result_value() {
        Ok(Value::String(text)) => CallToolResult::success(vec![ContentBlock::text(text)]),
        Ok(value) => CallToolResult::structured(value),
        Err(e) => CallToolResult::error(vec![ContentBlock::text(format!(
            "WorkerError: the result is not valid JSON: {e}"
        ))]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ok(result: &str) -> Response {
        let mut r = Response::failure(Value::Null, None, None, "X", String::new(), Duration::ZERO);
        r.error = None;
        r.result = serde_json::value::RawValue::from_string(result.to_owned()).unwrap();
        r
    }

    fn to_result_json(r: &Response) -> CallToolResult {
        to_result(r, false)
    }

    fn json(result: &CallToolResult) -> Value {
        serde_json::to_value(result).unwrap()
    }

    #[test]
    fn strings_are_one_text_block() {
        let r = json(&to_result_json(&ok(r#""hello""#)));
        assert_eq!(
            r["content"],
            serde_json::json!([{"type": "text", "text": "hello"}])
        );
        assert!(r.get("structuredContent").is_none());
        assert_ne!(r["isError"], true);
    }

    #[test]
    fn other_values_are_structured_and_text() {
        let r = json(&to_result_json(&ok(r#"{"a":1}"#)));
        assert_eq!(r["structuredContent"], serde_json::json!({"a": 1}));
        assert_eq!(r["content"][0]["text"], r#"{"a":1}"#);
        let r = json(&to_result_json(&ok("3")));
        assert_eq!(r["structuredContent"], 3);
    }

    #[test]
    fn errors_are_is_error_with_name_and_message() {
        let failed = Response::failure(
            Value::Null,
            Some("t".into()),
            None,
            "TimeoutError",
            "tool `t` did not finish within 300ms".into(),
            Duration::ZERO,
        );
        let r = json(&to_result(&failed, false));
        assert_eq!(r["isError"], true);
        assert_eq!(
            r["content"][0]["text"],
            "TimeoutError: tool `t` did not finish within 300ms"
        );
    }
}

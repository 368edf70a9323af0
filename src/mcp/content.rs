//! Results of tools declared `returns: content`: MCP content as the tool wrote it, an array of
//! blocks or `{content: [...], structuredContent?: …}`, checked before anyone sees it.

use base64::Engine as _;
use serde_json::{Map, Value};

/// The kinds of block a tool may return.
const KINDS: &[&str] = &["text", "image", "audio", "resource_link", "resource"];

/// The content blocks and structured content of a `returns: content` result, or what is wrong
/// with it (naming the block: `content[1] (image): …`).
pub fn split(result: &Value) -> Result<(&[Value], Option<&Value>), String> {
    let (blocks, structured) = match result {
        Value::Array(blocks) => (blocks.as_slice(), None),
        Value::Object(object) => {
            if let Some(key) = object
                .keys()
                .find(|k| !matches!(k.as_str(), "content" | "structuredContent"))
            {
                return Err(format!(
                    "a content result has `content` and optionally `structuredContent`, not \
                     `{key}`"
                ));
            }
            match object.get("content") {
                Some(Value::Array(blocks)) => (blocks.as_slice(), object.get("structuredContent")),
                Some(_) => return Err("`content` must be an array of content blocks".into()),
                None => return Err("a content result needs `content: [...]`".into()),
            }
        }
        other => {
            return Err(format!(
                "a tool declared `returns: content` returns an array of content blocks or \
                 `{{content: [...], structuredContent?}}`, not {}",
                kind_of(other)
            ));
        }
    };
    for (i, block) in blocks.iter().enumerate() {
        check_block(block).map_err(|why| {
            let kind = block["type"].as_str().unwrap_or("?");
            format!("content[{i}] ({kind}): {why}")
        })?;
    }
    if let Some(s) = structured
        && !s.is_object()
    {
        return Err(format!(
            "`structuredContent` must be an object, not {}",
            kind_of(s)
        ));
    }
    Ok((blocks, structured))
}

/// Checks a whole result (for `exec` and `serve`, which pass it on as it is).
pub fn check(result: &Value) -> Result<(), String> {
    split(result).map(|_| ())
}

fn check_block(block: &Value) -> Result<(), String> {
    let Value::Object(b) = block else {
        return Err(format!(
            "a content block is an object, not {}",
            kind_of(block)
        ));
    };
    let Some(kind) = b.get("type").and_then(Value::as_str) else {
        return Err(format!(
            "a content block needs `type` (one of {})",
            KINDS.join(", ")
        ));
    };
    match kind {
        "text" => {
            string(b, "text")?;
        }
        "image" | "audio" => {
            base64_field(b, "data")?;
            let mime = string(b, "mimeType")?;
            if !mime.starts_with(&format!("{kind}/")) {
                return Err(format!(
                    "`mimeType` of an {kind} block is `{kind}/…`, not `{mime}`"
                ));
            }
        }
        "resource_link" => {
            uri(b)?;
            string(b, "name")?;
        }
        "resource" => {
            let Some(Value::Object(r)) = b.get("resource") else {
                return Err("needs `resource: {uri, text | blob, mimeType?}`".into());
            };
            uri(r)?;
            match (r.get("text"), r.get("blob")) {
                (Some(Value::String(_)), None) => {}
                (None, Some(_)) => base64_field(r, "blob")?,
                _ => {
                    return Err("`resource` has either `text` (a string) or `blob` (base64)".into());
                }
            }
        }
        other => {
            let help = crate::suggest::did_you_mean(other, KINDS.iter().copied())
                .unwrap_or_else(|| format!("the types are {}", KINDS.join(", ")));
            return Err(format!("unknown content type `{other}`; {help}"));
        }
    }
    Ok(())
}

fn string<'a>(b: &'a Map<String, Value>, key: &str) -> Result<&'a str, String> {
    match b.get(key) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!("`{key}` must be a string, not {}", kind_of(other))),
        None => Err(format!("`{key}` is missing")),
    }
}

fn uri(b: &Map<String, Value>) -> Result<(), String> {
    let uri = string(b, "uri")?;
    match uri.split_once(':') {
        Some((scheme, _))
            if !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')) =>
        {
            Ok(())
        }
        _ => Err(format!(
            "`uri` `{uri}` is not a URI (`file:///…`, `https://…`)"
        )),
    }
}

fn base64_field(b: &Map<String, Value>, key: &str) -> Result<(), String> {
    let data = string(b, key)?;
    base64::engine::general_purpose::STANDARD
        .decode(data)
        .map(|_| ())
        .map_err(|e| format!("`{key}` is not base64 ({e}); encode the bytes as base64"))
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_kind_passes() {
        let result = json!([
            {"type": "text", "text": "hi"},
            {"type": "image", "data": "iVBORw0KGgo=", "mimeType": "image/png"},
            {"type": "audio", "data": "UklGRg==", "mimeType": "audio/wav"},
            {"type": "resource_link", "uri": "file:///a.txt", "name": "a.txt"},
            {"type": "resource", "resource": {"uri": "mem://x", "text": "x", "mimeType": "text/plain"}},
            {"type": "resource", "resource": {"uri": "mem://y", "blob": "AAEC"}},
        ]);
        assert_eq!(check(&result), Ok(()));
        let wrapped = json!({"content": result, "structuredContent": {"n": 1}});
        let (blocks, structured) = split(&wrapped).unwrap();
        assert_eq!(blocks.len(), 6);
        assert_eq!(structured, Some(&json!({"n": 1})));
    }

    #[test]
    fn malformed_blocks_are_named() {
        let bad = |v: Value| check(&v).unwrap_err();
        assert_eq!(
            bad(
                json!([{"type": "text", "text": "ok"}, {"type": "image", "data": "not base64!", "mimeType": "image/png"}])
            ),
            "content[1] (image): `data` is not base64 (Invalid symbol 32, offset 3.); encode the bytes as base64"
        );
        assert!(
            bad(json!([{"type": "audio", "data": "AA==", "mimeType": "image/png"}]))
                .contains("`audio/…`")
        );
        assert!(bad(json!([{"type": "imgae"}])).contains("did you mean `image`?"));
        assert!(bad(json!({"content": []   , "extra": 1})).contains("not `extra`"));
        assert!(bad(json!(42)).contains("not a number"));
        assert!(
            bad(json!([{"type": "resource_link", "uri": "nope", "name": "n"}]))
                .contains("not a URI")
        );
    }
}

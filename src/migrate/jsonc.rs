//! Deno's configuration files are JSONC: comments and trailing commas are allowed. They are
//! blanked out (replaced by spaces, newlines kept) so that serde_json reads the rest and every
//! error and key keeps its line and column.

use super::error::MigrateError;
use crate::diagnostic::Problem;
use crate::source::SourceFile;

/// `text` with comments and trailing commas replaced by spaces (same length, same lines).
pub fn blank(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = bytes.to_vec();
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
            continue;
        }
        match (b, bytes.get(i + 1)) {
            (b'"', _) => in_string = true,
            (b'/', Some(b'/')) => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    out[i] = b' ';
                    i += 1;
                }
                continue;
            }
            (b'/', Some(b'*')) => {
                let end = text[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |e| i + 2 + e + 2);
                for byte in &mut out[i..end] {
                    if *byte != b'\n' {
                        *byte = b' ';
                    }
                }
                i = end;
                continue;
            }
            (b',', _) => {
                // A comma followed (past blanks and comments) by `}` or `]` is a trailing one.
                let rest = blank_prefix(&text[i + 1..]);
                if rest.starts_with('}') || rest.starts_with(']') {
                    out[i] = b' ';
                }
            }
            _ => {}
        }
        i += 1;
    }
    // Only ASCII bytes outside strings were replaced by spaces: still UTF-8.
    String::from_utf8(out).unwrap_or_else(|_| text.to_owned())
}

/// `text` past leading whitespace and comments.
fn blank_prefix(mut text: &str) -> &str {
    loop {
        text = text.trim_start();
        if let Some(rest) = text.strip_prefix("//") {
            text = rest.find('\n').map_or("", |e| &rest[e..]);
        } else if let Some(rest) = text.strip_prefix("/*") {
            text = rest.find("*/").map_or("", |e| &rest[e + 2..]);
        } else {
            return text;
        }
    }
}

/// Parses a JSONC file (comments and trailing commas allowed), keeping the order of keys.
pub fn parse(file: &SourceFile) -> Result<serde_json::Value, Problem> {
    serde_json::from_str(&blank(&file.text)).map_err(|e| {
        Problem::new(MigrateError::Json {
            file: file.name.clone(),
            message: e.to_string(),
        })
        .at_line(file, e.line(), e.column().max(1), "here")
    })
}

/// The byte offset of the key `key` (its opening quote) at or after `from`, if written plainly.
pub fn key_offset(text: &str, from: usize, key: &str) -> Option<usize> {
    let quoted = serde_json::to_string(key).ok()?;
    let mut start = from;
    while let Some(found) = text.get(start..)?.find(&quoted) {
        let at = start + found;
        if text[at + quoted.len()..].trim_start().starts_with(':') {
            return Some(at);
        }
        start = at + quoted.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_trailing_commas_become_blanks() {
        let text =
            "{\n  // a comment, with a comma\n  \"a\": \"//not\", /* x */\n  \"b\": [1, 2,],\n}\n";
        let blanked = blank(text);
        assert_eq!(blanked.len(), text.len());
        assert_eq!(blanked.lines().count(), text.lines().count());
        let value: serde_json::Value = serde_json::from_str(&blanked).unwrap();
        assert_eq!(value, serde_json::json!({"a": "//not", "b": [1, 2]}));
    }

    #[test]
    fn keys_are_found_after_an_offset() {
        let text = r#"{"a": {"x": 1}, "imports": {"x": "./x.ts"}}"#;
        let imports = key_offset(text, 0, "imports").unwrap();
        assert_eq!(key_offset(text, imports, "x"), Some(28));
        assert_eq!(key_offset(text, 0, "x"), Some(7));
    }
}

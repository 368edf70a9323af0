//! Source files held in memory so that diagnostics can show code frames.

use std::path::PathBuf;
use std::sync::Arc;

use miette::{NamedSource, SourceOffset, SourceSpan};

/// A file's text with the name it is shown under in messages.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Absolute path on disk.
    pub path: PathBuf,
    /// The name used in messages (relative to the project root when possible).
    pub name: String,
    /// The file's contents.
    pub text: Arc<String>,
}

impl SourceFile {
    /// Wraps already-read text.
    pub fn new(path: PathBuf, name: String, text: String) -> Self {
        Self {
            path,
            name,
            text: Arc::new(text),
        }
    }

    /// A miette source for code frames.
    pub fn named(&self) -> NamedSource<Arc<String>> {
        let lang = match self.path.extension().and_then(|e| e.to_str()) {
            Some("yaml" | "yml") => "YAML",
            Some("ts" | "mts" | "cts") => "TypeScript",
            Some("tsx") => "TSX",
            _ => "JavaScript",
        };
        NamedSource::new(&self.name, Arc::clone(&self.text)).with_language(lang)
    }

    /// The span of one character (or the rest of the word) at a 1-based line and column.
    pub fn span_at(&self, line: usize, column: usize) -> SourceSpan {
        if line == 0 {
            return SourceSpan::new(0.into(), 0);
        }
        let offset = SourceOffset::from_location(self.text.as_str(), line, column.max(1)).offset();
        let rest = &self.text[offset.min(self.text.len())..];
        let len = rest
            .find(|c: char| c.is_whitespace() || c == ':' || c == ',')
            .unwrap_or(rest.len())
            .max(usize::from(!rest.is_empty()));
        SourceSpan::new(offset.into(), len)
    }

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        line_col(&self.text, offset)
    }
}

/// 1-based line and column (in characters) of a byte offset in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

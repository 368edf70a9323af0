//! A YAML document as a tree of nodes that remember where they were written.
//!
//! Each file is parsed once into this tree; the raw shapes (`read`), the key checks and the JSON
//! Schema checks all read it. A typed serde struct would stop at its first unknown key or wrong
//! type, and would lose the position of every key inside a JSON Schema.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

use super::error::ConfigError;
use crate::diagnostic::Problem;
use crate::source::SourceFile;

/// One YAML node and where it is.
#[derive(Debug, Clone)]
pub struct Node {
    /// What the node holds.
    pub kind: Kind,
    /// Where the node is used (for an alias, the `*alias` token).
    pub at: Location,
    /// Where the node is written (for an alias, the anchored node).
    pub defined: Location,
}

/// The value of a node; scalars are resolved as YAML 1.2 (only `true`/`false` are booleans).
#[derive(Debug, Clone)]
pub enum Kind {
    /// `null`, `~` or nothing.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// An integer that fits `i64`.
    Int(i64),
    /// A larger non-negative integer.
    UInt(u64),
    /// A floating-point number.
    Float(f64),
    /// Any other scalar.
    String(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in the order written.
    Map(Vec<Entry>),
}

/// One `key: value` of a mapping.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The key (non-string scalar keys as written, e.g. `8080`).
    pub key: String,
    /// Where the key is.
    pub key_at: Location,
    /// The value.
    pub value: Node,
}

impl Node {
    /// The entries of a mapping, or `None` for any other node.
    pub fn entries(&self) -> Option<&[Entry]> {
        match &self.kind {
            Kind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// The value of `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries()?
            .iter()
            .find(|e| e.key == key)
            .map(|e| &e.value)
    }

    /// What kind of node this is, in words ("a list", "a string").
    pub fn what(&self) -> &'static str {
        match self.kind {
            Kind::Null => "nothing",
            Kind::Bool(_) => "a boolean",
            Kind::Int(_) | Kind::UInt(_) | Kind::Float(_) => "a number",
            Kind::String(_) => "a string",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }

    /// A scalar as the string a string-typed field gets: strings as they are, numbers and
    /// booleans as written in the file (`1.10` stays `1.10`). `None` for null and collections.
    pub fn scalar_text(&self, source: &str) -> Option<String> {
        let written = || {
            let span = self.defined.span();
            let start = usize::try_from(span.byte_offset()?).ok()?;
            let len = usize::try_from(span.byte_len()?).ok()?;
            source.get(start..start + len).map(str::to_owned)
        };
        match &self.kind {
            Kind::String(s) => Some(s.clone()),
            Kind::Bool(b) => Some(written().unwrap_or_else(|| b.to_string())),
            Kind::Int(i) => Some(written().unwrap_or_else(|| i.to_string())),
            Kind::UInt(u) => Some(written().unwrap_or_else(|| u.to_string())),
            Kind::Float(f) => Some(written().unwrap_or_else(|| f.to_string())),
            Kind::Null | Kind::Seq(_) | Kind::Map(_) => None,
        }
    }

    /// The node as JSON, the way serde_json would have read the YAML (a non-finite float,
    /// which JSON cannot hold, becomes `null`).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match &self.kind {
            Kind::Null => Value::Null,
            Kind::Bool(b) => Value::Bool(*b),
            Kind::Int(i) => Value::from(*i),
            Kind::UInt(u) => Value::from(*u),
            Kind::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Kind::String(s) => Value::String(s.clone()),
            Kind::Seq(items) => Value::Array(items.iter().map(Node::to_json).collect()),
            Kind::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.to_json()))
                    .collect(),
            ),
        }
    }
}

/// 1-based line and column of a location (0, 0 when unknown).
pub fn line_col(loc: Location) -> (usize, usize) {
    (
        usize::try_from(loc.line()).unwrap_or(0),
        usize::try_from(loc.column()).unwrap_or(0),
    )
}

/// A location at a 1-based line and column (of another kind of file, read into this tree).
pub fn location((line, column): (usize, usize)) -> Location {
    // serde_saphyr makes a Location only by deserialising one.
    serde_json::from_value(serde_json::json!({"line": line, "column": column}))
        .unwrap_or(Location::UNKNOWN)
}

/// Parses a file as YAML 1.2; `None` for an empty document.
pub fn parse(file: &SourceFile) -> Result<Option<Node>, Problem> {
    let options = serde_saphyr::options! {
        strict_booleans: true,
        with_snippet: false,
    };
    serde_saphyr::from_str_with_options::<Option<Node>>(&file.text, options)
        .map_err(|err| syntax_problem(file, &err))
}

/// A syntax error where it is written, or where it comes from when the parser noticed it later:
/// a tab in the indentation, a `[` or `{` never closed.
fn syntax_problem(file: &SourceFile, err: &serde_saphyr::Error) -> Problem {
    let message = yaml_message(err);
    let (line, column) = match err.location() {
        Some(loc) if loc.line() > 0 => {
            let (line, column) = line_col(loc);
            (line, column.max(1))
        }
        _ => {
            return Problem::new(ConfigError::Yaml { message }).at_line(file, 1, 1, "in this file");
        }
    };
    let error_at = file.span_at(line, column).offset();
    let hints = super::yaml_hints::scan(&file.text, error_at);
    if let Some(tab) = hints.tab {
        let (tab_line, _) = file.line_col(tab);
        return Problem::new(ConfigError::TabIndent { line: tab_line }).at_span(
            file,
            (tab, 1).into(),
            "a tab",
        );
    }
    match hints.open.last() {
        // The parser's own "unclosed bracket" already points at it.
        Some(&(open, bracket)) if open != error_at => {
            let close = if bracket == '[' { ']' } else { '}' };
            let what = if bracket == '[' { "list" } else { "mapping" };
            let message = format!("`{bracket}` is never closed ({message})");
            Problem::new(ConfigError::UnclosedFlow { message, close })
                .at_span(
                    file,
                    (open, 1).into(),
                    &format!("this {what} is never closed"),
                )
                .with_related(
                    Problem::note("the parser noticed it here").at_line(file, line, column, "here"),
                )
        }
        _ => Problem::new(ConfigError::Yaml { message }).at_line(file, line, column, "here"),
    }
}

/// The error text without serde-saphyr's own position suffix (the code frame shows it).
fn yaml_message(err: &serde_saphyr::Error) -> String {
    let text = err.without_snippet().to_string();
    let first = text.lines().next().unwrap_or_default().trim();
    match first.rfind(" at line ") {
        Some(i) => first[..i].to_owned(),
        None => first.to_owned(),
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Kind>::deserialize(deserializer)?;
        Ok(Node {
            kind: spanned.value,
            at: spanned.referenced,
            defined: spanned.defined,
        })
    }
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KindVisitor)
    }
}

struct KindVisitor;

impl<'de> Visitor<'de> for KindVisitor {
    type Value = Kind;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Kind, E> {
        Ok(Kind::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Kind, D::Error> {
        Kind::deserialize(deserializer)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Kind, E> {
        Ok(Kind::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Kind, E> {
        Ok(Kind::Int(v))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Kind, E> {
        match i64::try_from(v) {
            Ok(i) => Ok(Kind::Int(i)),
            Err(_) => match u64::try_from(v) {
                Ok(u) => Ok(Kind::UInt(u)),
                // Beyond what JSON numbers hold exactly; as serde_json does, a float.
                Err(_) => Ok(Kind::Float(v as f64)),
            },
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Kind, E> {
        Ok(i64::try_from(v).map_or(Kind::UInt(v), Kind::Int))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Kind, E> {
        match u64::try_from(v) {
            Ok(u) => self.visit_u64(u),
            Err(_) => Ok(Kind::Float(v as f64)),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Kind, E> {
        Ok(Kind::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Kind, E> {
        Ok(Kind::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Kind, E> {
        Ok(Kind::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Kind, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Kind::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Kind, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let value = map.next_value::<Node>()?;
            entries.push(Entry {
                key: key.value,
                key_at: key.referenced,
                value,
            });
        }
        Ok(Kind::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(text: &str) -> Node {
        let file = SourceFile::new("t.yaml".into(), "t.yaml".into(), text.to_owned());
        parse(&file).expect("parses").expect("not empty")
    }

    #[test]
    fn keys_and_values_keep_their_positions() {
        let node = tree("a: 1\nb:\n  c: [x, {d: y}]\n");
        let b = &node.entries().unwrap()[1];
        assert_eq!((b.key.as_str(), line_col(b.key_at)), ("b", (2, 1)));
        let c = &b.value.entries().unwrap()[0];
        assert_eq!(line_col(c.key_at), (3, 3));
        let Kind::Seq(items) = &c.value.kind else {
            panic!("a list: {c:?}")
        };
        assert_eq!(line_col(items[1].at), (3, 10));
        let d = &items[1].entries().unwrap()[0];
        assert_eq!((d.key.as_str(), line_col(d.key_at)), ("d", (3, 11)));
    }

    #[test]
    fn scalars_are_yaml_1_2_and_keep_their_spelling() {
        let text = "a: on\nb: 1.10\nc: true\nd: 0x1F\ne: ~\n8080: x\n";
        let node = tree(text);
        let texts: Vec<Option<String>> = node
            .entries()
            .unwrap()
            .iter()
            .map(|e| e.value.scalar_text(text))
            .collect();
        assert_eq!(
            texts,
            [
                Some("on"),
                Some("1.10"),
                Some("true"),
                Some("0x1F"),
                None,
                Some("x")
            ]
            .map(|s| s.map(str::to_owned))
        );
        assert_eq!(node.entries().unwrap()[5].key, "8080");
        assert_eq!(
            node.to_json(),
            serde_json::json!({"a": "on", "b": 1.1, "c": true, "d": 31, "e": null, "8080": "x"})
        );
    }
}

//! The kinds of JSON values a schema may accept, and small readings of keywords shared by the
//! proof and the witness search.

use serde_json::Value;

// The kinds of JSON values; numbers split by whether they are integers (as the validator's
// `integer` does: 1.0 is one).
pub(super) const NULL: u8 = 1;
pub(super) const BOOL: u8 = 2;
pub(super) const OBJ: u8 = 4;
pub(super) const ARR: u8 = 8;
pub(super) const STR: u8 = 16;
pub(super) const INT: u8 = 32;
pub(super) const FRAC: u8 = 64;
pub(super) const ALL: u8 = 127;
pub(super) const NUM: u8 = INT | FRAC;

pub(super) fn kind_of(value: &Value) -> u8 {
    match value {
        Value::Null => NULL,
        Value::Bool(_) => BOOL,
        Value::Object(_) => OBJ,
        Value::Array(_) => ARR,
        Value::String(_) => STR,
        Value::Number(n) => {
            if n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0) {
                INT
            } else {
                FRAC
            }
        }
    }
}

pub(super) fn type_kinds(value: &Value) -> Option<u8> {
    let one = |name: &str| match name {
        "null" => Some(NULL),
        "boolean" => Some(BOOL),
        "object" => Some(OBJ),
        "array" => Some(ARR),
        "string" => Some(STR),
        "integer" => Some(INT),
        "number" => Some(NUM),
        _ => None,
    };
    match value {
        Value::String(name) => one(name),
        Value::Array(names) => names
            .iter()
            .map(|n| n.as_str().and_then(one))
            .try_fold(0, |acc, k| k.map(|k| acc | k)),
        _ => None,
    }
}

/// The kinds a plain schema (its own keywords only) may accept: a superset.
pub(super) fn local_kinds(schema: &Value) -> u8 {
    match schema {
        Value::Bool(true) => ALL,
        Value::Bool(false) => 0,
        Value::Object(map) => {
            let mut kinds = ALL;
            if let Some(t) = map.get("type").and_then(type_kinds) {
                kinds &= t;
            }
            if let Some(c) = map.get("const") {
                kinds &= kind_of(c);
            }
            if let Some(Value::Array(values)) = map.get("enum") {
                kinds &= values.iter().fold(0, |acc, v| acc | kind_of(v));
            }
            kinds
        }
        _ => ALL,
    }
}

/// True when a `$ref` (or a dynamic one) appears anywhere in `value`.
pub(super) fn has_reference(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.iter().any(|(k, v)| {
            matches!(k.as_str(), "$ref" | "$dynamicRef" | "$recursiveRef") || has_reference(v)
        }),
        Value::Array(items) => items.iter().any(has_reference),
        _ => false,
    }
}

/// Keywords that never refuse a value (annotations, and places other keywords point to).
pub(super) const INERT: &[&str] = &[
    "$schema",
    "$id",
    "$anchor",
    "$dynamicAnchor",
    "$defs",
    "definitions",
    "$vocabulary",
    "$comment",
    "title",
    "description",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    // Annotations for the validator as compozy builds it (2020-12 asserts no format).
    "format",
    "contentEncoding",
    "contentMediaType",
    "contentSchema",
    // Only read beside `if` / `contains`.
    "then",
    "else",
    "minContains",
    "maxContains",
];

/// A value validated against a schema without references, standalone.
pub(super) fn plain_accepts(schema: &Value, value: &Value) -> Option<bool> {
    if has_reference(schema) {
        return None;
    }
    let mut wrapped = match schema {
        Value::Object(map) => map.clone(),
        Value::Bool(b) => return Some(*b),
        _ => return None,
    };
    // A subschema read alone is of the draft of its document (2020-12).
    wrapped.insert(
        "$schema".into(),
        Value::String("https://json-schema.org/draft/2020-12/schema".into()),
    );
    wrapped.remove("$id");
    super::accepts(&Value::Object(wrapped), value)
}

pub(super) fn kind_names(kinds: u8) -> String {
    let names = [
        (NULL, "null"),
        (BOOL, "boolean"),
        (OBJ, "object"),
        (ARR, "array"),
        (STR, "string"),
        (INT, "integer"),
        (FRAC, "non-integer number"),
    ];
    names
        .iter()
        .filter(|(k, _)| kinds & k != 0)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A count keyword's value (`minItems`, …): the validator takes `2.0` for 2.
pub(super) fn count(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < 1.8e19)
            .map(|f| f as u64)
    })
}

/// A JSON pointer segment.
pub(super) fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

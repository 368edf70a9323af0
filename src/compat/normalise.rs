//! The form a schema is kept in `compozy.lock`: keys sorted, annotations that never refuse a
//! value (`title`, `description`, `examples`, `$comment`) left out, so that the lock changes only
//! when what a tool accepts may have changed, and its diffs stay small.

use serde_json::{Map, Value};

/// Keywords whose value is a schema.
const ONE: &[&str] = &[
    "additionalProperties",
    "items",
    "contains",
    "not",
    "if",
    "then",
    "else",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
    "additionalItems",
    "contentSchema",
];
/// Keywords whose value is a list of schemas.
const LIST: &[&str] = &["allOf", "anyOf", "oneOf", "prefixItems"];
/// Keywords whose value maps names to schemas.
const MAP: &[&str] = &[
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
];
/// Annotations dropped from the lock.
const DROPPED: &[&str] = &["title", "description", "examples", "$comment"];

/// `schema` in the lock's form (it accepts exactly the same values).
pub fn normalise(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for key in keys {
                let value = &map[key];
                let k = key.as_str();
                if DROPPED.contains(&k) {
                    continue;
                }
                let normal = if ONE.contains(&k) {
                    normalise(value)
                } else if LIST.contains(&k) || (k == "items" && value.is_array()) {
                    match value {
                        Value::Array(items) => Value::Array(items.iter().map(normalise).collect()),
                        other => sorted(other),
                    }
                } else if MAP.contains(&k) {
                    match value {
                        Value::Object(m) => {
                            let mut names: Vec<&String> = m.keys().collect();
                            names.sort();
                            Value::Object(
                                names
                                    .into_iter()
                                    .map(|n| (n.clone(), normalise(&m[n])))
                                    .collect(),
                            )
                        }
                        other => sorted(other),
                    }
                } else {
                    sorted(value)
                };
                out.insert(key.clone(), normal);
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// A value (not a schema) with its object keys sorted.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&map[k])))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

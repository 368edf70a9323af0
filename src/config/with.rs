//! `with:` against the tool's own `input:` schema.
//!
//! `with:` is a partial input: it is merged under every call's input, whose top-level keys win.
//! So it is checked as a part of an input, not as a whole one: what the caller may still supply
//! is not asked of it (the root's `required` and `minProperties`, and whatever applies only
//! depending on the caller's keys: `if`/`then`/`else`, `anyOf`, `oneOf`, `not`,
//! `dependentSchemas` at the root), while every value it does give must fit — a key that
//! `additionalProperties: false` forbids, a wrong type, a `maximum` or an `enum` it misses would
//! make every call that relies on the default fail.

use jsonschema::error::ValidationErrorKind;
use jsonschema::paths::LocationSegment;
use jsonschema::{ValidationError, Validator};
use serde_json::Value;
use serde_saphyr::Location;

use super::error::ConfigError;
use super::schema::{Path as SchemaPath, plain_words};
use super::yaml::{Entry, Kind, Node, line_col};
use crate::diagnostic::Problem;
use crate::source::SourceFile;

/// The problems of `with` (the `with:` entry of a tool) against its `input:` schema, which is
/// known to be valid.
pub fn problems(schema: &Value, with: &Entry, file: &SourceFile) -> Vec<Problem> {
    // The validator `exec`, `serve` and `mcp` use, so that gen and a call agree.
    let Ok(validator) = crate::runtime::compile_schema(schema) else {
        return Vec::new();
    };
    let value = with.value.to_json();
    let mut found = Vec::new();
    for error in relevant(&validator, schema, &value) {
        let unexpected = match error.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected }
            | ValidationErrorKind::UnevaluatedProperties { unexpected } => Some(unexpected),
            _ => None,
        };
        match unexpected {
            Some(keys) => {
                for key in keys {
                    found.push(unknown_key(schema, with, file, key));
                }
            }
            None => {
                let (at, path) = locate(with, &error);
                let (reason, help) = plain_words(&error);
                found.push(problem(
                    file,
                    at,
                    ConfigError::InvalidWith { path, reason, help },
                ));
            }
        }
    }
    found
}

/// The errors a partial input is to blame for (see the module's documentation).
fn relevant<'a>(
    validator: &'a Validator,
    schema: &Value,
    value: &'a Value,
) -> Vec<ValidationError<'a>> {
    let conditional_root = schema
        .as_object()
        .is_some_and(|root| root.keys().any(|k| APPLIES_TO_ROOT.contains(&k.as_str())));
    validator
        .iter_errors(value)
        .filter(|error| {
            let at_root = error.instance_path().as_str().is_empty();
            // What the caller's keys may satisfy, or change.
            let callers_part = match error.kind() {
                ValidationErrorKind::Required { .. }
                | ValidationErrorKind::MinProperties { .. } => true,
                ValidationErrorKind::UnevaluatedProperties { .. } => conditional_root,
                _ => false,
            };
            let blamed = !(at_root && callers_part);
            blamed && !through_condition(error)
        })
        .collect()
}

/// Root keywords through which what applies to the root may depend on the caller's keys.
const APPLIES_TO_ROOT: &[&str] = &[
    "if",
    "then",
    "else",
    "anyOf",
    "oneOf",
    "not",
    "dependentSchemas",
    "dependencies",
    "allOf",
    "$ref",
    "$dynamicRef",
    "$recursiveRef",
];

/// Whether the error was found through a subschema that applies to the root object only
/// depending on its keys (`then`, a branch of `anyOf`, …): the caller's keys may change that.
fn through_condition(error: &ValidationError<'_>) -> bool {
    let mut segments = error.evaluation_path().segments();
    while let Some(segment) = segments.next() {
        let LocationSegment::Property(keyword) = segment else {
            return false;
        };
        match &*keyword {
            "if" | "then" | "else" | "anyOf" | "oneOf" | "not" | "dependentSchemas"
            | "dependencies" => return true,
            // Applied to the same object whatever its keys: look further.
            "allOf" => {
                segments.next();
            }
            "$ref" | "$dynamicRef" | "$recursiveRef" => {}
            // Into a value of the object (or a leaf keyword): no longer about the root.
            _ => return false,
        }
    }
    false
}

/// A key of `with:` that the schema does not allow.
fn unknown_key(schema: &Value, with: &Entry, file: &SourceFile, key: &str) -> Problem {
    let properties: Vec<&str> = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let help = crate::suggest::did_you_mean(key, properties.iter().copied()).unwrap_or_else(|| {
        if properties.is_empty() {
            format!("remove `{key}` from `with:`, or declare it under `input.properties`")
        } else {
            let list: Vec<String> = properties.iter().map(|p| format!("`{p}`")).collect();
            format!(
                "the input's properties are {}; remove `{key}` from `with:`, or declare it \
                 under `input.properties`",
                list.join(", ")
            )
        }
    });
    let at = with
        .value
        .entries()
        .and_then(|entries| entries.iter().find(|e| e.key == key))
        .map_or(with.key_at, |e| e.key_at);
    let mut path = SchemaPath::new("with");
    path.push_key(key);
    problem(
        file,
        at,
        ConfigError::UnknownWithKey {
            path: path.to_string(),
            help,
        },
    )
}

fn problem(file: &SourceFile, at: Location, error: ConfigError) -> Problem {
    let (line, column) = line_col(at);
    Problem::new(error).at_line(
        file,
        line.max(1),
        column.max(1),
        "does not fit the tool's `input:`",
    )
}

/// Where an error points in `with:`: the key it is under (the `with:` key itself for the whole
/// mapping), and its path (`with.precision`).
fn locate(with: &Entry, error: &ValidationError<'_>) -> (Location, String) {
    let mut path = SchemaPath::new("with");
    let mut at = with.key_at;
    let mut node: &Node = &with.value;
    for segment in error.instance_path().segments() {
        let next = match (&segment, &node.kind) {
            (LocationSegment::Index(i), Kind::Seq(items)) => {
                path.push_index(*i);
                items.get(*i).map(|item| (item.at, item))
            }
            (_, Kind::Map(entries)) => {
                let key = segment.to_string();
                path.push_key(&key);
                entries
                    .iter()
                    .find(|e| e.key == key)
                    .map(|e| (e.key_at, &e.value))
            }
            _ => None,
        };
        match next {
            Some((next_at, next)) => (at, node) = (next_at, next),
            None => break,
        }
    }
    (at, path.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `line:col: message` of every problem of `with:` (written as YAML) against `schema`.
    fn check(schema: Value, with: &str) -> Vec<String> {
        let yaml = format!("with:\n{with}");
        let file = SourceFile::new("t.yaml".into(), "t.yaml".into(), yaml);
        let node = super::super::yaml::parse(&file)
            .expect("parses")
            .expect("not empty");
        let entry = node.entries().expect("a mapping")[0].clone();
        problems(&schema, &entry, &file)
            .iter()
            .map(Problem::headline)
            .collect()
    }

    #[test]
    fn what_the_caller_may_supply_is_not_asked_of_with() {
        let schema = serde_json::json!({"type": "object", "minProperties": 3,
            "properties": {"a": {"type": "number"}, "b": {"type": "string"}},
            "required": ["a", "b"], "dependentRequired": {"a": ["b"]}});
        assert!(check(schema, "  a: 1\n").is_empty());
        // What applies depends on `mode`, which the caller may send.
        let conditional = serde_json::json!({"type": "object",
            "properties": {"mode": {"type": "string"}, "n": {"type": "number"}},
            "if": {"properties": {"mode": {"const": "small"}}},
            "then": {"properties": {"n": {"maximum": 5}}},
            "anyOf": [{"required": ["mode"]}, {"properties": {"n": {"maximum": 1}}}],
            "unevaluatedProperties": false});
        assert!(check(conditional, "  n: 7\n").is_empty());
    }

    #[test]
    fn every_value_given_must_fit() {
        let schema = serde_json::json!({"type": "object", "additionalProperties": false,
            "properties": {"precision": {"type": "integer", "maximum": 10},
                           "mode": {"enum": ["up", "down"]},
                           "opts": {"type": "object", "required": ["x"]}},
            "required": ["precision"]});
        assert_eq!(
            check(
                schema,
                "  precision: 20\n  mode: sideways\n  opts: {}\n  round: true\n  presicion: 1\n"
            ),
            [
                "t.yaml:2:3: `with.precision` does not fit the tool's `input:` schema: must be \
                 at most 10, not `20`",
                "t.yaml:3:3: `with.mode` does not fit the tool's `input:` schema: must be one \
                 of `up`, `down`, not the string `sideways`",
                // A nested value is used whole: its own `required` holds.
                "t.yaml:4:3: `with.opts` does not fit the tool's `input:` schema: \"x\" is a \
                 required property",
                "t.yaml:5:3: `with.round` is not a property of the tool's `input:` schema",
                "t.yaml:6:3: `with.presicion` is not a property of the tool's `input:` schema",
            ]
        );
    }
}

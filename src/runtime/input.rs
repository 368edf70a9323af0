//! Preparing a tool's input: `with:` defaults and JSON Schema checks.

use std::collections::HashMap;
use std::sync::Arc;

use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

/// `with:` defaults under the call's input: the call's top-level keys win.
pub fn merge_defaults(defaults: Option<&Value>, input: Value) -> Value {
    match (defaults, input) {
        (Some(Value::Object(defaults)), Value::Object(input)) => {
            let mut merged = defaults.clone();
            merged.extend(input);
            Value::Object(merged)
        }
        (_, input) => input,
    }
}

/// Every violation of `schema` by `value`, joined into one message (with JSON pointers).
pub fn check(validator: &jsonschema::Validator, value: &Value) -> Result<(), String> {
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| {
            let path = e.instance_path().to_string();
            let message = match e.kind() {
                ValidationErrorKind::Enum { options } => enum_message(e.instance(), options),
                _ => e.to_string(),
            };
            if path.is_empty() {
                message
            } else {
                format!("{path}: {message}")
            }
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// The schema keyword that marks a property's value as secret: it is never quoted in compozy's
/// messages and logs.
pub const SENSITIVE: &str = "x-compozy-sensitive";

/// The values in `value` that `schema` marks sensitive (`x-compozy-sensitive: true` on a
/// property, under `properties`, `items`, `prefixItems` and `additionalProperties`, at any
/// depth), with every string inside them: what [`redact`] takes out of a message.
pub fn sensitive_values(schema: Option<&Value>, value: &Value) -> Vec<String> {
    let mut found = Vec::new();
    if let Some(schema) = schema {
        collect_sensitive(schema, value, &mut found);
    }
    // Longest first: a secret that contains another is taken out whole.
    found.sort_by_key(|s| std::cmp::Reverse(s.len()));
    found.dedup();
    found
}

fn collect_sensitive(schema: &Value, value: &Value, found: &mut Vec<String>) {
    let Some(schema) = schema.as_object() else {
        return;
    };
    if schema.get(SENSITIVE) == Some(&Value::Bool(true)) {
        return everything(value, found);
    }
    match value {
        Value::Object(fields) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            for (key, v) in fields {
                match properties.and_then(|p| p.get(key)) {
                    Some(sub) => collect_sensitive(sub, v, found),
                    None => {
                        if let Some(sub) = schema.get("additionalProperties") {
                            collect_sensitive(sub, v, found);
                        }
                    }
                }
            }
        }
        Value::Array(items) => {
            let prefix = schema.get("prefixItems").and_then(Value::as_array);
            for (i, v) in items.iter().enumerate() {
                if let Some(sub) = prefix
                    .and_then(|p| p.get(i))
                    .or_else(|| schema.get("items"))
                {
                    collect_sensitive(sub, v, found);
                }
            }
        }
        _ => {}
    }
}

/// A sensitive value as a message could quote it: its JSON, and each string inside it, raw.
fn everything(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Null | Value::Bool(_) => {}
        Value::String(s) if s.is_empty() => {}
        Value::String(s) => found.push(s.clone()),
        Value::Number(n) => found.push(n.to_string()),
        Value::Array(items) => items.iter().for_each(|v| everything(v, found)),
        Value::Object(fields) => fields.values().for_each(|v| everything(v, found)),
    }
    if value.is_object() || value.is_array() {
        found.push(value.to_string());
    }
}

/// `value` with each value that `schema` marks sensitive replaced by `"[redacted]"`, for a log.
pub fn redacted(schema: Option<&Value>, value: &Value) -> Value {
    let secrets = sensitive_values(schema, value);
    if secrets.is_empty() {
        return value.clone();
    }
    let mut value = value.clone();
    redact_in(&mut value, &secrets);
    value
}

fn redact_in(value: &mut Value, secrets: &[String]) {
    match value {
        Value::String(s) if secrets.iter().any(|x| x == s) => *s = "[redacted]".into(),
        Value::Number(n) if secrets.contains(&n.to_string()) => {
            *value = Value::String("[redacted]".into());
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact_in(v, secrets)),
        Value::Object(fields) => fields.values_mut().for_each(|v| redact_in(v, secrets)),
        _ => {}
    }
}

/// `message` with every one of `secrets` (from [`sensitive_values`]) replaced by `[redacted]`.
pub fn redact(message: String, secrets: &[String]) -> String {
    if secrets.iter().all(|s| !message.contains(s.as_str())) {
        return message;
    }
    secrets.iter().fold(message, |m, secret| {
        m.replace(secret.as_str(), "[redacted]")
    })
}

/// [`Validators::check`] of a tool's input, whose message quotes no sensitive value.
pub fn check_input(
    validators: &mut Validators,
    tool_id: &str,
    schema: Option<&Value>,
    value: &Value,
) -> Result<(), String> {
    validators
        .check(tool_id, "input", schema, value)
        .map_err(|reason| redact(reason, &sensitive_values(schema, value)))
}

/// What a worker is told when it asks whether the input its plugins changed (`changed_by`) is
/// valid for `tool`: nothing, or the message of its `InvalidInputError`.
pub fn recheck(tool: &crate::config::Tool, input: &Value, changed_by: &str) -> Option<String> {
    let reason = check_schema(tool.input.as_ref(), input).err()?;
    let reason = redact(reason, &sensitive_values(tool.input.as_ref(), input));
    Some(format!(
        "the input (changed by {changed_by}) does not match the schema of `{}`: {reason}",
        tool.id
    ))
}

/// The answer line to a worker's question (a line that starts with
/// [`CHECK_PREFIX`](super::protocol::CHECK_PREFIX)) about the input of `tool_id`.
pub fn answer_check(project: &crate::config::Project, tool_id: &str, line: &[u8]) -> Vec<u8> {
    let refusal = match (super::protocol::parse_check(line), project.tool(tool_id)) {
        (Some(check), Some(tool)) => recheck(tool, &check.input, &check.changed_by),
        (None, _) => Some("the worker's question about a changed input is not readable".into()),
        (_, None) => None,
    };
    super::protocol::check_answer(refusal.as_deref())
}

/// How many of an `enum`'s values an error lists before "and N more".
const ENUM_SHOWN: usize = 20;

/// `"pow" is not one of "add", "sub", "mul" or "div"`, with every allowed value up to
/// [`ENUM_SHOWN`] (a caller, often a model, needs them to correct itself), and the closest one
/// when there is one.
fn enum_message(value: &Value, options: &Value) -> String {
    let options = options.as_array().map(Vec::as_slice).unwrap_or_default();
    let shown: Vec<String> = options
        .iter()
        .take(ENUM_SHOWN)
        .map(Value::to_string)
        .collect();
    let list = match shown.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        _ if options.len() > ENUM_SHOWN => {
            format!(
                "{} and {} more",
                shown.join(", "),
                options.len() - ENUM_SHOWN
            )
        }
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    };
    let mut message = format!("{value} is not one of {list}");
    if let Some(closest) = closest_option(value, options) {
        message.push_str(&format!(" (did you mean {closest}?)"));
    }
    message
}

/// The allowed value closest to `value`: the most similar string (by the measure of compozy's
/// other suggestions), or the nearest number.
fn closest_option<'a>(value: &Value, options: &'a [Value]) -> Option<&'a Value> {
    match value {
        Value::String(given) => {
            let strings = options.iter().filter_map(Value::as_str);
            let best = *crate::suggest::closest(given, strings).first()?;
            options.iter().find(|o| o.as_str() == Some(best))
        }
        Value::Number(given) => {
            let given = given.as_f64()?;
            options
                .iter()
                .filter_map(|o| Some((o, (o.as_f64()? - given).abs())))
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .map(|(o, _)| o)
        }
        _ => None,
    }
}

/// Compiles `schema` once and checks `value` against it.
pub fn check_schema(schema: Option<&Value>, value: &Value) -> Result<(), String> {
    let Some(schema) = schema else { return Ok(()) };
    check(&compile(schema)?, value)
}

/// Compiles a tool's schema, which `gen` has already checked against its meta-schema.
///
/// jsonschema checks every schema it compiles against its draft's meta-schema, with no public
/// switch to skip it, and building the default draft's (2020-12) meta-validator was 40% of an
/// `exec`'s own time (1.4 ms of 2.0 for a schema of four properties). So a schema of the default
/// draft whose root has no `$schema` or `$id` is compiled behind a root of two keys, a draft-04
/// `$ref` to it: jsonschema then checks only that root, against the far smaller draft-04
/// meta-schema, and compiles the schema itself by its own draft, at the default base URI, as it
/// would on its own (formats, as in that draft, are annotations). Any other schema, or a failure
/// on this path, takes the plain one.
pub fn compile(schema: &Value) -> Result<jsonschema::Validator, String> {
    match compile_behind(schema) {
        Some(validator) => Ok(validator),
        None => jsonschema::validator_for(schema).map_err(|e| e.to_string()),
    }
}

/// [`compile`]'s fast path; `None` where it does not apply.
fn compile_behind(schema: &Value) -> Option<jsonschema::Validator> {
    const BASE: &str = "json-schema:///";
    let root = schema.as_object()?;
    if root.is_empty() || root.contains_key("$schema") || root.contains_key("$id") {
        return None;
    }
    let resource = jsonschema::Draft::default().create_resource_ref(schema);
    let registry = referencing::Registry::new()
        .add(BASE, resource)
        .and_then(referencing::RegistryBuilder::prepare)
        .ok()?;
    let behind = serde_json::json!({
        "$schema": "http://json-schema.org/draft-04/schema#",
        "$ref": BASE,
    });
    jsonschema::options()
        .with_registry(&registry)
        .with_base_uri("json-schema:///compozy-root")
        .should_validate_formats(false)
        .build(&behind)
        .ok()
}

/// Compiled validators, by tool id and field, for callers that check many requests.
#[derive(Default)]
pub struct Validators {
    compiled: HashMap<(String, &'static str), Option<Arc<jsonschema::Validator>>>,
}

impl Validators {
    /// Checks `value` against the schema of `tool_id`'s `field` (`input` or `output`).
    pub fn check(
        &mut self,
        tool_id: &str,
        field: &'static str,
        schema: Option<&Value>,
        value: &Value,
    ) -> Result<(), String> {
        match self.get(tool_id, field, schema) {
            Some(v) => check(&v, value),
            None => check_schema(schema, value),
        }
    }

    /// The compiled validator of `tool_id`'s `field`, to check a value later (on another thread).
    pub fn get(
        &mut self,
        tool_id: &str,
        field: &'static str,
        schema: Option<&Value>,
    ) -> Option<Arc<jsonschema::Validator>> {
        self.compiled
            .entry((tool_id.to_owned(), field))
            .or_insert_with(|| schema.and_then(|s| compile(s).ok().map(Arc::new)))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The fast path must accept and reject exactly what the validator on its own does, with the
    /// same messages.
    #[test]
    fn compiled_behind_a_ref_validates_as_on_its_own() {
        let cases = [
            (
                json!({"type": "object", "properties": {"x": {"type": "number", "minimum": 0}, "tags": {"type": "array", "items": {"type": "string"}}}, "required": ["x"], "additionalProperties": false}),
                vec![
                    json!({"x": 1, "tags": ["a"]}),
                    json!({"x": -1, "y": 2}),
                    json!({"tags": [1]}),
                    json!("no"),
                ],
            ),
            // Formats are annotations in 2020-12.
            (
                json!({"type": "string", "format": "email"}),
                vec![json!("a@b.c"), json!("not an email"), json!(3)],
            ),
            (
                json!({"$defs": {"pos": {"type": "integer", "exclusiveMinimum": 0}}, "type": "object", "properties": {"n": {"$ref": "#/$defs/pos"}, "m": {"$ref": "#/definitions/neg"}}, "definitions": {"neg": {"maximum": -1}}}),
                vec![
                    json!({"n": 1, "m": -2}),
                    json!({"n": 0}),
                    json!({"m": 5}),
                    json!({"n": 1.5}),
                ],
            ),
            // A recursive schema, an anchor, a dynamic reference.
            (
                json!({"$dynamicAnchor": "node", "type": "object", "properties": {"value": {"$ref": "#num"}, "children": {"type": "array", "items": {"$dynamicRef": "#node"}}}, "$defs": {"n": {"$anchor": "num", "type": "number"}}}),
                vec![
                    json!({"value": 1, "children": [{"value": 2, "children": []}]}),
                    json!({"children": [{"value": "x"}]}),
                ],
            ),
            (
                json!({"type": "object", "properties": {"a": true}, "unevaluatedProperties": false, "dependentRequired": {"a": ["b"]}, "if": {"required": ["a"]}, "then": {"properties": {"b": {"const": 1}}}}),
                vec![
                    json!({"a": 1, "b": 1}),
                    json!({"a": 1}),
                    json!({"a": 1, "b": 2}),
                    json!({"c": 1}),
                ],
            ),
            (
                json!({"type": "array", "prefixItems": [{"type": "string"}, {"enum": [1, 2]}], "items": false, "contains": {"const": 2}, "minContains": 1}),
                vec![
                    json!(["a", 2]),
                    json!(["a", 1]),
                    json!(["a", 2, 3]),
                    json!([1, 2]),
                ],
            ),
            (
                json!({"type": "object", "propertyNames": {"pattern": "^[a-z]+$"}, "patternProperties": {"^x": {"type": "boolean"}}, "maxProperties": 2}),
                vec![
                    json!({"xa": true}),
                    json!({"xa": 1}),
                    json!({"A": 1}),
                    json!({"a": 1, "b": 2, "c": 3}),
                ],
            ),
            // A subschema with an `$id` of its own, referred to by it.
            (
                json!({"type": "object", "properties": {"item": {"$ref": "item.json"}}, "$defs": {"item": {"$id": "item.json", "type": "string", "minLength": 2}}}),
                vec![
                    json!({"item": "ab"}),
                    json!({"item": "a"}),
                    json!({"item": 3}),
                ],
            ),
        ];
        for (schema, values) in cases {
            let fast = compile_behind(&schema)
                .unwrap_or_else(|| panic!("the fast path does not apply to {schema}"));
            let plain = jsonschema::validator_for(&schema).expect("a valid schema");
            for value in values {
                assert_eq!(
                    check(&fast, &value),
                    check(&plain, &value),
                    "{schema} on {value}"
                );
            }
        }
    }

    #[test]
    fn enum_errors_list_the_allowed_values_and_the_closest() {
        let ops = json!({"properties": {"op": {"enum": ["add", "sub", "mul", "div"]},
                                        "n": {"enum": [1, 5, 10]}}});
        let v = compile(&ops).unwrap();
        assert_eq!(
            check(&v, &json!({"op": "pow"})).unwrap_err(),
            r#"/op: "pow" is not one of "add", "sub", "mul" or "div""#
        );
        assert_eq!(
            check(&v, &json!({"op": "ad", "n": 4})).unwrap_err(),
            r#"/op: "ad" is not one of "add", "sub", "mul" or "div" (did you mean "add"?); /n: 4 is not one of 1, 5 or 10 (did you mean 5?)"#
        );
        // Past the cap, the closest is still found among them all.
        let many: Vec<String> = (0..25).map(|i| format!("item-{i:02}")).collect();
        let v = compile(&json!({"enum": many})).unwrap();
        let message = check(&v, &json!("itme-23")).unwrap_err();
        let listed: Vec<String> = (0..20).map(|i| format!("\"item-{i:02}\"")).collect();
        assert_eq!(
            message,
            format!(
                r#""itme-23" is not one of {} and 5 more (did you mean "item-23"?)"#,
                listed.join(", ")
            )
        );
    }

    #[test]
    fn schemas_with_their_own_dialect_or_base_take_the_plain_path() {
        for schema in [
            json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "string"}),
            json!({"$id": "https://example.com/s.json", "type": "string"}),
            json!({}),
            json!(true),
        ] {
            assert!(compile_behind(&schema).is_none(), "{schema}");
            assert!(compile(&schema).is_ok(), "{schema}");
        }
        // Draft 7 asserts formats; the plain path keeps that.
        let v = compile(
            &json!({"$schema": "http://json-schema.org/draft-07/schema#", "format": "email"}),
        )
        .unwrap();
        assert!(check(&v, &json!("nope")).is_err());
    }
}

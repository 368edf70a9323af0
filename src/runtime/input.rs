//! Preparing a tool's input: `with:` defaults and JSON Schema checks.

use std::collections::HashMap;
use std::sync::Arc;

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
            if path.is_empty() {
                e.to_string()
            } else {
                format!("{path}: {e}")
            }
        })
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

/// Compiles `schema` once and checks `value` against it.
pub fn check_schema(schema: Option<&Value>, value: &Value) -> Result<(), String> {
    let Some(schema) = schema else { return Ok(()) };
    let validator = jsonschema::validator_for(schema).map_err(|e| e.to_string())?;
    check(&validator, value)
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
            .or_insert_with(|| schema.and_then(|s| jsonschema::validator_for(s).ok().map(Arc::new)))
            .clone()
    }
}

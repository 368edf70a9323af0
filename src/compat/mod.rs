//! Is a tool's new interface compatible with its old one?
//!
//! A change to an input schema is compatible when every value the old schema accepts, the new one
//! accepts too (old ⊆ new); a change to an output schema when every value the new one allows, the
//! old one allowed (new ⊆ old). [`subset`] proves such an inclusion over the schemas' keywords and
//! answers "yes" only when it has a proof: what it cannot decide (a changed `pattern`, `not` of
//! something it cannot separate, `$dynamicRef`, `unevaluatedProperties`, …) is "cannot prove".
//! When there is no proof, [`witness`] looks for a concrete value on the wrong side of the change
//! and keeps it only when compozy's validator (the one `exec`, `serve` and `mcp` use) confirms
//! it: accepted by one schema, refused by the other. A value is never shown unchecked.
//!
//! Only JSON Schema 2020-12 (the default draft) is read keyword by keyword; a schema of another
//! draft is compatible only when it did not change.

mod bounds;
mod cases;
mod kinds;
mod loc;
mod normalise;
mod subset;
#[cfg(test)]
mod tests;
mod witness;

use serde_json::Value;

pub use normalise::normalise;

/// A change that may break callers.
#[derive(Debug, Clone, PartialEq)]
pub struct Breaking {
    /// Where in the schema (a JSON pointer into the schema that refuses the witness, or where
    /// the proof stopped).
    pub path: String,
    /// What the change is, in words.
    pub reason: String,
    /// A value on the wrong side of the change, confirmed by the validator; `None` when the
    /// change could be neither proved compatible nor shown breaking ("cannot prove").
    pub witness: Option<Value>,
}

/// The input schema went from `old` to `new`: `None` when every value `old` accepts, `new`
/// accepts too; otherwise what breaks. An absent schema is `true` (every value).
pub fn input_change(old: &Value, new: &Value) -> Option<Breaking> {
    change(old, new, Direction::Input)
}

/// The output schema went from `old` to `new`: `None` when every value `new` allows, `old`
/// allowed too; otherwise what breaks.
pub fn output_change(old: &Value, new: &Value) -> Option<Breaking> {
    change(old, new, Direction::Output)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Input,
    Output,
}

fn change(old: &Value, new: &Value, direction: Direction) -> Option<Breaking> {
    // `inner ⊆ outer` must hold.
    let (inner, outer) = match direction {
        Direction::Input => (old, new),
        Direction::Output => (new, old),
    };
    let failure = match subset::subset(inner, outer) {
        Ok(()) => return None,
        Err(failure) => failure,
    };
    if let Some(found) = witness::find(inner, outer) {
        let reason = match direction {
            Direction::Input => format!(
                "the old input schema accepts this value and the new one refuses it ({})",
                found.refusal
            ),
            Direction::Output => format!(
                "the new output schema allows this value and the old one did not ({})",
                found.refusal
            ),
        };
        return Some(Breaking {
            path: found.path,
            reason,
            witness: Some(found.value),
        });
    }
    Some(Breaking {
        path: failure.path,
        reason: format!("cannot prove compatible: {}", failure.reason),
        witness: None,
    })
}

/// Whether `value` is valid for `schema`, by the validator `exec`, `serve` and `mcp` use; `None`
/// when the schema does not compile.
pub fn accepts(schema: &Value, value: &Value) -> Option<bool> {
    let validator = crate::runtime::compile_schema(schema).ok()?;
    Some(validator.is_valid(value))
}

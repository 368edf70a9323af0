//! The mutations a tool's schema goes through, each with its verdict; every breaking verdict
//! with a witness is checked again here with the validator.

use serde_json::{Value, json};

use super::{Breaking, accepts, input_change, output_change};

/// A breaking input change with a witness the validator confirms.
fn breaks_input(old: Value, new: Value) -> Breaking {
    let b = input_change(&old, &new).expect("a breaking change");
    let w = b
        .witness
        .clone()
        .unwrap_or_else(|| panic!("no witness: {b:?}"));
    assert_eq!(accepts(&old, &w), Some(true), "old must accept {w}");
    assert_eq!(accepts(&new, &w), Some(false), "new must refuse {w}");
    b
}

fn compatible_input(old: Value, new: Value) {
    assert_eq!(input_change(&old, &new), None, "{old} -> {new}");
}

fn city() -> Value {
    json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})
}

#[test]
fn unchanged_is_compatible() {
    compatible_input(city(), city());
    compatible_input(json!(true), json!(true));
}

#[test]
fn tightened_type() {
    let old = json!({"type": "object", "properties": {"n": {"type": ["string", "number"]}}});
    let new = json!({"type": "object", "properties": {"n": {"type": "string"}}});
    let b = breaks_input(old.clone(), new.clone());
    assert_eq!(b.path, "/properties/n/type");
    compatible_input(new, old);
    breaks_input(json!({"type": "number"}), json!({"type": "integer"}));
    compatible_input(json!({"type": "integer"}), json!({"type": "number"}));
}

#[test]
fn added_required() {
    let new = json!({"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city", "days"]});
    let b = breaks_input(city(), new.clone());
    assert_eq!(b.path, "/required");
    assert_eq!(b.witness, Some(json!({"city": ""})));
    compatible_input(new, city());
}

#[test]
fn new_optional_property() {
    // In an open object, a new typed property narrows: `days` could be anything before.
    let new = json!({"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city"]});
    let b = breaks_input(city(), new.clone());
    assert_eq!(b.path, "/properties/days/type");
    compatible_input(new, city());
    let open = json!({"type": "object", "properties": {"city": {"type": "string"}, "days": true}, "required": ["city"]});
    compatible_input(city(), open);
    // Under additionalProperties: false, an added optional property widens too.
    let closed = |props: Value| json!({"type": "object", "properties": props, "additionalProperties": false});
    compatible_input(
        closed(json!({"a": {"type": "string"}})),
        closed(json!({"a": {"type": "string"}, "b": {"type": "string"}})),
    );
}

#[test]
fn removed_property_under_additional_properties_false() {
    let closed = |props: Value| json!({"type": "object", "properties": props, "additionalProperties": false});
    let b = breaks_input(
        closed(json!({"a": {"type": "string"}, "b": {"type": "string"}})),
        closed(json!({"a": {"type": "string"}})),
    );
    assert!(b.witness.unwrap().get("b").is_some());
}

#[test]
fn added_enum_and_const() {
    let old = json!({"type": "object", "properties": {"unit": {"type": "string"}}});
    let new = json!({"type": "object", "properties": {"unit": {"enum": ["c", "f"]}}});
    breaks_input(old.clone(), new.clone());
    compatible_input(new, old.clone());
    breaks_input(
        old,
        json!({"type": "object", "properties": {"unit": {"const": "c"}}}),
    );
    // A wider enum is compatible, a narrower one not.
    compatible_input(json!({"enum": ["a"]}), json!({"enum": ["a", "b"]}));
    let b = breaks_input(json!({"enum": ["a", "b"]}), json!({"enum": ["a"]}));
    assert_eq!(b.witness, Some(json!("b")));
}

#[test]
fn narrowed_bounds() {
    let b = breaks_input(
        json!({"type": "integer", "minimum": 0}),
        json!({"type": "integer", "minimum": 1}),
    );
    assert_eq!(b.witness, Some(json!(0)));
    compatible_input(
        json!({"type": "integer", "minimum": 1}),
        json!({"type": "integer", "minimum": 0}),
    );
    breaks_input(
        json!({"type": "number", "maximum": 10}),
        json!({"type": "number", "exclusiveMaximum": 10}),
    );
    compatible_input(
        json!({"type": "number", "exclusiveMaximum": 10}),
        json!({"type": "number", "maximum": 10}),
    );
    breaks_input(
        json!({"type": "string", "maxLength": 10}),
        json!({"type": "string", "maxLength": 5}),
    );
    breaks_input(
        json!({"type": "string"}),
        json!({"type": "string", "minLength": 1}),
    );
    breaks_input(
        json!({"type": "array"}),
        json!({"type": "array", "maxItems": 1}),
    );
    breaks_input(
        json!({"type": "integer"}),
        json!({"type": "integer", "multipleOf": 2}),
    );
    compatible_input(
        json!({"type": "integer", "multipleOf": 4}),
        json!({"type": "integer", "multipleOf": 2}),
    );
}

#[test]
fn items_and_tuples() {
    breaks_input(
        json!({"type": "array", "items": {"type": ["string", "null"]}}),
        json!({"type": "array", "items": {"type": "string"}}),
    );
    compatible_input(
        json!({"type": "array", "prefixItems": [{"type": "string"}], "items": false}),
        json!({"type": "array", "items": {"type": "string"}}),
    );
    breaks_input(
        json!({"type": "array", "items": {"type": "string"}}),
        json!({"type": "array", "uniqueItems": true}),
    );
}

#[test]
fn references_are_followed() {
    let old = json!({"$defs": {"c": {"type": "string"}}, "type": "object", "properties": {"city": {"$ref": "#/$defs/c"}}});
    let new = json!({"$defs": {"c": {"type": "string", "minLength": 2}}, "type": "object", "properties": {"city": {"$ref": "#/$defs/c"}}});
    breaks_input(old.clone(), new.clone());
    compatible_input(new, old);
    // Recursive schemas: a tree whose leaves widen stays compatible.
    let tree = |leaf: Value| json!({"$defs": {"t": {"type": "object", "properties": {"v": leaf, "kids": {"type": "array", "items": {"$ref": "#/$defs/t"}}}}}, "$ref": "#/$defs/t"});
    compatible_input(
        tree(json!({"type": "integer"})),
        tree(json!({"type": "number"})),
    );
    breaks_input(
        tree(json!({"type": "number"})),
        tree(json!({"type": "integer"})),
    );
}

#[test]
fn unions() {
    let a = json!({"anyOf": [{"type": "string"}, {"type": "integer"}]});
    compatible_input(json!({"type": "string"}), a.clone());
    breaks_input(a.clone(), json!({"type": "string"}));
    compatible_input(a.clone(), json!({"type": ["string", "number"]}));
    // A discriminated oneOf.
    let shape = |kind: &str| json!({"type": "object", "properties": {"kind": {"const": kind}}, "required": ["kind"]});
    compatible_input(shape("a"), json!({"oneOf": [shape("a"), shape("b")]}));
}

#[test]
fn undecidable_is_never_compatible() {
    let b = input_change(
        &json!({"type": "string", "pattern": "^a"}),
        &json!({"type": "string", "pattern": "^b"}),
    )
    .expect("not proved compatible");
    // "a" is refused by the new pattern: a witness is found and confirmed.
    assert!(b.witness.is_some() || b.reason.starts_with("cannot prove"));
    let b = input_change(
        &json!({"type": "string", "pattern": "^a"}),
        &json!({"type": "string", "pattern": "^(a|b)"}),
    )
    .expect("a changed pattern is not proved compatible");
    assert_eq!(b.witness, None);
    assert!(
        b.reason.starts_with("cannot prove compatible"),
        "{}",
        b.reason
    );
    let b = input_change(
        &json!({"type": "object"}),
        &json!({"type": "object", "unevaluatedProperties": {"type": "string"}}),
    )
    .expect("unevaluatedProperties is not proved");
    // {"x": 0} shows it.
    assert!(b.witness.is_some());
}

#[test]
fn outputs_go_the_other_way() {
    let narrow =
        json!({"type": "object", "properties": {"t": {"type": "number"}}, "required": ["t"]});
    let wide = json!({"type": "object", "properties": {"t": {"type": ["number", "null"]}}, "required": ["t"]});
    assert_eq!(output_change(&wide, &narrow), None);
    let b = output_change(&narrow, &wide).expect("an output that allows more breaks");
    let w = b.witness.expect("a witness");
    assert_eq!(accepts(&wide, &w), Some(true));
    assert_eq!(accepts(&narrow, &w), Some(false));
}

#[test]
fn other_drafts_only_when_unchanged() {
    let old = json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": "string"});
    assert_eq!(input_change(&old, &old), None);
    let new =
        json!({"$schema": "http://json-schema.org/draft-07/schema#", "type": ["string", "null"]});
    let b = input_change(&old, &new).expect("not read keyword by keyword");
    assert!(b.reason.starts_with("cannot prove"));
}

#[test]
fn normalised_form_is_sorted_and_drops_annotations() {
    let schema = json!({"type": "object", "description": "d", "properties": {"description": {"type": "string", "title": "t"}, "a": {"type": "integer"}}});
    let normal = super::normalise(&schema);
    assert_eq!(
        serde_json::to_string(&normal).unwrap(),
        r#"{"properties":{"a":{"type":"integer"},"description":{"type":"string"}},"type":"object"}"#
    );
}

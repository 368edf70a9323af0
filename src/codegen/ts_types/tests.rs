//! Schema → TypeScript, keyword by keyword. (That the types accept every valid value is checked
//! with the real `tsc` in `tests/it/types.rs`.)

use serde_json::{Value, json};

use super::{Declarations, schema_type, value_type};

/// The type of `schema`, followed by the declarations it needs.
fn ts(schema: Value) -> String {
    ts_with(schema, &[])
}

fn ts_with(schema: Value, present: &[&str]) -> String {
    let mut decls = Declarations::default();
    let mut text = schema_type(&schema, present, "T", 0, &mut decls);
    for d in decls.items() {
        text.push_str(&format!("\ntype {} = {};", d.name, d.body));
    }
    text
}

#[track_caller]
fn check(schema: Value, expected: &str) {
    assert_eq!(ts(schema.clone()), expected, "schema: {schema}");
}

const DRAFT7: &str = "http://json-schema.org/draft-07/schema#";
const DRAFT4: &str = "http://json-schema.org/draft-04/schema#";
const DRAFT2019: &str = "https://json-schema.org/draft/2019-09/schema";

#[test]
fn boolean_and_empty_schemas() {
    check(json!(true), "unknown");
    check(json!(false), "never");
    check(json!({}), "unknown");
    check(json!({"allOf": [true, true]}), "unknown");
    check(json!({"allOf": [true, false]}), "never");
    check(json!({"title": "x", "description": "y"}), "unknown");
}

#[test]
fn types_and_type_arrays() {
    check(json!({"type": "string"}), "string");
    check(json!({"type": "integer", "minimum": 1}), "number");
    check(json!({"type": ["string", "null"]}), "string | null");
    check(
        json!({"type": ["null", "boolean", "integer", "string", "array", "object"]}),
        "unknown",
    );
    check(
        json!({"type": ["boolean", "number", "string", "array", "object"]}),
        "NonNullable<unknown>",
    );
    // An unknown type name leaves `type` out: wider, never narrower.
    check(json!({"type": ["string", "nope"]}), "unknown");
}

#[test]
fn string_and_number_constraints_widen() {
    check(
        json!({"type": "string", "pattern": "^a", "minLength": 2, "format": "email"}),
        "string",
    );
    check(
        json!({"type": "number", "minimum": 0, "maximum": 1, "multipleOf": 0.5}),
        "number",
    );
}

#[test]
fn const_and_enum_are_literal_unions() {
    check(
        json!({"enum": ["a", "b", 1, null]}),
        "\"a\" | \"b\" | 1 | null",
    );
    check(json!({"type": "string", "enum": ["a", 1]}), "\"a\"");
    check(json!({"type": "integer", "const": 1.0}), "1.0");
    check(json!({"enum": []}), "never");
    check(json!({"const": "a", "enum": ["a", "b"]}), "\"a\"");
    check(json!({"const": "a", "enum": ["b"]}), "never");
    check(json!({"enum": [true, false, "x"]}), "boolean | \"x\"");
    check(
        json!({"const": {"a": [1, "x"], "b": {}, "c-d": null}}),
        "{\n  a: [1, \"x\"];\n  b: { [key: string]: never };\n  \"c-d\": null;\n}",
    );
    check(
        json!({"const": "line\u{2028}sep\"q"}),
        "\"line\\u2028sep\\\"q\"",
    );
    // `const` arrived in draft 6: in draft 4 it is no keyword at all.
    check(json!({"$schema": DRAFT4, "const": 1}), "unknown");
}

#[test]
fn object_keywords_shape_only_objects_without_type() {
    check(
        json!({"properties": {"a": {"type": "string"}}}),
        "string | number | boolean | {\n  a?: string;\n  [key: string]: unknown;\n} | unknown[] | null",
    );
    check(
        json!({"required": ["a"]}),
        "string | number | boolean | {\n  a: unknown;\n  [key: string]: unknown;\n} | unknown[] | null",
    );
}

#[test]
fn properties_required_and_index_signatures() {
    check(
        json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}),
        "{\n  a: string;\n  [key: string]: unknown;\n}",
    );
    // The index signature covers the named properties (TS2411), `undefined` for optional ones.
    check(
        json!({
            "type": "object",
            "properties": {"a": {"type": "string"}, "b-c": {"type": "number"}},
            "required": ["a", "z"],
            "additionalProperties": {"type": "boolean"}
        }),
        "{\n  a: string;\n  \"b-c\"?: number;\n  z: boolean;\n  [key: string]: boolean | string | number | undefined;\n}",
    );
    check(
        json!({"type": "object", "additionalProperties": {"type": "number"}}),
        "{ [key: string]: number }",
    );
    check(
        json!({"type": "object", "properties": {"x": false, "y": {"type": "string"}}}),
        "{\n  x?: never;\n  y?: string;\n  [key: string]: unknown;\n}",
    );
    check(
        json!({"type": "object", "properties": {"x": false}, "required": ["x"]}),
        "never",
    );
}

#[test]
fn closed_objects() {
    check(
        json!({"type": "object", "additionalProperties": false}),
        "{ [key: string]: never }",
    );
    check(
        json!({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": false}),
        "{\n  a?: string;\n}",
    );
    // A required property that may not exist: no object is valid.
    check(
        json!({"type": "object", "required": ["x"], "additionalProperties": false}),
        "never",
    );
}

#[test]
fn pattern_properties_widen_unnamed_properties() {
    check(
        json!({"type": "object", "patternProperties": {"^x": {"type": "string"}}, "additionalProperties": false}),
        "{ [key: string]: string }",
    );
    check(
        json!({
            "type": "object",
            "required": ["xa"],
            "patternProperties": {"^x": {"type": "string"}, "^n": {"type": "number"}},
            "additionalProperties": false
        }),
        "{\n  xa: string | number;\n  [key: string]: string | number;\n}",
    );
}

#[test]
fn arrays_and_tuples() {
    check(json!({"type": "array"}), "unknown[]");
    check(
        json!({"type": "array", "items": {"type": "string"}}),
        "string[]",
    );
    check(
        json!({"type": "array", "prefixItems": [{"type": "string"}, {"type": "number"}], "items": false}),
        "[string?, number?]",
    );
    check(
        json!({"type": "array", "prefixItems": [{"type": "string"}], "minItems": 1}),
        "[string, ...unknown[]]",
    );
    check(
        json!({"type": "array", "prefixItems": [{"type": "string"}], "items": {"type": "number"}}),
        "[string?, ...number[]]",
    );
    check(
        json!({"type": "array", "items": {"type": ["string", "number"]}, "minItems": 2, "maxItems": 4}),
        "[string | number, string | number, (string | number)?, (string | number)?]",
    );
    check(json!({"type": "array", "maxItems": 0}), "[]");
    check(
        json!({"type": "array", "minItems": 3, "maxItems": 2}),
        "never",
    );
    check(
        json!({"type": "array", "items": {"type": "string"}, "minItems": 100}),
        "string[]",
    );
    check(
        json!({"type": "array", "prefixItems": [{"type": "string"}, false, {"type": "number"}]}),
        "[string?]",
    );
    check(
        json!({"type": "array", "contains": {"type": "string"}}),
        "[unknown, ...unknown[]]",
    );
    check(
        json!({"type": "array", "contains": {"type": "string"}, "minContains": 0}),
        "unknown[]",
    );
}

#[test]
fn tuples_per_draft() {
    check(
        json!({"$schema": DRAFT7, "type": "array", "items": [{"type": "string"}], "additionalItems": {"type": "number"}}),
        "[string?, ...number[]]",
    );
    check(
        json!({"$schema": DRAFT2019, "type": "array", "items": [{"type": "string"}], "additionalItems": false}),
        "[string?]",
    );
    // Not a keyword before 2020-12, and `additionalItems` only follows an `items` array.
    check(
        json!({"$schema": DRAFT7, "type": "array", "prefixItems": [{"type": "string"}]}),
        "unknown[]",
    );
    check(
        json!({"type": "array", "items": {"type": "string"}, "additionalItems": false}),
        "string[]",
    );
}

#[test]
fn combinators() {
    check(
        json!({"anyOf": [{"type": "string"}, {"type": "object", "properties": {"a": {"const": 1}}, "required": ["a"]}]}),
        "string | {\n  a: 1;\n  [key: string]: unknown;\n}",
    );
    check(
        json!({"oneOf": [{"const": "a"}, {"const": "b"}], "type": "string"}),
        "\"a\" | \"b\"",
    );
    // allOf of object schemas is one object type.
    check(
        json!({"allOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"properties": {"b": {"type": "number"}}}
        ]}),
        "{\n  a: string;\n  b?: number;\n  [key: string]: unknown;\n}",
    );
    check(
        json!({"type": "object", "allOf": [
            {"properties": {"a": {"type": "string"}}, "additionalProperties": false},
            {"required": ["b"]}
        ]}),
        "never",
    );
    check(
        json!({"type": ["string", "number"], "anyOf": [{"type": "number"}, {"type": "boolean"}]}),
        "number",
    );
}

#[test]
fn not_excludes_whole_kinds_only() {
    check(json!({"not": {"type": "null"}}), "NonNullable<unknown>");
    check(
        json!({"type": ["string", "null"], "not": {"type": "null"}}),
        "string",
    );
    check(
        json!({"type": ["string", "null"], "not": {"const": null}}),
        "string",
    );
    check(
        json!({"not": {"type": "string", "pattern": "x"}}),
        "unknown",
    );
    check(
        json!({"type": "number", "not": {"type": "integer"}}),
        "number",
    );
    check(json!({"not": {}}), "never");
    check(json!({"not": false}), "unknown");
}

#[test]
fn if_then_else_is_the_union_of_both_branches() {
    check(
        json!({"if": {"type": "string"}, "then": {"type": "string"}, "else": {"type": "number"}}),
        "string | number",
    );
    check(
        json!({"if": {"type": "string"}, "then": {"minLength": 1}, "else": {"type": "number"}}),
        "unknown",
    );
    check(
        json!({"if": {"type": "string"}, "then": {"type": "string"}}),
        "unknown",
    );
    check(
        json!({"$schema": DRAFT4, "if": {}, "then": {"type": "string"}, "else": {"type": "string"}}),
        "unknown",
    );
}

#[test]
fn references_to_defs_definitions_anchors_and_ids() {
    check(
        json!({"$defs": {"n": {"type": "number"}}, "type": "array", "items": {"$ref": "#/$defs/n"}}),
        "number[]",
    );
    check(
        json!({"$schema": DRAFT7, "definitions": {"n": {"type": "number"}}, "items": {"$ref": "#/definitions/n"}, "type": "array"}),
        "number[]",
    );
    check(
        json!({"$defs": {"s": {"$anchor": "str", "type": "string"}}, "type": "object", "properties": {"a": {"$ref": "#str"}}}),
        "{\n  a?: string;\n  [key: string]: unknown;\n}",
    );
    check(
        json!({"$id": "https://example.test/root.json", "$defs": {"x": {"$id": "item.json", "type": "integer"}}, "type": "array", "items": {"$ref": "item.json"}}),
        "number[]",
    );
    // A reference that does not resolve: the validator cannot be built; nothing is assumed.
    check(json!({"$ref": "#/$defs/missing"}), "unknown");
    check(
        json!({"$ref": "https://example.test/elsewhere.json"}),
        "unknown",
    );
}

#[test]
fn ref_siblings_per_draft() {
    // Drafts 4 to 7 ignore every keyword next to `$ref`.
    check(
        json!({"$schema": DRAFT7, "definitions": {"n": {"type": "number"}}, "$ref": "#/definitions/n", "type": "string"}),
        "number",
    );
    check(
        json!({"$defs": {"n": {"type": "number"}}, "$ref": "#/$defs/n", "type": ["number", "string"]}),
        "number",
    );
    check(
        json!({
            "type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"],
            "$ref": "#/$defs/b", "$defs": {"b": {"properties": {"b": {"type": "number"}}}}
        }),
        "{\n  a: string;\n  b?: number;\n  [key: string]: unknown;\n}",
    );
}

#[test]
fn recursive_schemas_become_named_types() {
    check(
        json!({
            "$defs": {"node": {
                "type": "object",
                "properties": {"value": {"type": "number"}, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
                "required": ["value"]
            }},
            "$ref": "#/$defs/node"
        }),
        "T$node\ntype T$node = {\n  value: number;\n  children?: T$node[];\n  [key: string]: unknown;\n};",
    );
    check(
        json!({"type": "object", "properties": {"next": {"$ref": "#"}, "v": {"type": "string"}}}),
        "T$Root\ntype T$Root = {\n  next?: T$Root;\n  v?: string;\n  [key: string]: unknown;\n};",
    );
    check(
        json!({"$defs": {"t": {"type": "array", "items": {"$ref": "#/$defs/t"}}}, "$ref": "#/$defs/t"}),
        "T$t\ntype T$t = T$t[];",
    );
    // Mutual recursion through an inlined definition.
    check(
        json!({
            "$defs": {
                "a": {"type": "object", "properties": {"b": {"$ref": "#/$defs/b"}}},
                "b": {"type": "array", "items": {"$ref": "#/$defs/a"}}
            },
            "$ref": "#/$defs/a"
        }),
        "T$a\ntype T$a = {\n  b?: T$a[];\n  [key: string]: unknown;\n};",
    );
}

#[test]
fn optional_tuple_items_that_recurse_are_spelled_out() {
    // `type A = [[A?]?] | null` does not resolve in TypeScript; the same type as a union of
    // tuples does.
    check(
        json!({
            "$defs": {"a": {"type": ["array", "null"], "items": {"type": "array", "items": {"$ref": "#/$defs/a"}, "maxItems": 1}, "maxItems": 1}},
            "$ref": "#/$defs/a"
        }),
        "T$a\ntype T$a = ([] | [[] | [T$a]]) | null;",
    );
}

#[test]
fn recursion_outside_any_object_or_array_widens() {
    // `type a = a | string` has no TypeScript spelling.
    check(
        json!({"$defs": {"a": {"anyOf": [{"$ref": "#/$defs/a"}, {"type": "string"}]}}, "$ref": "#/$defs/a"}),
        "T$a\ntype T$a = unknown;",
    );
    check(
        json!({
            "$defs": {
                "a": {"anyOf": [{"$ref": "#/$defs/b"}, {"type": "string"}]},
                "b": {"anyOf": [{"$ref": "#/$defs/a"}, {"type": "number"}]}
            },
            "$ref": "#/$defs/a"
        }),
        "T$a\ntype T$a = unknown;",
    );
}

#[test]
fn recursive_refs_intersected_with_siblings() {
    check(
        json!({
            "$defs": {"tree": {"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/tree"}}}}},
            "type": "object",
            "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/tree"}}},
            "allOf": [{"$ref": "#/$defs/tree"}, {"required": ["kids"]}]
        }),
        "T$tree & {\n  kids: T$tree[];\n  [key: string]: unknown;\n}\ntype T$tree = {\n  kids?: T$tree[];\n  [key: string]: unknown;\n};",
    );
}

#[test]
fn helper_names_are_unique_per_file() {
    let schema = json!({"$defs": {"n": {"type": "array", "items": {"$ref": "#/$defs/n"}}}, "$ref": "#/$defs/n"});
    let mut decls = Declarations::default();
    assert_eq!(schema_type(&schema, &[], "A", 0, &mut decls), "A$n");
    assert_eq!(schema_type(&schema, &[], "A", 0, &mut decls), "A$n_2");
    let names: Vec<&str> = decls.items().iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["A$n", "A$n_2"]);
}

#[test]
fn dialects_the_validator_does_not_know_give_unknown() {
    check(
        json!({"$schema": "https://example.test/custom", "type": "string"}),
        "unknown",
    );
    check(
        json!({"type": "object", "properties": {"a": {"$schema": "https://example.test/custom", "type": "string"}}}),
        "{\n  a?: unknown;\n  [key: string]: unknown;\n}",
    );
}

#[test]
fn present_keys_become_required() {
    assert_eq!(
        ts_with(
            json!({"type": "object", "properties": {"city": {"type": "string"}, "units": {"enum": ["metric", "imperial"]}}, "required": ["city"]}),
            &["units"]
        ),
        "{\n  city: string;\n  units: \"metric\" | \"imperial\";\n  [key: string]: unknown;\n}"
    );
    assert_eq!(
        ts_with(json!({"type": ["object", "string"]}), &["units"]),
        "string | {\n  units: unknown;\n  [key: string]: unknown;\n}"
    );
}

#[test]
fn indentation_follows_the_position() {
    let mut decls = Declarations::default();
    assert_eq!(
        schema_type(
            &json!({"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {"type": "string"}}}}}),
            &[],
            "T",
            2,
            &mut decls
        ),
        "{\n      a?: {\n        b?: string;\n        [key: string]: unknown;\n      };\n      [key: string]: unknown;\n    }"
    );
}

#[test]
fn config_values_are_typed_by_kind() {
    assert_eq!(value_type(&json!({}), 0), "{ [key: string]: never }");
    assert_eq!(
        value_type(
            &json!({"retries": 3, "tags": ["a", 1], "none": [], "x": {"y": null}}),
            0
        ),
        "{\n  retries: number;\n  tags: (string | number)[];\n  none: [];\n  x: {\n    y: null;\n  };\n}"
    );
}

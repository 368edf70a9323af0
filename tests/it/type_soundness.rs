//! The generated types against the real `tsc` (pinned in package.json): a property test.
//!
//! Schemas are generated at random from the keywords the converter handles (and some it widens);
//! values are generated for them and kept only when compozy's validator (`jsonschema`, as in
//! `src/runtime/input.rs`) accepts them. Every kept value must type-check as an object literal
//! of its schema's type. In reverse, simple structural mistakes (a wrong primitive, a missing
//! required property, a value outside an enum, an extra property of a closed object, a wrong
//! kind) must be refused by both: they sit under `// @ts-expect-error`, which tsc reports when
//! the line type-checks. Everything goes into one file, so that tsc runs once.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use compozy::codegen::ts_types::{Declarations, schema_type};
use serde_json::{Map, Value, json};

use crate::common::tsc;

/// A small seeded generator (SplitMix64): runs are reproducible from their seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const DRAFT7: &str = "http://json-schema.org/draft-07/schema#";

const NAMES: [&str; 10] = [
    "a",
    "b",
    "c",
    "a-b",
    "0",
    "",
    "with space",
    "é",
    "$x",
    "toString",
];

const KINDS: [&str; 7] = [
    "string", "number", "integer", "boolean", "null", "array", "object",
];

fn literal_pool() -> Vec<Value> {
    vec![
        json!(null),
        json!(true),
        json!(false),
        json!(0),
        json!(1),
        json!(-1),
        json!(1.5),
        json!(1e3),
        json!(""),
        json!("a"),
        json!("b"),
        json!("x-y"),
        json!("sep\u{2028}"),
        json!([]),
        json!([1, "a"]),
        json!({}),
        json!({"a": 1}),
    ]
}

/// What a generated schema may use.
struct Gen {
    rng: Rng,
    draft7: bool,
    /// `$defs` (or `definitions`) names, and anchors, that references may point to.
    defs: Vec<String>,
    anchors: Vec<String>,
    /// Inside a definition: references only where a value must be nested (no unguarded cycle).
    in_def: bool,
}

impl Gen {
    fn schema(&mut self, depth: u32) -> Value {
        if self.rng.chance(8) {
            return json!(self.rng.chance(80));
        }
        let mut s = match self.rng.below(if depth == 0 { 4 } else { 10 }) {
            0 => self.primitive(),
            1 => json!({"type": [self.rng.pick(&KINDS[..5]).to_string(), "null"]}),
            2 => self.enumeration(),
            3 => json!({}),
            4 | 5 => self.object(depth),
            6 => self.array(depth),
            7 => self.combinator(depth),
            8 => self.conditional(depth),
            _ => self.reference(depth),
        };
        self.widened_keywords(&mut s);
        s
    }

    fn primitive(&mut self) -> Value {
        json!({"type": self.rng.pick(&KINDS[..5])})
    }

    fn enumeration(&mut self) -> Value {
        let pool = literal_pool();
        if self.rng.chance(30) {
            return json!({"const": self.rng.pick(&pool).clone()});
        }
        let n = 1 + self.rng.below(4);
        let values: Vec<Value> = (0..n).map(|_| self.rng.pick(&pool).clone()).collect();
        let mut s = json!({"enum": values});
        if self.rng.chance(30) {
            s["type"] = json!(self.rng.pick(&KINDS));
        }
        s
    }

    fn object(&mut self, depth: u32) -> Value {
        let mut s = Map::new();
        if self.rng.chance(70) {
            s.insert("type".into(), json!("object"));
        }
        let mut props = Map::new();
        for _ in 0..self.rng.below(4) {
            let name = self.rng.pick(&NAMES).to_string();
            let sub = self.nested(depth);
            props.insert(name, sub);
        }
        let mut required: Vec<String> = props
            .keys()
            .filter(|_| self.rng.chance(50))
            .cloned()
            .collect();
        if self.rng.chance(15) {
            required.push(self.rng.pick(&NAMES).to_string());
        }
        required.sort();
        required.dedup();
        if !props.is_empty() || self.rng.chance(50) {
            s.insert("properties".into(), Value::Object(props));
        }
        if !required.is_empty() {
            s.insert("required".into(), json!(required));
        }
        match self.rng.below(6) {
            0 => {
                s.insert("additionalProperties".into(), json!(false));
            }
            1 => {
                s.insert("additionalProperties".into(), json!(true));
            }
            2 => {
                let sub = self.nested(depth);
                s.insert("additionalProperties".into(), sub);
            }
            _ => {}
        }
        if self.rng.chance(20) {
            let sub = self.nested(depth);
            s.insert("patternProperties".into(), json!({ "^a": sub }));
        }
        Value::Object(s)
    }

    fn array(&mut self, depth: u32) -> Value {
        let mut s = Map::new();
        if self.rng.chance(70) {
            s.insert("type".into(), json!("array"));
        }
        let tuple = self.rng.chance(40);
        if tuple {
            let n = 1 + self.rng.below(3);
            let items: Vec<Value> = (0..n).map(|_| self.nested(depth)).collect();
            if self.draft7 {
                s.insert("items".into(), Value::Array(items));
                if self.rng.chance(60) {
                    let rest = self.nested(depth);
                    s.insert("additionalItems".into(), rest);
                }
            } else {
                s.insert("prefixItems".into(), Value::Array(items));
                if self.rng.chance(60) {
                    let rest = self.nested(depth);
                    s.insert("items".into(), rest);
                }
            }
        } else if self.rng.chance(80) {
            let items = self.nested(depth);
            s.insert("items".into(), items);
        }
        if self.rng.chance(30) {
            s.insert("minItems".into(), json!(self.rng.below(3)));
        }
        if self.rng.chance(30) {
            s.insert("maxItems".into(), json!(self.rng.below(4)));
        }
        if self.rng.chance(15) {
            let contains = self.primitive();
            s.insert("contains".into(), contains);
            if !self.draft7 && self.rng.chance(40) {
                s.insert("minContains".into(), json!(self.rng.below(2)));
            }
        }
        if self.rng.chance(10) {
            s.insert("uniqueItems".into(), json!(true));
        }
        Value::Object(s)
    }

    fn combinator(&mut self, depth: u32) -> Value {
        let keyword = *self.rng.pick(&["allOf", "anyOf", "oneOf", "not"]);
        if keyword == "not" {
            let inner = match self.rng.below(4) {
                0 => json!({"type": self.rng.pick(&KINDS)}),
                1 => json!({"const": null}),
                // Not a whole kind: 1.5 is a number but no integer.
                2 => json!({"type": "integer"}),
                _ => self.schema(depth - 1),
            };
            let mut s = json!({ "not": inner });
            if self.rng.chance(80) {
                s["type"] = json!([self.rng.pick(&KINDS[..5]), self.rng.pick(&KINDS[..5])]);
            }
            return s;
        }
        let n = 1 + self.rng.below(3);
        let branches: Vec<Value> = (0..n).map(|_| self.schema(depth - 1)).collect();
        let mut s = json!({ keyword: branches });
        if self.rng.chance(30) {
            s["type"] = json!(self.rng.pick(&KINDS));
        }
        s
    }

    fn conditional(&mut self, depth: u32) -> Value {
        let mut s = json!({ "if": self.schema(depth - 1) });
        if self.rng.chance(80) {
            s["then"] = self.schema(depth - 1);
        }
        if self.rng.chance(80) {
            s["else"] = self.schema(depth - 1);
        }
        s
    }

    fn reference(&mut self, depth: u32) -> Value {
        if self.defs.is_empty() || self.in_def {
            return self.schema(depth - 1);
        }
        let mut s = if !self.anchors.is_empty() && !self.draft7 && self.rng.chance(25) {
            json!({ "$ref": format!("#{}", self.rng.pick(&self.anchors.clone())) })
        } else {
            let section = if self.draft7 { "definitions" } else { "$defs" };
            json!({ "$ref": format!("#/{section}/{}", self.rng.pick(&self.defs.clone())) })
        };
        // Siblings apply from 2019-09 on; drafts 4 to 7 ignore them.
        if self.rng.chance(40) {
            let sibling = self.object(depth - 1);
            if let (Value::Object(s), Value::Object(sibling)) = (&mut s, sibling) {
                s.extend(sibling);
            }
        }
        s
    }

    /// A subschema where a value must be nested: inside definitions, references may recurse.
    fn nested(&mut self, depth: u32) -> Value {
        if self.in_def && !self.defs.is_empty() && self.rng.chance(30) {
            let section = if self.draft7 { "definitions" } else { "$defs" };
            return json!({ "$ref": format!("#/{section}/{}", self.rng.pick(&self.defs.clone())) });
        }
        if depth == 0 {
            return self.primitive();
        }
        self.schema(depth - 1)
    }

    /// Keywords TypeScript cannot express: the types must widen over them.
    fn widened_keywords(&mut self, s: &mut Value) {
        let Value::Object(map) = s else { return };
        if !self.rng.chance(25) {
            return;
        }
        let (k, v) = match self.rng.below(10) {
            0 => ("pattern", json!("^a")),
            1 => ("minLength", json!(1)),
            2 => ("format", json!("email")),
            3 => ("minimum", json!(0)),
            4 => ("multipleOf", json!(2)),
            5 => ("propertyNames", json!({"maxLength": 1})),
            6 => ("minProperties", json!(1)),
            7 if !self.draft7 => ("dependentRequired", json!({"a": ["b"]})),
            8 if !self.draft7 => ("unevaluatedProperties", json!(false)),
            _ if !self.draft7 => ("dependentSchemas", json!({"a": {"required": ["c"]}})),
            _ => ("dependencies", json!({"a": ["b"]})),
        };
        map.insert(k.into(), v);
    }
}

/// A schema with definitions (some recursive) and a root that may refer to them.
fn random_schema(rng: &mut Rng) -> Value {
    let draft7 = rng.chance(20);
    let mut g = Gen {
        rng: Rng(rng.next()),
        draft7,
        defs: Vec::new(),
        anchors: Vec::new(),
        in_def: true,
    };
    let count = g.rng.below(3);
    g.defs = (0..count).map(|i| format!("d{i}")).collect();
    let mut defs = Map::new();
    for name in g.defs.clone() {
        let mut def = g.schema(2);
        if !draft7
            && g.rng.chance(30)
            && let Value::Object(map) = &mut def
        {
            let anchor = format!("anchor_{name}");
            map.insert("$anchor".into(), json!(anchor));
            g.anchors.push(anchor);
        }
        defs.insert(name, def);
    }
    g.in_def = false;
    // Shallow schemas too: more of their values are valid.
    let depth = 1 + g.rng.below(3) as u32;
    let mut root = g.schema(depth);
    if !defs.is_empty() {
        if !root.is_object() {
            root = json!({ "allOf": [root] });
        }
        let section = if draft7 { "definitions" } else { "$defs" };
        root[section] = Value::Object(defs);
    }
    if draft7 {
        if !root.is_object() {
            root = json!({ "allOf": [root] });
        }
        root["$schema"] = json!(DRAFT7);
    }
    root
}

/// A value made to fit `schema` (roughly: the validator decides), or any value.
fn value_for(schema: &Value, root: &Value, rng: &mut Rng, depth: u32) -> Value {
    let Value::Object(map) = schema else {
        return random_value(rng, depth);
    };
    if depth == 0 || rng.chance(5) {
        return random_value(rng, depth.min(1));
    }
    if let Some(Value::String(reference)) = map.get("$ref")
        && rng.chance(80)
        && let Some(target) = resolve(root, reference)
    {
        return value_for(target, root, rng, depth - 1);
    }
    if let Some(value) = map.get("const")
        && rng.chance(90)
    {
        return value.clone();
    }
    if let Some(Value::Array(values)) = map.get("enum")
        && !values.is_empty()
        && rng.chance(90)
    {
        return rng.pick(values).clone();
    }
    for keyword in ["anyOf", "oneOf", "allOf"] {
        if let Some(Value::Array(branches)) = map.get(keyword)
            && !branches.is_empty()
            && rng.chance(60)
        {
            return value_for(rng.pick(branches), root, rng, depth - 1);
        }
    }
    for keyword in ["then", "else"] {
        if let Some(branch) = map.get(keyword)
            && rng.chance(40)
        {
            return value_for(branch, root, rng, depth - 1);
        }
    }
    let kind = match map.get("type") {
        Some(Value::String(kind)) => kind.clone(),
        Some(Value::Array(kinds)) if !kinds.is_empty() => {
            rng.pick(kinds).as_str().unwrap_or("null").to_owned()
        }
        _ if map.contains_key("properties") || map.contains_key("required") => "object".to_owned(),
        _ if map.contains_key("items") || map.contains_key("prefixItems") => "array".to_owned(),
        _ => return random_value(rng, depth),
    };
    match kind.as_str() {
        "object" => {
            let mut out = Map::new();
            let required: Vec<&str> = map
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if let Some(Value::Object(props)) = map.get("properties") {
                for (name, sub) in props {
                    if required.contains(&name.as_str()) || rng.chance(60) {
                        out.insert(name.clone(), value_for(sub, root, rng, depth - 1));
                    }
                }
            }
            for name in required {
                if !out.contains_key(name) {
                    let sub = map
                        .get("additionalProperties")
                        .cloned()
                        .unwrap_or(json!(true));
                    out.insert(name.to_owned(), value_for(&sub, root, rng, depth - 1));
                }
            }
            if rng.chance(30) {
                let sub = map
                    .get("additionalProperties")
                    .cloned()
                    .unwrap_or(json!(true));
                out.insert(
                    rng.pick(&NAMES).to_string(),
                    value_for(&sub, root, rng, depth - 1),
                );
            }
            Value::Object(out)
        }
        "array" => {
            let prefix: Vec<Value> = match (map.get("prefixItems"), map.get("items")) {
                (Some(Value::Array(p)), _) | (None, Some(Value::Array(p))) => p.clone(),
                _ => Vec::new(),
            };
            let rest = match (map.get("items"), map.get("additionalItems")) {
                (Some(Value::Array(_)), Some(additional)) => additional.clone(),
                (Some(items), _) if !items.is_array() => items.clone(),
                _ => json!(true),
            };
            let min = map.get("minItems").and_then(Value::as_u64).unwrap_or(0) as usize;
            let len = min + rng.below(3);
            (0..len)
                .map(|i| value_for(prefix.get(i).unwrap_or(&rest), root, rng, depth - 1))
                .collect()
        }
        "string" => json!(rng.pick(&["a", "ab", "", "x-1", "b"])),
        "integer" => json!(rng.pick(&[0, 1, -2, 7])),
        "number" => json!(rng.pick(&[0.5, 1.0, -2.25, 3.0])),
        "boolean" => json!(rng.chance(50)),
        _ => Value::Null,
    }
}

fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let fragment = reference.strip_prefix('#')?;
    if let Some(pointer) = fragment.strip_prefix('/') {
        return root.pointer(&format!("/{pointer}"));
    }
    if fragment.is_empty() {
        return Some(root);
    }
    ["$defs", "definitions"]
        .iter()
        .filter_map(|s| root.get(*s).and_then(Value::as_object))
        .flat_map(|defs| defs.values())
        .find(|d| d.get("$anchor").and_then(Value::as_str) == Some(fragment))
}

fn random_value(rng: &mut Rng, depth: u32) -> Value {
    match rng.below(if depth == 0 { 4 } else { 6 }) {
        0 => Value::Null,
        1 => json!(rng.chance(50)),
        2 => json!(rng.pick(&[0.0, 1.0, -3.0, 2.5, 1e21])),
        3 => json!(rng.pick(&["", "a", "b", "sep\u{2029}"])),
        4 => (0..rng.below(3))
            .map(|_| random_value(rng, depth - 1))
            .collect(),
        _ => {
            let mut map = Map::new();
            for _ in 0..rng.below(3) {
                map.insert(rng.pick(&NAMES).to_string(), random_value(rng, depth - 1));
            }
            Value::Object(map)
        }
    }
}

/// A simple structural schema, and values the validator refuses for a reason TypeScript sees.
fn structural_case(rng: &mut Rng) -> (Value, Vec<Value>) {
    let prims = [
        json!({"type": "string"}),
        json!({"type": "number"}),
        json!({"type": "boolean"}),
        json!({"type": ["string", "null"]}),
        json!({"enum": ["red", "green"]}),
    ];
    let wrong = [
        json!("s"),
        json!(1),
        json!(true),
        json!(null),
        json!([]),
        json!({}),
    ];
    match rng.below(3) {
        0 => {
            let mut props = Map::new();
            for name in ["a", "b", "c-d"] {
                if rng.chance(70) {
                    props.insert(name.to_owned(), rng.pick(&prims).clone());
                }
            }
            if props.is_empty() {
                props.insert("a".into(), json!({"type": "string"}));
            }
            let required: Vec<&String> = props.keys().filter(|_| rng.chance(60)).collect();
            let closed = rng.chance(40);
            let mut schema = json!({"type": "object", "properties": props, "required": required});
            if closed {
                schema["additionalProperties"] = json!(false);
            }
            // A valid base value: every property, of its type.
            let mut base = Map::new();
            for (name, sub) in &props {
                let v = match sub.get("type").and_then(Value::as_str) {
                    Some("string") => json!("x"),
                    Some("number") => json!(2),
                    Some("boolean") => json!(false),
                    _ => match sub.get("enum") {
                        Some(e) => e[0].clone(),
                        None => Value::Null,
                    },
                };
                base.insert(name.clone(), v);
            }
            let validator = jsonschema::validator_for(&schema).expect("a valid schema");
            let mut bad = Vec::new();
            // A wrong primitive in each property.
            for name in props.keys() {
                let start = rng.below(wrong.len());
                let mistake = (0..wrong.len())
                    .map(|k| {
                        let mut v = base.clone();
                        v.insert(name.clone(), wrong[(start + k) % wrong.len()].clone());
                        Value::Object(v)
                    })
                    .find(|v| !validator.is_valid(v));
                bad.extend(mistake);
            }
            // A missing required property.
            for name in &required {
                let mut v = base.clone();
                v.remove(name.as_str());
                bad.push(Value::Object(v));
            }
            // A value outside an enum.
            for (name, sub) in &props {
                if sub.get("enum").is_some() {
                    let mut v = base.clone();
                    v.insert(name.clone(), json!("blue"));
                    bad.push(Value::Object(v));
                }
            }
            if closed {
                let mut v = base.clone();
                v.insert("extra".into(), json!(1));
                bad.push(Value::Object(v));
            }
            bad.push(rng.pick(&wrong[..4]).clone());
            (schema, bad)
        }
        1 => {
            let items = rng.pick(&prims).clone();
            let validator = jsonschema::validator_for(&items).expect("a valid schema");
            let start = rng.below(wrong.len());
            let item = (0..wrong.len())
                .map(|k| wrong[(start + k) % wrong.len()].clone())
                .find(|v| !validator.is_valid(v))
                .unwrap_or(Value::Null);
            let bad = vec![json!([json!(1), item]), json!("not an array")];
            (json!({"type": "array", "items": items}), bad)
        }
        _ => (
            json!({"enum": ["a", "b", 3]}),
            vec![json!("c"), json!(4), json!(null)],
        ),
    }
}

/// A value as a TypeScript expression.
fn expression(value: &Value) -> String {
    serde_json::to_string(value)
        .expect("serialise a value")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

/// Keywords a run must have exercised with accepted values, so that the test cannot pass
/// by generating nothing of interest.
const KEYWORDS: [&str; 22] = [
    "type",
    "enum",
    "const",
    "properties",
    "required",
    "additionalProperties",
    "patternProperties",
    "items",
    "prefixItems",
    "additionalItems",
    "minItems",
    "maxItems",
    "contains",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "if",
    "$ref",
    "$defs",
    "definitions",
    "$anchor",
];

fn keywords_in(value: &Value, found: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                found.insert(k.clone());
                keywords_in(v, found);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| keywords_in(v, found)),
        _ => {}
    }
}

#[test]
fn every_value_the_validator_accepts_type_checks_and_simple_mistakes_do_not() {
    let seed = std::env::var("COMPOZY_TYPES_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x00c0_ffee_u64);
    let mut rng = Rng(seed);
    let mut source = String::new();
    let mut decls = Declarations::default();
    // Per line of the file, what it checks (for messages).
    let mut lines: Vec<String> = Vec::new();
    let push = |source: &mut String, lines: &mut Vec<String>, text: &str, what: String| {
        for line in text.lines() {
            source.push_str(line);
            source.push('\n');
            lines.push(what.clone());
        }
    };
    let mut kept = 0;
    let mut refused = 0;
    let mut exercised = BTreeSet::new();

    for i in 0..400 {
        let schema = random_schema(&mut rng);
        if !jsonschema::meta::is_valid(&schema) {
            continue;
        }
        // The validator compozy uses (src/runtime/input.rs: `jsonschema::validator_for`).
        let Ok(validator) = jsonschema::validator_for(&schema) else {
            continue;
        };
        let name = format!("S{i}");
        let ty = schema_type(&schema, &[], &name, 0, &mut decls);
        let what = format!("schema {schema}\n  type {ty}");
        push(
            &mut source,
            &mut lines,
            &format!("// {}\ntype {name} = {ty};", expression(&schema)),
            what.clone(),
        );
        let mut values = BTreeSet::new();
        for _ in 0..24 {
            let value = value_for(&schema, &schema, &mut rng, 5);
            if validator.is_valid(&value) {
                values.insert(expression(&value));
            }
        }
        if !values.is_empty() {
            keywords_in(&schema, &mut exercised);
        }
        for (j, value) in values.iter().enumerate() {
            kept += 1;
            push(
                &mut source,
                &mut lines,
                &format!("const v{i}_{j}: {name} = {value};"),
                format!("{what}\n  valid value {value}"),
            );
        }
    }
    for i in 0..120 {
        let (schema, bad) = structural_case(&mut rng);
        let validator = jsonschema::validator_for(&schema).expect("a valid schema");
        let name = format!("R{i}");
        let ty = schema_type(&schema, &[], &name, 0, &mut decls);
        let what = format!("schema {schema}\n  type {ty}");
        push(
            &mut source,
            &mut lines,
            &format!("type {name} = {ty};"),
            what.clone(),
        );
        for (j, value) in bad.iter().enumerate() {
            assert!(
                !validator.is_valid(value),
                "the generator made a valid \"mistake\": {value} for {schema}"
            );
            refused += 1;
            let value = expression(value);
            push(
                &mut source,
                &mut lines,
                &format!("// @ts-expect-error\nconst r{i}_{j}: {name} = {value};"),
                format!("{what}\n  invalid value {value} (tsc should refuse it)"),
            );
        }
    }
    for d in decls.items() {
        push(
            &mut source,
            &mut lines,
            &format!("type {} = {};", d.name, d.body),
            format!("declaration {}", d.name),
        );
    }
    assert!(kept >= 1500, "only {kept} valid values were generated");
    let missing: Vec<&str> = KEYWORDS
        .iter()
        .filter(|k| !exercised.contains(**k))
        .copied()
        .collect();
    assert!(
        missing.is_empty(),
        "no accepted value exercised {missing:?}"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("check.ts"), &source).expect("write check.ts");
    if let Some(path) = std::env::var_os("COMPOZY_TYPES_DUMP") {
        std::fs::write(path, &source).expect("write COMPOZY_TYPES_DUMP");
    }
    let out = tsc()
        .current_dir(dir.path())
        .args([
            "--noEmit", "--strict", "--target", "es2022", "--module", "nodenext",
        ])
        .arg("check.ts")
        .output()
        .expect("run tsc");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut report = String::new();
    for line in stdout.lines() {
        let Some(rest) = line.strip_prefix("check.ts(") else {
            continue;
        };
        let number: usize = rest
            .split(',')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let what = lines
            .get(number.wrapping_sub(1))
            .map_or("?", String::as_str);
        let _ = writeln!(report, "{line}\n  {what}\n");
    }
    assert!(
        out.status.success() && report.is_empty(),
        "tsc disagrees with the validator (seed {seed}, {kept} valid and {refused} invalid values):\n{report}\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

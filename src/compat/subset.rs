//! "Does every value schema A accepts, schema B accept too?", proved over the keywords.
//!
//! A is a conjunction of schema locations. Dropping one of A's keywords only widens A, so the
//! proof may ignore any keyword of A it does not understand (`not`, `if`, `pattern`, …), and A's
//! `anyOf`/`oneOf` are split into cases (a `oneOf` accepts no more than the `anyOf` of its
//! branches). B's keywords are obligations: each must be shown to hold for every value of A, and a
//! keyword of B that the proof cannot discharge is a failure ("cannot prove"), never skipped.
//! `$ref` is resolved with the validator's own resolver (`referencing`); recursive schemas are
//! proved by induction on the size of the value (an assumption is used only for a strictly
//! smaller value: a property or an item).

use std::collections::{BTreeSet, HashMap};
use std::sync::LazyLock;

use referencing::{Draft, Registry, Resolver};
use serde_json::{Map, Value};

pub(super) use crate::schema_value::json_eq;

/// Why an inclusion was not proved.
#[derive(Debug, Clone)]
pub struct Failure {
    /// JSON pointer to the keyword of the outer schema that could not be discharged.
    pub path: String,
    /// In words.
    pub reason: String,
}

type Proof = Result<(), Failure>;

fn fail(path: &str, reason: impl Into<String>) -> Proof {
    Err(Failure {
        path: if path.is_empty() {
            "/".to_owned()
        } else {
            path.to_owned()
        },
        reason: reason.into(),
    })
}

/// The URI a schema without `$id` is known by, as in `jsonschema`.
const BASE: &str = "json-schema:///";
/// Proof steps before giving up ("too complex to prove").
const MAX_STEPS: usize = 20_000;
/// Cases `anyOf`/`oneOf` of the inner schema are split into; past this they are dropped (which
/// only widens the inner schema).
const MAX_CASES: usize = 64;
/// `$ref`s followed in a row without reaching a keyword.
const MAX_REF_CHAIN: usize = 32;

/// Proves `inner ⊆ outer` (two whole schemas).
pub fn subset(inner: &Value, outer: &Value) -> Proof {
    if inner == outer {
        return Ok(());
    }
    for (schema, side) in [(inner, "old"), (outer, "new")] {
        if Draft::default().detect(schema) != Draft::Draft202012 {
            return fail(
                "",
                format!(
                    "the {side} schema is not JSON Schema 2020-12 (the only draft read keyword by keyword)"
                ),
            );
        }
        if has_nested_id(schema, true) {
            return fail("", "a schema embeds another with its own `$id`");
        }
    }
    let inner_registry = registry(inner);
    let outer_registry = registry(outer);
    let (Some(ir), Some(or)) = (&inner_registry, &outer_registry) else {
        return fail("/$ref", "a reference does not resolve");
    };
    let (Ok(base), Ok(base2)) = (
        referencing::uri::from_str(&base_of(inner)),
        referencing::uri::from_str(&base_of(outer)),
    ) else {
        return fail("/$id", "the `$id` is not a URI");
    };
    let a = Loc {
        schema: inner,
        resolver: Some(ir.resolver(base)),
    };
    let b = Loc {
        schema: outer,
        resolver: Some(or.resolver(base2)),
    };
    let mut prover = Prover {
        visiting: HashMap::new(),
        steps: 0,
        marker: std::marker::PhantomData,
    };
    prover.sub(&[a], &b, "", 0)
}

fn base_of(schema: &Value) -> String {
    Draft::Draft202012
        .create_resource_ref(schema)
        .id()
        .unwrap_or(BASE)
        .to_owned()
}

fn registry(schema: &Value) -> Option<Registry<'_>> {
    let draft = Draft::Draft202012;
    let resource = draft.create_resource_ref(schema);
    Registry::new()
        .draft(draft)
        .add(base_of(schema), resource)
        .and_then(|builder| builder.prepare())
        .ok()
}

/// True when an `$id` appears below the root.
fn has_nested_id(value: &Value, root: bool) -> bool {
    match value {
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| (!root && k == "$id") || has_nested_id(v, false)),
        Value::Array(items) => items.iter().any(|v| has_nested_id(v, false)),
        _ => false,
    }
}

/// A schema in its document (for `$ref`).
#[derive(Clone)]
pub(super) struct Loc<'r> {
    pub schema: &'r Value,
    pub resolver: Option<Resolver<'r>>,
}

impl<'r> Loc<'r> {
    fn child(&self, schema: &'r Value) -> Loc<'r> {
        Loc {
            schema,
            resolver: self.resolver.clone(),
        }
    }

    fn key(&self) -> (usize, String) {
        (
            std::ptr::from_ref(self.schema) as usize,
            self.resolver
                .as_ref()
                .map(|r| r.base_uri().as_str().to_owned())
                .unwrap_or_default(),
        )
    }

    fn obj(&self) -> Option<&'r Map<String, Value>> {
        self.schema.as_object()
    }

    fn get(&self, key: &str) -> Option<&'r Value> {
        self.schema.as_object().and_then(|m| m.get(key))
    }

    fn is_false(&self) -> bool {
        self.schema == &Value::Bool(false)
    }

    /// The `$ref` target, when it resolves.
    fn follow(&self, reference: &str) -> Option<Loc<'r>> {
        let resolver = self.resolver.as_ref()?;
        let resolved = resolver.lookup(reference).ok()?;
        let (contents, resolver, draft) = resolved.into_inner();
        (draft == Draft::Draft202012).then_some(Loc {
            schema: contents,
            resolver: Some(resolver),
        })
    }
}

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
const NUM: u8 = INT | FRAC;

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

fn type_kinds(value: &Value) -> Option<u8> {
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
const INERT: &[&str] = &[
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

static STRING_SCHEMA: LazyLock<Value> = LazyLock::new(|| serde_json::json!({"type": "string"}));

/// A question being proved: the inner conjunction's locations and the outer location.
type Question = (Vec<(usize, String)>, (usize, String));

pub(super) struct Prover<'r> {
    visiting: HashMap<Question, usize>,
    steps: usize,
    marker: std::marker::PhantomData<&'r Value>,
}

impl<'r> Prover<'r> {
    /// Splits a conjunction into cases of plain conjunctions: `$ref` and `allOf` inlined,
    /// `anyOf`/`oneOf` distributed. Whatever is dropped only widens it.
    pub(super) fn cases(&self, a: &[Loc<'r>]) -> Vec<Vec<Loc<'r>>> {
        let mut cases: Vec<Vec<Loc<'r>>> = vec![Vec::new()];
        for loc in a {
            cases = product(&cases, &expand(loc, 0));
        }
        cases
    }

    /// `a ⊆ b`, where `a` is a conjunction; `depth` is the depth in the value being checked.
    fn sub(&mut self, a: &[Loc<'r>], b: &Loc<'r>, path: &str, depth: usize) -> Proof {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return fail(path, "the schemas are too large to compare");
        }
        if matches!(b.schema, Value::Bool(true)) {
            return Ok(());
        }
        if let Some(map) = b.obj()
            && map.keys().all(|k| INERT.contains(&k.as_str()))
        {
            return Ok(());
        }
        // The same schema twice in a conjunction says nothing more.
        let mut unique: Vec<Loc<'r>> = Vec::with_capacity(a.len());
        for l in a {
            if !unique.iter().any(|u| u.key() == l.key()) {
                unique.push(l.clone());
            }
        }
        let a = &unique[..];
        let mut keys: Vec<(usize, String)> = a.iter().map(Loc::key).collect();
        keys.sort();
        let key = (keys, b.key());
        if let Some(&entered) = self.visiting.get(&key) {
            // Induction on the value: the same question for a smaller value.
            return if depth > entered {
                Ok(())
            } else {
                fail(path, "a reference loops without reaching a keyword")
            };
        }
        self.visiting.insert(key.clone(), depth);
        let result = self.cases(a).iter().try_for_each(|case| {
            if case.iter().any(Loc::is_false) {
                return Ok(());
            }
            self.plain(case, b, path, depth)
        });
        self.visiting.remove(&key);
        result
    }

    /// `a ⊆ b` for a plain conjunction `a`.
    fn plain(&mut self, a: &[Loc<'r>], b: &Loc<'r>, path: &str, depth: usize) -> Proof {
        let kinds = a.iter().fold(ALL, |k, l| k & local_kinds(l.schema));
        if kinds == 0 {
            return Ok(());
        }
        let map = match b.schema {
            Value::Bool(true) => return Ok(()),
            Value::Bool(false) => return fail(path, "the schema is `false`: it accepts nothing"),
            Value::Object(map) => map,
            _ => return fail(path, "not a schema"),
        };
        if !has_reference(b.schema) && a.iter().any(|l| json_eq(l.schema, b.schema)) {
            return Ok(());
        }
        // A finite set of values: each one is checked by the validator.
        if let Some(values) = finite_values(a, kinds)
            && !has_reference(b.schema)
        {
            for value in values {
                if !accepted_by_all(a, &value) {
                    continue;
                }
                match plain_accepts(b.schema, &value) {
                    Some(true) => {}
                    _ => return fail(path, format!("the value {value} is no longer accepted")),
                }
            }
            return Ok(());
        }
        let mut object_done = false;
        let mut array_done = false;
        let mut number_done = false;
        let mut string_done = false;
        for (keyword, value) in map {
            let here = format!("{path}/{}", escape(keyword));
            match keyword.as_str() {
                k if INERT.contains(&k) => {}
                "$ref" => {
                    let Some(target) = value.as_str().and_then(|r| b.follow(r)) else {
                        return fail(&here, "the reference does not resolve");
                    };
                    self.ref_chain(a, &target, &here, depth, 0)?;
                }
                "allOf" => {
                    let Some(members) = value.as_array() else {
                        return fail(&here, "not a list");
                    };
                    for (i, m) in members.iter().enumerate() {
                        self.sub(a, &b.child(m), &format!("{here}/{i}"), depth)?;
                    }
                }
                "anyOf" => {
                    let Some(members) = value.as_array() else {
                        return fail(&here, "not a list");
                    };
                    let found = members.iter().any(|m| {
                        let saved = self.steps;
                        let ok = self.sub(a, &b.child(m), &here, depth).is_ok();
                        self.steps = self.steps.max(saved);
                        ok
                    });
                    if !found {
                        return fail(&here, "no branch of `anyOf` accepts every value");
                    }
                }
                "oneOf" => {
                    let Some(members) = value.as_array() else {
                        return fail(&here, "not a list");
                    };
                    let mut proved = false;
                    for (i, m) in members.iter().enumerate() {
                        if self.sub(a, &b.child(m), &here, depth).is_ok()
                            && members
                                .iter()
                                .enumerate()
                                .all(|(j, other)| j == i || self.disjoint(a, &b.child(other)))
                        {
                            proved = true;
                            break;
                        }
                    }
                    if !proved {
                        return fail(
                            &here,
                            "no branch of `oneOf` is shown to accept every value exactly once",
                        );
                    }
                }
                "not" => {
                    if !self.disjoint(a, &b.child(value)) {
                        return fail(
                            &here,
                            "the values `not` refuses are not shown to be excluded",
                        );
                    }
                }
                "if" => self.condition(a, b, map, &here, depth)?,
                "type" => {
                    let Some(allowed) = type_kinds(value) else {
                        return fail(&here, "unreadable `type`");
                    };
                    if kinds & !allowed != 0 {
                        return fail(
                            &here,
                            format!(
                                "values of type {} are no longer accepted",
                                kind_names(kinds & !allowed)
                            ),
                        );
                    }
                }
                "enum" | "const" => {
                    return fail(&here, format!("`{keyword}` allows only listed values"));
                }
                "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" | "multipleOf" => {
                    if kinds & NUM != 0 && !number_done {
                        number_done = true;
                        numbers(a, map, kinds, path)?;
                    }
                }
                "minLength" | "maxLength" | "pattern" => {
                    if kinds & STR != 0 && !string_done {
                        string_done = true;
                        strings(a, map, path)?;
                    }
                }
                "properties"
                | "patternProperties"
                | "additionalProperties"
                | "required"
                | "minProperties"
                | "maxProperties"
                | "propertyNames"
                | "dependentRequired"
                | "dependentSchemas" => {
                    if kinds & OBJ != 0 && !object_done {
                        object_done = true;
                        self.objects(a, b, map, path, depth)?;
                    }
                }
                "prefixItems" | "items" | "minItems" | "maxItems" | "uniqueItems" | "contains" => {
                    if kinds & ARR != 0 && !array_done {
                        array_done = true;
                        self.arrays(a, b, map, path, depth)?;
                    }
                }
                other => {
                    return fail(
                        &here,
                        format!("`{other}` is not a keyword the check can compare"),
                    );
                }
            }
        }
        Ok(())
    }

    fn ref_chain(
        &mut self,
        a: &[Loc<'r>],
        target: &Loc<'r>,
        path: &str,
        depth: usize,
        chain: usize,
    ) -> Proof {
        if chain > MAX_REF_CHAIN {
            return fail(path, "a reference loops without reaching a keyword");
        }
        self.sub(a, target, path, depth)
    }

    /// `if`/`then`/`else` of `b`.
    fn condition(
        &mut self,
        a: &[Loc<'r>],
        b: &Loc<'r>,
        map: &'r Map<String, Value>,
        path: &str,
        depth: usize,
    ) -> Proof {
        let get = |k: &str| map.get(k);
        let same = |l: &Loc<'r>| {
            ["if", "then", "else"]
                .iter()
                .all(|k| match (l.get(k), get(k)) {
                    (None, None) => true,
                    (Some(x), Some(y)) => !has_reference(y) && json_eq(x, y),
                    _ => false,
                })
        };
        if a.iter().any(same) {
            return Ok(());
        }
        static TRUTHY: Value = Value::Bool(true);
        let truthy = &TRUTHY;
        let then = b.child(get("then").unwrap_or(truthy));
        let otherwise = b.child(get("else").unwrap_or(truthy));
        let cond = b.child(get("if").unwrap_or(truthy));
        if self.sub(a, &then, path, depth).is_ok() && self.sub(a, &otherwise, path, depth).is_ok() {
            return Ok(());
        }
        if self.disjoint(a, &cond) && self.sub(a, &otherwise, path, depth).is_ok() {
            return Ok(());
        }
        if self.sub(a, &cond, path, depth).is_ok() && self.sub(a, &then, path, depth).is_ok() {
            return Ok(());
        }
        fail(path, "`if`/`then`/`else` could not be decided")
    }

    /// True when no value is accepted by both `a` and `c` (proved; false when unknown).
    fn disjoint(&mut self, a: &[Loc<'r>], c: &Loc<'r>) -> bool {
        let a_cases = self.cases(a);
        let c_cases = self.cases(std::slice::from_ref(c));
        a_cases.iter().all(|ac| {
            c_cases.iter().all(|cc| {
                let ka = ac.iter().fold(ALL, |k, l| k & local_kinds(l.schema));
                let kc = cc.iter().fold(ALL, |k, l| k & local_kinds(l.schema));
                ka & kc == 0 || discriminated(ac, cc) || finite_disjoint(ac, cc, ka)
            })
        })
    }

    fn objects(
        &mut self,
        a: &[Loc<'r>],
        b: &Loc<'r>,
        map: &'r Map<String, Value>,
        path: &str,
        depth: usize,
    ) -> Proof {
        let required: BTreeSet<&str> = a
            .iter()
            .filter_map(|l| l.get("required").and_then(Value::as_array))
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if let Some(Value::Array(names)) = map.get("required") {
            for name in names.iter().filter_map(Value::as_str) {
                if !required.contains(name) {
                    return fail(
                        &format!("{path}/required"),
                        format!("property `{name}` is now required"),
                    );
                }
            }
        }
        let a_min = a
            .iter()
            .filter_map(|l| l.get("minProperties").and_then(count))
            .max()
            .unwrap_or(0)
            .max(required.len() as u64);
        if let Some(min) = map.get("minProperties").and_then(count)
            && a_min < min
        {
            return fail(
                &format!("{path}/minProperties"),
                format!("at least {min} properties are now needed"),
            );
        }
        if let Some(max) = map.get("maxProperties").and_then(count) {
            let a_max = a
                .iter()
                .filter_map(|l| {
                    let own = l.get("maxProperties").and_then(count);
                    let closed = closed_names(l).map(|n| n.len() as u64);
                    match (own, closed) {
                        (Some(x), Some(y)) => Some(x.min(y)),
                        (x, y) => x.or(y),
                    }
                })
                .min();
            if a_max.is_none_or(|m| m > max) {
                return fail(
                    &format!("{path}/maxProperties"),
                    format!("at most {max} properties are now allowed"),
                );
            }
        }
        let b_props = map.get("properties").and_then(Value::as_object);
        let b_additional = map.get("additionalProperties");
        if map.contains_key("patternProperties") {
            return fail(
                &format!("{path}/patternProperties"),
                "`patternProperties` cannot be compared",
            );
        }
        if b_props.is_some() || b_additional.is_some() {
            let mut names: BTreeSet<&str> = BTreeSet::new();
            names.extend(b_props.iter().flat_map(|p| p.keys().map(String::as_str)));
            for l in a {
                if let Some(p) = l.get("properties").and_then(Value::as_object) {
                    names.extend(p.keys().map(String::as_str));
                }
            }
            for name in names {
                let Some(b_schema) = b_props.and_then(|p| p.get(name)).or(b_additional) else {
                    continue;
                };
                let Some(a_schemas) = property_schemas(a, Some(name)) else {
                    continue;
                };
                let here = match b_props.and_then(|p| p.get(name)) {
                    Some(_) => format!("{path}/properties/{}", escape(name)),
                    None => format!("{path}/additionalProperties"),
                };
                self.sub(&a_schemas, &b.child(b_schema), &here, depth + 1)?;
            }
            if let Some(extra) = b_additional
                && let Some(a_schemas) = property_schemas(a, None)
            {
                self.sub(
                    &a_schemas,
                    &b.child(extra),
                    &format!("{path}/additionalProperties"),
                    depth + 1,
                )?;
            }
        }
        if let Some(names_schema) = map.get("propertyNames") {
            let here = format!("{path}/propertyNames");
            let same = a.iter().any(|l| {
                l.get("propertyNames")
                    .is_some_and(|x| !has_reference(names_schema) && json_eq(x, names_schema))
            });
            if !same {
                let mut proved = false;
                if let Some(names) = a.iter().find_map(closed_names) {
                    proved = names.iter().all(|n| {
                        plain_accepts(names_schema, &Value::String(n.to_string())) == Some(true)
                    });
                }
                if !proved && let Some(own) = a.iter().find_map(|l| l.get("propertyNames")) {
                    let owner = a.iter().find(|l| l.get("propertyNames").is_some());
                    if let Some(owner) = owner {
                        let string = Loc {
                            schema: &STRING_SCHEMA,
                            resolver: None,
                        };
                        proved = self
                            .sub(
                                &[owner.child(own), string],
                                &b.child(names_schema),
                                &here,
                                depth + 1,
                            )
                            .is_ok();
                    }
                }
                if !proved {
                    return fail(&here, "property names are now restricted");
                }
            }
        }
        if let Some(Value::Object(deps)) = map.get("dependentRequired") {
            for (key, needed) in deps {
                let needed: Vec<&str> = needed
                    .as_array()
                    .map(|v| v.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let ok = needed.iter().all(|n| required.contains(n))
                    || forbids(a, key)
                    || a.iter().any(|l| {
                        l.get("dependentRequired")
                            .and_then(|d| d.get(key))
                            .and_then(Value::as_array)
                            .is_some_and(|own| needed.iter().all(|n| own.iter().any(|o| o == n)))
                    });
                if !ok {
                    return fail(
                        &format!("{path}/dependentRequired/{}", escape(key)),
                        format!("`{key}` now needs {}", needed.join(", ")),
                    );
                }
            }
        }
        if let Some(Value::Object(deps)) = map.get("dependentSchemas") {
            for (key, schema) in deps {
                let here = format!("{path}/dependentSchemas/{}", escape(key));
                let same = a.iter().any(|l| {
                    l.get("dependentSchemas")
                        .and_then(|d| d.get(key))
                        .is_some_and(|x| !has_reference(schema) && json_eq(x, schema))
                });
                if !(same || forbids(a, key) || self.sub(a, &b.child(schema), &here, depth).is_ok())
                {
                    return fail(&here, format!("objects with `{key}` are now restricted"));
                }
            }
        }
        Ok(())
    }

    fn arrays(
        &mut self,
        a: &[Loc<'r>],
        b: &Loc<'r>,
        map: &'r Map<String, Value>,
        path: &str,
        depth: usize,
    ) -> Proof {
        let a_min = a
            .iter()
            .filter_map(|l| l.get("minItems").and_then(count))
            .max()
            .unwrap_or(0);
        let a_max = a
            .iter()
            .filter_map(|l| {
                let own = l.get("maxItems").and_then(count);
                let closed = (l.get("items") == Some(&Value::Bool(false))).then(|| {
                    l.get("prefixItems")
                        .and_then(Value::as_array)
                        .map_or(0, |p| p.len() as u64)
                });
                match (own, closed) {
                    (Some(x), Some(y)) => Some(x.min(y)),
                    (x, y) => x.or(y),
                }
            })
            .min();
        if let Some(min) = map.get("minItems").and_then(count)
            && a_min < min
        {
            return fail(
                &format!("{path}/minItems"),
                format!("at least {min} items are now needed"),
            );
        }
        if let Some(max) = map.get("maxItems").and_then(count)
            && a_max.is_none_or(|m| m > max)
        {
            return fail(
                &format!("{path}/maxItems"),
                format!("at most {max} items are now allowed"),
            );
        }
        if map.get("uniqueItems") == Some(&Value::Bool(true))
            && !a
                .iter()
                .any(|l| l.get("uniqueItems") == Some(&Value::Bool(true)))
            && a_max.is_none_or(|m| m > 1)
        {
            return fail(&format!("{path}/uniqueItems"), "items must now be unique");
        }
        let b_prefix = map.get("prefixItems").and_then(Value::as_array);
        let b_items = map.get("items");
        if b_prefix.is_some() || b_items.is_some() {
            let b_len = b_prefix.map_or(0, Vec::len);
            let a_len = a
                .iter()
                .filter_map(|l| l.get("prefixItems").and_then(Value::as_array).map(Vec::len))
                .max()
                .unwrap_or(0);
            let upto = a_len.max(b_len);
            for i in 0..upto {
                if a_max.is_some_and(|m| i as u64 >= m) {
                    break;
                }
                let (b_schema, here) = match b_prefix.and_then(|p| p.get(i)) {
                    Some(s) => (s, format!("{path}/prefixItems/{i}")),
                    None => match b_items {
                        Some(s) => (s, format!("{path}/items")),
                        None => continue,
                    },
                };
                let a_schemas: Vec<Loc<'r>> = a
                    .iter()
                    .filter_map(|l| {
                        let own = l
                            .get("prefixItems")
                            .and_then(Value::as_array)
                            .and_then(|p| p.get(i))
                            .or_else(|| l.get("items"));
                        own.map(|s| l.child(s))
                    })
                    .collect();
                self.sub(&a_schemas, &b.child(b_schema), &here, depth + 1)?;
            }
            if let Some(items) = b_items
                && a_max.is_none_or(|m| m > upto as u64)
            {
                let a_schemas: Vec<Loc<'r>> = a
                    .iter()
                    .filter_map(|l| l.get("items").map(|s| l.child(s)))
                    .collect();
                self.sub(
                    &a_schemas,
                    &b.child(items),
                    &format!("{path}/items"),
                    depth + 1,
                )?;
            }
        }
        if let Some(contains) = map.get("contains") {
            let here = format!("{path}/contains");
            let b_min = map.get("minContains").and_then(count).unwrap_or(1);
            let b_max = map.get("maxContains");
            let same = a.iter().any(|l| {
                !has_reference(contains)
                    && l.get("contains").is_some_and(|c| json_eq(c, contains))
                    && l.get("minContains").and_then(count).unwrap_or(1) == b_min
                    && l.get("maxContains") == b_max
            });
            let mut proved = same || (b_min == 0 && b_max.is_none());
            if !proved && b_max.is_none() {
                for l in a {
                    if let Some(own) = l.get("contains")
                        && l.get("minContains").and_then(count).unwrap_or(1) >= b_min
                        && self
                            .sub(&[l.child(own)], &b.child(contains), &here, depth + 1)
                            .is_ok()
                    {
                        proved = true;
                        break;
                    }
                }
            }
            if !proved {
                return fail(&here, "arrays must now contain a matching item");
            }
        }
        Ok(())
    }
}

/// The cases of one location: plain conjunctions whose union holds every value it accepts.
pub(super) fn cases_of<'r>(loc: &Loc<'r>) -> Vec<Vec<Loc<'r>>> {
    expand(loc, 0)
}

/// The cases of one location (see [`Prover::cases`]).
fn expand<'r>(loc: &Loc<'r>, chain: usize) -> Vec<Vec<Loc<'r>>> {
    let mut cases = vec![vec![loc.clone()]];
    let Some(map) = loc.obj() else {
        return cases;
    };
    if let Some(reference) = map.get("$ref").and_then(Value::as_str)
        && chain < MAX_REF_CHAIN
        && let Some(target) = loc.follow(reference)
        && !std::ptr::eq(target.schema, loc.schema)
    {
        cases = product(&cases, &expand(&target, chain + 1));
    }
    if let Some(Value::Array(members)) = map.get("allOf") {
        for m in members {
            let next = product(&cases, &expand(&loc.child(m), chain));
            if next.len() <= MAX_CASES {
                cases = next;
            }
        }
    }
    for keyword in ["anyOf", "oneOf"] {
        if let Some(Value::Array(members)) = map.get(keyword) {
            let alternatives: Vec<Vec<Loc<'r>>> = members
                .iter()
                .flat_map(|m| expand(&loc.child(m), chain))
                .collect();
            let next = product(&cases, &alternatives);
            if next.len() <= MAX_CASES {
                cases = next;
            }
        }
    }
    cases
}

fn product<'r>(left: &[Vec<Loc<'r>>], right: &[Vec<Loc<'r>>]) -> Vec<Vec<Loc<'r>>> {
    let mut out = Vec::with_capacity(left.len() * right.len());
    for l in left {
        for r in right {
            let mut both = l.clone();
            for loc in r {
                if !both.iter().any(|b| b.key() == loc.key()) {
                    both.push(loc.clone());
                }
            }
            out.push(both);
        }
    }
    out
}

/// The values of a plain conjunction when it lists them (`enum`, `const`) or its kinds are
/// finite (`null`, booleans).
pub(super) fn finite_values(a: &[Loc<'_>], kinds: u8) -> Option<Vec<Value>> {
    let listed = a.iter().find_map(|l| {
        let map = l.obj()?;
        if let Some(c) = map.get("const") {
            return Some(vec![c.clone()]);
        }
        map.get("enum").and_then(Value::as_array).cloned()
    });
    if let Some(values) = listed {
        return Some(
            values
                .into_iter()
                .filter(|v| kind_of(v) & kinds != 0)
                .collect(),
        );
    }
    if kinds & !(NULL | BOOL) == 0 {
        let mut values = Vec::new();
        if kinds & NULL != 0 {
            values.push(Value::Null);
        }
        if kinds & BOOL != 0 {
            values.extend([Value::Bool(false), Value::Bool(true)]);
        }
        return Some(values);
    }
    None
}

/// False only when a reference-free conjunct of `a` is known to refuse `value` (which then is not
/// one of `a`'s values).
fn accepted_by_all(a: &[Loc<'_>], value: &Value) -> bool {
    a.iter()
        .all(|l| plain_accepts(l.schema, value).unwrap_or(true))
}

/// Two plain conjunctions with a required property whose listed values do not meet.
fn discriminated(a: &[Loc<'_>], c: &[Loc<'_>]) -> bool {
    let listed = |case: &[Loc<'_>], name: &str| -> Option<Vec<Value>> {
        let required = case.iter().any(|l| {
            l.get("required")
                .and_then(Value::as_array)
                .is_some_and(|r| r.iter().any(|n| n == name))
        });
        if !required {
            return None;
        }
        case.iter().find_map(|l| {
            let s = l.get("properties")?.get(name)?;
            if let Some(c) = s.get("const") {
                return Some(vec![c.clone()]);
            }
            s.get("enum").and_then(Value::as_array).cloned()
        })
    };
    let names: BTreeSet<&str> = a
        .iter()
        .filter_map(|l| l.get("properties").and_then(Value::as_object))
        .flat_map(|p| p.keys().map(String::as_str))
        .collect();
    // Both must be objects for a property to tell them apart.
    let objects_only =
        |case: &[Loc<'_>]| case.iter().fold(ALL, |k, l| k & local_kinds(l.schema)) == OBJ;
    objects_only(a)
        && objects_only(c)
        && names
            .into_iter()
            .any(|name| match (listed(a, name), listed(c, name)) {
                (Some(x), Some(y)) => !x.iter().any(|v| y.iter().any(|w| json_eq(v, w))),
                _ => false,
            })
}

/// `a` lists its values, and `c` (reference-free) refuses each of them.
fn finite_disjoint(a: &[Loc<'_>], c: &[Loc<'_>], kinds: u8) -> bool {
    let Some(values) = finite_values(a, kinds) else {
        return false;
    };
    values
        .iter()
        .all(|v| c.iter().any(|l| plain_accepts(l.schema, v) == Some(false)))
}

/// The names an object of `l` may have, when `additionalProperties: false` closes it.
fn closed_names<'r>(l: &Loc<'r>) -> Option<Vec<&'r str>> {
    if l.get("additionalProperties") != Some(&Value::Bool(false))
        || l.get("patternProperties").is_some()
    {
        return None;
    }
    Some(
        l.get("properties")
            .and_then(Value::as_object)
            .map(|p| {
                p.iter()
                    .filter(|(_, s)| **s != Value::Bool(false))
                    .map(|(k, _)| k.as_str())
                    .collect()
            })
            .unwrap_or_default(),
    )
}

/// True when no object of `a` has the property `name`.
fn forbids(a: &[Loc<'_>], name: &str) -> bool {
    property_schemas(a, Some(name)).is_none()
}

/// The schemas `a` puts on property `name` (`None`: another property), or `None` when `a`
/// forbids it. A conjunct with `patternProperties` puts nothing on it (which only widens).
fn property_schemas<'r>(a: &[Loc<'r>], name: Option<&str>) -> Option<Vec<Loc<'r>>> {
    let mut out = Vec::new();
    for l in a {
        let own = name.and_then(|n| l.get("properties").and_then(|p| p.get(n)));
        let schema = match own {
            Some(s) => Some(s),
            None if l.get("patternProperties").is_some() => None,
            None => l.get("additionalProperties"),
        };
        if let Some(s) = schema {
            if *s == Value::Bool(false) {
                return None;
            }
            out.push(l.child(s));
        }
    }
    Some(out)
}

/// Numeric bounds of `b` against those of the plain conjunction `a`.
fn numbers(a: &[Loc<'_>], map: &Map<String, Value>, kinds: u8, path: &str) -> Proof {
    let num = |l: &Loc<'_>, k: &str| l.get(k).and_then(Value::as_f64);
    // (value, exclusive)
    let mut lo: Option<(f64, bool)> = None;
    let mut hi: Option<(f64, bool)> = None;
    for l in a {
        for (v, excl) in [
            (num(l, "minimum"), false),
            (num(l, "exclusiveMinimum"), true),
        ] {
            if let Some(v) = v
                && lo.is_none_or(|(x, e)| v > x || (v == x && excl && !e))
            {
                lo = Some((v, excl));
            }
        }
        for (v, excl) in [
            (num(l, "maximum"), false),
            (num(l, "exclusiveMaximum"), true),
        ] {
            if let Some(v) = v
                && hi.is_none_or(|(x, e)| v < x || (v == x && excl && !e))
            {
                hi = Some((v, excl));
            }
        }
    }
    let get = |k: &str| map.get(k).and_then(Value::as_f64);
    if let Some(m) = get("minimum")
        && !lo.is_some_and(|(v, _)| v >= m)
    {
        return fail(
            &format!("{path}/minimum"),
            format!("numbers below {m} are no longer accepted"),
        );
    }
    if let Some(m) = get("exclusiveMinimum")
        && !lo.is_some_and(|(v, e)| v > m || (v == m && e))
    {
        return fail(
            &format!("{path}/exclusiveMinimum"),
            format!("numbers up to {m} are no longer accepted"),
        );
    }
    if let Some(m) = get("maximum")
        && !hi.is_some_and(|(v, _)| v <= m)
    {
        return fail(
            &format!("{path}/maximum"),
            format!("numbers above {m} are no longer accepted"),
        );
    }
    if let Some(m) = get("exclusiveMaximum")
        && !hi.is_some_and(|(v, e)| v < m || (v == m && e))
    {
        return fail(
            &format!("{path}/exclusiveMaximum"),
            format!("numbers from {m} up are no longer accepted"),
        );
    }
    if let Some(m) = get("multipleOf") {
        let integers_only = kinds & NUM == INT;
        let ok = (m == 1.0 && integers_only)
            || a.iter()
                .filter_map(|l| num(l, "multipleOf"))
                .any(|own| own == m || (m.fract() == 0.0 && own.fract() == 0.0 && own % m == 0.0));
        if !ok {
            return fail(
                &format!("{path}/multipleOf"),
                format!("numbers must now be multiples of {m}"),
            );
        }
    }
    Ok(())
}

/// String constraints of `b` against those of the plain conjunction `a`.
fn strings(a: &[Loc<'_>], map: &Map<String, Value>, path: &str) -> Proof {
    let a_min = a
        .iter()
        .filter_map(|l| l.get("minLength").and_then(count))
        .max()
        .unwrap_or(0);
    let a_max = a
        .iter()
        .filter_map(|l| l.get("maxLength").and_then(count))
        .min();
    if let Some(min) = map.get("minLength").and_then(count)
        && a_min < min
    {
        return fail(
            &format!("{path}/minLength"),
            format!("strings shorter than {min} are no longer accepted"),
        );
    }
    if let Some(max) = map.get("maxLength").and_then(count)
        && a_max.is_none_or(|m| m > max)
    {
        return fail(
            &format!("{path}/maxLength"),
            format!("strings longer than {max} are no longer accepted"),
        );
    }
    if let Some(pattern) = map.get("pattern")
        && !a.iter().any(|l| l.get("pattern") == Some(pattern))
    {
        return fail(
            &format!("{path}/pattern"),
            "the `pattern` changed (patterns cannot be compared)",
        );
    }
    Ok(())
}

fn kind_names(kinds: u8) -> String {
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

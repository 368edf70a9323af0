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

use referencing::{Draft, Registry};
use serde_json::{Map, Value};

use super::bounds::{numbers, strings};
use super::cases::{
    MAX_REF_CHAIN, accepted_by_all, closed_names, discriminated, expand, finite_disjoint,
    finite_values, forbids, product, property_schemas,
};
use super::kinds::{
    ALL, ARR, INERT, NUM, OBJ, STR, count, escape, has_reference, kind_names, local_kinds,
    plain_accepts, type_kinds,
};
use super::loc::Loc;
use crate::schema_value::json_eq;

/// Why an inclusion was not proved.
#[derive(Debug, Clone)]
pub struct Failure {
    /// JSON pointer to the keyword of the outer schema that could not be discharged.
    pub path: String,
    /// In words.
    pub reason: String,
}

pub(super) type Proof = Result<(), Failure>;

pub(super) fn fail(path: &str, reason: impl Into<String>) -> Proof {
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

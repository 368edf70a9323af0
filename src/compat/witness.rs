//! A value on the wrong side of a change: accepted by one schema, refused by the other.
//!
//! Candidates are built from the accepting schema's keywords (its listed values, its bounds and
//! their neighbours, objects with and without each optional property, arrays of the lengths it
//! allows, …), smallest first, and each is checked with compozy's validator against both
//! schemas. Only a value the validator confirms is returned: a witness is never a guess.

use serde_json::{Map, Value, json};

use super::kinds::{ALL, ARR, BOOL, FRAC, INT, NULL, OBJ, STR, local_kinds};
use super::loc::Loc;

/// A confirmed witness.
#[derive(Debug, Clone)]
pub struct Found {
    /// The value.
    pub value: Value,
    /// Where the refusing schema refuses it (JSON pointer of the keyword).
    pub path: String,
    /// The validator's message for the refusal.
    pub refusal: String,
}

/// Candidates kept for the top schema; nested schemas keep fewer (see [`keep`]).
const PER_SCHEMA: usize = 24;
/// How deep candidates are built.
const MAX_DEPTH: usize = 4;

/// How many candidates a schema at `depth` contributes: the search stays polynomial.
fn keep(depth: usize) -> usize {
    (PER_SCHEMA >> (2 * depth)).max(2)
}

/// A value `accepting` accepts and `refusing` refuses, confirmed by the validator.
pub fn find(accepting: &Value, refusing: &Value) -> Option<Found> {
    let accept = crate::runtime::compile_schema(accepting).ok()?;
    let refuse = crate::runtime::compile_schema(refusing).ok()?;
    let draft = referencing::Draft::Draft202012;
    let resource = draft.create_resource_ref(accepting);
    let base = resource.id().unwrap_or("json-schema:///").to_owned();
    let registry = referencing::Registry::new()
        .draft(draft)
        .add(&base, resource)
        .and_then(|b| b.prepare())
        .ok();
    let resolver = registry
        .as_ref()
        .and_then(|r| Some(r.resolver(referencing::uri::from_str(&base).ok()?)));
    let root = Loc {
        schema: accepting,
        resolver,
    };
    let mut probes = Vec::new();
    property_names(refusing, &mut probes);
    probes.sort();
    probes.dedup();
    let g = Gen { probes };
    let mut candidates = values(&g, &root, 0);
    // Smallest first: the clearest witness.
    candidates.sort_by_key(|v| v.to_string().len());
    candidates.into_iter().find_map(|value| {
        if !accept.is_valid(&value) {
            return None;
        }
        let error = refuse.iter_errors(&value).next()?;
        let path = error.schema_path().as_str().to_owned();
        let refusal = error.to_string();
        Some(Found {
            value,
            path: if path.is_empty() { "/".into() } else { path },
            refusal,
        })
    })
}

/// What candidates are built with.
struct Gen {
    /// Property names the refusing schema mentions: an object may be refused for one of them.
    probes: Vec<String>,
}

fn property_names(schema: &Value, out: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            for (k, v) in map {
                if matches!(
                    k.as_str(),
                    "properties" | "dependentRequired" | "dependentSchemas"
                ) && let Value::Object(props) = v
                {
                    out.extend(props.keys().cloned());
                }
                if k == "required"
                    && let Value::Array(names) = v
                {
                    out.extend(names.iter().filter_map(Value::as_str).map(str::to_owned));
                }
                property_names(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| property_names(v, out)),
        _ => {}
    }
}

/// Candidate values of `loc` (not all of them valid).
fn values(g: &Gen, loc: &Loc<'_>, depth: usize) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    if depth > MAX_DEPTH {
        out.extend([json!(null), json!({}), json!([]), json!(""), json!(0)]);
        return out;
    }
    let cases = super::cases::cases_of(loc);
    for case in cases.iter().take(8) {
        out.extend(case_values(g, case, depth));
    }
    dedup(&mut out);
    out.truncate(if depth == 0 {
        PER_SCHEMA * 16
    } else {
        keep(depth) * 2
    });
    out
}

fn dedup(values: &mut Vec<Value>) {
    let mut seen = std::collections::HashSet::new();
    values.retain(|v| seen.insert(v.to_string()));
}

fn case_values(g: &Gen, case: &[Loc<'_>], depth: usize) -> Vec<Value> {
    let kinds = case.iter().fold(ALL, |k, l| k & local_kinds(l.schema));
    let mut out = Vec::new();
    if let Some(values) = super::cases::finite_values(case, kinds) {
        return values;
    }
    let get = |k: &str| case.iter().find_map(|l| l.schema.get(k));
    let num = |k: &str| get(k).and_then(Value::as_f64);
    let uint = |k: &str| get(k).and_then(super::kinds::count);
    if kinds & NULL != 0 {
        out.push(Value::Null);
    }
    if kinds & BOOL != 0 {
        out.extend([json!(false), json!(true)]);
    }
    if kinds & STR != 0 {
        let min = uint("minLength").unwrap_or(0) as usize;
        let max = uint("maxLength").map(|m| m as usize);
        let mut lengths = vec![min, min + 1, 0, 1];
        if let Some(max) = max {
            lengths.extend([max, max + 1]);
        }
        for n in lengths {
            if n <= 256 {
                out.push(Value::String("a".repeat(n)));
            }
        }
        out.push(json!("0"));
    }
    if kinds & (INT | FRAC) != 0 {
        let mut numbers: Vec<f64> = vec![0.0, 1.0, -1.0];
        for k in ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"] {
            if let Some(v) = num(k) {
                numbers.extend([v, v - 1.0, v + 1.0, v.floor(), v.ceil()]);
            }
        }
        if let Some(m) = num("multipleOf") {
            numbers.extend([m, 2.0 * m]);
        }
        for n in numbers {
            if kinds & INT != 0 && n.fract() == 0.0 {
                if n.abs() < 9.0e15 {
                    out.push(json!(n as i64));
                }
            } else if kinds & FRAC != 0 && n.is_finite() {
                out.push(json!(n));
            }
            if kinds & FRAC != 0 && n.is_finite() {
                out.push(json!(n + 0.5));
            }
        }
    }
    if kinds & ARR != 0 {
        out.extend(arrays(g, case, depth));
    }
    if kinds & OBJ != 0 {
        out.extend(objects(g, case, depth));
    }
    out
}

fn arrays(g: &Gen, case: &[Loc<'_>], depth: usize) -> Vec<Value> {
    let min = case
        .iter()
        .filter_map(|l| l.schema.get("minItems").and_then(super::kinds::count))
        .max()
        .unwrap_or(0) as usize;
    let prefix: Vec<Loc<'_>> = case
        .iter()
        .filter_map(|l| {
            l.schema
                .get("prefixItems")
                .and_then(Value::as_array)
                .map(|p| (l, p))
        })
        .flat_map(|(l, p)| p.iter().map(|s| child(l, s)))
        .collect();
    let items = case
        .iter()
        .find_map(|l| l.schema.get("items").map(|s| child(l, s)));
    let len = min.max(prefix.len()).min(16);
    let computed: Vec<Vec<Value>> = (0..=len)
        .map(|i| match prefix.get(i).or(items.as_ref()) {
            Some(s) => values(g, s, depth + 1),
            None => vec![json!(null), json!(0), json!("")],
        })
        .collect();
    let element = |i: usize| -> Vec<Value> { computed[i.min(len)].clone() };
    let mut out = Vec::new();
    // The smallest arrays: each element its first candidate; then one element varied.
    let firsts: Vec<Value> = (0..len)
        .map(|i| element(i).into_iter().next().unwrap_or(Value::Null))
        .collect();
    out.push(Value::Array(firsts[..min.min(len)].to_vec()));
    out.push(Value::Array(firsts.clone()));
    for i in 0..len.max(1) {
        for candidate in element(i).into_iter().take(keep(depth)) {
            let mut arr = firsts.clone();
            if i < arr.len() {
                arr[i] = candidate;
            } else {
                arr.push(candidate);
            }
            out.push(Value::Array(arr));
        }
    }
    // Longer and duplicated.
    let mut longer = firsts.clone();
    longer.extend(element(len).into_iter().take(1));
    out.push(Value::Array(longer.clone()));
    if let Some(first) = longer.first().cloned() {
        longer.push(first);
        out.push(Value::Array(longer));
    }
    out
}

fn objects(g: &Gen, case: &[Loc<'_>], depth: usize) -> Vec<Value> {
    let mut required: Vec<&str> = Vec::new();
    let mut properties: Vec<(&str, Loc<'_>)> = Vec::new();
    for l in case {
        if let Some(Value::Array(names)) = l.schema.get("required") {
            required.extend(names.iter().filter_map(Value::as_str));
        }
        if let Some(Value::Object(props)) = l.schema.get("properties") {
            for (name, s) in props {
                properties.push((name.as_str(), child(l, s)));
            }
        }
    }
    required.sort_unstable();
    required.dedup();
    let mut names: Vec<&str> = properties.iter().map(|(n, _)| *n).collect();
    names.sort_unstable();
    names.dedup();
    let computed: std::collections::HashMap<&str, Vec<Value>> = names
        .iter()
        .chain(&required)
        .map(|name| {
            let own: Vec<Value> = properties
                .iter()
                .filter(|(n, _)| n == name)
                .flat_map(|(_, s)| values(g, s, depth + 1))
                .collect();
            let own = if own.is_empty() {
                vec![json!(""), json!(0), json!(null), json!(true)]
            } else {
                own
            };
            (*name, own)
        })
        .collect();
    let schema_of = |name: &str| -> Vec<Value> { computed.get(name).cloned().unwrap_or_default() };
    let mut base = Map::new();
    for name in &required {
        // A value all of the property's schemas accept, when one is among the candidates.
        let schemas: Vec<&Loc<'_>> = properties
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, s)| s)
            .collect();
        let candidates = schema_of(name);
        let chosen = candidates
            .iter()
            .find(|v| {
                schemas
                    .iter()
                    .all(|s| super::kinds::plain_accepts(s.schema, v).unwrap_or(true))
            })
            .or(candidates.first())
            .cloned()
            .unwrap_or(Value::Null);
        base.insert((*name).to_owned(), chosen);
    }
    let mut out = vec![Value::Object(base.clone())];
    for name in names {
        for candidate in schema_of(name).into_iter().take(keep(depth)) {
            let mut obj = base.clone();
            obj.insert(name.to_owned(), candidate);
            out.push(Value::Object(obj));
        }
    }
    // A property no schema names.
    let extra = case
        .iter()
        .find_map(|l| l.schema.get("additionalProperties").map(|s| child(l, s)));
    let extras = match &extra {
        Some(s) => values(g, s, depth + 1),
        None => vec![json!(""), json!(0), json!(null)],
    };
    for probe in g.probes.iter().take(32) {
        if base.contains_key(probe) || properties.iter().any(|(n, _)| n == probe) {
            continue;
        }
        for candidate in extras.iter().take(keep(depth).min(4)) {
            let mut obj = base.clone();
            obj.insert(probe.clone(), candidate.clone());
            out.push(Value::Object(obj));
        }
    }
    for candidate in extras.into_iter().take(keep(depth).min(6)) {
        let mut obj = base.clone();
        let mut name = "x".to_owned();
        while obj.contains_key(&name) {
            name.push('x');
        }
        obj.insert(name, candidate);
        out.push(Value::Object(obj));
    }
    out
}

fn child<'r>(l: &Loc<'r>, schema: &'r Value) -> Loc<'r> {
    Loc {
        schema,
        resolver: l.resolver.clone(),
    }
}

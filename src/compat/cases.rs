//! Splitting a schema into cases (plain conjunctions), and what those cases say about the values
//! and properties they allow.

use std::collections::BTreeSet;

use serde_json::Value;

use super::kinds::{ALL, BOOL, NULL, OBJ, kind_of, local_kinds, plain_accepts};
use super::loc::Loc;
use crate::schema_value::json_eq;

/// Cases `anyOf`/`oneOf` of the inner schema are split into; past this they are dropped (which
/// only widens the inner schema).
pub(super) const MAX_CASES: usize = 64;
/// `$ref`s followed in a row without reaching a keyword.
pub(super) const MAX_REF_CHAIN: usize = 32;

/// The cases of one location: plain conjunctions whose union holds every value it accepts.
pub(super) fn cases_of<'r>(loc: &Loc<'r>) -> Vec<Vec<Loc<'r>>> {
    expand(loc, 0)
}

/// The cases of one location (see `Prover::cases` in `subset.rs`).
pub(super) fn expand<'r>(loc: &Loc<'r>, chain: usize) -> Vec<Vec<Loc<'r>>> {
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

pub(super) fn product<'r>(left: &[Vec<Loc<'r>>], right: &[Vec<Loc<'r>>]) -> Vec<Vec<Loc<'r>>> {
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
pub(super) fn accepted_by_all(a: &[Loc<'_>], value: &Value) -> bool {
    a.iter()
        .all(|l| plain_accepts(l.schema, value).unwrap_or(true))
}

/// Two plain conjunctions with a required property whose listed values do not meet.
pub(super) fn discriminated(a: &[Loc<'_>], c: &[Loc<'_>]) -> bool {
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
pub(super) fn finite_disjoint(a: &[Loc<'_>], c: &[Loc<'_>], kinds: u8) -> bool {
    let Some(values) = finite_values(a, kinds) else {
        return false;
    };
    values
        .iter()
        .all(|v| c.iter().any(|l| plain_accepts(l.schema, v) == Some(false)))
}

/// The names an object of `l` may have, when `additionalProperties: false` closes it.
pub(super) fn closed_names<'r>(l: &Loc<'r>) -> Option<Vec<&'r str>> {
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
pub(super) fn forbids(a: &[Loc<'_>], name: &str) -> bool {
    property_schemas(a, Some(name)).is_none()
}

/// The schemas `a` puts on property `name` (`None`: another property), or `None` when `a`
/// forbids it. A conjunct with `patternProperties` puts nothing on it (which only widens).
pub(super) fn property_schemas<'r>(a: &[Loc<'r>], name: Option<&str>) -> Option<Vec<Loc<'r>>> {
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

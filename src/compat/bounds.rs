//! Numeric and string bounds: does the outer schema's bound hold for every value of the inner
//! plain conjunction?

use serde_json::{Map, Value};

use super::kinds::{INT, NUM, count};
use super::loc::Loc;
use super::subset::{Proof, fail};

/// Numeric bounds of `b` against those of the plain conjunction `a`.
pub(super) fn numbers(a: &[Loc<'_>], map: &Map<String, Value>, kinds: u8, path: &str) -> Proof {
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
pub(super) fn strings(a: &[Loc<'_>], map: &Map<String, Value>, path: &str) -> Proof {
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

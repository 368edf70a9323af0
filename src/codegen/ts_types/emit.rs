//! [`Ty`] → TypeScript source: precedence, layout, and named types for recursive schemas.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::Value;

use super::translate::{Def, Translation};
use super::ty::{self, ArrayTy, Kinds, ObjectTy, Ty};
use super::{Declaration, Declarations};

/// Members of TypeScript's `Object` interface. An object literal without one of these properties
/// still has it (inherited), so an optional property of that name must also accept a function
/// (`{}` is not assignable to `{ toString?: number }`). And a literal's property of that name
/// that only an index signature covers is typed without the signature's guidance (`-1` as
/// `number`, `[]` as `never[]`), so where that matters these names are declared.
const OBJECT_MEMBERS: [&str; 7] = [
    "constructor",
    "hasOwnProperty",
    "isPrototypeOf",
    "propertyIsEnumerable",
    "toLocaleString",
    "toString",
    "valueOf",
];

/// A tuple spells out at most this many items beyond `prefixItems` (for `minItems`, `maxItems`).
const MAX_SPELLED_ITEMS: u64 = 8;
/// A definition used from several places gets a name once its type is larger than this.
const MAX_INLINED_SIZE: u64 = 24;

/// Where a type is printed, for parentheses.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Position {
    Top,
    Intersected,
    Element,
}

/// The surroundings of a type being printed.
#[derive(Clone, Copy)]
struct Cx {
    /// Indentation level (two spaces each).
    indent: usize,
    pos: Position,
}

impl Cx {
    fn top(indent: usize) -> Cx {
        Cx {
            indent,
            pos: Position::Top,
        }
    }

    fn at(self, pos: Position) -> Cx {
        Cx { pos, ..self }
    }
}

/// How each referenced definition is printed.
#[derive(Clone)]
enum Plan {
    Inline,
    Named(String),
}

pub(super) struct Emitter<'a> {
    defs: &'a Vec<Def>,
    plans: Vec<Plan>,
    /// For each named definition, the named definitions it reaches without passing through an
    /// array or object (a cycle of such references has no TypeScript spelling).
    unguarded: Vec<BTreeSet<usize>>,
}

impl<'a> Emitter<'a> {
    /// Decides which definitions get names (recursive ones, and large ones used twice) and
    /// records the named ones in `decls`.
    pub(super) fn new(t: &'a Translation, prefix: &str, decls: &mut Declarations) -> Self {
        let defs = &t.defs;
        let mut uses = vec![0u32; defs.len()];
        count_refs(&t.root, &mut uses);
        for def in defs {
            if let Some(body) = &def.body {
                count_refs(body, &mut uses);
            }
        }
        // A definition's body only mentions definitions started after it, or enclosing ones
        // (recursive, so named): deciding from the last one up sees every answer it needs.
        let mut plans = vec![Plan::Inline; defs.len()];
        let mut sizes = vec![0u64; defs.len()];
        for id in (0..defs.len()).rev() {
            let size = defs[id]
                .body
                .as_ref()
                .map_or(1, |b| expanded_size(b, &plans, &sizes));
            sizes[id] = size;
            if defs[id].recursive || (uses[id] >= 2 && size > MAX_INLINED_SIZE) {
                plans[id] = Plan::Named(decls.reserve(&format!("{prefix}${}", defs[id].hint)));
            }
        }
        let mut unguarded = vec![BTreeSet::new(); defs.len()];
        for (id, def) in defs.iter().enumerate() {
            if matches!(plans[id], Plan::Named(_))
                && let Some(body) = &def.body
            {
                collect_unguarded(body, defs, &plans, &mut unguarded[id]);
            }
        }
        // Close over named-to-named steps.
        loop {
            let mut changed = false;
            for id in 0..defs.len() {
                let reached: Vec<usize> = unguarded[id].iter().copied().collect();
                for r in reached {
                    let further: Vec<usize> = unguarded[r].iter().copied().collect();
                    for f in further {
                        changed |= unguarded[id].insert(f);
                    }
                }
            }
            if !changed {
                break;
            }
        }
        let emitter = Emitter {
            defs,
            plans,
            unguarded,
        };
        for (id, def) in defs.iter().enumerate() {
            if let (Plan::Named(name), Some(body)) = (&emitter.plans[id], &def.body) {
                let name = name.clone();
                let body = emitter.break_cycles(body, id);
                let mut out = String::new();
                emitter.ty(&body, Cx::top(0), &mut out);
                decls.items.push(Declaration { name, body: out });
            }
        }
        emitter
    }

    /// `body` of the named definition `current`, with each reference that would make it refer
    /// to itself outside any array or object replaced by `unknown` (wider; TypeScript has no
    /// spelling for such a type). Inlined definitions in those positions are expanded.
    fn break_cycles(&self, body: &Ty, current: usize) -> Ty {
        match body {
            Ty::Ref(id) => match &self.plans[*id] {
                Plan::Named(_) => {
                    if *id == current || self.unguarded[*id].contains(&current) {
                        Ty::Unknown
                    } else {
                        body.clone()
                    }
                }
                Plan::Inline => match &self.defs[*id].body {
                    Some(inner) => self.break_cycles(inner, current),
                    None => Ty::Unknown,
                },
            },
            Ty::Union(members) => ty::union(
                members
                    .iter()
                    .map(|m| self.break_cycles(m, current))
                    .collect(),
            ),
            Ty::Inter(members) => {
                let members: Vec<Ty> = members
                    .iter()
                    .map(|m| self.break_cycles(m, current))
                    .filter(|m| *m != Ty::Unknown)
                    .collect();
                match members.len() {
                    0 => Ty::Unknown,
                    1 => members.into_iter().next().unwrap_or(Ty::Unknown),
                    _ => Ty::Inter(members),
                }
            }
            other => other.clone(),
        }
    }

    /// Prints `ty` at indentation level `indent` (two spaces each).
    pub(super) fn print(&self, ty: &Ty, indent: usize) -> String {
        let mut out = String::new();
        self.ty(ty, Cx::top(indent), &mut out);
        out
    }

    fn ty(&self, ty: &Ty, cx: Cx, out: &mut String) {
        match ty {
            Ty::Never => out.push_str("never"),
            Ty::Unknown => out.push_str("unknown"),
            Ty::NonNull => out.push_str("NonNullable<unknown>"),
            Ty::Null => out.push_str("null"),
            Ty::Boolean => out.push_str("boolean"),
            Ty::Number => out.push_str("number"),
            Ty::String => out.push_str("string"),
            Ty::Lit(value) => self.literal(value, cx.indent, out),
            Ty::Array(a) => self.array(a, cx, out),
            Ty::Object(o) => self.object(o, cx, out),
            Ty::Union(members) => {
                let parens = cx.pos != Position::Top;
                if parens {
                    out.push('(');
                }
                for (i, m) in members.iter().enumerate() {
                    if i > 0 {
                        out.push_str(" | ");
                    }
                    self.ty(m, cx.at(Position::Intersected), out);
                }
                if parens {
                    out.push(')');
                }
            }
            Ty::Inter(members) => {
                let members = self.simplify_inter(members);
                match members.as_slice() {
                    [] => out.push_str("unknown"),
                    [one] => self.ty(one, cx, out),
                    _ if members.contains(&Ty::Never) => out.push_str("never"),
                    _ => {
                        let parens = cx.pos == Position::Element;
                        if parens {
                            out.push('(');
                        }
                        for (i, m) in members.iter().enumerate() {
                            if i > 0 {
                                out.push_str(" & ");
                            }
                            self.ty(m, cx.at(Position::Intersected), out);
                        }
                        if parens {
                            out.push(')');
                        }
                    }
                }
            }
            Ty::Ref(id) => match &self.plans[*id] {
                Plan::Named(name) => out.push_str(name),
                Plan::Inline => match &self.defs[*id].body {
                    Some(body) => self.ty(body, cx, out),
                    None => out.push_str("unknown"),
                },
            },
        }
    }

    /// The members of an intersection, each cut down to the kinds all of them share; members
    /// that then say nothing more are dropped.
    fn simplify_inter(&self, members: &[Ty]) -> Vec<Ty> {
        let kinds = members
            .iter()
            .fold(Kinds::ALL, |k, m| k.inter(m.kinds(self.defs)));
        if kinds.is_empty() {
            return vec![Ty::Never];
        }
        let whole = Ty::of_kinds(kinds);
        let mut out = Vec::new();
        for m in members {
            let m = match m {
                Ty::Ref(_) => m.clone(),
                other => ty::restrict(other.clone(), kinds, self.defs),
            };
            if m == Ty::Never {
                return vec![Ty::Never];
            }
            if m != whole && !out.contains(&m) {
                out.push(m);
            }
        }
        out
    }

    fn array(&self, a: &ArrayTy, cx: Cx, out: &mut String) {
        let inner = Cx::top(cx.indent);
        let k = a.prefix.len() as u64;
        let mut elements: Vec<(&Ty, bool)> = a
            .prefix
            .iter()
            .enumerate()
            .map(|(i, t)| (t, (i as u64) < a.min))
            .collect();
        let mut rest = (a.rest != Ty::Never).then_some(&a.rest);
        match a.max {
            Some(max) if max.saturating_sub(k) <= MAX_SPELLED_ITEMS => {
                for i in k..max {
                    elements.push((&a.rest, i < a.min));
                }
                rest = None;
            }
            _ => {
                if a.min > k && a.min - k <= MAX_SPELLED_ITEMS {
                    for _ in k..a.min {
                        elements.push((&a.rest, true));
                    }
                }
            }
        }
        if elements.is_empty() {
            match rest {
                Some(rest) => {
                    self.ty(rest, inner.at(Position::Element), out);
                    out.push_str("[]");
                }
                None => out.push_str("[]"),
            }
            return;
        }
        // TypeScript cannot resolve a type alias whose optional tuple element holds an array or
        // tuple that leads back to the alias (`type A = [[A?]?]`); spelled as a union of tuples
        // without optional elements, the same type resolves (`[] | [[] | [A]]`).
        let spelled_out = elements
            .iter()
            .any(|(t, required)| !required && self.mentions_named(t));
        if !spelled_out {
            self.tuple(&elements, elements.len(), true, rest, inner, out);
            return;
        }
        let required = elements.iter().take_while(|(_, r)| *r).count();
        let parens = cx.pos != Position::Top;
        if parens {
            out.push('(');
        }
        for len in required..=elements.len() {
            if len > required {
                out.push_str(" | ");
            }
            let rest = if len == elements.len() { rest } else { None };
            self.tuple(&elements, len, false, rest, inner, out);
        }
        if parens {
            out.push(')');
        }
    }

    /// `[e0, e1?, …, ...rest[]]` with the first `len` elements, all required unless
    /// `optional_allowed`.
    fn tuple(
        &self,
        elements: &[(&Ty, bool)],
        len: usize,
        optional_allowed: bool,
        rest: Option<&Ty>,
        cx: Cx,
        out: &mut String,
    ) {
        out.push('[');
        for (i, (t, required)) in elements[..len].iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let optional = !required && optional_allowed;
            // `A | B?` would read as an optional `B`.
            let pos = if optional {
                Position::Element
            } else {
                Position::Top
            };
            self.ty(t, cx.at(pos), out);
            if optional {
                out.push('?');
            }
        }
        if let Some(rest) = rest {
            if len > 0 {
                out.push_str(", ");
            }
            out.push_str("...");
            self.ty(rest, cx.at(Position::Element), out);
            out.push_str("[]");
        }
        out.push(']');
    }

    /// True when `ty` refers to a named type other than through an object type.
    fn mentions_named(&self, ty: &Ty) -> bool {
        match ty {
            Ty::Ref(id) => match &self.plans[*id] {
                Plan::Named(_) => true,
                Plan::Inline => self.defs[*id]
                    .body
                    .as_ref()
                    .is_some_and(|b| self.mentions_named(b)),
            },
            Ty::Union(ms) | Ty::Inter(ms) => ms.iter().any(|m| self.mentions_named(m)),
            Ty::Array(a) => {
                a.prefix.iter().any(|m| self.mentions_named(m)) || self.mentions_named(&a.rest)
            }
            _ => false,
        }
    }

    fn object(&self, o: &ObjectTy, cx: Cx, out: &mut String) {
        let indent = cx.indent;
        // Every named property must fit the index signature too (TS2411), so the index
        // signature is widened by their types.
        let index = (o.extra != Ty::Never).then(|| {
            let mut members = vec![o.extra.clone()];
            members.extend(o.props.iter().map(|p| p.ty.clone()));
            ty::union(members)
        });
        let inherited: Vec<&str> = match &index {
            Some(index) if *index != Ty::Unknown && self.needs_context(index, &mut Vec::new()) => {
                OBJECT_MEMBERS
                    .iter()
                    .copied()
                    .filter(|m| o.prop(m).is_none())
                    .collect()
            }
            _ => Vec::new(),
        };
        if o.props.is_empty() && inherited.is_empty() {
            out.push_str("{ [key: string]: ");
            self.ty(&o.extra, Cx::top(indent), out);
            out.push_str(" }");
            return;
        }
        let pad = "  ".repeat(indent + 1);
        let mut function = false;
        out.push_str("{\n");
        for p in &o.props {
            out.push_str(&pad);
            out.push_str(&property_key(&p.name));
            if !p.required {
                out.push('?');
            }
            out.push_str(": ");
            if !p.required && p.ty != Ty::Unknown && OBJECT_MEMBERS.contains(&p.name.as_str()) {
                if p.ty != Ty::Never {
                    self.ty(&p.ty, Cx::top(indent + 1).at(Position::Intersected), out);
                    out.push_str(" | ");
                }
                out.push_str("Function");
                function = true;
            } else {
                self.ty(&p.ty, Cx::top(indent + 1), out);
            }
            out.push_str(";\n");
        }
        if let Some(index) = &index {
            for name in &inherited {
                out.push_str(&pad);
                out.push_str(name);
                out.push_str("?: ");
                self.ty(index, Cx::top(indent + 1).at(Position::Intersected), out);
                out.push_str(" | Function;\n");
                function = true;
            }
            out.push_str(&pad);
            out.push_str("[key: string]: ");
            self.ty(index, Cx::top(indent + 1), out);
            if *index != Ty::Unknown {
                if function {
                    out.push_str(" | Function");
                }
                if o.props.iter().any(|p| !p.required) || !inherited.is_empty() {
                    out.push_str(" | undefined");
                }
            }
            out.push_str(";\n");
        }
        out.push_str(&"  ".repeat(indent));
        out.push('}');
    }

    /// True when an object literal's value is assignable to `ty` only with `ty` guiding how the
    /// literal is typed: literal types, tuples, or objects and arrays of them.
    fn needs_context(&self, ty: &Ty, seen: &mut Vec<usize>) -> bool {
        match ty {
            Ty::Lit(Value::Null) => false,
            Ty::Lit(_) => true,
            Ty::Array(a) => {
                !a.prefix.is_empty() || a.max.is_some() || self.needs_context(&a.rest, seen)
            }
            Ty::Object(o) => {
                o.props.iter().any(|p| self.needs_context(&p.ty, seen))
                    || self.needs_context(&o.extra, seen)
            }
            Ty::Union(ms) | Ty::Inter(ms) => ms.iter().any(|m| self.needs_context(m, seen)),
            Ty::Ref(id) => {
                if seen.contains(id) {
                    return false;
                }
                seen.push(*id);
                self.defs[*id]
                    .body
                    .as_ref()
                    .is_none_or(|b| self.needs_context(b, seen))
            }
            _ => false,
        }
    }

    fn literal(&self, value: &Value, indent: usize, out: &mut String) {
        match value {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => {
                let _ = write!(out, "{b}");
            }
            Value::Number(n) => {
                let _ = write!(out, "{n}");
            }
            Value::String(s) => out.push_str(&string_literal(s)),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    self.literal(item, indent, out);
                }
                out.push(']');
            }
            Value::Object(map) if map.is_empty() => out.push_str("{ [key: string]: never }"),
            Value::Object(map) => {
                let pad = "  ".repeat(indent + 1);
                out.push_str("{\n");
                for (k, v) in map {
                    out.push_str(&pad);
                    out.push_str(&property_key(k));
                    out.push_str(": ");
                    self.literal(v, indent + 1, out);
                    out.push_str(";\n");
                }
                out.push_str(&"  ".repeat(indent));
                out.push('}');
            }
        }
    }
}

fn count_refs(ty: &Ty, uses: &mut [u32]) {
    match ty {
        Ty::Ref(id) => uses[*id] = uses[*id].saturating_add(1),
        Ty::Union(ms) | Ty::Inter(ms) => ms.iter().for_each(|m| count_refs(m, uses)),
        Ty::Array(a) => {
            a.prefix.iter().for_each(|m| count_refs(m, uses));
            count_refs(&a.rest, uses);
        }
        Ty::Object(o) => {
            o.props.iter().for_each(|p| count_refs(&p.ty, uses));
            count_refs(&o.extra, uses);
        }
        _ => {}
    }
}

/// The number of nodes `ty` prints as, with inlined definitions expanded.
fn expanded_size(ty: &Ty, plans: &[Plan], sizes: &[u64]) -> u64 {
    let sum = |ms: &mut dyn Iterator<Item = &Ty>| {
        ms.fold(1u64, |acc, m| {
            acc.saturating_add(expanded_size(m, plans, sizes))
        })
    };
    match ty {
        Ty::Ref(id) => match plans[*id] {
            Plan::Named(_) => 1,
            Plan::Inline => sizes[*id].max(1),
        },
        Ty::Union(ms) | Ty::Inter(ms) => sum(&mut ms.iter()),
        Ty::Array(a) => sum(&mut a.prefix.iter().chain(std::iter::once(&a.rest))),
        Ty::Object(o) => sum(&mut o
            .props
            .iter()
            .map(|p| &p.ty)
            .chain(std::iter::once(&o.extra))),
        Ty::Lit(v) => literal_size(v),
        _ => 1,
    }
}

fn literal_size(v: &Value) -> u64 {
    match v {
        Value::Array(items) => items.iter().map(literal_size).sum::<u64>() + 1,
        Value::Object(map) => map.values().map(literal_size).sum::<u64>() + 1,
        _ => 1,
    }
}

/// Named definitions `ty` mentions outside any array or object (through inlined ones).
fn collect_unguarded(ty: &Ty, defs: &[Def], plans: &[Plan], found: &mut BTreeSet<usize>) {
    match ty {
        Ty::Ref(id) => match plans[*id] {
            Plan::Named(_) => {
                found.insert(*id);
            }
            Plan::Inline => {
                if let Some(body) = &defs[*id].body {
                    collect_unguarded(body, defs, plans, found);
                }
            }
        },
        Ty::Union(ms) | Ty::Inter(ms) => {
            for m in ms {
                collect_unguarded(m, defs, plans, found);
            }
        }
        _ => {}
    }
}

/// A property name: bare when it is an identifier, else a string literal.
fn property_key(name: &str) -> String {
    let mut chars = name.chars();
    let identifier = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if identifier {
        name.to_owned()
    } else {
        string_literal(name)
    }
}

/// A TypeScript string literal (JSON's escapes, plus the two line separators).
pub(super) fn string_literal(s: &str) -> String {
    serde_json::to_string(s)
        .unwrap_or_else(|_| "\"\"".to_owned())
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

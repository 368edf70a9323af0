//! A small algebra of TypeScript types over JSON values: what a schema translates to before it is
//! printed. Unions and intersections are simplified here, so that the printed types stay readable
//! and, where TypeScript would not see it, precise (an intersection of two object schemas is one
//! object type, not `A & B`).
//!
//! Every operation keeps the one invariant the converter relies on: the values a result accepts
//! include the values the operation's meaning accepts. Where a precise result would be too large,
//! an operation keeps one of its operands instead: a wider type, never a narrower one.

use serde_json::Value;

/// JSON value kinds, as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kinds(u8);

impl Kinds {
    pub const NONE: Kinds = Kinds(0);
    pub const STRING: Kinds = Kinds(1);
    pub const NUMBER: Kinds = Kinds(2);
    pub const BOOLEAN: Kinds = Kinds(4);
    pub const OBJECT: Kinds = Kinds(8);
    pub const ARRAY: Kinds = Kinds(16);
    pub const NULL: Kinds = Kinds(32);
    pub const ALL: Kinds = Kinds(63);
    /// Every kind, one at a time, in the order unions are printed in.
    pub const EACH: [Kinds; 6] = [
        Kinds::STRING,
        Kinds::NUMBER,
        Kinds::BOOLEAN,
        Kinds::OBJECT,
        Kinds::ARRAY,
        Kinds::NULL,
    ];

    pub fn of(value: &Value) -> Kinds {
        match value {
            Value::Null => Kinds::NULL,
            Value::Bool(_) => Kinds::BOOLEAN,
            Value::Number(_) => Kinds::NUMBER,
            Value::String(_) => Kinds::STRING,
            Value::Array(_) => Kinds::ARRAY,
            Value::Object(_) => Kinds::OBJECT,
        }
    }

    pub fn union(self, other: Kinds) -> Kinds {
        Kinds(self.0 | other.0)
    }

    pub fn inter(self, other: Kinds) -> Kinds {
        Kinds(self.0 & other.0)
    }

    pub fn minus(self, other: Kinds) -> Kinds {
        Kinds(self.0 & !other.0)
    }

    pub fn contains(self, other: Kinds) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// A type. `Ref` names a schema location that the converter resolved a `$ref` to.
#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    /// No value.
    Never,
    /// Any value.
    Unknown,
    /// Any value but `null` (`NonNullable<unknown>`).
    NonNull,
    Null,
    Boolean,
    Number,
    String,
    /// Exactly this JSON value (`const`, `enum`).
    Lit(Value),
    Array(Box<ArrayTy>),
    Object(Box<ObjectTy>),
    Union(Vec<Ty>),
    Inter(Vec<Ty>),
    Ref(usize),
}

/// An array or tuple: `prefix` items first, then any number of `rest` items; `min..=max` items.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrayTy {
    pub prefix: Vec<Ty>,
    pub rest: Ty,
    pub min: u64,
    pub max: Option<u64>,
}

/// An object: named properties, and `extra`, the type of every other property (`Never`: none).
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectTy {
    pub props: Vec<Prop>,
    pub extra: Ty,
}

/// A named property.
#[derive(Debug, Clone, PartialEq)]
pub struct Prop {
    pub name: String,
    pub ty: Ty,
    pub required: bool,
}

impl ObjectTy {
    pub fn prop(&self, name: &str) -> Option<&Prop> {
        self.props.iter().find(|p| p.name == name)
    }

    /// The type of property `name`'s value, whether it is named or not.
    fn type_of(&self, name: &str) -> &Ty {
        self.prop(name).map_or(&self.extra, |p| &p.ty)
    }
}

/// What the algebra needs to know about `Ref`s.
pub trait Defs {
    /// The body of a reference that may be expanded in place: complete and not recursive.
    fn expandable(&self, id: usize) -> Option<&Ty>;
    /// The kinds a reference's values can have (every kind when not known yet).
    fn kinds(&self, id: usize) -> Kinds;
}

/// Beyond this many members, an intersection is not distributed over a union.
const MAX_DISTRIBUTED: usize = 32;

impl Ty {
    /// Every value of one kind.
    pub fn full(kind: Kinds) -> Ty {
        match kind {
            Kinds::STRING => Ty::String,
            Kinds::NUMBER => Ty::Number,
            Kinds::BOOLEAN => Ty::Boolean,
            Kinds::NULL => Ty::Null,
            Kinds::ARRAY => Ty::Array(Box::new(ArrayTy {
                prefix: Vec::new(),
                rest: Ty::Unknown,
                min: 0,
                max: None,
            })),
            Kinds::OBJECT => Ty::Object(Box::new(ObjectTy {
                props: Vec::new(),
                extra: Ty::Unknown,
            })),
            _ => Ty::of_kinds(kind),
        }
    }

    /// Every value of these kinds.
    pub fn of_kinds(kinds: Kinds) -> Ty {
        if kinds == Kinds::ALL {
            return Ty::Unknown;
        }
        if kinds == Kinds::ALL.minus(Kinds::NULL) {
            return Ty::NonNull;
        }
        union(
            Kinds::EACH
                .iter()
                .filter(|k| kinds.contains(**k))
                .map(|k| Ty::full(*k))
                .collect(),
        )
    }

    /// True for the type of every value of one kind.
    pub fn is_full_kind(&self) -> Option<Kinds> {
        match self {
            Ty::String => Some(Kinds::STRING),
            Ty::Number => Some(Kinds::NUMBER),
            Ty::Boolean => Some(Kinds::BOOLEAN),
            Ty::Null => Some(Kinds::NULL),
            Ty::Array(a) if a.prefix.is_empty() && a.rest == Ty::Unknown && a.min == 0 => {
                a.max.is_none().then_some(Kinds::ARRAY)
            }
            Ty::Object(o) if o.props.is_empty() && o.extra == Ty::Unknown => Some(Kinds::OBJECT),
            _ => None,
        }
    }

    /// The kinds this type's values can have.
    pub fn kinds(&self, defs: &dyn Defs) -> Kinds {
        match self {
            Ty::Never => Kinds::NONE,
            Ty::Unknown => Kinds::ALL,
            Ty::NonNull => Kinds::ALL.minus(Kinds::NULL),
            Ty::Null => Kinds::NULL,
            Ty::Boolean => Kinds::BOOLEAN,
            Ty::Number => Kinds::NUMBER,
            Ty::String => Kinds::STRING,
            Ty::Lit(v) => Kinds::of(v),
            Ty::Array(_) => Kinds::ARRAY,
            Ty::Object(_) => Kinds::OBJECT,
            Ty::Union(members) => members
                .iter()
                .fold(Kinds::NONE, |k, m| k.union(m.kinds(defs))),
            Ty::Inter(members) => members
                .iter()
                .fold(Kinds::ALL, |k, m| k.inter(m.kinds(defs))),
            Ty::Ref(id) => defs.kinds(*id),
        }
    }
}

pub use crate::schema_value::json_eq;

/// The union of `members`, simplified: nested unions flattened, duplicates and members that
/// another member includes dropped, a complete set of kinds collapsed to `unknown`.
pub fn union(members: Vec<Ty>) -> Ty {
    let mut flat: Vec<Ty> = Vec::with_capacity(members.len());
    for member in members {
        match member {
            Ty::Never => {}
            Ty::Unknown => return Ty::Unknown,
            Ty::Union(inner) => {
                for m in inner {
                    push_member(&mut flat, m);
                }
            }
            other => push_member(&mut flat, other),
        }
    }
    // Kinds whose every value a member accepts absorb that kind's other members.
    let mut full = Kinds::NONE;
    for m in &flat {
        if let Some(k) = m.is_full_kind() {
            full = full.union(k);
        }
        if *m == Ty::NonNull {
            full = full.union(Kinds::ALL.minus(Kinds::NULL));
        }
    }
    let booleans = flat
        .iter()
        .filter(|m| matches!(m, Ty::Lit(Value::Bool(_))))
        .count();
    if booleans == 2 {
        full = full.union(Kinds::BOOLEAN);
    }
    if full == Kinds::ALL {
        return Ty::Unknown;
    }
    if full.contains(Kinds::ALL.minus(Kinds::NULL)) {
        let null = flat
            .iter()
            .any(|m| matches!(m, Ty::Null | Ty::Lit(Value::Null)));
        return if null { Ty::Unknown } else { Ty::NonNull };
    }
    let mut out: Vec<Ty> = Vec::with_capacity(flat.len());
    let mut placed = Kinds::NONE;
    for m in flat {
        let kind = single_kind(&m);
        match kind {
            Some(k) if full.contains(k) => {
                if !placed.contains(k) {
                    placed = placed.union(k);
                    out.push(Ty::full(k));
                }
            }
            _ => out.push(m),
        }
    }
    match out.len() {
        0 => Ty::Never,
        1 => out.pop().unwrap_or(Ty::Never),
        _ => Ty::Union(out),
    }
}

fn push_member(flat: &mut Vec<Ty>, member: Ty) {
    if member != Ty::Never && !flat.contains(&member) {
        flat.push(member);
    }
}

/// The one kind of a member that has one.
fn single_kind(ty: &Ty) -> Option<Kinds> {
    match ty {
        Ty::Null => Some(Kinds::NULL),
        Ty::Boolean => Some(Kinds::BOOLEAN),
        Ty::Number => Some(Kinds::NUMBER),
        Ty::String => Some(Kinds::STRING),
        Ty::Lit(v) => Some(Kinds::of(v)),
        Ty::Array(_) => Some(Kinds::ARRAY),
        Ty::Object(_) => Some(Kinds::OBJECT),
        _ => None,
    }
}

/// The values of `ty` that have one of `kinds`.
pub fn restrict(ty: Ty, kinds: Kinds, defs: &dyn Defs) -> Ty {
    if kinds == Kinds::ALL {
        return ty;
    }
    match ty {
        Ty::Unknown => Ty::of_kinds(kinds),
        Ty::NonNull => Ty::of_kinds(kinds.minus(Kinds::NULL)),
        Ty::Union(members) => union(
            members
                .into_iter()
                .map(|m| restrict(m, kinds, defs))
                .collect(),
        ),
        Ty::Inter(_) | Ty::Ref(_) => {
            let own = ty.kinds(defs);
            if kinds.contains(own) {
                ty
            } else if kinds.inter(own).is_empty() {
                Ty::Never
            } else {
                intersect(ty, Ty::of_kinds(kinds), defs)
            }
        }
        other => match single_kind(&other) {
            Some(k) if kinds.contains(k) => other,
            Some(_) => Ty::Never,
            None => other,
        },
    }
}

/// The values both `a` and `b` accept.
pub fn intersect(a: Ty, b: Ty, defs: &dyn Defs) -> Ty {
    match (a, b) {
        (Ty::Unknown, x) | (x, Ty::Unknown) => x,
        (Ty::Never, _) | (_, Ty::Never) => Ty::Never,
        (Ty::Ref(id), x) => match defs.expandable(id) {
            Some(body) => intersect(body.clone(), x, defs),
            None => inter_of(Ty::Ref(id), x, defs),
        },
        (x, Ty::Ref(id)) => match defs.expandable(id) {
            Some(body) => intersect(x, body.clone(), defs),
            None => inter_of(Ty::Ref(id), x, defs),
        },
        (Ty::Inter(members), x) | (x, Ty::Inter(members)) => {
            // Fold `x` into the first member it combines with structurally.
            let mut members = members;
            match members.iter().position(|m| !matches!(m, Ty::Ref(_))) {
                Some(i) => {
                    let m = std::mem::replace(&mut members[i], Ty::Unknown);
                    members[i] = intersect(m, x, defs);
                    if members[i] == Ty::Never {
                        return Ty::Never;
                    }
                }
                None => members.push(x),
            }
            Ty::Inter(members)
        }
        (Ty::Union(xs), y) => distribute(xs, y, false, defs),
        (y, Ty::Union(xs)) => distribute(xs, y, true, defs),
        (Ty::NonNull, x) | (x, Ty::NonNull) => restrict(x, Kinds::ALL.minus(Kinds::NULL), defs),
        (Ty::Lit(x), Ty::Lit(y)) => {
            if json_eq(&x, &y) {
                Ty::Lit(x)
            } else {
                Ty::Never
            }
        }
        (Ty::Lit(v), other) | (other, Ty::Lit(v)) => {
            // A literal array or object may break `other`'s constraints; keeping it is wider.
            if single_kind(&other) == Some(Kinds::of(&v)) {
                Ty::Lit(v)
            } else {
                Ty::Never
            }
        }
        (Ty::Array(x), Ty::Array(y)) => intersect_arrays(*x, *y, defs),
        (Ty::Object(x), Ty::Object(y)) => intersect_objects(*x, *y, defs),
        (x, y) => {
            if x == y {
                x
            } else {
                Ty::Never
            }
        }
    }
}

/// `a & b` left to TypeScript, with `b` cut down to the kinds `a` can have.
fn inter_of(a: Ty, b: Ty, defs: &dyn Defs) -> Ty {
    let kinds = a.kinds(defs);
    let b = restrict(b, kinds, defs);
    if b == Ty::Never {
        return Ty::Never;
    }
    if b == Ty::of_kinds(kinds) {
        return a;
    }
    match b {
        Ty::Inter(mut members) => {
            members.insert(0, a);
            Ty::Inter(members)
        }
        b => Ty::Inter(vec![a, b]),
    }
}

fn distribute(xs: Vec<Ty>, y: Ty, y_first: bool, defs: &dyn Defs) -> Ty {
    let width = match &y {
        Ty::Union(ys) => ys.len(),
        _ => 1,
    };
    if xs.len() * width > MAX_DISTRIBUTED {
        // Too large to spell out: either side alone is a wider, still correct, answer.
        return if width <= xs.len() { y } else { Ty::Union(xs) };
    }
    union(
        xs.into_iter()
            .map(|x| {
                if y_first {
                    intersect(y.clone(), x, defs)
                } else {
                    intersect(x, y.clone(), defs)
                }
            })
            .collect(),
    )
}

fn intersect_arrays(a: ArrayTy, b: ArrayTy, defs: &dyn Defs) -> Ty {
    let len = a.prefix.len().max(b.prefix.len());
    let mut prefix = Vec::with_capacity(len);
    for i in 0..len {
        let x = a.prefix.get(i).unwrap_or(&a.rest).clone();
        let y = b.prefix.get(i).unwrap_or(&b.rest).clone();
        prefix.push(intersect(x, y, defs));
    }
    array(ArrayTy {
        prefix,
        rest: intersect(a.rest, b.rest, defs),
        min: a.min.max(b.min),
        max: match (a.max, b.max) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        },
    })
}

fn intersect_objects(a: ObjectTy, b: ObjectTy, defs: &dyn Defs) -> Ty {
    let mut props: Vec<Prop> = Vec::with_capacity(a.props.len() + b.props.len());
    let names = a
        .props
        .iter()
        .map(|p| p.name.clone())
        .chain(b.props.iter().map(|p| p.name.clone()));
    for name in names {
        if props.iter().any(|p| p.name == name) {
            continue;
        }
        let required =
            a.prop(&name).is_some_and(|p| p.required) || b.prop(&name).is_some_and(|p| p.required);
        let ty = intersect(a.type_of(&name).clone(), b.type_of(&name).clone(), defs);
        props.push(Prop { name, ty, required });
    }
    object(ObjectTy {
        props,
        extra: intersect(a.extra, b.extra, defs),
    })
}

/// An array type, or `never` when no array satisfies it.
pub fn array(mut a: ArrayTy) -> Ty {
    // The first item no value satisfies bounds the length.
    if let Some(i) = a.prefix.iter().position(|t| *t == Ty::Never) {
        a.max = Some(a.max.map_or(i as u64, |m| m.min(i as u64)));
        a.prefix.truncate(i);
    }
    if a.rest == Ty::Never {
        let len = a.prefix.len() as u64;
        a.max = Some(a.max.map_or(len, |m| m.min(len)));
    }
    if let Some(max) = a.max {
        if a.min > max {
            return Ty::Never;
        }
        if (max as usize) < a.prefix.len() {
            a.prefix.truncate(max as usize);
        }
    }
    Ty::Array(Box::new(a))
}

/// An object type, or `never` when a required property can have no value.
pub fn object(o: ObjectTy) -> Ty {
    if o.props.iter().any(|p| p.required && p.ty == Ty::Never) {
        return Ty::Never;
    }
    Ty::Object(Box::new(o))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct NoDefs;
    impl Defs for NoDefs {
        fn expandable(&self, _: usize) -> Option<&Ty> {
            None
        }
        fn kinds(&self, _: usize) -> Kinds {
            Kinds::ALL
        }
    }

    fn obj(props: &[(&str, Ty, bool)], extra: Ty) -> Ty {
        object(ObjectTy {
            props: props
                .iter()
                .map(|(n, t, r)| Prop {
                    name: (*n).into(),
                    ty: t.clone(),
                    required: *r,
                })
                .collect(),
            extra,
        })
    }

    #[test]
    fn union_collapses_complete_kinds() {
        let all: Vec<Ty> = Kinds::EACH.iter().map(|k| Ty::full(*k)).collect();
        assert_eq!(union(all.clone()), Ty::Unknown);
        assert_eq!(union(all[..5].to_vec()), Ty::NonNull);
        assert_eq!(
            union(vec![Ty::String, Ty::Lit(json!("a")), Ty::Null]),
            Ty::Union(vec![Ty::String, Ty::Null])
        );
        assert_eq!(
            union(vec![Ty::Lit(json!(true)), Ty::Lit(json!(false))]),
            Ty::Boolean
        );
        assert_eq!(union(vec![Ty::Never, Ty::Never]), Ty::Never);
    }

    #[test]
    fn literals_intersect_by_value() {
        assert_eq!(
            intersect(Ty::Lit(json!(1)), Ty::Lit(json!(1.0)), &NoDefs),
            Ty::Lit(json!(1))
        );
        assert_eq!(
            intersect(Ty::Lit(json!("a")), Ty::Number, &NoDefs),
            Ty::Never
        );
        assert_eq!(
            intersect(
                union(vec![Ty::Lit(json!("a")), Ty::Lit(json!(2))]),
                Ty::String,
                &NoDefs
            ),
            Ty::Lit(json!("a"))
        );
    }

    #[test]
    fn objects_merge_properties_and_close() {
        let a = obj(&[("a", Ty::String, true)], Ty::Unknown);
        let b = obj(&[("b", Ty::Number, false)], Ty::Never);
        // `a` is required but `b` admits no other property than `b`.
        assert_eq!(intersect(a.clone(), b, &NoDefs), Ty::Never);
        let c = obj(&[("b", Ty::Number, false)], Ty::Boolean);
        assert_eq!(
            intersect(a, c, &NoDefs),
            obj(
                &[("a", Ty::Never, true), ("b", Ty::Number, false)],
                Ty::Boolean
            )
        );
    }

    #[test]
    fn arrays_take_the_tighter_bounds() {
        let a = array(ArrayTy {
            prefix: vec![Ty::String],
            rest: Ty::Unknown,
            min: 1,
            max: None,
        });
        let b = array(ArrayTy {
            prefix: vec![],
            rest: Ty::Unknown,
            min: 0,
            max: Some(3),
        });
        assert_eq!(
            intersect(a.clone(), b, &NoDefs),
            array(ArrayTy {
                prefix: vec![Ty::String],
                rest: Ty::Unknown,
                min: 1,
                max: Some(3),
            })
        );
        // No item at all, but at least one required.
        let empty = array(ArrayTy {
            prefix: vec![],
            rest: Ty::Never,
            min: 0,
            max: None,
        });
        assert_eq!(intersect(a, empty, &NoDefs), Ty::Never);
    }

    #[test]
    fn restrict_keeps_only_the_kinds() {
        assert_eq!(
            restrict(Ty::Unknown, Kinds::STRING.union(Kinds::NULL), &NoDefs),
            Ty::Union(vec![Ty::String, Ty::Null])
        );
        assert_eq!(restrict(Ty::NonNull, Kinds::NULL, &NoDefs), Ty::Never);
    }
}

//! JSON Schema → TypeScript types, for `.compozy/types.ts`.
//!
//! The types are *sound* for compozy's validator (the `jsonschema` crate): every value it
//! accepts for a schema is assignable to the schema's type, also when written as an object
//! literal (excess property checks included). Within that, they are as precise as TypeScript
//! allows: `type`, `enum`/`const`, `properties`/`required`/`additionalProperties`, `items`/
//! `prefixItems`/`additionalItems` with `minItems`/`maxItems`, `allOf`/`anyOf`/`oneOf`,
//! `if`/`then`/`else`, `not` of whole kinds and `$ref` (to `$defs`, `definitions`, `$anchor`,
//! `$id`, recursive or not) shape the type, per draft (4, 6, 7, 2019-09, 2020-12).
//!
//! What TypeScript cannot say, the types leave out, which only widens them: string and number
//! constraints (`pattern`, `format`, `minLength`, `minimum`, `multipleOf`, `integer`, …),
//! `uniqueItems`, `contains` (beyond "not empty"), `propertyNames`, `min`/`maxProperties`,
//! `dependentRequired`/`dependentSchemas`/`dependencies`, `unevaluated*`, `$dynamicRef`/
//! `$recursiveRef`, `not` of anything but whole kinds, `if`/`then`/`else` without both branches,
//! which regular expression of `patternProperties` names a property (each unnamed property may
//! have the type of any pattern or of `additionalProperties`), and exactly-one for `oneOf` (a
//! union). A schema whose `$schema` is not one of those drafts is `unknown`.

mod emit;
mod translate;
mod ty;

use std::collections::BTreeSet;

use serde_json::Value;

use ty::{Kinds, ObjectTy, Prop, Ty};

/// Bumped whenever the converter's output changes, so that cached output of an older build is not
/// taken for current.
pub const VERSION: u32 = 1;

/// A named type a generated type refers to (recursive schemas, large shared definitions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declaration {
    /// The type's name.
    pub name: String,
    /// Its definition: `type {name} = {body};`.
    pub body: String,
}

/// The named types of one generated file, and the names taken.
#[derive(Debug, Default)]
pub struct Declarations {
    items: Vec<Declaration>,
    names: BTreeSet<String>,
}

impl Declarations {
    /// The declarations, in the order they were made.
    pub fn items(&self) -> &[Declaration] {
        &self.items
    }

    /// `name`, or `name_2`, `name_3`… when taken.
    fn reserve(&mut self, name: &str) -> String {
        let mut candidate = name.to_owned();
        let mut n = 1;
        while self.names.contains(&candidate) {
            n += 1;
            candidate = format!("{name}_{n}");
        }
        self.names.insert(candidate.clone());
        candidate
    }
}

/// The TypeScript type of the values `schema` accepts, printed at indentation level `indent`.
///
/// `present` names properties an object value is known to have (the tool's `with:` defaults,
/// merged into every input before it is checked). Named types it needs are added to `decls`,
/// under names starting with `prefix` (which must be unique to this schema in the file).
pub fn schema_type(
    schema: &Value,
    present: &[&str],
    prefix: &str,
    indent: usize,
    decls: &mut Declarations,
) -> String {
    let mut t = translate::translate(schema);
    if !present.is_empty() {
        let with_keys = ty::object(ObjectTy {
            props: present
                .iter()
                .map(|name| Prop {
                    name: (*name).to_owned(),
                    ty: Ty::Unknown,
                    required: true,
                })
                .collect(),
            extra: Ty::Unknown,
        });
        let shape = ty::union(vec![
            Ty::of_kinds(Kinds::ALL.minus(Kinds::OBJECT)),
            with_keys,
        ]);
        let root = std::mem::replace(&mut t.root, Ty::Unknown);
        t.root = ty::intersect(root, shape, &t.defs);
    }
    let emitter = emit::Emitter::new(&t, prefix, decls);
    emitter.print(&t.root, indent)
}

/// The TypeScript type of one JSON value, with strings, numbers and booleans widened to their
/// kind (a tool's `config:`: its values may change without the tool's types changing).
pub fn value_type(value: &Value, indent: usize) -> String {
    let t = translate::Translation {
        root: widened(value),
        defs: Vec::new(),
    };
    let mut decls = Declarations::default();
    emit::Emitter::new(&t, "", &mut decls).print(&t.root, indent)
}

fn widened(value: &Value) -> Ty {
    match value {
        Value::Null => Ty::Null,
        Value::Bool(_) => Ty::Boolean,
        Value::Number(_) => Ty::Number,
        Value::String(_) => Ty::String,
        Value::Array(items) => ty::array(ty::ArrayTy {
            prefix: Vec::new(),
            rest: ty::union(items.iter().map(widened).collect()),
            min: 0,
            max: None,
        }),
        Value::Object(map) => ty::object(ObjectTy {
            props: map
                .iter()
                .map(|(k, v)| Prop {
                    name: k.clone(),
                    ty: widened(v),
                    required: true,
                })
                .collect(),
            extra: Ty::Never,
        }),
    }
}

#[cfg(test)]
mod tests;

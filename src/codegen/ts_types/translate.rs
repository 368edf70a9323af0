//! JSON Schema → [`Ty`]: what each keyword means for the set of values a schema accepts.
//!
//! A schema is the conjunction of its keywords, so its type is the intersection of the types of
//! the keywords this module understands; a keyword it leaves out can only make the type wider.
//! Keywords that constrain one kind of value (`properties`, `items`, …) shape only that kind's
//! member of the union; the others stay whole. `$ref` is resolved with the `referencing` crate,
//! the same resolver compozy's validator (`jsonschema`) uses, so `$id`, `$anchor`, `definitions`
//! and `$defs` mean exactly what they mean there.

use std::collections::HashMap;

use referencing::{Draft, Registry, Resolver};
use serde_json::{Map, Value};

use super::ty::{self, ArrayTy, Defs, Kinds, ObjectTy, Prop, Ty};

/// The drafts compozy's validator implements; keyword meanings differ between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Dialect {
    D4,
    D6,
    D7,
    D2019,
    D2020,
}

impl Dialect {
    fn of(draft: Draft) -> Option<Dialect> {
        match draft {
            Draft::Draft4 => Some(Dialect::D4),
            Draft::Draft6 => Some(Dialect::D6),
            Draft::Draft7 => Some(Dialect::D7),
            Draft::Draft201909 => Some(Dialect::D2019),
            Draft::Draft202012 => Some(Dialect::D2020),
            // A custom meta-schema may switch vocabularies off: nothing can be assumed.
            _ => None,
        }
    }
}

/// A schema location a `$ref` points to.
#[derive(Debug, Clone)]
pub struct Def {
    /// A name for it, from the reference (`#/$defs/Node` → `Node`).
    pub hint: String,
    /// Its type, once translated.
    pub body: Option<Ty>,
    /// The kinds of its values, once translated.
    pub kinds: Kinds,
    /// Reached again from inside itself: it needs a name in TypeScript.
    pub recursive: bool,
    in_progress: bool,
}

/// A translated schema: its type, and the referenced locations it mentions.
#[derive(Debug, Clone)]
pub struct Translation {
    pub root: Ty,
    pub defs: Vec<Def>,
}

impl Defs for Vec<Def> {
    fn expandable(&self, id: usize) -> Option<&Ty> {
        let def = &self[id];
        if def.in_progress || def.recursive {
            None
        } else {
            def.body.as_ref()
        }
    }

    fn kinds(&self, id: usize) -> Kinds {
        let def = &self[id];
        if def.in_progress {
            Kinds::ALL
        } else {
            def.kinds
        }
    }
}

/// Deeper than this, a schema's type is `unknown` (schemas are trees; refs are handled apart).
const MAX_DEPTH: usize = 256;

/// The URI a schema without `$id` is known by, as in `jsonschema`.
const DEFAULT_BASE_URI: &str = "json-schema:///";

/// Translates `schema` (a tool's `input:` or `output:`).
pub fn translate(schema: &Value) -> Translation {
    let draft = Draft::default().detect(schema);
    let Some(dialect) = Dialect::of(draft) else {
        return Translation {
            root: Ty::Unknown,
            defs: Vec::new(),
        };
    };
    let mut t = Translator {
        dialect,
        draft,
        defs: Vec::new(),
        keys: HashMap::new(),
        depth: 0,
    };
    let root = if has_reference(schema) {
        let resource = draft.create_resource_ref(schema);
        let base = resource.id().unwrap_or(DEFAULT_BASE_URI).to_owned();
        let registry = Registry::new()
            .draft(draft)
            .add(&base, resource)
            .and_then(|builder| builder.prepare());
        match (registry, referencing::uri::from_str(&base)) {
            (Ok(registry), Ok(uri)) => {
                let resolver = registry.resolver(uri);
                // The root is a reference target too (`"$ref": "#"`).
                t.target(schema, "Root", &resolver)
            }
            // The validator cannot be built either: no value is ever accepted or refused by it.
            _ => Ty::Unknown,
        }
    } else {
        t.schema(schema, None)
    };
    Translation { root, defs: t.defs }
}

/// True when a `$ref` (or a dynamic one) appears anywhere in `value`.
fn has_reference(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.iter().any(|(k, v)| {
            matches!(k.as_str(), "$ref" | "$dynamicRef" | "$recursiveRef") || has_reference(v)
        }),
        Value::Array(items) => items.iter().any(has_reference),
        _ => false,
    }
}

struct Translator {
    dialect: Dialect,
    draft: Draft,
    defs: Vec<Def>,
    /// Targets already seen, by address of their contents and base URI.
    keys: HashMap<(usize, String), usize>,
    depth: usize,
}

impl Translator {
    fn schema(&mut self, schema: &Value, resolver: Option<&Resolver<'_>>) -> Ty {
        if self.depth >= MAX_DEPTH {
            return Ty::Unknown;
        }
        self.depth += 1;
        let ty = self.schema_inner(schema, resolver);
        self.depth -= 1;
        ty
    }

    fn schema_inner(&mut self, schema: &Value, resolver: Option<&Resolver<'_>>) -> Ty {
        let map = match schema {
            Value::Bool(true) => return Ty::Unknown,
            Value::Bool(false) => return Ty::Never,
            Value::Object(map) => map,
            _ => return Ty::Unknown,
        };
        // A subschema in another dialect: its keywords may mean something else.
        if self.draft.detect(schema) != self.draft {
            return Ty::Unknown;
        }
        let inner;
        let resolver = match resolver {
            Some(r) => match r.in_subresource(self.draft.create_resource_ref(schema)) {
                Ok(r) => {
                    inner = r;
                    Some(&inner)
                }
                Err(_) => return Ty::Unknown,
            },
            None => None,
        };
        let reference = map.get("$ref");
        if self.dialect <= Dialect::D7
            && let Some(reference) = reference
        {
            // Drafts 4 to 7 ignore every keyword next to `$ref`.
            return self.reference(reference, schema, resolver);
        }

        let mut parts: Vec<Ty> = vec![self.local(map, resolver)];
        if let Some(Value::Array(values)) = map.get("enum") {
            parts.push(ty::union(values.iter().cloned().map(Ty::Lit).collect()));
        }
        if self.dialect >= Dialect::D6
            && let Some(value) = map.get("const")
        {
            parts.push(Ty::Lit(value.clone()));
        }
        if let Some(reference) = reference {
            parts.push(self.reference(reference, schema, resolver));
        }
        if let Some(Value::Array(all)) = map.get("allOf") {
            for s in all {
                parts.push(self.schema(s, resolver));
            }
        }
        for keyword in ["anyOf", "oneOf"] {
            // `oneOf` accepts a subset of what `anyOf` would.
            if let Some(Value::Array(any)) = map.get(keyword)
                && !any.is_empty()
            {
                let members = any.iter().map(|s| self.schema(s, resolver)).collect();
                parts.push(ty::union(members));
            }
        }
        if let Some(not) = map.get("not") {
            parts.push(self.negation(not));
        }
        if self.dialect >= Dialect::D7
            && map.contains_key("if")
            && let (Some(then), Some(otherwise)) = (map.get("then"), map.get("else"))
        {
            // A value passes `then` (when it passes `if`) or `else` (when it does not).
            let then = self.schema(then, resolver);
            let otherwise = self.schema(otherwise, resolver);
            parts.push(ty::union(vec![then, otherwise]));
        }
        parts.into_iter().fold(Ty::Unknown, |acc, part| {
            ty::intersect(acc, part, &self.defs)
        })
    }

    /// The union over the kinds `type` allows, each shaped by the keywords of its kind.
    fn local(&mut self, map: &Map<String, Value>, resolver: Option<&Resolver<'_>>) -> Ty {
        let kinds = map.get("type").and_then(type_kinds).unwrap_or(Kinds::ALL);
        let mut members = Vec::new();
        for kind in Kinds::EACH {
            if !kinds.contains(kind) {
                continue;
            }
            let shaped = match kind {
                Kinds::OBJECT => self.object(map, resolver),
                Kinds::ARRAY => self.array(map, resolver),
                _ => None,
            };
            members.push(shaped.unwrap_or_else(|| Ty::full(kind)));
        }
        ty::union(members)
    }

    /// The object member, when an object keyword is present.
    fn object(&mut self, map: &Map<String, Value>, resolver: Option<&Resolver<'_>>) -> Option<Ty> {
        let properties = map.get("properties").and_then(Value::as_object);
        let required: Vec<&str> = match map.get("required") {
            Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let additional = map.get("additionalProperties");
        let patterns = map.get("patternProperties").and_then(Value::as_object);
        if properties.is_none() && required.is_empty() && additional.is_none() && patterns.is_none()
        {
            return None;
        }
        // Any property not named: it matches a pattern (and its schema) or none (and then
        // `additionalProperties`). Regular expressions are not evaluated: the union of both covers it.
        let mut extra = match additional {
            Some(s) => self.schema(s, resolver),
            None => Ty::Unknown,
        };
        if let Some(patterns) = patterns {
            for s in patterns.values() {
                let pattern = self.schema(s, resolver);
                extra = ty::union(vec![extra, pattern]);
            }
        }
        let mut props = Vec::new();
        if let Some(properties) = properties {
            for (name, s) in properties {
                props.push(Prop {
                    name: name.clone(),
                    ty: self.schema(s, resolver),
                    required: required.contains(&name.as_str()),
                });
            }
        }
        for name in required {
            if !props.iter().any(|p| p.name == name) {
                props.push(Prop {
                    name: name.to_owned(),
                    ty: extra.clone(),
                    required: true,
                });
            }
        }
        Some(ty::object(ObjectTy { props, extra }))
    }

    /// The array member, when an array keyword is present.
    fn array(&mut self, map: &Map<String, Value>, resolver: Option<&Resolver<'_>>) -> Option<Ty> {
        let mut shaped = false;
        let mut prefix = Vec::new();
        let mut rest = Ty::Unknown;
        if self.dialect == Dialect::D2020 {
            if let Some(Value::Array(items)) = map.get("prefixItems") {
                shaped = true;
                prefix = items.iter().map(|s| self.schema(s, resolver)).collect();
            }
            if let Some(items) = map.get("items")
                && !items.is_array()
            {
                shaped = true;
                rest = self.schema(items, resolver);
            }
        } else {
            match map.get("items") {
                Some(Value::Array(items)) => {
                    shaped = true;
                    prefix = items.iter().map(|s| self.schema(s, resolver)).collect();
                    if let Some(additional) = map.get("additionalItems") {
                        rest = self.schema(additional, resolver);
                    }
                }
                Some(items) => {
                    shaped = true;
                    rest = self.schema(items, resolver);
                }
                None => {}
            }
        }
        let mut min = map.get("minItems").and_then(count).unwrap_or(0);
        let max = map.get("maxItems").and_then(count);
        if self.dialect >= Dialect::D6 && map.contains_key("contains") {
            // At least one item matches, unless a bound on the matches says otherwise.
            let at_least_one = match (map.get("minContains"), map.get("maxContains")) {
                (None, None) => true,
                (Some(n), _) => count(n).is_some_and(|n| n >= 1),
                (None, Some(_)) => false,
            };
            if at_least_one || self.dialect <= Dialect::D7 {
                min = min.max(1);
            }
        }
        if !shaped && min == 0 && max.is_none() {
            return None;
        }
        Some(ty::array(ArrayTy {
            prefix,
            rest,
            min,
            max,
        }))
    }

    /// A superset of the values `schema` refuses: exact only when `schema` accepts whole kinds.
    fn negation(&mut self, schema: &Value) -> Ty {
        match exact_kinds(schema, self.dialect) {
            Some(kinds) => Ty::of_kinds(Kinds::ALL.minus(kinds)),
            None => Ty::Unknown,
        }
    }

    fn reference(
        &mut self,
        reference: &Value,
        parent: &Value,
        resolver: Option<&Resolver<'_>>,
    ) -> Ty {
        let (Some(reference), Some(resolver)) = (reference.as_str(), resolver) else {
            return Ty::Unknown;
        };
        // The validator skips an empty reference and one to its own schema object.
        if reference.is_empty() {
            return Ty::Unknown;
        }
        let Ok(resolved) = resolver.lookup(reference) else {
            return Ty::Unknown;
        };
        if std::ptr::eq(resolved.contents(), parent) {
            return Ty::Unknown;
        }
        let (contents, resolver, draft) = resolved.into_inner();
        if draft != self.draft {
            return Ty::Unknown;
        }
        self.target(contents, &hint(reference), &resolver)
    }

    /// The type of a reference target, as a `Ref` to its (possibly not yet complete) definition.
    fn target(&mut self, contents: &Value, hint: &str, resolver: &Resolver<'_>) -> Ty {
        let key = (
            std::ptr::from_ref(contents) as usize,
            resolver.base_uri().as_str().to_owned(),
        );
        if let Some(&id) = self.keys.get(&key) {
            if self.defs[id].in_progress {
                self.defs[id].recursive = true;
            }
            return Ty::Ref(id);
        }
        let id = self.defs.len();
        self.keys.insert(key, id);
        self.defs.push(Def {
            hint: hint.to_owned(),
            body: None,
            kinds: Kinds::ALL,
            recursive: false,
            in_progress: true,
        });
        let body = self.schema(contents, Some(resolver));
        let kinds = body.kinds(&self.defs);
        let def = &mut self.defs[id];
        def.body = Some(body);
        def.kinds = kinds;
        def.in_progress = false;
        Ty::Ref(id)
    }
}

/// The kinds `type` allows; `None` when it says nothing usable.
fn type_kinds(value: &Value) -> Option<Kinds> {
    let one = |name: &str| match name {
        "string" => Some(Kinds::STRING),
        "number" | "integer" => Some(Kinds::NUMBER),
        "boolean" => Some(Kinds::BOOLEAN),
        "object" => Some(Kinds::OBJECT),
        "array" => Some(Kinds::ARRAY),
        "null" => Some(Kinds::NULL),
        _ => None,
    };
    match value {
        Value::String(name) => one(name),
        Value::Array(names) if !names.is_empty() => names
            .iter()
            .try_fold(Kinds::NONE, |k, n| Some(k.union(one(n.as_str()?)?))),
        _ => None,
    }
}

/// Keywords that never refuse a value.
const ANNOTATIONS: [&str; 9] = [
    "title",
    "description",
    "$comment",
    "default",
    "examples",
    "deprecated",
    "readOnly",
    "writeOnly",
    "$anchor",
];

/// The kinds `schema` accepts when it accepts exactly every value of some kinds, else `None`.
fn exact_kinds(schema: &Value, dialect: Dialect) -> Option<Kinds> {
    let map = match schema {
        Value::Bool(true) => return Some(Kinds::ALL),
        Value::Bool(false) => return Some(Kinds::NONE),
        Value::Object(map) => map,
        _ => return None,
    };
    let mut kinds = Kinds::ALL;
    for (keyword, value) in map {
        match keyword.as_str() {
            "type" => {
                // `integer` is not a whole kind: 1.5 is a number but no integer.
                let names: Vec<&str> = match value {
                    Value::String(name) => vec![name.as_str()],
                    Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
                    _ => return None,
                };
                if names.contains(&"integer") && !names.contains(&"number") {
                    return None;
                }
                kinds = kinds.inter(type_kinds(value)?);
            }
            "const" if dialect >= Dialect::D6 && value.is_null() => {
                kinds = kinds.inter(Kinds::NULL);
            }
            "enum" if *value == Value::Array(vec![Value::Null]) => {
                kinds = kinds.inter(Kinds::NULL);
            }
            k if ANNOTATIONS.contains(&k) => {}
            _ => return None,
        }
    }
    Some(kinds)
}

/// A non-negative whole number (`minItems: 2` or `2.0`).
fn count(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        let f = value.as_f64()?;
        (f >= 0.0 && f.fract() == 0.0 && f < 1e15).then_some(f as u64)
    })
}

/// A readable name for a reference's target: `#/$defs/Node` → `Node`, `#leaf` → `leaf`.
fn hint(reference: &str) -> String {
    let (path, fragment) = reference.split_once('#').unwrap_or((reference, ""));
    let raw = if let Some(pointer) = fragment.strip_prefix('/') {
        pointer.rsplit('/').next().unwrap_or("").to_owned()
    } else if !fragment.is_empty() {
        fragment.to_owned()
    } else {
        let file = path.rsplit('/').next().unwrap_or("");
        file.split('.').next().unwrap_or("").to_owned()
    };
    let raw = referencing::unescape_segment(&raw).into_owned();
    let name: String = raw
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("Def{name}")
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_name_the_target() {
        assert_eq!(hint("#/$defs/Node"), "Node");
        assert_eq!(hint("#/definitions/a~1b"), "a_b");
        assert_eq!(hint("#leaf"), "leaf");
        assert_eq!(hint("#"), "Def");
        assert_eq!(hint("tree.json"), "tree");
        assert_eq!(hint("#/prefixItems/0"), "Def0");
    }

    #[test]
    fn exact_kinds_only_for_whole_kinds() {
        use serde_json::json;
        let d = Dialect::D2020;
        assert_eq!(exact_kinds(&json!({"type": "null"}), d), Some(Kinds::NULL));
        assert_eq!(exact_kinds(&json!({"type": "integer"}), d), None);
        assert_eq!(
            exact_kinds(&json!({"type": ["integer", "number"]}), d),
            Some(Kinds::NUMBER)
        );
        assert_eq!(
            exact_kinds(&json!({"type": "string", "minLength": 1}), d),
            None
        );
        assert_eq!(exact_kinds(&json!({"title": "x"}), d), Some(Kinds::ALL));
        assert_eq!(exact_kinds(&json!({"const": null}), d), Some(Kinds::NULL));
        assert_eq!(exact_kinds(&json!({"const": null}), Dialect::D4), None);
    }
}

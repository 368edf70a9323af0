//! A schema in its document, the unit the proof and the witness search walk.

use referencing::{Draft, Resolver};
use serde_json::{Map, Value};

/// A schema in its document (for `$ref`).
#[derive(Clone)]
pub(super) struct Loc<'r> {
    pub schema: &'r Value,
    pub resolver: Option<Resolver<'r>>,
}

impl<'r> Loc<'r> {
    pub(super) fn child(&self, schema: &'r Value) -> Loc<'r> {
        Loc {
            schema,
            resolver: self.resolver.clone(),
        }
    }

    pub(super) fn key(&self) -> (usize, String) {
        (
            std::ptr::from_ref(self.schema) as usize,
            self.resolver
                .as_ref()
                .map(|r| r.base_uri().as_str().to_owned())
                .unwrap_or_default(),
        )
    }

    pub(super) fn obj(&self) -> Option<&'r Map<String, Value>> {
        self.schema.as_object()
    }

    pub(super) fn get(&self, key: &str) -> Option<&'r Value> {
        self.schema.as_object().and_then(|m| m.get(key))
    }

    pub(super) fn is_false(&self) -> bool {
        self.schema == &Value::Bool(false)
    }

    /// The `$ref` target, when it resolves.
    pub(super) fn follow(&self, reference: &str) -> Option<Loc<'r>> {
        let resolver = self.resolver.as_ref()?;
        let resolved = resolver.lookup(reference).ok()?;
        let (contents, resolver, draft) = resolved.into_inner();
        (draft == Draft::Draft202012).then_some(Loc {
            schema: contents,
            resolver: Some(resolver),
        })
    }
}

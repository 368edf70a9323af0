//! A project's tools as MCP tool descriptors (`tools/list`).

use serde_json::{Map, Value, json};

use crate::config::mcp::{ICON_MAX_BYTES, Icon, IconSource};
use crate::config::{Project, Tool};

/// A tool left out of `tools/list`, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct LeftOut {
    /// The tool's id.
    pub id: String,
    /// What is wrong with it, for a warning.
    pub reason: String,
}

/// Whether `id` is a name every MCP host accepts (`[A-Za-z0-9_.-]{1,128}`).
pub fn is_mcp_name(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// The `inputSchema` of a tool: what a caller must send. That is its `input:` as written (every
/// keyword kept), or `{"type": "object"}` without one, less what `with:` supplies: its keys are
/// not `required` of the caller, and a property `with:` fills gets its value as `default` when it
/// has none. MCP arguments are always an object and clients refuse a tool list whose input schema
/// is not an object schema, so a schema without a root `type` gets `"type": "object"` added, and
/// one whose root `type` allows no object is refused.
pub fn input_schema(tool: &Tool) -> Result<Map<String, Value>, String> {
    let mut schema = declared_input_schema(tool)?;
    if let Some(Value::Object(with)) = &tool.with {
        for_the_caller(&mut schema, with);
    }
    Ok(schema)
}

/// Takes out of `schema` what `with` supplies (see [`input_schema`]).
fn for_the_caller(schema: &mut Map<String, Value>, with: &Map<String, Value>) {
    if let Some(Value::Array(required)) = schema.get_mut("required") {
        required.retain(|key| !key.as_str().is_some_and(|key| with.contains_key(key)));
        // Draft 4 wants at least one name in `required`.
        if required.is_empty() {
            schema.remove("required");
        }
    }
    if let Some(Value::Object(properties)) = schema.get_mut("properties") {
        for (key, value) in with {
            match properties.get_mut(key) {
                Some(Value::Object(property)) => {
                    property.entry("default").or_insert_with(|| value.clone());
                }
                // `true`: anything; `{"default": …}` says the same and more.
                Some(property @ Value::Bool(true)) => {
                    *property = json!({ "default": value });
                }
                _ => {}
            }
        }
    }
}

/// The tool's `input:` as an object schema (see [`input_schema`]).
fn declared_input_schema(tool: &Tool) -> Result<Map<String, Value>, String> {
    match &tool.input {
        None | Some(Value::Bool(true)) => Ok(object_schema()),
        Some(Value::Bool(false)) => {
            Err("its `input:` schema is `false`, which accepts no input".into())
        }
        Some(Value::Object(schema)) => match schema.get("type") {
            Some(Value::String(t)) if t == "object" => Ok(schema.clone()),
            None => {
                let mut with_type = Map::with_capacity(schema.len() + 1);
                with_type.insert("type".into(), json!("object"));
                with_type.extend(schema.iter().map(|(k, v)| (k.clone(), v.clone())));
                Ok(with_type)
            }
            Some(other) => Err(format!(
                "its `input:` schema has `type: {other}`; MCP tools take an object of \
                 arguments, so the root of `input:` must be `type: object`"
            )),
        },
        Some(other) => Err(format!(
            "its `input:` schema is not a schema object: {other}"
        )),
    }
}

/// The `outputSchema` of a tool: its `output:` when that is an object schema (root
/// `type: object`); clients reject a tool list with any other kind of output schema.
pub fn output_schema(tool: &Tool) -> Option<Map<String, Value>> {
    match &tool.output {
        Some(Value::Object(schema)) if schema.get("type") == Some(&json!("object")) => {
            Some(schema.clone())
        }
        _ => None,
    }
}

fn object_schema() -> Map<String, Value> {
    let mut schema = Map::new();
    schema.insert("type".into(), json!("object"));
    schema
}

/// The `_meta` key of a tool's version.
pub const VERSION_META: &str = "compozy/version";

/// One tool's descriptor: `name` (the id, never renamed; `ID.vMAJOR` for an older major kept
/// beside a newer one), `title`, `description` (with the `deprecated:` message after it),
/// `inputSchema`, `outputSchema`, `annotations`, `icons` (a project's icon files inline, as
/// `data:` URIs) and `_meta` with the `version:`.
pub fn descriptor(tool: &Tool) -> Result<Value, LeftOut> {
    let input = input_schema(tool).map_err(|reason| LeftOut {
        id: tool.id.clone(),
        reason,
    })?;
    let mut out = Map::new();
    out.insert(
        "name".into(),
        json!(crate::config::versions::mcp_name(tool)),
    );
    if let Some(title) = &tool.mcp.title {
        out.insert("title".into(), json!(title));
    }
    if let Some(description) = description(tool) {
        out.insert("description".into(), json!(description));
    }
    if let Some(version) = &tool.version {
        out.insert("_meta".into(), json!({ VERSION_META: version.to_string() }));
    }
    out.insert("inputSchema".into(), Value::Object(input));
    if let Some(output) = output_schema(tool) {
        out.insert("outputSchema".into(), Value::Object(output));
    }
    let a = &tool.mcp.annotations;
    if !a.is_empty() {
        let mut hints = Map::new();
        for (key, hint) in [
            ("readOnlyHint", a.read_only),
            ("destructiveHint", a.destructive),
            ("idempotentHint", a.idempotent),
            ("openWorldHint", a.open_world),
        ] {
            if let Some(hint) = hint {
                hints.insert(key.into(), json!(hint));
            }
        }
        out.insert("annotations".into(), Value::Object(hints));
    }
    let icons: Vec<Value> = tool
        .mcp
        .icons
        .iter()
        .filter_map(|icon| icon_json(&tool.id, icon))
        .collect();
    if !icons.is_empty() {
        out.insert("icons".into(), Value::Array(icons));
    }
    Ok(Value::Object(out))
}

/// What the model reads about a tool: its `description:`, then its `deprecated:` message.
fn description(tool: &Tool) -> Option<String> {
    match (&tool.description, &tool.deprecated) {
        (d, None) => d.clone(),
        (None, Some(message)) => Some(format!("Deprecated: {message}")),
        (Some(d), Some(message)) => Some(format!("{d}\n\nDeprecated: {message}")),
    }
}

/// One icon as MCP has it; a file is read now (it was checked when the project was loaded, so a
/// file that went since is left out with a warning).
fn icon_json(id: &str, icon: &Icon) -> Option<Value> {
    use base64::Engine as _;
    let src = match &icon.src {
        IconSource::Uri(uri) => uri.clone(),
        IconSource::File(path) => {
            let bytes = std::fs::read(path)
                .map_err(|e| format!("cannot read it: {e}"))
                .and_then(|b| {
                    if b.len() as u64 > ICON_MAX_BYTES {
                        Err(format!("it has grown past {ICON_MAX_BYTES} bytes"))
                    } else {
                        Ok(b)
                    }
                });
            match bytes {
                Ok(bytes) => format!(
                    "data:{};base64,{}",
                    icon.mime_type
                        .as_deref()
                        .unwrap_or("application/octet-stream"),
                    base64::engine::general_purpose::STANDARD.encode(bytes)
                ),
                Err(reason) => {
                    tracing::warn!("tool `{id}`: icon {} is left out: {reason}", path.display());
                    return None;
                }
            }
        }
    };
    let mut out = Map::new();
    out.insert("src".into(), json!(src));
    if let Some(mime) = &icon.mime_type {
        out.insert("mimeType".into(), json!(mime));
    }
    if !icon.sizes.is_empty() {
        out.insert("sizes".into(), json!(icon.sizes));
    }
    if let Some(theme) = &icon.theme {
        out.insert("theme".into(), json!(theme));
    }
    Some(Value::Object(out))
}

/// Every tool of `project` that MCP can list, sorted by id, and those left out.
pub fn list(project: &Project) -> (Vec<Value>, Vec<LeftOut>) {
    let mut listed = Vec::with_capacity(project.tools.len());
    let mut left_out = Vec::new();
    // `project.tools` is sorted by id already.
    for tool in &project.tools {
        match descriptor(tool) {
            Ok(d) => listed.push(d),
            Err(l) => left_out.push(l),
        }
    }
    (listed, left_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tool(input: Option<Value>, output: Option<Value>) -> Tool {
        Tool {
            description: Some("d".into()),
            input,
            output,
            ..Tool::bare("t")
        }
    }

    #[test]
    fn input_schema_is_kept_verbatim() {
        let schema = json!({"$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object", "$defs": {"c": {"type": "string"}},
            "properties": {"city": {"$ref": "#/$defs/c"}}, "additionalProperties": false});
        let d = descriptor(&tool(Some(schema.clone()), None)).unwrap();
        assert_eq!(d["inputSchema"], schema);
        assert_eq!(d["name"], "t");
        assert_eq!(d["description"], "d");
        assert!(d.get("outputSchema").is_none());
    }

    #[test]
    fn with_keys_are_not_required_of_the_caller_and_become_defaults() {
        let mut t = tool(
            Some(json!({"type": "object",
                "properties": {"name": {"type": "string"}, "greeting": {"type": "string", "default": "hi"},
                               "n": true, "loud": {"type": "boolean"}},
                "required": ["name", "greeting", "loud"]})),
            None,
        );
        t.with = Some(json!({"name": "world", "greeting": "hello", "n": 3, "extra": 1}));
        let d = descriptor(&t).unwrap();
        assert_eq!(
            d["inputSchema"],
            json!({"type": "object",
                "properties": {"name": {"type": "string", "default": "world"},
                               "greeting": {"type": "string", "default": "hi"},
                               "n": {"default": 3}, "loud": {"type": "boolean"}},
                "required": ["loud"]})
        );
        // Nothing left to require: no `required` at all (draft 4 wants at least one name).
        t.with = Some(json!({"name": "world", "greeting": "hello", "loud": false}));
        let d = descriptor(&t).unwrap();
        assert!(d["inputSchema"].get("required").is_none(), "{d}");
    }

    #[test]
    fn missing_or_typeless_input_becomes_an_object_schema() {
        let d = descriptor(&tool(None, None)).unwrap();
        assert_eq!(d["inputSchema"], json!({"type": "object"}));
        let d = descriptor(&tool(Some(json!({"properties": {"a": {}}})), None)).unwrap();
        assert_eq!(
            d["inputSchema"],
            json!({"type": "object", "properties": {"a": {}}})
        );
    }

    #[test]
    fn non_object_input_is_left_out_with_a_reason() {
        let err = descriptor(&tool(Some(json!({"type": "string"})), None)).unwrap_err();
        assert!(
            err.reason.contains("must be `type: object`"),
            "{}",
            err.reason
        );
        assert!(descriptor(&tool(Some(json!(false)), None)).is_err());
    }

    #[test]
    fn output_schema_only_for_object_schemas() {
        let obj = json!({"type": "object", "properties": {"n": {"type": "number"}}});
        let d = descriptor(&tool(None, Some(obj.clone()))).unwrap();
        assert_eq!(d["outputSchema"], obj);
        let d = descriptor(&tool(None, Some(json!({"type": "number"})))).unwrap();
        assert!(d.get("outputSchema").is_none());
    }

    #[test]
    fn version_in_meta_and_deprecation_in_the_description() {
        let d = descriptor(&tool(None, None)).unwrap();
        assert!(d.get("_meta").is_none(), "no version, no _meta: {d}");
        let mut t = tool(None, None);
        t.version = Some(semver::Version::new(1, 4, 0));
        t.deprecated = Some("call `t`, version 2".into());
        t.id = "t@1".into();
        let d = descriptor(&t).unwrap();
        assert_eq!(d["_meta"], json!({"compozy/version": "1.4.0"}));
        assert_eq!(d["name"], "t.v1");
        assert_eq!(d["description"], "d\n\nDeprecated: call `t`, version 2");
        t.description = None;
        let d = descriptor(&t).unwrap();
        assert_eq!(d["description"], "Deprecated: call `t`, version 2");
    }

    #[test]
    fn mcp_names() {
        assert!(is_mcp_name("math.add"));
        assert!(is_mcp_name("a-b_c.1"));
        assert!(!is_mcp_name("api/caller"));
        assert!(!is_mcp_name(""));
        assert!(!is_mcp_name(&"x".repeat(129)));
    }
}

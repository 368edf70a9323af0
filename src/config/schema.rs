//! `input:` and `output:` JSON Schemas: strict keywords and meta-validation.
//!
//! A keyword the validator does not know is ignored by it, so a typo (`requird`) silently
//! switches a check off. As in ajv's strict mode, unknown keywords are errors here, except
//! `x-…` extensions and the draft's annotations. Every problem is shown at the line it was
//! written on, with its path in the schema (`input.properties.count.type`) and in plain words.

use std::cell::Cell;
use std::collections::HashSet;
use std::fmt::Write as _;

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::LocationSegment;
use jsonschema::{Draft, JsonType, ValidationError};
use serde_json::Value;
use serde_saphyr::Location;

use super::error::ConfigError;
use super::yaml::{Entry, Kind, Node, line_col};
use crate::diagnostic::{Problem, Problems};
use crate::source::SourceFile;

/// Where a tool's `input` or `output` schema was written, to check it after all tools are read.
pub struct SchemaSite {
    /// Index of the tool in the list of tools read.
    pub tool: usize,
    /// The schema as JSON.
    pub schema: Value,
    /// The schema as written, with the position of every key.
    pub node: Node,
    /// `input` or `output`.
    pub field: &'static str,
    /// The YAML file it is written in.
    pub file: SourceFile,
    /// The tool's `with:`, for an `input` schema: checked against it once it is valid.
    pub with: Option<Entry>,
}

/// Checks every schema in parallel (it is the costly part of loading); returns the indices of
/// the tools with problems in theirs.
pub fn check(sites: Vec<SchemaSite>, problems: &mut Problems) -> HashSet<usize> {
    let results = crate::parallel::map(&sites, 8, site_problems);
    let mut bad = HashSet::new();
    for (site, found) in sites.iter().zip(results) {
        if !found.is_empty() {
            bad.insert(site.tool);
        }
        problems.0.extend(found);
    }
    bad
}

/// The problems of one schema, in the order they are written.
fn site_problems(site: &SchemaSite) -> Vec<Problem> {
    let mut found: Vec<((usize, usize), Problem)> = Vec::new();
    let mut push = |at: Location, error: ConfigError, label: &str| {
        let (line, column) = line_col(at);
        let problem = Problem::new(error).at_line(&site.file, line.max(1), column.max(1), label);
        found.push(((line, column), problem));
    };
    let draft = Draft::default().detect(&site.schema);
    if draft == Draft::Unknown {
        // A custom meta-schema: compozy cannot know its keywords, nor fetch it.
        let node = site.node.get("$schema").unwrap_or(&site.node);
        push(
            node.at,
            ConfigError::InvalidSchema {
                path: format!("{}.$schema", site.field),
                reason: format!(
                    "names a meta-schema compozy does not know: {}",
                    site.schema["$schema"]
                ),
                help: Some(
                    "use one of the JSON Schema drafts: https://json-schema.org/draft/2020-12/schema \
                     (the default), 2019-09, draft-07, draft-06 or draft-04"
                        .into(),
                ),
            },
            "unknown meta-schema",
        );
        return found.into_iter().map(|(_, p)| p).collect();
    }

    let mut path = Path::new(site.field);
    let which = if site.schema.get("$schema").is_some() {
        format!("this schema's `$schema` is {}", draft_name(draft))
    } else {
        format!(
            "this schema is {} (the default without `$schema`)",
            draft_name(draft)
        )
    };
    let cx = Walk {
        draft,
        which: &which,
        unchecked: Cell::new(false),
    };
    keywords(&site.node, &cx, &mut path, &mut |at, error| {
        push(at, error, "not a JSON Schema keyword");
    });

    let mut valid = true;
    if let Ok(meta) = jsonschema::meta::validator_for(&site.schema) {
        let mut seen = HashSet::new();
        for error in meta.iter_errors(&site.schema) {
            valid = false;
            let error = closest(&error);
            let pointer = error.instance_path().as_str().to_owned();
            if !seen.insert(pointer) {
                continue;
            }
            let (at, path) = locate(&site.node, site.field, error);
            let (reason, help) = plain_words(error);
            push(
                at,
                ConfigError::InvalidSchema { path, reason, help },
                "here",
            );
        }
    }
    // What the meta-schema cannot see: regular expressions and `$ref`s that do not resolve.
    // The validator for `exec`, `serve` and `mcp` is built from the same schema, so this is the
    // error they would otherwise meet at run time.
    // Building a validator costs as much as the rest; only schemas that hold what it alone
    // checks are built.
    if valid
        && cx.unchecked.get()
        && let Err(error) = jsonschema::validator_for(&site.schema)
    {
        let (at, path, reason, help) = match error.kind() {
            ValidationErrorKind::Referencing(cause) => {
                let (at, path, written) = find_ref(&site.node, site.field, cause);
                let (reason, help) = ref_words(cause, &written);
                (at, path, reason, help)
            }
            _ => {
                let (at, path) = locate(&site.node, site.field, &error);
                let (reason, help) = plain_words(&error);
                (at, path, reason, help)
            }
        };
        push(
            at,
            ConfigError::InvalidSchema { path, reason, help },
            "here",
        );
    }
    if found.is_empty()
        && let Some(with) = &site.with
    {
        return super::with::problems(&site.schema, with, &site.file);
    }
    found.sort_by_key(|(at, _)| *at);
    found.into_iter().map(|(_, p)| p).collect()
}

/// What a keyword's value holds, so that the check goes on into subschemas and nowhere else
/// (property names, `enum` and `const` values and `default`s are data, not keywords).
#[derive(Clone, Copy)]
enum Holds {
    /// A schema.
    Schema,
    /// A mapping of names to schemas (`properties`, `$defs`).
    SchemaMap,
    /// A list of schemas (`allOf`, `prefixItems`).
    SchemaList,
    /// A schema or a list of schemas (`items` before 2020-12).
    SchemaOrList,
    /// A mapping of names to schemas or lists of names (`dependencies`).
    Dependencies,
    /// Anything else: not looked into.
    Value,
}

use Draft::{Draft4 as D4, Draft6 as D6, Draft7 as D7, Draft201909 as D2019, Draft202012 as D2020};

/// Every keyword: what it holds and the drafts that have it (first, last). Annotations, `$comment`
/// and the `$defs`/`definitions` containers are allowed in every draft, as ajv does.
const KEYWORDS: &[(&str, Holds, Draft, Draft)] = &[
    ("$schema", Holds::Value, D4, D2020),
    ("$ref", Holds::Value, D4, D2020),
    ("$comment", Holds::Value, D4, D2020),
    ("$defs", Holds::SchemaMap, D4, D2020),
    ("definitions", Holds::SchemaMap, D4, D2020),
    ("id", Holds::Value, D4, D4),
    ("$id", Holds::Value, D6, D2020),
    ("$anchor", Holds::Value, D2019, D2020),
    ("$vocabulary", Holds::Value, D2019, D2020),
    ("$recursiveRef", Holds::Value, D2019, D2019),
    ("$recursiveAnchor", Holds::Value, D2019, D2019),
    ("$dynamicRef", Holds::Value, D2020, D2020),
    ("$dynamicAnchor", Holds::Value, D2020, D2020),
    // Annotations.
    ("title", Holds::Value, D4, D2020),
    ("description", Holds::Value, D4, D2020),
    ("default", Holds::Value, D4, D2020),
    ("examples", Holds::Value, D4, D2020),
    ("deprecated", Holds::Value, D4, D2020),
    ("readOnly", Holds::Value, D4, D2020),
    ("writeOnly", Holds::Value, D4, D2020),
    ("format", Holds::Value, D4, D2020),
    ("contentMediaType", Holds::Value, D4, D2020),
    ("contentEncoding", Holds::Value, D4, D2020),
    ("contentSchema", Holds::Schema, D2019, D2020),
    // Validation.
    ("type", Holds::Value, D4, D2020),
    ("enum", Holds::Value, D4, D2020),
    ("const", Holds::Value, D6, D2020),
    ("multipleOf", Holds::Value, D4, D2020),
    ("maximum", Holds::Value, D4, D2020),
    ("exclusiveMaximum", Holds::Value, D4, D2020),
    ("minimum", Holds::Value, D4, D2020),
    ("exclusiveMinimum", Holds::Value, D4, D2020),
    ("maxLength", Holds::Value, D4, D2020),
    ("minLength", Holds::Value, D4, D2020),
    ("pattern", Holds::Value, D4, D2020),
    ("maxItems", Holds::Value, D4, D2020),
    ("minItems", Holds::Value, D4, D2020),
    ("uniqueItems", Holds::Value, D4, D2020),
    ("maxContains", Holds::Value, D2019, D2020),
    ("minContains", Holds::Value, D2019, D2020),
    ("maxProperties", Holds::Value, D4, D2020),
    ("minProperties", Holds::Value, D4, D2020),
    ("required", Holds::Value, D4, D2020),
    ("dependentRequired", Holds::Value, D2019, D2020),
    // Applicators.
    ("allOf", Holds::SchemaList, D4, D2020),
    ("anyOf", Holds::SchemaList, D4, D2020),
    ("oneOf", Holds::SchemaList, D4, D2020),
    ("not", Holds::Schema, D4, D2020),
    ("if", Holds::Schema, D7, D2020),
    ("then", Holds::Schema, D7, D2020),
    ("else", Holds::Schema, D7, D2020),
    ("items", Holds::SchemaOrList, D4, D2020),
    // Before 2020-12 only, but the validator applies it in every draft.
    ("additionalItems", Holds::Schema, D4, D2020),
    ("prefixItems", Holds::SchemaList, D2020, D2020),
    ("contains", Holds::Schema, D6, D2020),
    ("properties", Holds::SchemaMap, D4, D2020),
    ("patternProperties", Holds::SchemaMap, D4, D2020),
    ("additionalProperties", Holds::Schema, D4, D2020),
    ("propertyNames", Holds::Schema, D6, D2020),
    // Before 2019-09 only, but the validator applies it in every draft.
    ("dependencies", Holds::Dependencies, D4, D2020),
    ("dependentSchemas", Holds::SchemaMap, D2019, D2020),
    ("unevaluatedItems", Holds::Schema, D2019, D2020),
    ("unevaluatedProperties", Holds::Schema, D2019, D2020),
];

fn draft_name(draft: Draft) -> &'static str {
    match draft {
        D4 => "draft-04",
        D6 => "draft-06",
        D7 => "draft-07",
        D2019 => "2019-09",
        _ => "2020-12",
    }
}

/// The draft a schema is checked against, and how a message names it.
struct Walk<'a> {
    draft: Draft,
    which: &'a str,
    /// The schema has keywords whose values the meta-schema does not check (regular
    /// expressions, references).
    unchecked: Cell<bool>,
}

/// Keywords whose values only building a validator checks.
const UNCHECKED: &[&str] = &[
    "pattern",
    "patternProperties",
    "$ref",
    "$dynamicRef",
    "$recursiveRef",
];

/// Reports the unknown keywords of a schema and of its subschemas.
fn keywords(
    node: &Node,
    cx: &Walk<'_>,
    path: &mut Path,
    report: &mut impl FnMut(Location, ConfigError),
) {
    // Booleans are schemas too; anything else is for the meta-schema to reject.
    let Some(entries) = node.entries() else {
        return;
    };
    let draft = cx.draft;
    for e in entries {
        if e.key.starts_with("x-") {
            continue;
        }
        let known = KEYWORDS.iter().find(|k| k.0 == e.key);
        let holds = match known {
            Some(&(_, holds, first, last)) if first <= draft && draft <= last => holds,
            _ => {
                let help = match known {
                    Some(&(_, _, first, last)) => Some(format!(
                        "`{}` is a keyword of JSON Schema {}, but {}",
                        e.key,
                        if first == last {
                            draft_name(first).to_owned()
                        } else {
                            format!("{} to {}", draft_name(first), draft_name(last))
                        },
                        cx.which,
                    )),
                    None => crate::suggest::did_you_mean(
                        &e.key,
                        KEYWORDS
                            .iter()
                            .filter(|k| k.2 <= draft && draft <= k.3)
                            .map(|k| k.0),
                    ),
                };
                report(
                    e.key_at,
                    ConfigError::UnknownKeyword {
                        keyword: e.key.clone(),
                        path: path.to_string(),
                        help,
                    },
                );
                continue;
            }
        };
        if UNCHECKED.contains(&e.key.as_str()) {
            cx.unchecked.set(true);
        }
        path.push_key(&e.key);
        let value = &e.value;
        match (holds, &value.kind) {
            (Holds::Schema, _) | (Holds::SchemaOrList, Kind::Map(_)) => {
                keywords(value, cx, path, report);
            }
            (Holds::SchemaList | Holds::SchemaOrList, Kind::Seq(items)) => {
                for (i, item) in items.iter().enumerate() {
                    path.push_index(i);
                    keywords(item, cx, path, report);
                    path.pop();
                }
            }
            (Holds::SchemaMap | Holds::Dependencies, Kind::Map(named)) => {
                for sub in named {
                    path.push_key(&sub.key);
                    keywords(&sub.value, cx, path, report);
                    path.pop();
                }
            }
            _ => {}
        }
        path.pop();
    }
}

/// A path in a schema as users read it: `input.properties.count.type`, `input.anyOf[0]`.
pub(super) struct Path {
    text: String,
    ends: Vec<usize>,
}

impl Path {
    pub(super) fn new(root: &str) -> Self {
        Self {
            text: root.to_owned(),
            ends: Vec::new(),
        }
    }

    pub(super) fn push_key(&mut self, key: &str) {
        self.ends.push(self.text.len());
        let plain = !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '-'));
        if plain {
            let _ = write!(self.text, ".{key}");
        } else {
            let _ = write!(self.text, "[{}]", Value::from(key));
        }
    }

    pub(super) fn push_index(&mut self, index: usize) {
        self.ends.push(self.text.len());
        let _ = write!(self.text, "[{index}]");
    }

    pub(super) fn pop(&mut self) {
        if let Some(end) = self.ends.pop() {
            self.text.truncate(end);
        }
    }
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// For "none of the alternatives fit", the error of the alternative that fits the value's shape
/// but not its content (`type: [strng]` is a list, as one alternative wants, holding a wrong
/// name): that is the one the user meant, and its error points deeper, at the actual mistake.
fn closest<'e, 'a>(error: &'e ValidationError<'a>) -> &'e ValidationError<'a> {
    let (ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context }) =
        error.kind()
    else {
        return error;
    };
    let here = error.instance_path().as_str().len();
    let deeper = context.iter().find(|branch| {
        !branch.is_empty()
            && branch
                .iter()
                .all(|e| e.instance_path().as_str().len() > here)
    });
    match deeper.and_then(|branch| branch.first()) {
        Some(inner) => closest(inner),
        None => error,
    }
}

/// Where a meta-validation error points in the YAML, and its path.
fn locate(root: &Node, field: &str, error: &ValidationError<'_>) -> (Location, String) {
    let mut path = Path::new(field);
    let mut node = root;
    for segment in error.instance_path().segments() {
        let next = match (&segment, &node.kind) {
            (LocationSegment::Index(i), Kind::Seq(items)) => {
                path.push_index(*i);
                items.get(*i)
            }
            (_, Kind::Map(_)) => {
                let key = segment.to_string();
                path.push_key(&key);
                node.get(&key)
            }
            _ => None,
        };
        match next {
            Some(next) => node = next,
            None => break,
        }
    }
    (node.at, path.to_string())
}

/// The `$ref` a reference error is about: where it is, its path and what it says.
fn find_ref(
    root: &Node,
    field: &str,
    cause: &jsonschema::ReferencingError,
) -> (Location, String, String) {
    use jsonschema::ReferencingError as E;
    let matches = |written: &str| match cause {
        E::PointerToNowhere { pointer } => written.ends_with(&format!("#{pointer}")),
        E::NoSuchAnchor { anchor } | E::InvalidAnchor { anchor } => {
            written.ends_with(&format!("#{anchor}"))
        }
        E::Unretrievable { uri, .. } => {
            written == uri || uri.ends_with(written.split('#').next().unwrap_or(written))
        }
        _ => true,
    };
    fn walk(
        node: &Node,
        path: &mut Path,
        matches: &dyn Fn(&str) -> bool,
    ) -> Option<(Location, String, String)> {
        match &node.kind {
            Kind::Map(entries) => entries.iter().find_map(|e| {
                path.push_key(&e.key);
                let found = match (&e.key[..], &e.value.kind) {
                    ("$ref", Kind::String(written)) if matches(written) => {
                        Some((e.value.at, path.to_string(), written.clone()))
                    }
                    _ => walk(&e.value, path, matches),
                };
                path.pop();
                found
            }),
            Kind::Seq(items) => items.iter().enumerate().find_map(|(i, item)| {
                path.push_index(i);
                let found = walk(item, path, matches);
                path.pop();
                found
            }),
            _ => None,
        }
    }
    walk(root, &mut Path::new(field), &matches)
        .unwrap_or_else(|| (root.at, field.to_owned(), String::new()))
}

/// A `$ref` that does not resolve, in plain words.
fn ref_words(cause: &jsonschema::ReferencingError, written: &str) -> (String, Option<String>) {
    use jsonschema::ReferencingError as E;
    match cause {
        E::PointerToNowhere { .. } | E::NoSuchAnchor { .. } | E::InvalidAnchor { .. } => (
            format!("points to `{written}`, which is not in this schema"),
            Some("refer to a subschema of this schema, e.g. `$ref: \"#/$defs/name\"`".into()),
        ),
        E::Unretrievable { .. } => (
            format!("refers to `{written}`, another document, which compozy does not fetch"),
            Some("copy that schema under `$defs` and refer to it as `#/$defs/name`".into()),
        ),
        other => (format!("cannot be resolved: {other}"), None),
    }
}

/// The reason for a meta-validation error in plain words ("must be a number, not `"a"`"), and a
/// suggestion when the value is close to an allowed one.
pub(super) fn plain_words(error: &ValidationError<'_>) -> (String, Option<String>) {
    if let ValidationErrorKind::UniqueItems = error.kind() {
        return ("must not list the same entry twice".to_owned(), None);
    }
    let found = describe_value(error.instance());
    match expected(error) {
        Some(expected) => {
            let choices = choices(error);
            let help = error
                .instance()
                .as_str()
                .and_then(|s| crate::suggest::did_you_mean(s, choices.iter().map(String::as_str)));
            (format!("must be {expected}, not {found}"), help)
        }
        None => (error.to_string(), None),
    }
}

/// What the value should have been, in words; `None` when there is nothing plainer to say than
/// the validator's own message.
fn expected(error: &ValidationError<'_>) -> Option<String> {
    Some(match error.kind() {
        ValidationErrorKind::Type { kind } => match kind {
            TypeKind::Single(t) => type_words(*t).to_owned(),
            TypeKind::Multiple(set) => {
                let types: Vec<JsonType> = set.iter().collect();
                if types == [JsonType::Boolean, JsonType::Object] {
                    "a schema (a mapping, or true or false)".to_owned()
                } else {
                    or_list(types.into_iter().map(|t| type_words(t).to_owned()))
                }
            }
        },
        ValidationErrorKind::Enum { options } => match options.as_array() {
            Some(options) => {
                let options: Vec<String> = options.iter().map(quoted).collect();
                format!("one of {}", options.join(", "))
            }
            None => return None,
        },
        ValidationErrorKind::Constant { expected_value } => quoted(expected_value),
        ValidationErrorKind::Minimum { limit } => format!("at least {limit}"),
        ValidationErrorKind::ExclusiveMinimum { limit } => format!("greater than {limit}"),
        ValidationErrorKind::Maximum { limit } => format!("at most {limit}"),
        ValidationErrorKind::ExclusiveMaximum { limit } => format!("less than {limit}"),
        ValidationErrorKind::MinItems { limit } => {
            format!(
                "a list of at least {limit} {}",
                plural(*limit, "entry", "entries")
            )
        }
        ValidationErrorKind::MinLength { limit } => {
            format!(
                "at least {limit} {} long",
                plural(*limit, "character", "characters")
            )
        }
        ValidationErrorKind::Format { format } => match format.as_str() {
            "regex" => "a valid regular expression (ECMA-262 syntax)".to_owned(),
            other => format!("a valid {other}"),
        },
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            // Each alternative failed at this very value (or deeper): say what each wanted here.
            let here = error.instance_path();
            let mut wanted: Vec<String> = Vec::new();
            for branch in context {
                let own = branch.iter().filter(|e| e.instance_path() == here);
                for e in own {
                    if let Some(w) = expected(e)
                        && !wanted.contains(&w)
                    {
                        wanted.push(w);
                    }
                }
            }
            if wanted.is_empty() {
                return None;
            }
            or_list(wanted.into_iter())
        }
        _ => return None,
    })
}

/// The allowed string values an error names (for a "did you mean").
fn choices(error: &ValidationError<'_>) -> Vec<String> {
    match error.kind() {
        ValidationErrorKind::Enum { options } => options
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|o| o.as_str().map(str::to_owned))
            .collect(),
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            context.iter().flatten().flat_map(choices).collect()
        }
        _ => Vec::new(),
    }
}

fn type_words(t: JsonType) -> &'static str {
    match t {
        JsonType::Null => "null",
        JsonType::Boolean => "true or false",
        JsonType::Integer => "a whole number",
        JsonType::Number => "a number",
        JsonType::String => "a string",
        JsonType::Array => "a list",
        JsonType::Object => "a mapping",
    }
}

/// A value as a message shows it: scalars as written, collections by their kind.
fn describe_value(value: &Value) -> String {
    match value {
        Value::Array(items) if items.is_empty() => "an empty list".to_owned(),
        Value::Array(_) => "a list".to_owned(),
        Value::Object(_) => "a mapping".to_owned(),
        Value::String(s) => format!("the string `{s}`"),
        other => format!("`{other}`"),
    }
}

fn quoted(value: &Value) -> String {
    match value {
        Value::String(s) => format!("`{s}`"),
        other => format!("`{other}`"),
    }
}

fn or_list(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    match items.as_slice() {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{}, or {last}", init.join(", ")),
    }
}

fn plural(n: u64, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `file:line:col: message` of every problem of `input:` written as `yaml`.
    fn problems(yaml: &str) -> Vec<String> {
        let file = SourceFile::new("t.yaml".into(), "t.yaml".into(), yaml.to_owned());
        let node = super::super::yaml::parse(&file)
            .expect("parses")
            .expect("not empty");
        let site = SchemaSite {
            tool: 0,
            schema: node.to_json(),
            node,
            field: "input",
            file,
            with: None,
        };
        site_problems(&site).iter().map(Problem::headline).collect()
    }

    #[test]
    fn keywords_are_those_of_the_schemas_draft() {
        let draft7 =
            "$schema: http://json-schema.org/draft-07/schema#\nprefixItems: [{}]\nif: {}\n";
        assert_eq!(
            problems(draft7),
            ["t.yaml:2:1: unknown JSON Schema keyword `prefixItems` in `input`"]
        );
        assert!(problems("prefixItems: [{}]\nif: {}\n").is_empty());
        let draft4 = "$schema: http://json-schema.org/draft-04/schema#\nid: x\n$id: y\n";
        assert_eq!(
            problems(draft4),
            ["t.yaml:3:1: unknown JSON Schema keyword `$id` in `input`"]
        );
    }

    #[test]
    fn subschemas_are_checked_wherever_they_are() {
        let yaml = "allOf: [{ tpye: a }]\nitems: { tpye: b }\n$defs: { d: { tpye: c } }\n\
                    dependentSchemas: { p: { tpye: d } }\nnot: { tpye: e }\n\
                    properties: { \"a b\": { tpye: f } }\nadditionalProperties: { tpye: g }\n";
        assert_eq!(
            problems(yaml),
            [
                "t.yaml:1:11: unknown JSON Schema keyword `tpye` in `input.allOf[0]`",
                "t.yaml:2:10: unknown JSON Schema keyword `tpye` in `input.items`",
                "t.yaml:3:15: unknown JSON Schema keyword `tpye` in `input.$defs.d`",
                "t.yaml:4:26: unknown JSON Schema keyword `tpye` in `input.dependentSchemas.p`",
                "t.yaml:5:8: unknown JSON Schema keyword `tpye` in `input.not`",
                "t.yaml:6:24: unknown JSON Schema keyword `tpye` in `input.properties[\"a b\"]`",
                "t.yaml:7:25: unknown JSON Schema keyword `tpye` in `input.additionalProperties`",
            ]
        );
    }

    #[test]
    fn references_and_patterns_that_cannot_work_are_errors() {
        assert_eq!(
            problems("properties:\n  a: { $ref: \"#/$defs/nope\" }\n"),
            [
                "t.yaml:2:14: invalid JSON Schema at `input.properties.a.$ref`: points to \
                 `#/$defs/nope`, which is not in this schema"
            ]
        );
        let pattern = problems("pattern: \"(\"\n");
        assert_eq!(pattern.len(), 1);
        let regex = "t.yaml:1:10: invalid JSON Schema at `input.pattern`: must be a valid regular";
        assert!(pattern[0].starts_with(regex), "{pattern:?}");
        let custom = problems("$schema: https://example.test/mine\n");
        assert!(
            custom[0].contains("names a meta-schema compozy does not know"),
            "{custom:?}"
        );
    }
}

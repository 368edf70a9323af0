//! Compozy's references: `$ref`, `$use` and `$merge` in YAML, resolved as Compozy resolves them.
//!
//! Three spellings are met in real projects, and all are read:
//! - `$ref: local::tools.#(id=="x")`, `$ref: global::schemas.#(id=="quote")`,
//!   `$ref: resource::tool::#(id=="x")`, `$use: tool(local::tools.#(id="x"))` and `$merge:`
//!   (`local` is the document being read, `global` is compozy.yaml, `resource` the autoloaded
//!   files by kind and id), with an optional `!merge:<deep|shallow|replace[,replace|first|error]>`;
//! - `$ref: ./tools/x.yaml`, `$ref: ./x.yaml::path`, `$ref: $global::schemas.#(id=="quote")`
//!   (file references are relative to the file that holds them), with an optional `!merge`,
//!   `!replace` or `!append`;
//! - a schema named by id (`input: city_input`), handled by the caller with [`Docs::schema`].
//!
//! Paths are gjson paths: `a.b`, `a.0`, `a.#(key=="value")` (`=` and `==` alike, quotes optional).
//! Sibling keys of a reference are deep-merged over what it points at (siblings win). A JSON
//! Schema's own `$ref` (`#/$defs/x`, a URL) does not have any of these shapes and stays as it is.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::error::ConfigError;
use super::yaml::{Entry, Kind, Node, line_col};
use crate::diagnostic::Problem;
use crate::paths::normalize;
use crate::source::SourceFile;

/// How deep references may chain before the chain is taken for a mistake.
const MAX_DEPTH: usize = 20;

/// A YAML document that references may point into.
#[derive(Debug)]
pub struct Doc {
    /// The file, for code frames and relative paths.
    pub file: SourceFile,
    /// Its tree (`None`: empty, or did not parse).
    pub tree: Option<Node>,
}

/// Every document references may reach, each read once.
#[derive(Debug, Default)]
pub struct Docs {
    docs: Vec<Doc>,
    by_path: HashMap<PathBuf, Result<usize, ()>>,
    root: PathBuf,
    /// compozy.yaml.
    global: Option<usize>,
    /// Autoloaded resources by (kind, id), both lowercased as Compozy's registry does.
    resources: HashMap<(String, String), usize>,
    /// Schemas by id, in the order they are looked up (see [`Docs::schema`]).
    schemas: Vec<(String, usize, Node)>,
}

/// A node and the document it was written in.
#[derive(Debug, Clone)]
pub struct Placed {
    /// The node.
    pub node: Node,
    /// Index of its document in [`Docs`].
    pub doc: usize,
}

impl Docs {
    /// Documents of the project at `root`.
    pub fn new(root: PathBuf) -> Self {
        Self {
            root,
            ..Self::default()
        }
    }

    /// Adds a document read elsewhere; returns its index.
    pub fn add(&mut self, file: SourceFile, tree: Option<Node>) -> usize {
        let i = self.docs.len();
        self.by_path.insert(file.path.clone(), Ok(i));
        self.docs.push(Doc { file, tree });
        i
    }

    /// Marks `doc` as compozy.yaml, the `global` scope.
    pub fn set_global(&mut self, doc: usize) {
        self.global = Some(doc);
    }

    /// Whether `doc` is compozy.yaml.
    pub fn is_global(&self, doc: usize) -> bool {
        self.global == Some(doc)
    }

    /// Registers an autoloaded resource file for `resource::KIND::…` references.
    pub fn add_resource(&mut self, kind: &str, id: &str, doc: usize) {
        self.resources
            .insert((kind.to_lowercase(), id.trim().to_lowercase()), doc);
    }

    /// Registers a schema for lookups by id; earlier registrations are found first.
    pub fn add_schema(&mut self, id: &str, doc: usize, node: Node) {
        self.schemas.push((id.to_owned(), doc, node));
    }

    /// The document at `i`.
    pub fn doc(&self, i: usize) -> &Doc {
        &self.docs[i]
    }

    /// The file of document `i`.
    pub fn file(&self, i: usize) -> &SourceFile {
        &self.docs[i].file
    }

    /// Reads and parses `path` once; the problem is returned the first time only.
    pub fn load(&mut self, path: &Path) -> Result<usize, Option<Problem>> {
        let path = normalize(path);
        if let Some(hit) = self.by_path.get(&path) {
            return hit.map_err(|()| None);
        }
        let read = super::load::read_source(&path, &self.root)
            .and_then(|file| super::yaml::parse(&file).map(|tree| (file, tree)));
        match read {
            Ok((file, tree)) => Ok(self.add(file, tree)),
            Err(problem) => {
                self.by_path.insert(path, Err(()));
                Err(Some(problem))
            }
        }
    }

    /// Every document read, as project paths (for watchers and caches).
    pub fn paths(&self) -> Vec<super::ProjectPath> {
        self.docs
            .iter()
            .map(|d| super::ProjectPath {
                abs: d.file.path.clone(),
                rel: d.file.name.clone(),
            })
            .collect()
    }

    /// The schema named `id`, with the ids that exist for a "did you mean".
    pub fn schema(&self, id: &str) -> Result<Placed, Vec<String>> {
        self.schemas
            .iter()
            .find(|(name, _, _)| name == id)
            .map(|(_, doc, node)| Placed {
                node: strip_id(node.clone()),
                doc: *doc,
            })
            .ok_or_else(|| self.schemas.iter().map(|(n, _, _)| n.clone()).collect())
    }
}

/// A schema from a `schemas:` list without the list's own `id` (and `resource`) keys, which are
/// not JSON Schema keywords.
pub fn strip_id(mut node: Node) -> Node {
    if let Kind::Map(entries) = &mut node.kind {
        entries.retain(|e| e.key != "id" && e.key != "resource");
    }
    node
}

/// Where to find what a reference points at.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    /// The document being read (`local::`), or a path in it.
    Local,
    /// compozy.yaml.
    Global,
    /// An autoloaded resource of this kind.
    Resource(String),
    /// A YAML file, relative to the file holding the reference.
    File(String),
}

/// How a reference's target and its sibling keys are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Nested mappings merged, siblings win (the default).
    Deep,
    /// Top-level keys only, siblings win.
    Shallow,
    /// The target alone; siblings dropped.
    Replace,
    /// Nested mappings merged, the target wins.
    DeepFirst,
    /// Any key in both is an error.
    DeepError,
    /// Lists appended (`!append`).
    Append,
}

/// A parsed reference.
#[derive(Debug, Clone)]
struct Reference {
    source: Source,
    path: String,
    mode: Mode,
}

/// Whether a string is written as one of Compozy's references (rather than a JSON Schema `$ref`).
#[cfg(test)]
fn is_reference(text: &str) -> bool {
    parse_ref(text).is_some()
}

fn parse_mode(opts: &str) -> Option<Mode> {
    let mut strategy = Mode::Deep;
    let mut conflict = None;
    for (i, opt) in opts.split(',').map(str::trim).enumerate() {
        match (i, opt) {
            (0, "deep") | (0, "") => strategy = Mode::Deep,
            (0, "shallow") => strategy = Mode::Shallow,
            (0, "replace") => strategy = Mode::Replace,
            (1, "replace") => conflict = None,
            (1, "first") => conflict = Some(Mode::DeepFirst),
            (1, "error") => conflict = Some(Mode::DeepError),
            _ => return None,
        }
    }
    Some(match (strategy, conflict) {
        (Mode::Deep, Some(c)) => c,
        (s, _) => s,
    })
}

fn parse_ref(text: &str) -> Option<Reference> {
    let text = text.trim();
    // The suffix: `!merge:<…>` (pkg/ref) or `!merge` / `!replace` / `!append`.
    // A `!` that starts no suffix belongs to the path (`#(id!="x")`).
    let suffix = text.rfind('!').filter(|&bang| bang > 0).and_then(|bang| {
        let suffix = &text[bang + 1..];
        let mode = if let Some(opts) = suffix
            .strip_prefix("merge:<")
            .and_then(|s| s.strip_suffix('>'))
        {
            Some(parse_mode(opts))
        } else {
            match suffix {
                "merge" => Some(Some(Mode::Deep)),
                "replace" => Some(Some(Mode::Replace)),
                "append" => Some(Some(Mode::Append)),
                _ => None,
            }
        };
        mode.map(|mode| (bang, mode))
    });
    let (body, mode) = match suffix {
        // `!merge:<…>` with options that do not exist: not a reference compozy can read.
        Some((_, None)) => return None,
        Some((bang, Some(mode))) => (&text[..bang], mode),
        None => (text, Mode::Deep),
    };
    let (source, path) = if let Some(path) = body.strip_prefix("local::") {
        (Source::Local, path)
    } else if let Some(rest) = body
        .strip_prefix("global::")
        .or_else(|| body.strip_prefix("$global::"))
    {
        (Source::Global, rest)
    } else if body == "$global" {
        (Source::Global, "")
    } else if let Some(rest) = body.strip_prefix("resource::") {
        let (kind, selector) = rest.split_once("::")?;
        (Source::Resource(kind.to_owned()), selector)
    } else if body.starts_with("./") || body.starts_with("../") {
        let (file, path) = body.split_once("::").unwrap_or((body, ""));
        if !(file.ends_with(".yaml") || file.ends_with(".yml")) {
            return None;
        }
        (Source::File(file.to_owned()), path)
    } else {
        return None;
    };
    if path.is_empty() && matches!(source, Source::Local | Source::Resource(_)) {
        return None;
    }
    Some(Reference {
        source,
        path: path.to_owned(),
        mode,
    })
}

/// `$use: tool(local::tools.#(id="x"))` → ("tool", the reference).
fn parse_use(text: &str) -> Option<(String, Reference)> {
    let text = text.trim();
    let open = text.find('(')?;
    let component = &text[..open];
    if !matches!(component, "agent" | "tool" | "task" | "mcp") {
        return None;
    }
    // The reference ends at the `)` closing the component, before any `!merge:<…>` suffix.
    let rest = &text[open + 1..];
    let (inner, suffix) = match rest.rfind(')') {
        Some(close) => (&rest[..close], &rest[close + 1..]),
        None => return None,
    };
    let reference = parse_ref(&format!("{inner}{suffix}"))?;
    Some((component.to_owned(), reference))
}

/// One step of a gjson path.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Key(String),
    /// `#(key==value)`, or with `!=`.
    Query {
        key: String,
        value: String,
        equal: bool,
    },
}

fn split_path(path: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut current = String::new();
    let mut chars = path.chars().peekable();
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match c {
            '\\' if quote.is_none() => {
                if let Some(next) = chars.next() {
                    current.push(next);
                }
            }
            '"' | '\'' if depth > 0 => {
                quote = match quote {
                    Some(q) if q == c => None,
                    None => Some(c),
                    other => other,
                };
                current.push(c);
            }
            '(' if quote.is_none() => {
                depth += 1;
                current.push(c);
            }
            ')' if quote.is_none() => {
                depth = depth.saturating_sub(1);
                current.push(c);
            }
            '.' if depth == 0 && quote.is_none() => {
                steps.push(std::mem::take(&mut current));
            }
            _ => current.push(c),
        }
    }
    steps.push(current);
    steps
        .into_iter()
        .filter(|s| !s.is_empty())
        .map(|s| parse_step(&s))
        .collect()
}

fn parse_step(step: &str) -> Step {
    let Some(query) = step.strip_prefix("#(").and_then(|s| s.strip_suffix(')')) else {
        return Step::Key(step.to_owned());
    };
    let (key, value, equal) = if let Some((k, v)) = query.split_once("!=") {
        (k, v, false)
    } else if let Some((k, v)) = query.split_once("==") {
        (k, v, true)
    } else if let Some((k, v)) = query.split_once('=') {
        (k, v, true)
    } else {
        return Step::Key(step.to_owned());
    };
    let value = value.trim();
    let unquoted = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
        .unwrap_or(value);
    Step::Query {
        key: key.trim().to_owned(),
        value: unquoted.to_owned(),
        equal,
    }
}

/// The text of a scalar for comparisons in queries.
fn scalar(node: &Node) -> Option<String> {
    match &node.kind {
        Kind::String(s) => Some(s.clone()),
        Kind::Bool(b) => Some(b.to_string()),
        Kind::Int(i) => Some(i.to_string()),
        Kind::UInt(u) => Some(u.to_string()),
        Kind::Float(f) => Some(f.to_string()),
        Kind::Null | Kind::Seq(_) | Kind::Map(_) => None,
    }
}

/// Follows `path` from `node`; on failure, why (with the names that exist there).
fn walk<'n>(node: &'n Node, path: &str) -> Result<&'n Node, (String, Vec<String>)> {
    let mut here = node;
    let mut walked = String::new();
    for step in split_path(path) {
        let at = if walked.is_empty() {
            "the top level".to_owned()
        } else {
            format!("`{walked}`")
        };
        here = match (&step, &here.kind) {
            (Step::Key(key), Kind::Map(entries)) => match entries.iter().find(|e| &e.key == key) {
                Some(e) => &e.value,
                None => {
                    let keys = entries.iter().map(|e| e.key.clone()).collect();
                    return Err((format!("{at} has no key `{key}`"), keys));
                }
            },
            (Step::Key(key), Kind::Seq(items)) => match key.parse::<usize>() {
                Ok(i) if i < items.len() => &items[i],
                _ => {
                    return Err((
                        format!(
                            "{at} is a list of {} items; `{key}` is not an index of it",
                            items.len()
                        ),
                        Vec::new(),
                    ));
                }
            },
            (Step::Query { key, value, equal }, Kind::Seq(items)) => {
                let found = items.iter().find(|item| {
                    let v = item.get(key).and_then(scalar);
                    (v.as_deref() == Some(value.as_str())) == *equal
                });
                match found {
                    Some(item) => item,
                    None => {
                        let have = items
                            .iter()
                            .filter_map(|i| i.get(key).and_then(scalar))
                            .collect();
                        let op = if *equal { "==" } else { "!=" };
                        return Err((
                            format!("no item of {at} has `{key}` {op} \"{value}\""),
                            have,
                        ));
                    }
                }
            }
            (step, _) => {
                let what = match step {
                    Step::Key(k) => format!("`{k}`"),
                    Step::Query { .. } => "a query".into(),
                };
                return Err((
                    format!("{at} is {}; {what} cannot be looked up in it", here.what()),
                    Vec::new(),
                ));
            }
        };
        let piece = match &step {
            Step::Key(k) => k.clone(),
            Step::Query { key, value, .. } => format!("#({key}==\"{value}\")"),
        };
        walked = if walked.is_empty() {
            piece
        } else {
            format!("{walked}.{piece}")
        };
    }
    Ok(here)
}

/// Resolves references in YAML trees.
pub struct Resolver<'d> {
    docs: &'d mut Docs,
    /// References being resolved, to detect cycles.
    stack: Vec<String>,
}

impl<'d> Resolver<'d> {
    /// A resolver over `docs`.
    pub fn new(docs: &'d mut Docs) -> Self {
        Self {
            docs,
            stack: Vec::new(),
        }
    }

    /// The documents.
    pub fn docs(&mut self) -> &mut Docs {
        self.docs
    }

    /// `node` with the reference it is (if it is one) replaced by what it points at, and the
    /// document that holds the result. References inside the result are not resolved; see
    /// [`Resolver::deep`]. `local` is the document `local::` paths start from.
    pub fn top(&mut self, node: &Node, doc: usize, local: usize) -> Result<Placed, Problem> {
        let Kind::Map(entries) = &node.kind else {
            return Ok(Placed {
                node: node.clone(),
                doc,
            });
        };
        let directives: Vec<&Entry> = entries.iter().filter(|e| is_directive(e)).collect();
        let Some(directive) = directives.first() else {
            return Ok(Placed {
                node: node.clone(),
                doc,
            });
        };
        if let Some(second) = directives.get(1) {
            return Err(self.problem(
                doc,
                second.key_at,
                ConfigError::BadReference {
                    reference: second.key.clone(),
                    reason: format!(
                        "a mapping may hold one of `$ref`, `$use` and `$merge`; this one also has `{}`",
                        directive.key
                    ),
                    help: "split it into two mappings".into(),
                },
            ));
        }
        if self.stack.len() >= MAX_DEPTH {
            return Err(self.problem(
                doc,
                directive.value.at,
                ConfigError::BadReference {
                    reference: scalar(&directive.value).unwrap_or_default(),
                    reason: format!("references chain more than {MAX_DEPTH} deep"),
                    help: "a reference probably reaches itself through others; break the chain"
                        .into(),
                },
            ));
        }
        let siblings: Vec<Entry> = entries
            .iter()
            .filter(|e| e.key != directive.key)
            .cloned()
            .collect();
        let (target, mode) = match directive.key.as_str() {
            "$merge" => {
                if !siblings.is_empty() {
                    return Err(self.problem(
                        doc,
                        siblings[0].key_at,
                        ConfigError::BadReference {
                            reference: "$merge".into(),
                            reason: "`$merge` cannot have sibling keys".into(),
                            help: "list every part under `$merge:`".into(),
                        },
                    ));
                }
                return self.merge(&directive.value, doc, local);
            }
            "$use" => {
                let text = scalar(&directive.value).unwrap_or_default();
                let Some((component, reference)) = parse_use(&text) else {
                    return Err(self.problem(
                        doc,
                        directive.value.at,
                        ConfigError::BadReference {
                            reference: text,
                            reason: "not a `$use` reference".into(),
                            help: "write `$use: tool(local::tools.#(id==\"my_tool\"))` (agent, tool, task or mcp; local, global or resource)".into(),
                        },
                    ));
                };
                let mode = reference.mode;
                let target = self.follow(&reference, &text, &directive.value, doc, local)?;
                let at = directive.value.at;
                let wrapped = Node {
                    kind: Kind::Map(vec![Entry {
                        key: component,
                        key_at: at,
                        value: target.node,
                    }]),
                    at,
                    defined: at,
                };
                (
                    Placed {
                        node: wrapped,
                        doc: target.doc,
                    },
                    mode,
                )
            }
            _ => {
                let reference = match &directive.value.kind {
                    Kind::String(text) => parse_ref(text),
                    Kind::Map(_) => self.object_ref(&directive.value),
                    _ => None,
                };
                let text = scalar(&directive.value).unwrap_or_else(|| "$ref".into());
                let Some(reference) = reference else {
                    return Err(self.problem(
                        doc,
                        directive.value.at,
                        ConfigError::BadReference {
                            reference: text,
                            reason: "not a reference compozy can resolve".into(),
                            help: "write `$ref: ./file.yaml`, `$ref: ./file.yaml::path`, `$ref: $global::schemas.#(id==\"x\")` or `$ref: local::tools.#(id==\"x\")`".into(),
                        },
                    ));
                };
                let mode = reference.mode;
                (
                    self.follow(&reference, &text, &directive.value, doc, local)?,
                    mode,
                )
            }
        };
        if siblings.is_empty() || mode == Mode::Replace {
            return Ok(target);
        }
        let at = node.at;
        let merged = combine(target.node, siblings, mode).map_err(|reason| {
            self.problem(
                doc,
                at,
                ConfigError::BadReference {
                    reference: scalar(&directive.value).unwrap_or_default(),
                    reason,
                    help: "keys beside a reference are merged into what it points at, which must be a mapping".into(),
                },
            )
        })?;
        Ok(Placed {
            node: merged,
            doc: target.doc,
        })
    }

    /// `node` with every reference in it resolved. Parts that came from other documents keep
    /// their positions in those documents.
    pub fn deep(&mut self, node: &Node, doc: usize, local: usize) -> Result<Node, Problem> {
        let placed = self.top(node, doc, local)?;
        let mut node = placed.node;
        let doc = placed.doc;
        match &mut node.kind {
            Kind::Map(entries) => {
                for e in entries.iter_mut() {
                    e.value = self.deep(&e.value, doc, local)?;
                }
            }
            Kind::Seq(items) => {
                for item in items.iter_mut() {
                    *item = self.deep(item, doc, local)?;
                }
            }
            _ => {}
        }
        Ok(node)
    }

    fn object_ref(&self, node: &Node) -> Option<Reference> {
        let text = |k: &str| node.get(k).and_then(scalar);
        let mode = match text("mode").as_deref() {
            None | Some("merge") => Mode::Deep,
            Some("replace") => Mode::Replace,
            Some("append") => Mode::Append,
            Some(_) => return None,
        };
        let path = text("path").unwrap_or_default();
        let source = match text("type").as_deref() {
            Some("file") => Source::File(text("file")?),
            Some("global") => Source::Global,
            Some("property") => Source::Local,
            _ => return None,
        };
        Some(Reference { source, path, mode })
    }

    fn follow(
        &mut self,
        reference: &Reference,
        text: &str,
        written: &Node,
        doc: usize,
        local: usize,
    ) -> Result<Placed, Problem> {
        let fail = |this: &Self, reason: String, names: Vec<String>| {
            let help = match crate::suggest::did_you_mean(
                &last_value(&reference.path),
                names.iter().map(String::as_str),
            ) {
                Some(hint) => hint,
                None if names.is_empty() => {
                    "check the path; paths are gjson paths such as `tools.#(id==\"my_tool\")`"
                        .into()
                }
                None => format!(
                    "what is there: {}",
                    names
                        .iter()
                        .take(12)
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            this.problem(
                doc,
                written.at,
                ConfigError::BadReference {
                    reference: text.to_owned(),
                    reason,
                    help,
                },
            )
        };
        let (target_doc, path) = match &reference.source {
            Source::Local => (local, reference.path.clone()),
            Source::Global => match self.docs.global {
                Some(g) => (g, reference.path.clone()),
                None => {
                    return Err(fail(
                        self,
                        "there is no compozy.yaml to read".into(),
                        Vec::new(),
                    ));
                }
            },
            Source::Resource(kind) => {
                let (selector, rest) = resource_selector(&reference.path);
                let key = (kind.to_lowercase(), selector.to_lowercase());
                match self.docs.resources.get(&key) {
                    Some(&d) => (d, rest),
                    None => {
                        let names = self
                            .docs
                            .resources
                            .keys()
                            .filter(|(k, _)| *k == key.0)
                            .map(|(_, id)| id.clone())
                            .collect();
                        return Err(fail(
                            self,
                            format!("no autoloaded `resource: {kind}` file has id `{selector}`"),
                            names,
                        ));
                    }
                }
            }
            Source::File(file) => {
                let base = self
                    .docs
                    .file(doc)
                    .path
                    .parent()
                    .map(Path::to_path_buf)
                    .unwrap_or_default();
                let path = normalize(&base.join(file));
                if !path.starts_with(&self.docs.root) {
                    return Err(fail(
                        self,
                        format!("`{file}` is outside the project"),
                        Vec::new(),
                    ));
                }
                if !self.docs.by_path.contains_key(&path) && !path.is_file() {
                    return Err(fail(
                        self,
                        format!(
                            "`{file}` does not exist (relative to the file that holds the reference)"
                        ),
                        Vec::new(),
                    ));
                }
                match self.docs.load(&path) {
                    Ok(d) => (d, reference.path.clone()),
                    Err(Some(problem)) => return Err(problem),
                    Err(None) => {
                        return Err(fail(
                            self,
                            format!("`{file}` could not be read"),
                            Vec::new(),
                        ));
                    }
                }
            }
        };
        let key = format!("{}::{path}", self.docs.file(target_doc).name);
        if let Some(start) = self.stack.iter().position(|k| *k == key) {
            let mut chain: Vec<String> = self.stack[start..].to_vec();
            chain.push(key);
            return Err(fail(
                self,
                format!("a reference cycle: {}", chain.join(" → ")),
                Vec::new(),
            ));
        }
        let Some(tree) = self.docs.doc(target_doc).tree.clone() else {
            return Err(fail(
                self,
                format!("`{}` is empty", self.docs.file(target_doc).name),
                Vec::new(),
            ));
        };
        let found = walk(&tree, &path).map_err(|(reason, names)| {
            let reason = format!("in {}: {reason}", self.docs.file(target_doc).name);
            fail(self, reason, names)
        })?;
        let found = found.clone();
        // What the reference points at may itself be a reference; a file's own `local::` paths
        // start from that file.
        let next_local = match reference.source {
            Source::File(_) | Source::Resource(_) => target_doc,
            Source::Local | Source::Global => local,
        };
        self.stack.push(key);
        let result = self.top(&found, target_doc, next_local);
        self.stack.pop();
        result
    }

    fn merge(&mut self, value: &Node, doc: usize, local: usize) -> Result<Placed, Problem> {
        let (sources, strategy, conflict) = match &value.kind {
            Kind::Seq(items) => (items.clone(), "deep".to_owned(), "replace".to_owned()),
            Kind::Map(_) => {
                let sources = match value.get("sources").map(|n| &n.kind) {
                    Some(Kind::Seq(items)) => items.clone(),
                    _ => Vec::new(),
                };
                let text = |k: &str, d: &str| {
                    value
                        .get(k)
                        .and_then(scalar)
                        .unwrap_or_else(|| d.to_owned())
                };
                (
                    sources,
                    text("strategy", ""),
                    text("key_conflict", "replace"),
                )
            }
            _ => (Vec::new(), String::new(), String::new()),
        };
        if sources.is_empty() {
            return Err(self.problem(
                doc,
                value.at,
                ConfigError::BadReference {
                    reference: "$merge".into(),
                    reason: "`$merge` takes a list of sources, or `sources:` with `strategy:` and `key_conflict:`".into(),
                    help: "write `$merge: [ {$ref: …}, {key: value} ]`".into(),
                },
            ));
        }
        let mut parts = Vec::new();
        let mut first_doc = doc;
        for (i, source) in sources.iter().enumerate() {
            let placed = self.top(source, doc, local)?;
            if i == 0 {
                first_doc = placed.doc;
            }
            parts.push(placed.node);
        }
        let lists = parts.iter().all(|p| matches!(p.kind, Kind::Seq(_)));
        let maps = parts.iter().all(|p| matches!(p.kind, Kind::Map(_)));
        let mut result = parts[0].clone();
        if lists {
            for part in &parts[1..] {
                let (Kind::Seq(acc), Kind::Seq(more)) = (&mut result.kind, &part.kind) else {
                    continue;
                };
                match strategy.as_str() {
                    "replace" => *acc = more.clone(),
                    "prepend" => {
                        let mut all = more.clone();
                        all.append(acc);
                        *acc = all;
                    }
                    "unique" | "union" => {
                        for item in more {
                            if !acc.iter().any(|a| a.to_json() == item.to_json()) {
                                acc.push(item.clone());
                            }
                        }
                    }
                    _ => acc.extend(more.iter().cloned()),
                }
            }
        } else if maps {
            let mode = match (strategy.as_str(), conflict.as_str()) {
                ("shallow", _) => Mode::Shallow,
                ("replace", _) => Mode::Replace,
                (_, "first") => Mode::DeepFirst,
                (_, "error") => Mode::DeepError,
                _ => Mode::Deep,
            };
            for part in &parts[1..] {
                if mode == Mode::Replace {
                    result = part.clone();
                    continue;
                }
                let Kind::Map(entries) = &part.kind else {
                    continue;
                };
                result = combine(result, entries.clone(), mode).map_err(|reason| {
                    self.problem(
                        doc,
                        value.at,
                        ConfigError::BadReference {
                            reference: "$merge".into(),
                            reason,
                            help: "remove the key from one of the sources, or set `key_conflict: replace`".into(),
                        },
                    )
                })?;
            }
        } else {
            return Err(self.problem(
                doc,
                value.at,
                ConfigError::BadReference {
                    reference: "$merge".into(),
                    reason: "its sources must be all mappings or all lists".into(),
                    help: "merge mappings with mappings and lists with lists".into(),
                },
            ));
        }
        Ok(Placed {
            node: result,
            doc: first_doc,
        })
    }

    fn problem(&self, doc: usize, at: serde_saphyr::Location, error: ConfigError) -> Problem {
        let (line, column) = line_col(at);
        Problem::new(error).at_line(
            self.docs.file(doc),
            line.max(1),
            column.max(1),
            "this reference",
        )
    }
}

fn is_directive(e: &Entry) -> bool {
    match e.key.as_str() {
        "$use" | "$merge" => true,
        "$ref" => match &e.value.kind {
            Kind::String(text) => parse_ref(text).is_some(),
            Kind::Map(m) => m.iter().any(|e| e.key == "type"),
            _ => false,
        },
        _ => false,
    }
}

/// The value a query or a key of `path` looks for, for a "did you mean".
fn last_value(path: &str) -> String {
    match split_path(path).pop() {
        Some(Step::Key(k)) => k,
        Some(Step::Query { value, .. }) => value,
        None => String::new(),
    }
}

/// `#(id=="x").a.b` or `x.a.b` → ("x", "a.b").
fn resource_selector(selector: &str) -> (String, String) {
    let mut steps = split_path(selector).into_iter();
    let id = match steps.next() {
        Some(Step::Query { value, .. }) => value,
        Some(Step::Key(k)) => k,
        None => String::new(),
    };
    let rest: Vec<String> = steps
        .map(|s| match s {
            Step::Key(k) => k.replace('.', "\\."),
            Step::Query { key, value, equal } => {
                format!("#({key}{}\"{value}\")", if equal { "==" } else { "!=" })
            }
        })
        .collect();
    (id, rest.join("."))
}

/// Merges `siblings` into `target` (a mapping) as `mode` says.
fn combine(target: Node, siblings: Vec<Entry>, mode: Mode) -> Result<Node, String> {
    let at = target.at;
    let defined = target.defined;
    let mut entries = match target.kind {
        Kind::Map(entries) => entries,
        Kind::Null => Vec::new(),
        Kind::Seq(_) => return Err("it points at a list, which cannot take sibling keys".into()),
        _ => return Err("it points at a single value, which cannot take sibling keys".into()),
    };
    for sibling in siblings {
        match entries.iter_mut().find(|e| e.key == sibling.key) {
            None => entries.push(sibling),
            Some(existing) => match mode {
                Mode::DeepFirst => {}
                Mode::DeepError => {
                    return Err(format!(
                        "`{}` is set both by the reference and beside it",
                        sibling.key
                    ));
                }
                Mode::Shallow | Mode::Replace => *existing = sibling,
                Mode::Append => match (&mut existing.value.kind, sibling.value.kind) {
                    (Kind::Seq(a), Kind::Seq(b)) => a.extend(b),
                    (_, kind) => existing.value.kind = kind,
                },
                Mode::Deep => {
                    if matches!(existing.value.kind, Kind::Map(_))
                        && let Kind::Map(inner) = sibling.value.kind.clone()
                    {
                        existing.value = combine(existing.value.clone(), inner, Mode::Deep)?;
                    } else {
                        *existing = sibling;
                    }
                }
            },
        }
    }
    Ok(Node {
        kind: Kind::Map(entries),
        at,
        defined,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(name: &str, text: &str) -> (SourceFile, Option<Node>) {
        let file = SourceFile::new(
            PathBuf::from(format!("/p/{name}")),
            name.into(),
            text.to_owned(),
        );
        let node = super::super::yaml::parse(&file).expect("parses");
        (file, node)
    }

    fn docs(files: &[(&str, &str)]) -> Docs {
        let mut docs = Docs::new(PathBuf::from("/p"));
        for (name, text) in files {
            let (file, node) = tree(name, text);
            let i = docs.add(file, node);
            if *name == "compozy.yaml" {
                docs.set_global(i);
            }
        }
        docs
    }

    fn resolve(docs: &mut Docs, doc: usize, path: &str) -> Result<serde_json::Value, String> {
        let node = walk(docs.doc(doc).tree.as_ref().unwrap(), path)
            .unwrap()
            .clone();
        Resolver::new(docs)
            .deep(&node, doc, doc)
            .map(|n| n.to_json())
            .map_err(|p| p.headline())
    }

    #[test]
    fn shapes_of_references() {
        assert!(is_reference("local::tools.#(id==\"x\")"));
        assert!(is_reference("global::schemas.#(id=='x')"));
        assert!(is_reference("$global::schemas.#(id==\"quote\")"));
        assert!(is_reference("$global"));
        assert!(is_reference("./tools/x.yaml"));
        assert!(is_reference("../x.yml::a.b!replace"));
        assert!(is_reference("resource::agent::#(id=='a')"));
        assert!(is_reference("local::a!merge:<deep,first>"));
        // JSON Schema's own references are not Compozy's.
        assert!(!is_reference("#/$defs/item"));
        assert!(!is_reference("https://example.test/s.json"));
        assert!(!is_reference("./item.json"));
        assert!(!is_reference("local::a!merge:<bogus>"));
        assert!(is_reference("local::tools.#(id!=\"x\")"));
    }

    #[test]
    fn gjson_paths() {
        assert_eq!(
            split_path("tools.#(id==\"a.b\").input"),
            vec![
                Step::Key("tools".into()),
                Step::Query {
                    key: "id".into(),
                    value: "a.b".into(),
                    equal: true
                },
                Step::Key("input".into()),
            ]
        );
        assert_eq!(
            split_path("a\\.b.c"),
            vec![Step::Key("a.b".into()), Step::Key("c".into())]
        );
        assert_eq!(
            split_path("#(id=x)"),
            vec![Step::Query {
                key: "id".into(),
                value: "x".into(),
                equal: true
            }]
        );
    }

    #[test]
    fn local_global_and_file_references() {
        let mut d = docs(&[
            (
                "compozy.yaml",
                "schemas:\n  - id: quote\n    type: object\n",
            ),
            (
                "wf.yaml",
                "schemas:\n  - id: city\n    type: string\ntools:\n  - id: a\n    input:\n      $ref: local::schemas.#(id==\"city\")\n  - id: b\n    output:\n      $ref: $global::schemas.#(id==\"quote\")\n  - $ref: ./t/c.yaml\n    description: over\n",
            ),
            ("t/c.yaml", "id: c\ndescription: first\nexecute: ./c.ts\n"),
        ]);
        assert_eq!(
            resolve(&mut d, 1, "tools.0.input").unwrap(),
            serde_json::json!({"id": "city", "type": "string"})
        );
        assert_eq!(
            resolve(&mut d, 1, "tools.1.output").unwrap(),
            serde_json::json!({"id": "quote", "type": "object"})
        );
        assert_eq!(
            resolve(&mut d, 1, "tools.2").unwrap(),
            serde_json::json!({"id": "c", "description": "over", "execute": "./c.ts"})
        );
        // The file reference's result is placed in the file it came from.
        let node = walk(d.doc(1).tree.as_ref().unwrap(), "tools.2")
            .unwrap()
            .clone();
        let placed = Resolver::new(&mut d).top(&node, 1, 1).unwrap();
        assert_eq!(d.file(placed.doc).name, "t/c.yaml");
    }

    #[test]
    fn use_wraps_and_merges_siblings() {
        let mut d = docs(&[(
            "wf.yaml",
            "tools:\n  - id: log\n    description: Log\ntasks:\n  - id: t\n    $use: tool(local::tools.#(id=\"log\"))\n    with: {m: 1}\n",
        )]);
        assert_eq!(
            resolve(&mut d, 0, "tasks.0").unwrap(),
            serde_json::json!({"tool": {"id": "log", "description": "Log"}, "id": "t", "with": {"m": 1}})
        );
    }

    #[test]
    fn json_schema_refs_stay() {
        let mut d = docs(&[(
            "wf.yaml",
            "s:\n  $ref: '#/$defs/x'\n  $defs: {x: {type: string}}\n",
        )]);
        assert_eq!(
            resolve(&mut d, 0, "s").unwrap(),
            serde_json::json!({"$ref": "#/$defs/x", "$defs": {"x": {"type": "string"}}})
        );
    }

    #[test]
    fn unresolved_references_say_what_exists() {
        let mut d = docs(&[(
            "wf.yaml",
            "schemas:\n  - id: city_input\ntools:\n  - input:\n      $ref: local::schemas.#(id==\"city_imput\")\n",
        )]);
        let err = resolve(&mut d, 0, "tools.0.input").unwrap_err();
        assert!(err.starts_with("wf.yaml:5:13: cannot resolve"), "{err}");
        let node = walk(d.doc(0).tree.as_ref().unwrap(), "tools.0.input")
            .unwrap()
            .clone();
        let problem = Resolver::new(&mut d).deep(&node, 0, 0).unwrap_err();
        let text = problem.render(false);
        assert!(text.contains("city_input"), "{text}");
    }

    #[test]
    fn cycles_are_reported() {
        let mut d = docs(&[
            ("a.yaml", "x:\n  $ref: ./b.yaml::y\n"),
            ("b.yaml", "y:\n  $ref: ./a.yaml::x\n"),
        ]);
        let err = resolve(&mut d, 0, "x").unwrap_err();
        assert!(err.contains("cycle"), "{err}");
    }

    #[test]
    fn merge_directive() {
        let mut d = docs(&[(
            "wf.yaml",
            "base: {a: 1, b: {c: 2}}\nm:\n  $merge:\n    - $ref: local::base\n    - {b: {d: 3}}\nl:\n  $merge: [[1], [2]]\n",
        )]);
        assert_eq!(
            resolve(&mut d, 0, "m").unwrap(),
            serde_json::json!({"a": 1, "b": {"c": 2, "d": 3}})
        );
        assert_eq!(resolve(&mut d, 0, "l").unwrap(), serde_json::json!([1, 2]));
    }
}

//! From a YAML tree to the raw shapes, reporting every unknown key and every value of the wrong
//! type of a file (not only the first), each at its line with a "did you mean".

use std::collections::BTreeMap;

use serde_saphyr::{Location, Spanned};

use super::error::ConfigError;
use super::keys;
use super::raw::{RawAutoload, RawCommand, RawProject, RawRuntime, RawTool, Scalar};
use super::yaml::{Entry, Kind, Node, line_col};
use crate::diagnostic::{Problem, Problems};
use crate::source::SourceFile;

/// Reads `compozy.yaml` (`None`: an empty file).
pub fn project(file: &SourceFile, node: Option<&Node>, problems: &mut Problems) -> RawProject {
    let mut raw = RawProject::default();
    let Some(node) = node else {
        return raw;
    };
    let mut r = Reader { file, problems };
    let Some(entries) = r.mapping(node, "compozy.yaml", "a mapping of settings") else {
        // Nothing can be read, not even `autoload:`: no tool files either.
        raw.autoload = Some(unreadable(node));
        return raw;
    };
    for e in entries {
        match e.key.as_str() {
            "name" => raw.name = r.string(e),
            "runtime" => raw.runtime = r.runtime(e),
            "autoload" => raw.autoload = Some(r.autoload(e)),
            "tools" => raw.tools = r.list(e, "a list of tools (`- id: my_tool`)"),
            "schemas" => raw.schemas = r.list(e, "a list of JSON Schemas, each with an `id`"),
            "workflows" => raw.workflows = r.workflows(e),
            "auth" => raw.auth = Some(e.value.clone()),
            "plugins" => raw.plugins = Some(e.value.clone()),
            key if keys::PROJECT_OTHER.contains(&key) => {}
            _ => r.unknown(e, Place::Project),
        }
    }
    raw
}

/// A workflow file, as far as compozy reads it.
#[derive(Debug, Default)]
pub struct RawWorkflow {
    /// `tools:` as written.
    pub tools: Vec<Node>,
    /// `schemas:` as written.
    pub schemas: Vec<Node>,
    /// `tasks:` as written (tools may be declared inside them).
    pub tasks: Vec<Node>,
}

/// Reads a workflow file (`workflows: [{source}]`): its keys are checked, its tools, schemas and
/// tasks kept as written.
pub fn workflow(file: &SourceFile, node: &Node, problems: &mut Problems) -> RawWorkflow {
    let mut raw = RawWorkflow::default();
    let mut r = Reader { file, problems };
    let Some(entries) = r.mapping(
        node,
        "a workflow file",
        "a mapping (`id:`, `tools:`, `tasks:` …)",
    ) else {
        return raw;
    };
    for e in entries {
        match e.key.as_str() {
            "tools" => raw.tools = r.list(e, "a list of tools (`- id: my_tool`)"),
            "schemas" => raw.schemas = r.list(e, "a list of JSON Schemas, each with an `id`"),
            "tasks" => raw.tasks = r.list(e, "a list of tasks"),
            key if keys::WORKFLOW_OTHER.contains(&key) => {}
            key if key.starts_with('$') => {}
            _ => r.unknown(e, Place::Workflow),
        }
    }
    raw
}

/// Checks the top-level keys of an autoloaded resource file of `kind` whose keys are known.
pub fn resource(
    file: &SourceFile,
    node: &Node,
    kind: &str,
    known: &[&'static str],
    problems: &mut Problems,
) {
    let mut r = Reader { file, problems };
    for e in node.entries().unwrap_or_default() {
        if !known.contains(&e.key.as_str()) && !e.key.starts_with('$') {
            r.unknown(
                e,
                Place::Keys(format!("a `resource: {kind}` file"), known.to_vec()),
            );
        }
    }
}

/// Reads one tool mapping (references already resolved).
pub fn tool(file: &SourceFile, node: &Node, problems: &mut Problems) -> RawTool {
    let mut r = Reader { file, problems };
    r.tool(node).unwrap_or_else(|| RawTool {
        misread: true,
        ..RawTool::default()
    })
}

/// Where a mapping's keys belong, for the messages and the suggestions.
#[derive(Clone)]
enum Place {
    Project,
    Runtime,
    Autoload,
    Tool,
    Workflow,
    /// Any other mapping: its name in messages, its keys.
    Keys(String, Vec<&'static str>),
}

impl Place {
    fn keys(&self) -> Vec<&'static str> {
        match self {
            Place::Project => RawProject::keys(),
            Place::Runtime => RawRuntime::keys(),
            Place::Autoload => RawAutoload::KEYS.to_vec(),
            Place::Tool => RawTool::keys(),
            Place::Workflow => [keys::WORKFLOW_OWN, keys::WORKFLOW_OTHER].concat(),
            Place::Keys(_, keys) => keys.clone(),
        }
    }

    fn name(&self) -> String {
        match self {
            Place::Project => "compozy.yaml".into(),
            Place::Runtime => "`runtime:`".into(),
            Place::Autoload => "`autoload:`".into(),
            Place::Tool => "a tool".into(),
            Place::Workflow => "a workflow file".into(),
            Place::Keys(name, _) => name.clone(),
        }
    }

    /// Where a key that is valid elsewhere belongs, when it is not close to a key of this place.
    fn elsewhere(&self, key: &str) -> Option<String> {
        let runtime = keys::RUNTIME_OWN.contains(&key);
        match self {
            Place::Project if runtime => {
                Some(format!("`{key}` is a setting of `runtime:`; move it there"))
            }
            Place::Project if keys::TOOL_OWN.contains(&key) => Some(format!(
                "`{key}` is a tool field; declare tools under `tools:` (`- id: my_tool`)"
            )),
            Place::Tool if runtime || keys::PROJECT_OWN.contains(&key) => Some(format!(
                "`{key}` is a project setting: it belongs in compozy.yaml{}",
                if runtime { ", under `runtime:`" } else { "" }
            )),
            _ => None,
        }
    }
}

struct Reader<'a> {
    file: &'a SourceFile,
    problems: &'a mut Problems,
}

impl Reader<'_> {
    fn push_at(&mut self, error: ConfigError, at: Location, label: &str) {
        let (line, column) = line_col(at);
        self.problems.push(Problem::new(error).at_line(
            self.file,
            line.max(1),
            column.max(1),
            label,
        ));
    }

    /// Reports a value of the wrong type.
    fn wrong(&mut self, key: &str, node: &Node, expected: &'static str) {
        self.wrong_what(format!("`{key}`"), node, expected);
    }

    fn wrong_what(&mut self, what: String, node: &Node, expected: &'static str) {
        self.push_at(
            ConfigError::WrongType {
                what,
                expected,
                found: node.what(),
            },
            node.at,
            "this value",
        );
    }

    /// Reports an unknown key, with the closest known ones.
    fn unknown(&mut self, e: &Entry, place: Place) {
        let keys = place.keys();
        let help = crate::suggest::did_you_mean(&e.key, keys.iter().copied())
            .or_else(|| place.elsewhere(&e.key))
            .unwrap_or_else(|| {
                let list: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
                format!("the keys of {} are {}", place.name(), list.join(", "))
            });
        self.push_at(
            ConfigError::UnknownKey {
                key: e.key.clone(),
                place: place.name(),
                help,
            },
            e.key_at,
            "unknown key",
        );
    }

    /// The entries of a mapping; `None` (reported) for anything else but null.
    fn mapping<'n>(
        &mut self,
        node: &'n Node,
        key: &str,
        expected: &'static str,
    ) -> Option<&'n [Entry]> {
        match &node.kind {
            Kind::Map(entries) => Some(entries),
            Kind::Null => Some(&[]),
            _ => {
                self.wrong(key, node, expected);
                None
            }
        }
    }

    /// A string-typed field: any scalar, as written. Null is absent.
    fn string(&mut self, e: &Entry) -> Option<Spanned<String>> {
        self.string_node(&e.key, &e.value)
    }

    fn string_node(&mut self, key: &str, node: &Node) -> Option<Spanned<String>> {
        match node.scalar_text(&self.file.text) {
            Some(text) => Some(spanned(text, node)),
            None if matches!(node.kind, Kind::Null) => None,
            None => {
                self.wrong(key, node, "a string");
                None
            }
        }
    }

    /// A list of strings; wrong elements are reported and left out.
    fn strings(&mut self, e: &Entry) -> Option<Vec<Spanned<String>>> {
        match &e.value.kind {
            Kind::Null => None,
            Kind::Seq(items) => Some(
                items
                    .iter()
                    .filter_map(|item| self.string_node(&e.key, item))
                    .collect(),
            ),
            _ => {
                self.wrong(&e.key, &e.value, "a list of strings");
                None
            }
        }
    }

    /// A string where numbers and booleans are tolerated (durations, env values).
    fn scalar(&mut self, key: &str, node: &Node) -> Option<Spanned<Scalar>> {
        let value = match &node.kind {
            Kind::Null => return None,
            Kind::String(s) => Scalar::String(s.clone()),
            Kind::Bool(b) => Scalar::Bool(*b),
            Kind::Int(i) => Scalar::Integer(*i),
            Kind::Float(f) => Scalar::Float(*f),
            // Too large for an integer: kept as written.
            Kind::UInt(_) => Scalar::String(node.scalar_text(&self.file.text).unwrap_or_default()),
            Kind::Seq(_) | Kind::Map(_) => {
                self.wrong(key, node, "a string, a number or a boolean");
                return None;
            }
        };
        Some(spanned(value, node))
    }

    /// `env:`, a mapping of names to scalars.
    fn env(&mut self, e: &Entry) -> Option<BTreeMap<String, Spanned<Scalar>>> {
        let entries = self.mapping(&e.value, &e.key, "a mapping of variable names to values")?;
        let mut env = BTreeMap::new();
        for var in entries {
            if let Some(value) = self.scalar(&var.key, &var.value) {
                env.insert(var.key.clone(), value);
            }
        }
        Some(env)
    }

    fn runtime(&mut self, e: &Entry) -> Option<RawRuntime> {
        let entries = self.mapping(&e.value, "runtime", "a mapping of runtime settings")?;
        let mut rt = RawRuntime::default();
        for e in entries {
            match e.key.as_str() {
                "type" => rt.kind = self.string(e),
                "entrypoint" => rt.entrypoint = self.string(e),
                "permissions" => rt.permissions = self.strings(e),
                "timeout" => rt.timeout = self.scalar(&e.key, &e.value),
                "env_files" => rt.env_files = self.strings(e),
                "env_passthrough" => rt.env_passthrough = self.strings(e),
                "env" => rt.env = self.env(e),
                "preload" => rt.preload = self.strings(e),
                "tool_execution_timeout" => {
                    rt.tool_execution_timeout = self.scalar(&e.key, &e.value)
                }
                key if keys::RUNTIME_OTHER.contains(&key) => {}
                _ => self.unknown(e, Place::Runtime),
            }
        }
        Some(rt)
    }

    /// `autoload:`; when it cannot be read, no globs (rather than the defaults, which the file
    /// meant to replace).
    fn autoload(&mut self, e: &Entry) -> Spanned<RawAutoload> {
        let Some(entries) = self.mapping(&e.value, "autoload", "a mapping with `include:`") else {
            return unreadable(&e.value);
        };
        let mut auto = RawAutoload::default();
        for e in entries {
            match e.key.as_str() {
                "include" => auto.include = self.strings(e),
                "exclude" => auto.exclude = self.strings(e),
                "enabled" => auto.enabled = self.boolean(e),
                "strict" => auto.strict = self.boolean(e),
                "watch_enabled" => {
                    self.boolean(e);
                }
                _ => self.unknown(e, Place::Autoload),
            }
        }
        spanned(auto, &e.value)
    }

    /// A boolean (`true`/`false` only, as YAML 1.2 has it).
    fn boolean(&mut self, e: &Entry) -> Option<bool> {
        match e.value.kind {
            Kind::Bool(b) => Some(b),
            Kind::Null => None,
            _ => {
                self.wrong(&e.key, &e.value, "`true` or `false`");
                None
            }
        }
    }

    /// `execute:` as a mapping: a command run as the tool.
    fn command(&mut self, e: &Entry) -> Option<Spanned<RawCommand>> {
        let entries = self.mapping(&e.value, "execute", "a mapping with `command:` or `wasm:`")?;
        let mut raw = RawCommand::default();
        for c in entries {
            match c.key.as_str() {
                "command" => match &c.value.kind {
                    Kind::Seq(items) => {
                        raw.command = items
                            .iter()
                            .filter_map(|item| self.string_node("command", item))
                            .collect();
                    }
                    _ => raw.command = self.string(c).into_iter().collect(),
                },
                "protocol" => raw.protocol = self.string(c),
                "persistent" => {
                    raw.persistent = self.boolean(c).map(|b| spanned(b, &c.value));
                }
                "wasm" => raw.wasm = self.string(c),
                "memory" => raw.memory = self.string(c),
                "env" => {
                    for item in self.list(c, "a list of variable names, e.g. `env: [LANG]`") {
                        raw.env.extend(self.string_node("env", &item));
                    }
                }
                "dirs" => {
                    let expected = "a list of directories, e.g. `dirs: [./data]` or \
                                    `dirs: [{path: ./out, write: true}]`";
                    for item in self.list(c, expected) {
                        if let Kind::Map(_) = item.kind {
                            let Some(fields) =
                                self.mapping(&item, "a directory", "`{path, write}`")
                            else {
                                continue;
                            };
                            let (mut path, mut write) = (None, None);
                            for f in fields {
                                match f.key.as_str() {
                                    "path" => path = self.string(f),
                                    "write" => {
                                        write = self.boolean(f).map(|b| spanned(b, &f.value));
                                    }
                                    _ => self.unknown(
                                        f,
                                        Place::Keys(
                                            "a directory of `dirs:`".into(),
                                            vec!["path", "write"],
                                        ),
                                    ),
                                }
                            }
                            if let Some(path) = path {
                                raw.dirs.push((path, write));
                            }
                        } else if let Some(path) = self.string_node("dirs", &item) {
                            raw.dirs.push((path, None));
                        }
                    }
                }
                _ => self.unknown(
                    c,
                    Place::Keys("`execute:`".into(), RawCommand::KEYS.to_vec()),
                ),
            }
        }
        Some(spanned(raw, &e.value))
    }

    /// A list kept as written (null is empty).
    fn list(&mut self, e: &Entry, expected: &'static str) -> Vec<Node> {
        match &e.value.kind {
            Kind::Null => Vec::new(),
            Kind::Seq(items) => items.clone(),
            _ => {
                self.wrong(&e.key, &e.value, expected);
                Vec::new()
            }
        }
    }

    /// `workflows: [{source: ./workflow.yaml}]`.
    fn workflows(&mut self, e: &Entry) -> Vec<Spanned<String>> {
        let mut sources = Vec::new();
        for item in self.list(e, "a list of `- source: ./workflow.yaml`") {
            let Some(entries) = self.mapping(&item, "a workflow", "a mapping with `source:`")
            else {
                continue;
            };
            let mut source = None;
            for w in entries {
                match w.key.as_str() {
                    "source" => source = self.string(w),
                    _ => self.unknown(
                        w,
                        Place::Keys("a `workflows:` entry".into(), vec!["source"]),
                    ),
                }
            }
            match source {
                Some(s) => sources.push(s),
                None => self.wrong_what(
                    "a workflow".into(),
                    &item,
                    "a mapping with `source: ./workflow.yaml`",
                ),
            }
        }
        sources
    }

    /// `tools:`, a list of tools.
    fn tools(&mut self, e: &Entry) -> Option<Vec<Spanned<RawTool>>> {
        match &e.value.kind {
            Kind::Null => None,
            Kind::Seq(items) => Some(
                items
                    .iter()
                    .filter_map(|item| self.tool(item).map(|t| spanned(t, item)))
                    .collect(),
            ),
            _ => {
                self.wrong("tools", &e.value, "a list of tools (`- id: my_tool`)");
                None
            }
        }
    }

    /// One tool; `None` (reported) when it is not a mapping.
    fn tool(&mut self, node: &Node) -> Option<RawTool> {
        let Kind::Map(entries) = &node.kind else {
            self.wrong_what(
                "a tool".into(),
                node,
                "a mapping (`id: my_tool`, `execute: …`)",
            );
            return None;
        };
        let before = self.problems.0.len();
        let mut t = RawTool::default();
        for e in entries {
            let v = &e.value;
            match e.key.as_str() {
                "id" => t.id = self.string(e),
                "description" => t.description = self.string(e).map(|s| s.value),
                "version" => t.version = self.string(e),
                "deprecated" => match &v.kind {
                    Kind::Null => {}
                    Kind::String(s) if !s.trim().is_empty() => t.deprecated = Some(s.clone()),
                    _ => self.wrong(
                        &e.key,
                        v,
                        "a message for callers (`deprecated: use weather 2, which takes a city id`)",
                    ),
                },
                "execute" if matches!(v.kind, Kind::Map(_)) => t.command = self.command(e),
                "execute" if matches!(v.kind, Kind::Seq(_)) => self.wrong(
                    "execute",
                    v,
                    "a module path, or a mapping with `command:` (`execute: {command: [./bin/x]}`)",
                ),
                "execute" => t.execute = self.string(e),
                "timeout" => t.timeout = self.scalar(&e.key, v),
                "input" => t.input = (!matches!(v.kind, Kind::Null)).then(|| v.clone()),
                "output" => t.output = (!matches!(v.kind, Kind::Null)).then(|| v.clone()),
                "with" => match v.kind {
                    Kind::Null => {}
                    Kind::Map(_) => t.with = Some(e.clone()),
                    _ => self.wrong(&e.key, v, "a mapping of default input values"),
                },
                "config" => t.config = (!matches!(v.kind, Kind::Null)).then(|| v.to_json()),
                "env" => t.env = self.env(e),
                "tools" => t.tools = self.tools(e),
                "resource" => {
                    if let Some(kind) = self.string(e)
                        && kind.value != "tool"
                    {
                        self.wrong_what("`resource` of a tool".into(), v, "`tool`");
                    }
                }
                "use" => {}
                "title" | "annotations" | "icons" | "scopes" | "returns" => {
                    t.mcp.push(e.clone());
                }
                _ => self.unknown(e, Place::Tool),
            }
        }
        // Problems of nested tools (`tools:`) are theirs; a misread nested tool is dropped there.
        t.misread = self.problems.0.len() != before && t.tools.is_none();
        Some(t)
    }
}

fn spanned<T>(value: T, node: &Node) -> Spanned<T> {
    Spanned::new(value, node.at, node.defined)
}

/// An `autoload:` that matches nothing.
fn unreadable(node: &Node) -> Spanned<RawAutoload> {
    spanned(
        RawAutoload {
            enabled: None,
            strict: None,
            include: Some(Vec::new()),
            exclude: None,
        },
        node,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(yaml: &str) -> (RawProject, Vec<String>) {
        let file = SourceFile::new("c.yaml".into(), "c.yaml".into(), yaml.to_owned());
        let node = super::super::yaml::parse(&file).expect("parses");
        let mut problems = Problems::default();
        let raw = project(&file, node.as_ref(), &mut problems);
        (raw, problems.0.iter().map(Problem::headline).collect())
    }

    #[test]
    fn every_listed_key_is_read() {
        // The key lists feed the suggestions; each of their keys must be one the reader knows.
        let block = |keys: &[&str], indent: &str| -> String {
            keys.iter().map(|k| format!("{indent}{k}: ~\n")).collect()
        };
        let top: Vec<&str> = RawProject::keys()
            .into_iter()
            .filter(|k| !matches!(*k, "runtime" | "autoload" | "tools"))
            .collect();
        let yaml = format!(
            "{}runtime:\n{}autoload:\n{}tools:\n  - id: a\n{}",
            block(&top, ""),
            block(&RawRuntime::keys(), "  "),
            block(RawAutoload::KEYS, "  "),
            block(&RawTool::keys()[1..], "    "),
        );
        let (raw, mut problems) = read(&yaml);
        let file = SourceFile::new("c.yaml".into(), "c.yaml".into(), yaml.clone());
        let mut more = Problems::default();
        for node in &raw.tools {
            tool(&file, node, &mut more);
        }
        problems.extend(more.0.iter().map(Problem::headline));
        assert_eq!(problems, Vec::<String>::new());
    }

    #[test]
    fn a_mistake_does_not_hide_the_next_one() {
        let yaml = "runtime: { timout: 5s, env: { A: [1], B: 2 } }\ntools:\n  - id: a\n    tiemout: 1s\n  - 7\n  - id: b\n";
        let (raw, mut problems) = read(yaml);
        let file = SourceFile::new("c.yaml".into(), "c.yaml".into(), yaml.to_owned());
        let mut more = Problems::default();
        let tools: Vec<RawTool> = raw
            .tools
            .iter()
            .map(|n| tool(&file, n, &mut more))
            .collect();
        problems.extend(more.0.iter().map(Problem::headline));
        assert_eq!(
            problems,
            [
                "c.yaml:1:12: unknown key `timout` in `runtime:`",
                "c.yaml:1:34: `A` must be a string, a number or a boolean, not a list",
                "c.yaml:4:5: unknown key `tiemout` in a tool",
                "c.yaml:5:5: a tool must be a mapping (`id: my_tool`, `execute: …`), not a number",
            ]
        );
        // What could be read is there, for the checks that follow.
        let env = raw.runtime.and_then(|r| r.env).unwrap_or_default();
        assert_eq!(env.keys().collect::<Vec<_>>(), ["B"]);
        let misread: Vec<bool> = tools.iter().map(|t| t.misread).collect();
        assert_eq!(misread, [true, true, false]);
    }

    #[test]
    fn compozy_keys_are_known_and_typos_are_not() {
        let (raw, problems) = read(
            "name: x\nversion: 0.1.0\nauthor: {name: A}\nmodels: []\ntemporal: {}\nworkflows:\n  - source: ./w.yaml\nworkflos: []\n",
        );
        assert_eq!(raw.workflows.len(), 1);
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("unknown key `workflos`"),
            "{problems:?}"
        );
    }

    #[test]
    fn with_is_a_mapping() {
        let yaml = "tools:\n  - id: a\n    with: 5\n  - id: b\n    with: ~\n";
        let (raw, mut problems) = read(yaml);
        let file = SourceFile::new("c.yaml".into(), "c.yaml".into(), yaml.to_owned());
        let mut more = Problems::default();
        for node in &raw.tools {
            tool(&file, node, &mut more);
        }
        problems.extend(more.0.iter().map(Problem::headline));
        assert_eq!(
            problems,
            ["c.yaml:3:11: `with` must be a mapping of default input values, not a number"]
        );
    }
}

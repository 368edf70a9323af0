//! `compozy.lock`: the interface of every tool as it was last generated, and the check that a
//! change to it does not break callers without a new major version.
//!
//! The lock is JSON, written by `gen` (through the same only-if-changed, atomic writer as
//! `.compozy/`) and meant to be committed:
//!
//! ```json
//! {
//!   "compozy_lock": 1,
//!   "tools": {
//!     "weather@1": {
//!       "id": "weather",
//!       "input": { "properties": { "city": { "type": "string" } }, "type": "object" },
//!       "version": "1.2.0"
//!     }
//!   }
//! }
//! ```
//!
//! One entry per tool and major version (`ID@MAJOR`), sorted by id then major; every object's keys
//! sorted; schemas in [`crate::compat::normalise`]d form; `output` and `with` only when declared.
//! An entry a person marks with `"replaced_by": "other_tool"` stays when its tool is removed.
//! A tool kept in several major versions has an entry per major, each checked against its own;
//! an older major that goes is a removal (its callers named it), the newest one replaced by a
//! newer major is not (its callers named the id, which still answers).

use std::path::Path;

use semver::Version;
use serde_json::{Map, Value, json};

use crate::compat;
use crate::config::{Project, Tool};
use crate::diagnostic::{Explain, Problem, Problems};
use crate::source::SourceFile;

/// The lock's file name, at the project root.
pub const LOCK_FILE: &str = "compozy.lock";
/// The lock format this build reads and writes.
const FORMAT: u64 = 1;

/// What is wrong with a lock, or with a change against it.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Not JSON, or not of the lock's shape.
    #[error("compozy.lock cannot be read: {reason}")]
    Unreadable { reason: String },
    /// Parses, but says something impossible.
    #[error("compozy.lock is inconsistent: {reason}")]
    Inconsistent { reason: String },
    /// The input schema accepts fewer values within one major version.
    #[error(
        "breaking change to the input of `{id}` without a new major version (still {version}): {reason}, at schema path {path}{}",
        shown(witness)
    )]
    Input {
        id: String,
        version: String,
        path: String,
        reason: String,
        witness: Option<Value>,
    },
    /// The output schema allows more values within one major version.
    #[error(
        "breaking change to the output of `{id}` without a new major version (still {version}): {reason}, at schema path {path}{}",
        shown(witness)
    )]
    Output {
        id: String,
        version: String,
        path: String,
        reason: String,
        witness: Option<Value>,
    },
    /// A `with:` default changed its type or went away.
    #[error(
        "breaking change to the `with:` defaults of `{id}` without a new major version (still {version}): `{key}` was {old}, now {new}"
    )]
    With {
        id: String,
        version: String,
        key: String,
        old: String,
        new: String,
    },
    /// A tool of the lock (or an older major kept beside a newer one) is no longer declared.
    #[error("tool `{id}` (version {version}) was removed; callers of it would fail")]
    Removed {
        id: String,
        version: String,
        /// The tool's newest major, when the id is still declared.
        newest: Option<String>,
    },
}

fn shown(witness: &Option<Value>) -> String {
    match witness {
        Some(w) => format!("; witness: {w}"),
        None => String::new(),
    }
}

impl Explain for LockError {
    fn code(&self) -> &'static str {
        match self {
            Self::Unreadable { .. } => "version::lock",
            Self::Inconsistent { .. } => "version::lock-inconsistent",
            Self::Input { .. } => "version::breaking-input",
            Self::Output { .. } => "version::breaking-output",
            Self::With { .. } => "version::breaking-with",
            Self::Removed { .. } => "version::breaking-removed",
        }
    }

    fn help(&self) -> Option<String> {
        let bump = |version: &str| {
            let major = Version::parse(version).map_or(1, |v| v.major + 1);
            format!(
                "undo the change, or bump the tool's `version:` to {major}.0.0 (a new major version tells callers it breaks them)"
            )
        };
        Some(match self {
            Self::Unreadable { .. } => "fix the file, or delete it and run `compozy gen` to write it again from the tools as they are now (the check then starts from them)".into(),
            Self::Inconsistent { .. } => {
                "fix the entry by hand, or delete compozy.lock and run `compozy gen` to write it again".into()
            }
            Self::Input { witness: None, version, .. }
            | Self::Output { witness: None, version, .. } => format!(
                "compozy could not prove the new schema compatible, nor find a value that breaks; {}",
                bump(version)
            ),
            Self::Input { id, .. } | Self::Output { id, .. } | Self::With { id, .. }
                if id.contains(crate::config::versions::SEPARATOR) =>
            {
                format!(
                    "undo the change: `{id}` is an older major version kept beside a newer one for the callers that still use it, so its interface stays as it is (change the newest major, or add a new one)"
                )
            }
            Self::Input { version, .. } | Self::Output { version, .. } | Self::With { version, .. } => {
                bump(version)
            }
            Self::Removed { id, newest: Some(newest), .. } => format!(
                "declare that major version again, or add `\"replaced_by\": \"{newest}\"` to the entry `{id}` in compozy.lock: a call to `{id}` then says to call `{newest}` instead"
            ),
            Self::Removed { .. } => {
                "declare the tool again, or add `\"replaced_by\": \"<tool id>\"` to its entry in compozy.lock: a call to it then says what to call instead".into()
            }
        })
    }
}

/// One entry of the lock.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The tool id.
    pub id: String,
    /// Its version.
    pub version: Version,
    /// Normalised input schema (`None`: every value).
    pub input: Option<Value>,
    /// Normalised output schema.
    pub output: Option<Value>,
    /// `with:` defaults.
    pub with: Option<Value>,
    /// The tool that replaces this removed one.
    pub replaced_by: Option<String>,
    /// 1-based line of the entry in the file.
    line: usize,
}

impl Entry {
    fn key(&self) -> String {
        format!("{}@{}", self.id, self.version.major)
    }
}

/// A read lock.
#[derive(Debug)]
pub struct Lock {
    file: SourceFile,
    /// Its entries, in file order.
    pub entries: Vec<Entry>,
}

/// Reads `compozy.lock` of `root`; `None` when there is none (it is then created).
pub fn read(root: &Path) -> Result<Option<Lock>, Problems> {
    let path = root.join(LOCK_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Problem::new(LockError::Unreadable {
                reason: e.to_string(),
            })
            .into());
        }
    };
    let file = SourceFile::new(path, LOCK_FILE.to_owned(), text);
    parse(file).map(Some).map_err(Problems::from)
}

fn parse(file: SourceFile) -> Result<Lock, Problem> {
    let unreadable = |reason: String, line: usize, column: usize| {
        Problem::new(LockError::Unreadable { reason }).at_line(&file, line, column, "here")
    };
    let value: Value = serde_json::from_str(&file.text)
        .map_err(|e| unreadable(e.to_string(), e.line().max(1), e.column().max(1)))?;
    let Value::Object(top) = &value else {
        return Err(unreadable("not a JSON object".into(), 1, 1));
    };
    for key in top.keys() {
        if key != "compozy_lock" && key != "tools" {
            let line = line_of(&file, key);
            return Err(unreadable(format!("unknown key `{key}`"), line, 1));
        }
    }
    match top.get("compozy_lock").and_then(Value::as_u64) {
        Some(FORMAT) => {}
        _ => {
            return Err(unreadable(
                format!("`compozy_lock` must be {FORMAT} (the format this compozy reads)"),
                line_of(&file, "compozy_lock"),
                1,
            ));
        }
    }
    let Some(Value::Object(tools)) = top.get("tools") else {
        return Err(unreadable(
            "`tools` must be an object".into(),
            line_of(&file, "tools"),
            1,
        ));
    };
    let mut entries = Vec::new();
    for (key, value) in tools {
        let line = line_of(&file, key);
        let bad = |reason: String| {
            Problem::new(LockError::Inconsistent {
                reason: format!("entry `{key}`: {reason}"),
            })
            .at_line(&file, line, 1, "this entry")
        };
        let Value::Object(fields) = value else {
            return Err(bad("not an object".into()));
        };
        for field in fields.keys() {
            if !["id", "version", "input", "output", "with", "replaced_by"]
                .contains(&field.as_str())
            {
                return Err(bad(format!("unknown field `{field}`")));
            }
        }
        let id = fields
            .get("id")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no `id`".into()))?
            .to_owned();
        let version = fields
            .get("version")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no `version`".into()))?;
        let version = Version::parse(version)
            .map_err(|e| bad(format!("`version` {version:?} is not semver: {e}")))?;
        let replaced_by = match fields.get("replaced_by") {
            None => None,
            Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
            Some(_) => return Err(bad("`replaced_by` must name a tool".into())),
        };
        let entry = Entry {
            id,
            version,
            input: fields.get("input").cloned(),
            output: fields.get("output").cloned(),
            with: fields.get("with").cloned(),
            replaced_by,
            line,
        };
        if entry.key() != *key {
            return Err(bad(format!(
                "its key must be `{}` (the id, `@`, the major version)",
                entry.key()
            )));
        }
        if let Some(w) = &entry.with
            && !w.is_object()
        {
            return Err(bad("`with` must be an object".into()));
        }
        entries.push(entry);
    }
    Ok(Lock { file, entries })
}

/// The 1-based line where `"key"` first appears as a key.
fn line_of(file: &SourceFile, key: &str) -> usize {
    let needle = format!("{}:", Value::String(key.to_owned()));
    file.text
        .find(&needle)
        .map_or(1, |offset| file.line_col(offset).0)
}

/// What replaces the removed tool `name` (an id, or `ID@MAJOR` of one major version), when its
/// entry in the lock of `root` says (`replaced_by`): a call to it is then told what to call
/// instead.
pub fn replacement(root: &Path, name: &str) -> Option<String> {
    let lock = read(root).ok()??;
    let (id, major) = match name.split_once(crate::config::versions::SEPARATOR) {
        Some((id, major)) => (id, Some(crate::config::versions::parse_major(major)?)),
        None => (name, None),
    };
    lock.entries
        .into_iter()
        .filter(|e| e.id == id && major.is_none_or(|m| e.version.major == m))
        .max_by_key(|e| e.version.major)
        .and_then(|e| e.replaced_by)
}

/// The message for a call to a removed tool.
pub fn removed_message(id: &str, replaced_by: &str) -> String {
    format!("tool `{id}` was removed; call `{replaced_by}` instead")
}

fn version_of(tool: &Tool) -> Version {
    tool.version.clone().unwrap_or(Version::new(0, 0, 0))
}

/// The breaking changes of `project` against `lock`, and inconsistencies of the lock with it.
pub fn check(project: &Project, lock: &Lock) -> Vec<Problem> {
    let mut problems = Vec::new();
    let at_entry = |p: Problem, e: &Entry| p.at_line(&lock.file, e.line, 1, "this entry");
    for entry in &lock.entries {
        // The tool of the entry's id and major, whichever key it has now.
        let live = project
            .resolve(&entry.key())
            .ok()
            .filter(|t| t.major() == entry.version.major);
        if let Some(target) = &entry.replaced_by {
            if live.is_some() {
                problems.push(at_entry(
                    Problem::new(LockError::Inconsistent {
                        reason: format!(
                            "`{}` has `replaced_by` but is still declared",
                            entry.key()
                        ),
                    }),
                    entry,
                ));
            } else if project.resolve(target).is_err() {
                problems.push(at_entry(
                    Problem::new(LockError::Inconsistent {
                        reason: format!(
                            "`{}` is replaced by `{target}`, which is not a tool of the project",
                            entry.key()
                        ),
                    }),
                    entry,
                ));
            }
            continue;
        }
        let Some(tool) = live else {
            // A newer major of the tool replaces the newest one of the lock (callers called it by
            // its id, which still answers); an older major kept beside a newer one was called by
            // its own name (`ID@MAJOR`, MCP's `ID.vMAJOR`), which would answer no more. In 0.x
            // every change is allowed.
            let newest_locked = !lock
                .entries
                .iter()
                .any(|e| e.id == entry.id && e.version.major > entry.version.major);
            let newer = project
                .tool(&entry.id)
                .is_some_and(|t| t.major() > entry.version.major);
            if !(newest_locked && newer) && entry.version.major > 0 {
                problems.push(at_entry(
                    Problem::new(LockError::Removed {
                        id: if newest_locked {
                            entry.id.clone()
                        } else {
                            entry.key()
                        },
                        version: entry.version.to_string(),
                        newest: project
                            .tool(&entry.id)
                            .filter(|_| !newest_locked)
                            .map(|t| t.id.clone()),
                    }),
                    entry,
                ));
            }
            continue;
        };
        if entry.version.major == 0 {
            continue;
        }
        let version = version_of(tool).to_string();
        let d = &tool.declared;
        let at_tool = |p: Problem| p.at_line(&d.file, d.line, d.column, "this tool");
        let any = Value::Bool(true);
        let new_input = tool.input.as_ref().map(compat::normalise);
        let new_output = tool.output.as_ref().map(compat::normalise);
        if let Some(b) = compat::input_change(
            entry.input.as_ref().unwrap_or(&any),
            new_input.as_ref().unwrap_or(&any),
        ) {
            let mut p = Problem::new(LockError::Input {
                id: tool.id.clone(),
                version: version.clone(),
                path: b.path,
                reason: b.reason,
                witness: b.witness.clone(),
            });
            if let Some(w) = b.witness {
                p = p.with_witness(w);
            }
            problems.push(at_tool(p));
        }
        if let Some(b) = compat::output_change(
            entry.output.as_ref().unwrap_or(&any),
            new_output.as_ref().unwrap_or(&any),
        ) {
            let mut p = Problem::new(LockError::Output {
                id: tool.id.clone(),
                version: version.clone(),
                path: b.path,
                reason: b.reason,
                witness: b.witness.clone(),
            });
            if let Some(w) = b.witness {
                p = p.with_witness(w);
            }
            problems.push(at_tool(p));
        }
        if let Some(Value::Object(old)) = &entry.with {
            let new = tool.with.as_ref().and_then(Value::as_object);
            for (key, old_value) in old {
                let new_value = new.and_then(|n| n.get(key));
                let old_kind = kind(Some(old_value));
                let new_kind = kind(new_value);
                if old_kind != new_kind {
                    problems.push(at_tool(Problem::new(LockError::With {
                        id: tool.id.clone(),
                        version: version.clone(),
                        key: key.clone(),
                        old: format!("{old_kind} {old_value}"),
                        new: match new_value {
                            Some(v) => format!("{new_kind} {v}"),
                            None => "absent".into(),
                        },
                    })));
                }
            }
        }
    }
    problems
}

fn kind(value: Option<&Value>) -> &'static str {
    match value {
        None => "absent",
        Some(Value::Null) => "null",
        Some(Value::Bool(_)) => "a boolean",
        Some(Value::Number(_)) => "a number",
        Some(Value::String(_)) => "a string",
        Some(Value::Array(_)) => "an array",
        Some(Value::Object(_)) => "an object",
    }
}

/// The lock for `project`, keeping the removed tools `old` marks as replaced.
pub fn render(project: &Project, old: Option<&Lock>) -> String {
    let mut entries: Vec<Entry> = project
        .tools
        .iter()
        .map(|t| Entry {
            id: t.base_id().to_owned(),
            version: version_of(t),
            input: t.input.as_ref().map(compat::normalise),
            output: t.output.as_ref().map(compat::normalise),
            with: t.with.as_ref().map(compat::normalise),
            replaced_by: None,
            line: 0,
        })
        .collect();
    if let Some(old) = old {
        for e in &old.entries {
            if e.replaced_by.is_some() && !entries.iter().any(|n| n.key() == e.key()) {
                entries.push(e.clone());
            }
        }
    }
    entries.sort_by(|a, b| (&a.id, a.version.major).cmp(&(&b.id, b.version.major)));
    let mut tools = Map::new();
    for e in entries {
        let key = e.key();
        let mut fields = Map::new();
        fields.insert("id".into(), json!(e.id));
        if let Some(input) = e.input {
            fields.insert("input".into(), input);
        }
        if let Some(output) = e.output {
            fields.insert("output".into(), output);
        }
        if let Some(r) = e.replaced_by.clone() {
            fields.insert("replaced_by".into(), json!(r));
        }
        fields.insert("version".into(), json!(e.version.to_string()));
        if let Some(with) = e.with {
            fields.insert("with".into(), with);
        }
        tools.insert(key, Value::Object(fields));
    }
    let lock = json!({"compozy_lock": FORMAT, "tools": Value::Object(tools)});
    let mut text = serde_json::to_string_pretty(&lock).unwrap_or_default();
    text.push('\n');
    text
}

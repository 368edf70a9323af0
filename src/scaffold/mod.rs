//! `compozy init`: a working project — `compozy.yaml` and one tool — from the templates in
//! `templates/init/` (compiled into the binary), never overwriting a file.

mod error;

pub use error::ScaffoldError;

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::CONFIG_FILE;

/// The id of the example tool.
pub const EXAMPLE_TOOL: &str = "hello";

const CONFIG_TEMPLATE: &str = include_str!("../../templates/init/compozy.yaml.j2");
const TOOL_YAML: &str = include_str!("../../templates/init/hello.yaml");
const TOOL_MODULE: &str = include_str!("../../templates/init/hello.ts");
const GITIGNORE: &str = include_str!("../../templates/init/gitignore");
const PACKAGE_JSON: &str = include_str!("../../templates/init/package.json");
const TSCONFIG: &str = include_str!("../../templates/init/tsconfig.json");

/// A file `init` creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFile {
    /// Relative to the project directory, `/`-separated.
    pub rel: &'static str,
    /// Its contents.
    pub contents: String,
}

/// What happens to the project's `.gitignore`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gitignore {
    /// There is none: it is created.
    Create(String),
    /// It exists without some of compozy's patterns: `lines` are appended, for `patterns`.
    Append {
        /// The text appended.
        lines: String,
        /// The patterns it adds (`.compozy/.cache/`, `node_modules/`).
        patterns: Vec<&'static str>,
    },
    /// It already ignores everything compozy's would.
    Keep,
}

/// Everything `init` writes into one directory.
#[derive(Debug, Clone)]
pub struct Scaffold {
    /// The project directory.
    pub dir: PathBuf,
    /// New files, in the order they are written.
    pub files: Vec<NewFile>,
    /// Files for the project's JavaScript tooling (`package.json` with `"type": "module"`, a
    /// `tsconfig.json` for the typed tools), written only where the directory has none: a
    /// project's own are kept as they are.
    pub tooling: Vec<NewFile>,
    /// The `.gitignore` change.
    pub gitignore: Gitignore,
}

/// Plans the scaffold for `dir` (relative to `cwd`); fails, naming them, when any of its files
/// exists.
pub fn plan(dir: &Path, cwd: &Path) -> Result<Scaffold, ScaffoldError> {
    let abs = crate::paths::normalize(&cwd.join(dir));
    if abs.exists() && !abs.is_dir() {
        return Err(ScaffoldError::NotADirectory {
            path: dir.display().to_string(),
        });
    }
    let name = abs.file_name().and_then(|n| n.to_str()).unwrap_or("tools");
    let files = vec![
        NewFile {
            rel: CONFIG_FILE,
            contents: render_config(name)?,
        },
        NewFile {
            rel: "tools/hello.yaml",
            contents: TOOL_YAML.to_owned(),
        },
        NewFile {
            rel: "tools/hello.ts",
            contents: TOOL_MODULE.to_owned(),
        },
    ];
    let existing: Vec<String> = files
        .iter()
        .filter(|f| std::fs::symlink_metadata(abs.join(f.rel)).is_ok())
        .map(|f| format!("`{}`", crate::paths::normalize(&dir.join(f.rel)).display()))
        .collect();
    if !existing.is_empty() {
        return Err(ScaffoldError::Exists {
            count: existing.len(),
            paths: existing.join(", "),
        });
    }
    let gitignore = gitignore_change(&abs.join(".gitignore"), dir)?;
    let tooling = [("package.json", PACKAGE_JSON), ("tsconfig.json", TSCONFIG)]
        .into_iter()
        .filter(|(rel, _)| std::fs::symlink_metadata(abs.join(rel)).is_err())
        .map(|(rel, contents)| NewFile {
            rel,
            contents: contents.to_owned(),
        })
        .collect();
    Ok(Scaffold {
        dir: abs,
        files,
        tooling,
        gitignore,
    })
}

impl Scaffold {
    /// Creates the files (each only if it still does not exist) and updates `.gitignore`.
    pub fn write(&self) -> Result<(), ScaffoldError> {
        let fail = |path: &Path, source| ScaffoldError::Write {
            path: path.display().to_string(),
            source,
        };
        for file in self.files.iter().chain(&self.tooling) {
            let path = self.dir.join(file.rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| fail(parent, e))?;
            }
            // `create_new`: a file that appeared since the plan is not overwritten either.
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .and_then(|mut f| f.write_all(file.contents.as_bytes()))
                .map_err(|e| fail(&path, e))?;
        }
        let path = self.dir.join(".gitignore");
        let lines = match &self.gitignore {
            Gitignore::Keep => return Ok(()),
            Gitignore::Create(lines) | Gitignore::Append { lines, .. } => lines,
        };
        std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .and_then(|mut f| f.write_all(lines.as_bytes()))
            .map_err(|e| fail(&path, e))
    }
}

/// `compozy.yaml` for a project named after its directory.
fn render_config(name: &str) -> Result<String, ScaffoldError> {
    let mut env = minijinja::Environment::new();
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .build()
        .map_err(|e| ScaffoldError::Template {
            name: "init/compozy.yaml.j2".into(),
            reason: e.to_string(),
        })?;
    env.set_syntax(syntax);
    env.render_str(
        CONFIG_TEMPLATE,
        minijinja::context! { name => yaml_string(name) },
    )
    .map_err(|e| ScaffoldError::Template {
        name: "init/compozy.yaml.j2".into(),
        reason: e.to_string(),
    })
}

/// `text` as a YAML scalar that reads back as the same string: plain when it is a simple name
/// that YAML would not take for a boolean, null or number, else double-quoted.
fn yaml_string(text: &str) -> String {
    let simple = text.starts_with(|c: char| c.is_ascii_alphabetic())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c))
        && !["true", "false", "null", "yes", "no", "on", "off", "y", "n"]
            .contains(&text.to_ascii_lowercase().as_str());
    if simple {
        text.to_owned()
    } else {
        serde_json::Value::String(text.to_owned()).to_string()
    }
}

/// Whether `.gitignore` needs compozy's patterns, and what to write.
fn gitignore_change(path: &Path, dir: &Path) -> Result<Gitignore, ScaffoldError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Gitignore::Create(GITIGNORE.to_owned()));
        }
        Err(source) => {
            return Err(ScaffoldError::Read {
                path: dir.join(".gitignore").display().to_string(),
                source,
            });
        }
    };
    let mut lines = String::new();
    let mut patterns = Vec::new();
    for (comment, pattern) in gitignore_entries() {
        if !text.lines().any(|line| ignores(line, pattern)) {
            lines.push_str(comment);
            lines.push_str(pattern);
            lines.push('\n');
            patterns.push(pattern);
        }
    }
    if patterns.is_empty() {
        return Ok(Gitignore::Keep);
    }
    // A blank line between the user's lines and compozy's.
    let separator = match () {
        () if text.is_empty() => "",
        () if text.ends_with('\n') => "\n",
        () => "\n\n",
    };
    Ok(Gitignore::Append {
        lines: format!("{separator}{lines}"),
        patterns,
    })
}

/// The template's patterns, each with the comment lines above it (newline included).
fn gitignore_entries() -> Vec<(&'static str, &'static str)> {
    let mut entries = Vec::new();
    let mut start = 0;
    let mut at = 0;
    for line in GITIGNORE.split_inclusive('\n') {
        let next = at + line.len();
        if !line.starts_with('#') && !line.trim().is_empty() {
            entries.push((&GITIGNORE[start..at], line.trim_end()));
            start = next;
        }
        at = next;
    }
    entries
}

/// Whether a line of a `.gitignore` already ignores `pattern` (`.compozy` ignores
/// `.compozy/.cache/`; a leading or trailing `/` makes no difference here).
fn ignores(line: &str, pattern: &str) -> bool {
    let bare = |p: &str| {
        p.trim()
            .trim_start_matches('/')
            .trim_end_matches('/')
            .to_owned()
    };
    let (line, pattern) = (bare(line), bare(pattern));
    !line.is_empty()
        && !line.starts_with('#')
        && (line == pattern || pattern.starts_with(&format!("{line}/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_as_strings() {
        assert_eq!(yaml_string("weather"), "weather");
        assert_eq!(yaml_string("my-tools.v2"), "my-tools.v2");
        assert_eq!(yaml_string("true"), "\"true\"");
        assert_eq!(yaml_string("2024"), "\"2024\"");
        assert_eq!(yaml_string("a: b"), "\"a: b\"");
    }

    #[test]
    fn missing_lines_are_appended_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".gitignore");
        assert_eq!(
            gitignore_change(&path, Path::new(".")).unwrap(),
            Gitignore::Create(GITIGNORE.into())
        );
        std::fs::write(&path, "node_modules").unwrap();
        let Gitignore::Append { lines, patterns } =
            gitignore_change(&path, Path::new(".")).unwrap()
        else {
            panic!("nothing to append")
        };
        assert_eq!(patterns, [".compozy/.cache/"]);
        assert!(lines.starts_with("\n\n# compozy's cache"), "{lines:?}");
        assert!(lines.ends_with("\n.compozy/.cache/\n"), "{lines:?}");
        std::fs::write(&path, "/.compozy\n").unwrap();
        let change = gitignore_change(&path, Path::new(".")).unwrap();
        assert!(
            matches!(&change, Gitignore::Append { patterns, .. } if patterns == &["node_modules/"]),
            "{change:?}"
        );
        std::fs::write(&path, "/node_modules/\n/.compozy/.cache/\n").unwrap();
        assert_eq!(
            gitignore_change(&path, Path::new(".")).unwrap(),
            Gitignore::Keep
        );
    }
}

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

/// Lines of a `.gitignore` that already keep the cache out of git.
const CACHE_IGNORED_BY: &[&str] = &[
    ".compozy/.cache",
    ".compozy/.cache/",
    "/.compozy/.cache",
    "/.compozy/.cache/",
    ".compozy",
    ".compozy/",
    "/.compozy",
    "/.compozy/",
];

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
    /// It exists without a line for the cache: these lines are appended.
    Append(String),
    /// It already ignores the cache.
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
            Gitignore::Create(lines) | Gitignore::Append(lines) => lines,
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

/// Whether `.gitignore` needs the cache line, and what to write.
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
    if text.lines().any(|l| CACHE_IGNORED_BY.contains(&l.trim())) {
        return Ok(Gitignore::Keep);
    }
    // A blank line between the user's lines and compozy's.
    let separator = match () {
        () if text.is_empty() => "",
        () if text.ends_with('\n') => "\n",
        () => "\n\n",
    };
    Ok(Gitignore::Append(format!("{separator}{GITIGNORE}")))
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
    fn the_cache_line_is_appended_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".gitignore");
        assert_eq!(
            gitignore_change(&path, Path::new(".")).unwrap(),
            Gitignore::Create(GITIGNORE.into())
        );
        std::fs::write(&path, "node_modules").unwrap();
        assert_eq!(
            gitignore_change(&path, Path::new(".")).unwrap(),
            Gitignore::Append(format!("\n\n{GITIGNORE}"))
        );
        std::fs::write(&path, "node_modules\n/.compozy/.cache/\n").unwrap();
        assert_eq!(
            gitignore_change(&path, Path::new(".")).unwrap(),
            Gitignore::Keep
        );
    }
}

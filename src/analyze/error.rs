//! What can be wrong with a module or an entrypoint.

use crate::diagnostic::Explain;

/// An analysis problem; [`Problem`](crate::diagnostic::Problem) adds the location.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AnalyzeError {
    #[error("cannot read `{path}`: {reason}")]
    Read { path: String, reason: String },
    #[error("syntax error in `{path}`: {message}")]
    Syntax { path: String, message: String },
    #[error("cannot resolve `{specifier}` from `{from}`")]
    Unresolved { specifier: String, from: String },
    #[error("{}", no_run_message(.module, .exports))]
    NoRunOrDefault {
        tool: String,
        module: String,
        exports: Vec<String>,
        /// An exported function to suggest renaming.
        suggestion: Option<String>,
    },
    #[error("the entrypoint `{entrypoint}` does not export tool `{tool}`")]
    MissingToolExport {
        tool: String,
        entrypoint: String,
        exports: Vec<String>,
    },
    #[error("`{from}` imports `{specifier}`, which does not exist")]
    MissingImport { specifier: String, from: String },
    #[error("`{from}` re-exports `{name}` from `{specifier}`, which does not export it")]
    MissingReexport {
        from: String,
        specifier: String,
        name: String,
        /// The value exports of `specifier`.
        exports: Vec<String>,
    },
    #[error("the plugin `{plugin}` {what}")]
    PluginExport { plugin: String, what: String },
    #[error("`{module}` is written for Deno: {what}")]
    DenoModule { module: String, what: String },
}

fn no_run_message(module: &str, exports: &[String]) -> String {
    if exports.is_empty() {
        format!("`{module}` exports nothing; expected `run` or `default`")
    } else {
        format!(
            "`{module}` exports {}; expected `run` or `default`",
            quote_list(exports)
        )
    }
}

fn quote_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Explain for AnalyzeError {
    fn code(&self) -> &'static str {
        match self {
            Self::Read { .. } => "analyze::read",
            Self::Syntax { .. } => "analyze::syntax",
            Self::Unresolved { .. } => "analyze::unresolved",
            Self::NoRunOrDefault { .. } => "analyze::no-run-export",
            Self::MissingToolExport { .. } => "analyze::missing-tool-export",
            Self::MissingImport { .. } => "analyze::missing-import",
            Self::MissingReexport { .. } => "analyze::missing-reexport",
            Self::DenoModule { .. } => "analyze::deno",
            Self::PluginExport { .. } => "analyze::plugin-export",
        }
    }

    fn help(&self) -> Option<String> {
        match self {
            Self::Read { .. } => Some("check that the file exists and is readable".into()),
            Self::Syntax { .. } => {
                Some("fix the syntax error; bun and node would refuse this module too".into())
            }
            Self::Unresolved { .. } => {
                Some("re-exports are followed through relative paths; check the path".into())
            }
            Self::NoRunOrDefault { suggestion, .. } => Some(match suggestion {
                Some(name) if is_js_identifier(name) => {
                    format!("rename the function to `run`, or add `export {{ {name} as run }}`")
                }
                _ => "export a function named `run` (or a default export)".into(),
            }),
            Self::PluginExport { .. } => Some(
                "default-export an object with a `callTool(call, next)` method: \
                 `export default { async callTool(call, next) { return next(call); } }`"
                    .into(),
            ),
            Self::MissingImport { .. } => Some(
                "the project is incomplete: add the file, or fix the import's path (relative to the importing file)".into(),
            ),
            Self::MissingReexport { name, exports, .. } => Some(
                match crate::suggest::did_you_mean(name, exports.iter().map(String::as_str)) {
                    Some(hint) => format!("{hint} (Bun and Node refuse to load the module)"),
                    None => format!(
                        "Bun and Node refuse to load the module; the exports found: {}",
                        list_or_none(exports)
                    ),
                },
            ),
            Self::DenoModule { .. } => Some(
                "this is a Deno-era Compozy project: run `compozy migrate` to rewrite it for Bun and Node".into(),
            ),
            Self::MissingToolExport { tool, exports, .. } => Some(if is_js_identifier(tool) {
                format!(
                    "add `export {{ yourFunction as {tool} }}` or a `{tool}` key in the default-exported object (exports found: {})",
                    list_or_none(exports)
                )
            } else if let Some((id, major)) = tool.split_once(crate::config::versions::SEPARATOR) {
                format!(
                    "`{tool}` is major version {major} of `{id}`, kept beside a newer one; export it under that key: add `export {{ yourFunction as \"{tool}\" }}` or a \"{tool}\" key in the default-exported object (exports found: {})",
                    list_or_none(exports)
                )
            } else {
                format!(
                    "add `export {{ yourFunction as \"{tool}\" }}` or a \"{tool}\" key in the default-exported object (exports found: {})",
                    list_or_none(exports)
                )
            }),
        }
    }
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        quote_list(names)
    }
}

/// True when `name` can be written as a bare identifier in an export clause.
pub fn is_js_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

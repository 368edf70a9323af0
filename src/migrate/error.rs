//! What `compozy migrate` can find wrong, or cannot rewrite, in a Deno-era project.

use crate::diagnostic::Explain;

/// A migration problem; [`Problem`](crate::diagnostic::Problem) adds the location.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("no compozy.yaml found in {} or any parent directory", .0.display())]
    NotFound(std::path::PathBuf),
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("cannot write {path}: {message}")]
    Write { path: String, message: String },
    #[error("{file} does not parse: {message}")]
    Json { file: String, message: String },
    #[error("{what} must be {expected}")]
    Shape {
        what: String,
        expected: &'static str,
        help: String,
    },
    #[error("the import map entry `{key}` points to `{target}`, which does not exist")]
    EntryMissing { key: String, target: String },
    #[error("tool `{id}` has neither `execute:` nor an entry in deno.json's import map")]
    NoModule { id: String, help: String },
    #[error("tool `{id}` runs `{execute}`, but deno.json maps it to `{mapped}`")]
    Conflict {
        id: String,
        execute: String,
        mapped: String,
    },
    #[error("the module of tool `{id}` (`{module}`) does not exist")]
    MissingModule { id: String, module: String },
    #[error("`{module}` exports both `default` and `run`")]
    DefaultAndRun { module: String },
    #[error("`{name}` takes {params} parameters; Compozy's Deno runtime passed only the input")]
    MoreParams { name: String, params: usize },
    #[error("`{api}` has no exact Node/Bun equivalent that migrate can write")]
    DenoApi { api: String, help: String },
    #[error("remote import `{url}`: Bun and Node do not import from URLs")]
    Remote { url: String, help: String },
    #[error("`{spec}`: JSR packages are not on the npm registry that Bun and Node install from")]
    Jsr { spec: String, help: String },
    #[error("`{spec}` names no version, and deno.lock does not say which one Deno used")]
    Unpinned { spec: String, package: String },
    #[error("`{package}` is wanted at `{wanted}` here, but at `{other}` elsewhere")]
    VersionClash {
        package: String,
        wanted: String,
        other: String,
    },
    #[error("package.json has `{package}` at `{have}`; the Deno code imported `{wanted}`")]
    VersionDiffers {
        package: String,
        have: String,
        wanted: String,
    },
    #[error("{message}")]
    Syntax { message: String },
    #[error("{file} is not valid YAML ({message}); tools declared there are not migrated")]
    Yaml { file: String, message: String },
}

impl Explain for MigrateError {
    fn code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "migrate::not-found",
            Self::Read { .. } => "migrate::read",
            Self::Write { .. } => "migrate::write",
            Self::Json { .. } => "migrate::json",
            Self::Shape { .. } => "migrate::shape",
            Self::EntryMissing { .. } => "migrate::entry-missing",
            Self::NoModule { .. } => "migrate::no-module",
            Self::Conflict { .. } => "migrate::conflict",
            Self::MissingModule { .. } => "migrate::missing-module",
            Self::DefaultAndRun { .. } => "migrate::default-and-run",
            Self::MoreParams { .. } => "migrate::parameters",
            Self::DenoApi { .. } => "migrate::deno-api",
            Self::Remote { .. } => "migrate::remote-import",
            Self::Jsr { .. } => "migrate::jsr",
            Self::Unpinned { .. } => "migrate::unpinned",
            Self::VersionClash { .. } => "migrate::version-clash",
            Self::VersionDiffers { .. } => "migrate::version-differs",
            Self::Syntax { .. } => "migrate::syntax",
            Self::Yaml { .. } => "migrate::yaml",
        }
    }

    fn help(&self) -> Option<String> {
        Some(match self {
            Self::NotFound(_) => {
                "run it in the project (the directory of compozy.yaml) or pass --project DIR".into()
            }
            Self::Read { .. } | Self::Write { .. } => {
                "check the file's permissions; nothing was written".into()
            }
            Self::Json { .. } => {
                "fix the syntax (Deno also accepts comments and trailing commas)".into()
            }
            Self::Shape { help, .. } | Self::NoModule { help, .. } => help.clone(),
            Self::DenoApi { help, .. } | Self::Remote { help, .. } | Self::Jsr { help, .. } => {
                help.clone()
            }
            Self::EntryMissing { .. } => {
                "fix the path (relative to deno.json), or remove the entry if nothing uses it"
                    .into()
            }
            Self::Conflict { mapped, .. } => format!(
                "Compozy's Deno runtime imported the tool through the import map, so it ran \
                 `{mapped}`: point `execute:` there, or fix the import map"
            ),
            Self::MissingModule { .. } => "fix the path, or restore the module".into(),
            Self::DefaultAndRun { .. } => "Compozy's Deno runtime called `default`, compozy calls \
                 `run`: make them the same function (`export default run`) or remove one"
                .into(),
            Self::MoreParams { .. } => {
                "compozy calls tools as `fn(input, config, ctx)`: the other \
                 parameters now receive the tool's `config:` and the call context; check that \
                 their defaults are not relied upon"
                    .into()
            }
            Self::Unpinned { package, .. } => format!(
                "migrate added `\"{package}\": \"latest\"` (what Deno resolved it to); pin the \
                 version you tested with in package.json"
            ),
            Self::VersionClash { package, .. } => format!(
                "Bun and Node install one version of `{package}` per project: use the same \
                 version in every `npm:` specifier"
            ),
            Self::VersionDiffers { .. } => {
                "package.json was left as it is; align the versions if the tool depends on it"
                    .into()
            }
            Self::Syntax { .. } => "fix the syntax error, then run `compozy migrate` again".into(),
            Self::Yaml { .. } => "fix the YAML, then run `compozy migrate` again".into(),
        })
    }
}

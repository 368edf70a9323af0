//! What can go wrong while generating or writing `.compozy/`.

use crate::diagnostic::Explain;

/// A generation problem.
#[derive(Debug, thiserror::Error)]
pub enum GenError {
    #[error("template `{name}` failed to render: {reason}")]
    Template { name: String, reason: String },
    #[error("cannot write `{path}`: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("permissions are not enforced under Bun: {flags}")]
    PermissionsIgnoredByBun { flags: String },
    #[error("tool id `{id}` is not a valid MCP tool name; MCP hosts may refuse it")]
    NotAnMcpName { id: String },
    #[error("{count} more tool ids are not valid MCP tool names: {ids}")]
    NotMcpNames { count: usize, ids: String },
    #[error(
        "`runtime.permissions` are Deno-style flags (Compozy's): Bun enforces none of them (it has no permission model); under Node they mean {meanings}"
    )]
    DenoPermissions { meanings: String },
    #[error("{count} tool(s) have no description: {ids}")]
    NoDescription { count: usize, ids: String },
    #[error("{files} {verb} problems; {running}, without the tools {pronoun} {declares}", verb = if *.many { "have" } else { "has" }, pronoun = if *.many { "they" } else { "it" }, declares = if *.many { "declare or implement" } else { "declares or implements" })]
    ToolsLeftOut {
        files: String,
        many: bool,
        running: String,
    },
    #[error("tool `{id}` says `readOnlyHint: true`, but its name says it {verb}")]
    ReadOnlyWriter { id: String, verb: String },
}

impl Explain for GenError {
    fn code(&self) -> &'static str {
        match self {
            Self::Template { .. } => "gen::template",
            Self::Write { .. } => "gen::write",
            Self::Read { .. } => "gen::read",
            Self::PermissionsIgnoredByBun { .. } => "gen::permissions-not-enforced",
            Self::NotAnMcpName { .. } | Self::NotMcpNames { .. } => "gen::mcp-name",
            Self::NoDescription { .. } => "gen::no-description",
            Self::DenoPermissions { .. } => "gen::deno-permissions",
            Self::ToolsLeftOut { .. } => "gen::tools-left-out",
            Self::ReadOnlyWriter { .. } => "gen::read-only-hint",
        }
    }

    fn help(&self) -> Option<String> {
        Some(match self {
            Self::Template { .. } => "this is a bug in compozy; please report it".into(),
            Self::Write { .. } | Self::Read { .. } => {
                "check the permissions of the .compozy directory".into()
            }
            Self::PermissionsIgnoredByBun { .. } => {
                "Bun has no permission model; use `runtime.type: node` (or `--runtime node`) to enforce them".into()
            }
            Self::NotAnMcpName { .. } | Self::NotMcpNames { .. } => {
                "MCP tool names use only letters, digits, `_`, `.` and `-` (1 to 128 characters); compozy never renames a tool, so rename it if MCP hosts should call it".into()
            }
            Self::DenoPermissions { .. } => {
                "to say exactly what a tool may do under Node, write Node's flags instead (--allow-fs-read=PATH, --allow-fs-write=PATH, --allow-child-process …)".into()
            }
            Self::ReadOnlyWriter { .. } => {
                "hosts call read-only tools without asking; if the tool changes anything, say `readOnlyHint: false` (and `destructiveHint:`), otherwise rename it".into()
            }
            Self::NoDescription { .. } => {
                "add `description:` to each tool: MCP hosts show it to the model to decide when to call the tool".into()
            }
            Self::ToolsLeftOut { .. } => {
                "`compozy gen` shows every problem (it writes nothing until they are fixed); \
                 .compozy/ is left as it was"
                    .into()
            }
        })
    }
}

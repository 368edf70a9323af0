//! `runtime.permissions`: grants of Node's permission model.

/// One permission, as Node's `--allow-*` flag names it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum NodePermission {
    /// `--allow-fs-read=PATH` (`*` for everything); paths are relative to the project root.
    FsRead(String),
    /// `--allow-fs-write=PATH`.
    FsWrite(String),
    /// `--allow-child-process`.
    ChildProcess,
    /// `--allow-worker`.
    Worker,
    /// `--allow-addons`.
    Addons,
    /// `--allow-wasi`.
    Wasi,
}

/// The flags compozy understands, for error messages.
pub const KNOWN: &str = "--allow-fs-read=PATH, --allow-fs-write=PATH, --allow-child-process, --allow-worker, --allow-addons, --allow-wasi";

impl NodePermission {
    /// Parses `--allow-fs-read=./data` (the leading `--` is optional).
    pub fn parse(flag: &str) -> Option<Self> {
        let flag = flag.trim();
        let flag = flag.strip_prefix("--").unwrap_or(flag);
        let (name, value) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (flag, None),
        };
        match (name, value) {
            ("allow-fs-read", Some(v)) if !v.is_empty() => Some(Self::FsRead(v.to_owned())),
            ("allow-fs-write", Some(v)) if !v.is_empty() => Some(Self::FsWrite(v.to_owned())),
            ("allow-child-process", None) => Some(Self::ChildProcess),
            ("allow-worker", None) => Some(Self::Worker),
            ("allow-addons", None) => Some(Self::Addons),
            ("allow-wasi", None) => Some(Self::Wasi),
            _ => None,
        }
    }

    /// The flag as written back for messages.
    pub fn as_flag(&self) -> String {
        match self {
            Self::FsRead(p) => format!("--allow-fs-read={p}"),
            Self::FsWrite(p) => format!("--allow-fs-write={p}"),
            Self::ChildProcess => "--allow-child-process".into(),
            Self::Worker => "--allow-worker".into(),
            Self::Addons => "--allow-addons".into(),
            Self::Wasi => "--allow-wasi".into(),
        }
    }
}

/// A Deno-style flag (`--allow-read`, `--allow-net=host` …), as Compozy's runtimes took them:
/// Deno enforced them, Compozy's Bun runtime passed them to `bun run`, which ignores them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DenoPermission {
    /// Translated to these grants of Node's permission model.
    Node(Vec<NodePermission>),
    /// Node's permission model does not restrict what the flag grants: nothing to translate.
    Unrestricted,
    /// `--allow-all` / `-A`: no permission model at all.
    All,
}

impl DenoPermission {
    /// Parses a Deno flag; `None` for anything else.
    pub fn parse(flag: &str) -> Option<Self> {
        let flag = flag.trim();
        if flag == "-A" {
            return Some(Self::All);
        }
        let flag = flag.strip_prefix("--")?;
        let (name, value) = match flag.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (flag, None),
        };
        let paths = |make: fn(String) -> NodePermission| match value {
            None | Some("") => vec![make("*".into())],
            Some(list) => list.split(',').map(|p| make(p.trim().to_owned())).collect(),
        };
        Some(match name {
            "allow-read" => Self::Node(paths(NodePermission::FsRead)),
            "allow-write" => Self::Node(paths(NodePermission::FsWrite)),
            "allow-run" => Self::Node(vec![NodePermission::ChildProcess]),
            "allow-ffi" => Self::Node(vec![NodePermission::Addons]),
            "allow-net" | "allow-env" | "allow-sys" | "allow-hrtime" | "allow-import" => {
                Self::Unrestricted
            }
            "allow-all" => Self::All,
            _ => return None,
        })
    }

    /// What the flag means under Node, in words.
    pub fn under_node(&self) -> String {
        match self {
            Self::Node(grants) => grants
                .iter()
                .map(NodePermission::as_flag)
                .collect::<Vec<_>>()
                .join(" "),
            Self::Unrestricted => "not restricted by Node".into(),
            Self::All => "no permission model".into(),
        }
    }
}

/// The Deno flags compozy translates, for error messages.
pub const KNOWN_DENO: &str = "--allow-read[=PATHS], --allow-write[=PATHS], --allow-run, --allow-ffi, --allow-net, --allow-env, --allow-sys, --allow-hrtime, --allow-import, --allow-all (-A)";

#[cfg(test)]
mod tests {
    use super::{DenoPermission, NodePermission};

    #[test]
    fn deno_flags_translate_to_node_grants() {
        assert_eq!(
            DenoPermission::parse("--allow-read"),
            Some(DenoPermission::Node(vec![NodePermission::FsRead(
                "*".into()
            )]))
        );
        assert_eq!(
            DenoPermission::parse("--allow-write=./out,./tmp"),
            Some(DenoPermission::Node(vec![
                NodePermission::FsWrite("./out".into()),
                NodePermission::FsWrite("./tmp".into())
            ]))
        );
        assert_eq!(
            DenoPermission::parse("--allow-net=api.test"),
            Some(DenoPermission::Unrestricted)
        );
        assert_eq!(DenoPermission::parse("-A"), Some(DenoPermission::All));
        assert_eq!(DenoPermission::parse("--allow-fs-read=x"), None);
    }

    #[test]
    fn parses_known_flags_and_refuses_others() {
        assert_eq!(
            NodePermission::parse("--allow-fs-read=./data"),
            Some(NodePermission::FsRead("./data".into()))
        );
        assert_eq!(
            NodePermission::parse("allow-child-process"),
            Some(NodePermission::ChildProcess)
        );
        assert_eq!(NodePermission::parse("--allow-net"), None);
        assert_eq!(NodePermission::parse("--allow-fs-read"), None);
        assert_eq!(NodePermission::parse("--allow-worker=x"), None);
    }
}

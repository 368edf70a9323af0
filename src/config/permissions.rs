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

#[cfg(test)]
mod tests {
    use super::NodePermission;

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

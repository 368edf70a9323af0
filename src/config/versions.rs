//! Several major versions of one tool side by side.
//!
//! Two declarations of one id whose `version:` differ in their major version are two tools. The
//! newest major keeps the id as its key; each older one is keyed `ID@MAJOR` (`weather@1`), which
//! no declared id can be (`@` is not allowed in ids). Entrypoints export a tool under its key,
//! `exec`, `serve` and `compozy mcp` find it by it, and a caller may also name the newest as
//! `ID@MAJOR`. MCP names the older ones `ID.vMAJOR` (`@` is not allowed in MCP tool names).

use super::{Project, Tool};

/// Between an id and a major version in a key (`weather@1`).
pub const SEPARATOR: char = '@';

/// The declared id of a key (`weather@1` → `weather`).
pub fn base_id(key: &str) -> &str {
    key.split_once(SEPARATOR).map_or(key, |(id, _)| id)
}

/// The key of an older major: `ID@MAJOR`.
pub fn key(id: &str, major: u64) -> String {
    format!("{id}{SEPARATOR}{major}")
}

/// A major version as a caller writes it: digits only (`1`, not `v1`, `+1` or `1.0`).
pub fn parse_major(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The name MCP lists a tool under: its id, or `ID.vMAJOR` for an older major.
pub fn mcp_name(tool: &Tool) -> String {
    if tool.is_older_major() {
        format!("{}.v{}", tool.base_id(), tool.major())
    } else {
        tool.id.clone()
    }
}

/// The name MCP knows a key by: `ID.vMAJOR` for an older major's `ID@MAJOR`, else the key.
pub fn mcp_name_of_key(key: &str) -> String {
    match key.split_once(SEPARATOR) {
        Some((id, major)) => format!("{id}.v{major}"),
        None => key.to_owned(),
    }
}

/// The key a name from an MCP client stands for: a tool's own name first (a tool may really be
/// called `x.v1`; `gen` refuses one that collides with an older major), then `ID.vMAJOR` for
/// `ID@MAJOR`. Unknown names are passed on as they are, for the caller's error.
pub fn key_of_mcp_name(project: &Project, name: &str) -> String {
    if project.tool(name).is_some() {
        return name.to_owned();
    }
    match name.rsplit_once(".v") {
        Some((id, major)) if parse_major(major).is_some() && project.tool(id).is_some() => {
            key(id, parse_major(major).unwrap_or_default())
        }
        _ => name.to_owned(),
    }
}

/// The warning a call to a deprecated tool is logged with (`exec` on stderr, `serve` and
/// `compozy mcp` in their log): `None` when it is not deprecated.
pub fn deprecation(tool: &Tool) -> Option<String> {
    let message = tool.deprecated.as_deref()?;
    let version = tool
        .version
        .as_ref()
        .map_or_else(String::new, |v| format!(" {v}"));
    Some(format!(
        "tool `{}`{version} is deprecated: {message}",
        tool.id
    ))
}

/// Why a name a caller gave names no tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotFound {
    /// No tool has that id.
    Unknown,
    /// `ID@x`: what follows `@` is not a major version.
    BadMajor {
        /// The name as given.
        name: String,
    },
    /// `ID@9`: the id exists, that major version does not.
    NoMajor {
        /// The declared id.
        id: String,
        /// The major version asked for.
        major: u64,
        /// The major versions that exist, newest first, with the name to call each by.
        majors: Vec<(u64, String)>,
    },
}

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unknown => f.write_str("unknown tool"),
            Self::BadMajor { name } => {
                let (id, major) = name.split_once(SEPARATOR).unwrap_or((name, ""));
                write!(
                    f,
                    "`{name}`: `{major}` is not a major version; name a major version of `{id}` by its number, as in `{id}@1`"
                )
            }
            Self::NoMajor { id, major, majors } => {
                let listed: Vec<String> = majors
                    .iter()
                    .map(|(m, name)| format!("{m} (`{name}`)"))
                    .collect();
                write!(
                    f,
                    "tool `{id}` has no major version {major}; its major versions are {}",
                    listed.join(", ")
                )
            }
        }
    }
}

/// The tool `name` names in `project` (see [`Project::resolve`]).
pub fn resolve<'p>(project: &'p Project, name: &str) -> Result<&'p Tool, NotFound> {
    if let Some(tool) = project.tool(name) {
        return Ok(tool);
    }
    let Some((id, major)) = name.split_once(SEPARATOR) else {
        return Err(NotFound::Unknown);
    };
    let Some(major) = parse_major(major) else {
        return Err(NotFound::BadMajor {
            name: name.to_owned(),
        });
    };
    let Some(newest) = project.tool(id) else {
        return Err(NotFound::Unknown);
    };
    if newest.major() == major {
        return Ok(newest);
    }
    // `weather@01` is `weather@1`.
    if let Some(tool) = project.tool(&key(id, major)) {
        return Ok(tool);
    }
    let mut majors: Vec<(u64, String)> = project
        .tools
        .iter()
        .filter(|t| t.base_id() == id)
        .map(|t| (t.major(), t.id.clone()))
        .collect();
    majors.sort_by_key(|m| std::cmp::Reverse(m.0));
    Err(NotFound::NoMajor {
        id: id.to_owned(),
        major,
        majors,
    })
}

/// Keys the tools of `tools` (one declaration per id and major): the newest major of each id
/// keeps the id, the older ones become `ID@MAJOR`.
pub(super) fn assign_keys(tools: &mut [Tool]) {
    let mut newest: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    for tool in tools.iter() {
        let major = tool.major();
        newest
            .entry(tool.id.clone())
            .and_modify(|m| *m = (*m).max(major))
            .or_insert(major);
    }
    for tool in tools.iter_mut() {
        let major = tool.major();
        if newest.get(&tool.id).is_some_and(|&m| m != major) {
            tool.id = key(&tool.id, major);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcp_names_of_keys() {
        assert_eq!(mcp_name_of_key("weather@1"), "weather.v1");
        assert_eq!(mcp_name_of_key("weather"), "weather");
    }

    fn tool(id: &str, version: Option<&str>) -> Tool {
        Tool {
            version: version.map(|v| semver::Version::parse(v).unwrap()),
            ..Tool::bare(id)
        }
    }

    fn project(mut tools: Vec<Tool>) -> Project {
        assign_keys(&mut tools);
        tools.sort_by(|a, b| a.id.cmp(&b.id));
        Project {
            root: "/p".into(),
            name: None,
            runtime: crate::config::RuntimeConfig {
                kind: crate::config::RuntimeKind::Bun,
                entrypoint: crate::config::ProjectPath {
                    abs: "/p/.compozy/tools.ts".into(),
                    rel: ".compozy/tools.ts".into(),
                },
                mode: crate::config::EntrypointMode::Generated,
                permissions: None,
                entrypoint_found: false,
                deno_permissions: Vec::new(),
                timeout: std::time::Duration::from_secs(60),
                env_files: None,
                env_passthrough: Vec::new(),
                env: Default::default(),
                worker_dir: None,
                preload: Vec::new(),
            },
            tools,
            config_files: Vec::new(),
            config_dirs: Vec::new(),
            auth: None,
            plugins: Vec::new(),
            policies: Vec::new(),
        }
    }

    fn side_by_side() -> Project {
        project(vec![
            tool("weather", Some("2.1.0")),
            tool("weather", Some("1.4.0")),
            tool("weather", Some("0.3.0")),
            tool("calc", None),
        ])
    }

    #[test]
    fn the_newest_major_keeps_the_id_and_older_ones_get_a_key_each() {
        let p = side_by_side();
        let keys: Vec<&str> = p.tools.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(keys, ["calc", "weather", "weather@0", "weather@1"]);
        assert_eq!(p.tool("weather@1").unwrap().base_id(), "weather");
        assert!(p.tool("weather@1").unwrap().is_older_major());
        assert!(!p.tool("weather").unwrap().is_older_major());
    }

    #[test]
    fn names_resolve_to_the_major_asked_for() {
        let p = side_by_side();
        let major = |name: &str| p.resolve(name).map(|t| t.version.clone().unwrap().major);
        assert_eq!(major("weather"), Ok(2));
        assert_eq!(major("weather@2"), Ok(2));
        assert_eq!(major("weather@1"), Ok(1));
        assert_eq!(major("weather@01"), Ok(1));
        assert_eq!(p.resolve("calc@0").map(|t| t.id.as_str()), Ok("calc"));
        assert_eq!(p.resolve("nope").err(), Some(NotFound::Unknown));
        assert_eq!(p.resolve("nope@1").err(), Some(NotFound::Unknown));
        let Err(NotFound::NoMajor { majors, .. }) = p.resolve("weather@9") else {
            panic!("weather@9 is no major of weather");
        };
        assert_eq!(
            majors,
            [
                (2, "weather".into()),
                (1, "weather@1".into()),
                (0, "weather@0".into())
            ]
        );
        let message = p.resolve("weather@9").unwrap_err().to_string();
        assert!(message.contains("no major version 9"), "{message}");
        assert!(
            message.contains("2 (`weather`), 1 (`weather@1`)"),
            "{message}"
        );
        for bad in [
            "weather@x",
            "weather@",
            "weather@+1",
            "weather@v1",
            "weather@1.0",
        ] {
            assert!(
                matches!(p.resolve(bad), Err(NotFound::BadMajor { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn mcp_names_of_older_majors() {
        let p = side_by_side();
        let names: Vec<String> = p.tools.iter().map(mcp_name).collect();
        assert_eq!(names, ["calc", "weather", "weather.v0", "weather.v1"]);
        assert_eq!(key_of_mcp_name(&p, "weather.v1"), "weather@1");
        assert_eq!(key_of_mcp_name(&p, "weather"), "weather");
        // Not an older major: passed on for the caller's "unknown tool".
        assert_eq!(key_of_mcp_name(&p, "weather.v9"), "weather@9");
        assert_eq!(key_of_mcp_name(&p, "other.v1"), "other.v1");
        assert_eq!(key_of_mcp_name(&p, "weather.vx"), "weather.vx");
    }

    #[test]
    fn majors_are_digits() {
        assert_eq!(parse_major("12"), Some(12));
        for bad in ["", "x", "+1", "-1", "1.0", " 1"] {
            assert_eq!(parse_major(bad), None, "{bad}");
        }
    }
}

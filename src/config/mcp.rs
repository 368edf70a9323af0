//! What `compozy mcp` tells hosts about a tool (`title`, `annotations`, `icons`) and who may call
//! it (`scopes`, and the project's `auth:`), read from the YAML tree and checked here.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::error::ConfigError;
use super::yaml::{Entry, Kind, Node, line_col};
use crate::diagnostic::{Problem, Problems};
use crate::source::SourceFile;

/// The largest icon file that is sent inline (as a `data:` URI) in `tools/list`.
pub const ICON_MAX_BYTES: u64 = 64 * 1024;

/// The hints of `annotations:`, as the MCP specification names them.
pub const HINTS: &[&str] = &[
    "readOnlyHint",
    "destructiveHint",
    "idempotentHint",
    "openWorldHint",
];

/// The keys of an `icons:` entry.
const ICON_KEYS: &[&str] = &["src", "mimeType", "sizes", "theme"];

/// The keys of `auth:`.
pub const AUTH_KEYS: &[&str] = &[
    "resource",
    "authorization_servers",
    "tokens",
    "jwt",
    "scopes_supported",
    "resource_name",
];

const JWT_KEYS: &[&str] = &["issuer", "audience", "jwks", "algorithms"];

/// A tool's MCP metadata.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolMeta {
    /// `title:`, the name hosts show.
    pub title: Option<String>,
    /// `annotations:`.
    pub annotations: Annotations,
    /// `icons:`.
    pub icons: Vec<Icon>,
    /// `scopes:`: the OAuth scopes a caller's token must carry (with `auth:`).
    pub scopes: Vec<String>,
    /// `returns: content`: the tool returns MCP content (blocks), not a JSON value.
    #[serde(default)]
    pub returns_content: bool,
}

/// The four behaviour hints; `None` when not written (hosts assume the protocol's defaults).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Annotations {
    pub read_only: Option<bool>,
    pub destructive: Option<bool>,
    pub idempotent: Option<bool>,
    pub open_world: Option<bool>,
}

impl Annotations {
    /// Whether no hint is written.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// One icon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Icon {
    pub src: IconSource,
    /// `mimeType:`, or the one a local file's extension names.
    pub mime_type: Option<String>,
    pub sizes: Vec<String>,
    /// `light` or `dark`.
    pub theme: Option<String>,
}

/// Where an icon is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum IconSource {
    /// An `https:`, `http:` or `data:` URI, sent as written.
    Uri(String),
    /// A file of the project, sent as a `data:` URI.
    File(PathBuf),
}

/// `auth:` in compozy.yaml: how `compozy mcp --http` decides who may call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Auth {
    /// This server's URL as clients know it: the audience tokens must name, and the `resource`
    /// of the protected-resource metadata.
    pub resource: String,
    /// `authorization_servers:` (published in the metadata).
    pub authorization_servers: Vec<String>,
    /// `scopes_supported:` (published in the metadata); the tools' scopes when not given.
    pub scopes_supported: Option<Vec<String>>,
    /// `resource_name:` (published in the metadata).
    pub resource_name: Option<String>,
    /// `tokens: {env: …}`: the environment variables holding the static bearer tokens.
    pub token_env: Vec<String>,
    /// `jwt:`.
    pub jwt: Option<Jwt>,
}

/// `auth.jwt:`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Jwt {
    /// The `iss` tokens must carry.
    pub issuer: String,
    /// The `aud` tokens must carry (`resource` when not given).
    pub audience: Vec<String>,
    /// Where the keys are.
    pub jwks: Jwks,
    /// The signature algorithms accepted (`RS256` and `ES256` when not given).
    pub algorithms: Vec<String>,
}

/// Where a JWKS is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Jwks {
    File(PathBuf),
    Url(String),
}

/// The JWT signature algorithms `auth.jwt.algorithms` may name (`none` is never one).
pub const ALGORITHMS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

struct Cx<'a> {
    file: &'a SourceFile,
    problems: &'a mut Problems,
}

impl Cx<'_> {
    fn push(&mut self, node_at: serde_saphyr::Location, error: ConfigError, label: &str) {
        let (line, column) = line_col(node_at);
        self.problems.push(Problem::new(error).at_line(
            self.file,
            line.max(1),
            column.max(1),
            label,
        ));
    }

    fn error(&mut self, node: &Node, message: String, help: impl Into<String>) {
        self.push(
            node.at,
            ConfigError::Mcp {
                message,
                help: help.into(),
            },
            "here",
        );
    }

    fn wrong(&mut self, what: &str, node: &Node, expected: &'static str) {
        self.push(
            node.at,
            ConfigError::WrongType {
                what: format!("`{what}`"),
                expected,
                found: node.what(),
            },
            "this value",
        );
    }

    fn unknown(&mut self, e: &Entry, place: &str, keys: &[&str]) {
        let help =
            crate::suggest::did_you_mean(&e.key, keys.iter().copied()).unwrap_or_else(|| {
                let list: Vec<String> = keys.iter().map(|k| format!("`{k}`")).collect();
                format!("the keys of {place} are {}", list.join(", "))
            });
        self.push(
            e.key_at,
            ConfigError::UnknownKey {
                key: e.key.clone(),
                place: place.into(),
                help,
            },
            "unknown key",
        );
    }

    fn entries<'n>(&mut self, what: &str, node: &'n Node, expected: &'static str) -> &'n [Entry] {
        match &node.kind {
            Kind::Map(entries) => entries,
            Kind::Null => &[],
            _ => {
                self.wrong(what, node, expected);
                &[]
            }
        }
    }

    fn string(&mut self, what: &str, node: &Node) -> Option<String> {
        match &node.kind {
            Kind::Null => None,
            _ => match node.scalar_text(&self.file.text) {
                Some(s) if matches!(node.kind, Kind::String(_)) => Some(s),
                _ => {
                    self.wrong(what, node, "a string");
                    None
                }
            },
        }
    }

    /// A list of strings, or one string.
    fn strings(&mut self, what: &str, node: &Node) -> Vec<String> {
        match &node.kind {
            Kind::Null => Vec::new(),
            Kind::String(s) => vec![s.clone()],
            Kind::Seq(items) => items
                .iter()
                .filter_map(|item| self.string(what, item))
                .collect(),
            _ => {
                self.wrong(what, node, "a list of strings");
                Vec::new()
            }
        }
    }

    fn boolean(&mut self, what: &str, node: &Node) -> Option<bool> {
        match node.kind {
            Kind::Bool(b) => Some(b),
            Kind::Null => None,
            _ => {
                self.wrong(what, node, "`true` or `false`");
                None
            }
        }
    }
}

/// Reads a tool's `title`, `annotations`, `icons` and `scopes` (the entries `read` kept);
/// icon paths are relative to `yaml_dir` and must stay inside `root`.
pub fn tool_meta(
    entries: &[Entry],
    file: &SourceFile,
    yaml_dir: &Path,
    root: &Path,
    problems: &mut Problems,
) -> ToolMeta {
    let mut cx = Cx { file, problems };
    let mut meta = ToolMeta::default();
    for e in entries {
        match e.key.as_str() {
            "title" => meta.title = cx.string("title", &e.value),
            "annotations" => meta.annotations = annotations(&mut cx, &e.value),
            "returns" => match cx.string("returns", &e.value).as_deref() {
                None | Some("json") => {}
                Some("content") => meta.returns_content = true,
                Some(other) => {
                    let help = crate::suggest::did_you_mean(other, ["content", "json"])
                        .unwrap_or_else(|| "`returns` is `content` or `json` (the default)".into());
                    cx.error(&e.value, format!("unknown `returns: {other}`"), help);
                }
            },
            "icons" => meta.icons = icons(&mut cx, &e.value, yaml_dir, root),
            "scopes" => {
                meta.scopes = cx.strings("scopes", &e.value);
                for scope in &meta.scopes {
                    if scope.is_empty() || scope.contains([' ', '"', '\\']) {
                        cx.error(
                            &e.value,
                            format!("invalid scope `{scope}`"),
                            "a scope is one word without spaces, quotes or backslashes \
                             (`tools:write`)",
                        );
                    }
                }
            }
            _ => {}
        }
    }
    meta
}

fn annotations(cx: &mut Cx<'_>, node: &Node) -> Annotations {
    let mut a = Annotations::default();
    for e in cx.entries(
        "annotations",
        node,
        "a mapping of hints (`readOnlyHint: true`)",
    ) {
        let what = format!("annotations.{}", e.key);
        let slot = match e.key.as_str() {
            "readOnlyHint" => &mut a.read_only,
            "destructiveHint" => &mut a.destructive,
            "idempotentHint" => &mut a.idempotent,
            "openWorldHint" => &mut a.open_world,
            _ => {
                cx.unknown(e, "`annotations:`", HINTS);
                continue;
            }
        };
        *slot = cx.boolean(&what, &e.value);
    }
    a
}

fn icons(cx: &mut Cx<'_>, node: &Node, yaml_dir: &Path, root: &Path) -> Vec<Icon> {
    let items: Vec<Node> = match &node.kind {
        Kind::Null => return Vec::new(),
        Kind::Seq(items) => items.clone(),
        // One icon may be written without the list.
        Kind::Map(_) | Kind::String(_) => vec![node.clone()],
        _ => {
            cx.wrong("icons", node, "a list of icons (`- src: ./icon.png`)");
            return Vec::new();
        }
    };
    items
        .iter()
        .filter_map(|item| icon(cx, item, yaml_dir, root))
        .collect()
}

fn icon(cx: &mut Cx<'_>, node: &Node, yaml_dir: &Path, root: &Path) -> Option<Icon> {
    let (mut src, mut mime_type, mut sizes, mut theme) = (None, None, Vec::new(), None);
    match &node.kind {
        Kind::String(s) => src = Some((s.clone(), node.clone())),
        Kind::Map(entries) => {
            for e in entries {
                match e.key.as_str() {
                    "src" => src = cx.string("src", &e.value).map(|s| (s, e.value.clone())),
                    "mimeType" => mime_type = cx.string("mimeType", &e.value),
                    "sizes" => sizes = cx.strings("sizes", &e.value),
                    "theme" => {
                        theme = cx.string("theme", &e.value);
                        if let Some(t) = theme.as_deref()
                            && !matches!(t, "light" | "dark")
                        {
                            cx.error(
                                &e.value,
                                format!("unknown icon theme `{t}`"),
                                "an icon's `theme` is `light` or `dark`",
                            );
                        }
                    }
                    _ => cx.unknown(e, "an icon", ICON_KEYS),
                }
            }
        }
        _ => {
            cx.wrong("an icon", node, "a mapping (`src: ./icon.png`) or a path");
            return None;
        }
    }
    let Some((src, at)) = src else {
        cx.error(
            node,
            "an icon has no `src`".into(),
            "add `src:` with a file of the project (`./icons/tool.png`) or an https: URL",
        );
        return None;
    };
    for size in &sizes {
        let ok = size == "any"
            || size
                .split_once('x')
                .is_some_and(|(w, h)| w.parse::<u32>().is_ok() && h.parse::<u32>().is_ok());
        if !ok {
            cx.error(
                &at,
                format!("invalid icon size `{size}`"),
                "sizes are written `48x48`, or `any` for a scalable image",
            );
        }
    }
    let lower = src.to_ascii_lowercase();
    if lower.starts_with("https:") || lower.starts_with("http:") || lower.starts_with("data:") {
        return Some(Icon {
            src: IconSource::Uri(src),
            mime_type,
            sizes,
            theme,
        });
    }
    if src.contains("://") {
        cx.error(
            &at,
            format!("icon `{src}` is neither a file nor an https:, http: or data: URI"),
            "hosts fetch icons over https:, or give a file of the project (sent inline)",
        );
        return None;
    }
    let path = crate::paths::normalize(&yaml_dir.join(&src));
    let inside =
        path.starts_with(root) && path.canonicalize().is_ok_and(|real| real.starts_with(root));
    if !inside && path.exists() {
        cx.error(
            &at,
            format!("icon `{src}` is outside the project"),
            "move the icon inside the project (the directory of compozy.yaml)",
        );
        return None;
    }
    let size = match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => m.len(),
        _ => {
            cx.error(
                &at,
                format!("icon `{src}` does not exist"),
                "paths are relative to the YAML file that declares the tool; check the spelling",
            );
            return None;
        }
    };
    if size > ICON_MAX_BYTES {
        cx.error(
            &at,
            format!("icon `{src}` has {size} bytes, more than the {ICON_MAX_BYTES} sent inline"),
            "shrink the image, or serve it and give its https: URL",
        );
        return None;
    }
    if mime_type.is_none() {
        mime_type = mime_of(&path).map(str::to_owned);
        if mime_type.is_none() {
            cx.error(
                &at,
                format!("the type of icon `{src}` is not known from its extension"),
                "add `mimeType:` (`image/png`, `image/svg+xml`, …), or use a .png, .jpg, .svg, \
                 .webp, .gif or .ico file",
            );
            return None;
        }
    }
    Some(Icon {
        src: IconSource::File(path),
        mime_type,
        sizes,
        theme,
    })
}

/// The MIME type an image file's extension names.
fn mime_of(path: &Path) -> Option<&'static str> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "svg" => "image/svg+xml",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        _ => return None,
    })
}

fn is_url(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://")) && s.len() > "http://".len()
}

/// Reads `auth:`; `None` (reported) when it cannot be used.
pub fn auth(node: &Node, file: &SourceFile, root: &Path, problems: &mut Problems) -> Option<Auth> {
    let before = problems.0.len();
    let mut cx = Cx { file, problems };
    let entries = match &node.kind {
        Kind::Null => return None,
        Kind::Map(entries) => entries,
        _ => {
            cx.wrong("auth", node, "a mapping (`resource:`, `tokens:` or `jwt:`)");
            return None;
        }
    };
    let mut resource = None;
    let mut authorization_servers = Vec::new();
    let mut scopes_supported = None;
    let mut resource_name = None;
    let mut token_env = Vec::new();
    let mut jwt = None;
    for e in entries {
        match e.key.as_str() {
            "resource" => {
                resource = cx.string("auth.resource", &e.value);
                if let Some(r) = &resource
                    && !is_url(r)
                {
                    cx.error(
                        &e.value,
                        format!("`auth.resource` `{r}` is not an https:// (or http://) URL"),
                        "write this server's URL as clients reach it, e.g. \
                         `https://tools.example.com/mcp`",
                    );
                }
            }
            "authorization_servers" => {
                authorization_servers = cx.strings("auth.authorization_servers", &e.value);
                for s in &authorization_servers {
                    if !is_url(s) {
                        cx.error(
                            &e.value,
                            format!(
                                "authorization server `{s}` is not an https:// (or http://) URL"
                            ),
                            "list the issuer URLs of the authorization servers \
                             (`https://auth.example.com`)",
                        );
                    }
                }
            }
            "scopes_supported" => {
                scopes_supported = Some(cx.strings("auth.scopes_supported", &e.value));
            }
            "resource_name" => resource_name = cx.string("auth.resource_name", &e.value),
            "tokens" => {
                for t in cx.entries("auth.tokens", &e.value, "a mapping (`env: TOOLS_TOKEN`)") {
                    match t.key.as_str() {
                        "env" => {
                            token_env = cx.strings("auth.tokens.env", &t.value);
                            for name in &token_env {
                                if !super::is_env_name(name) {
                                    cx.push(
                                        t.value.at,
                                        ConfigError::InvalidEnvName(name.clone()),
                                        "this name",
                                    );
                                }
                            }
                        }
                        _ => cx.unknown(t, "`auth.tokens:`", &["env"]),
                    }
                }
            }
            "jwt" => jwt = jwt_settings(&mut cx, &e.value, file, root),
            _ => cx.unknown(e, "`auth:`", AUTH_KEYS),
        }
    }
    let Some(resource) = resource else {
        cx.error(
            node,
            "`auth:` has no `resource`".into(),
            "add `resource: https://tools.example.com/mcp`, this server's URL as clients reach \
             it (tokens must name it as their audience)",
        );
        return None;
    };
    if token_env.is_empty() && jwt.is_none() {
        cx.error(
            node,
            "`auth:` accepts no token: it has neither `tokens:` nor `jwt:`".into(),
            "add `tokens: {env: TOOLS_TOKEN}` (static tokens from the environment) or \
             `jwt: {issuer: …, jwks: …}`",
        );
        return None;
    }
    if problems.0.len() != before {
        return None;
    }
    let jwt = jwt.map(|mut j: Jwt| {
        if j.audience.is_empty() {
            j.audience = vec![resource.clone()];
        }
        j
    });
    // The metadata must name an authorization server (MCP authorization): the JWTs' issuer is one.
    if authorization_servers.is_empty()
        && let Some(j) = &jwt
    {
        authorization_servers.push(j.issuer.clone());
    }
    Some(Auth {
        resource,
        authorization_servers,
        scopes_supported,
        resource_name,
        token_env,
        jwt,
    })
}

fn jwt_settings(cx: &mut Cx<'_>, node: &Node, file: &SourceFile, root: &Path) -> Option<Jwt> {
    let (mut issuer, mut audience, mut jwks, mut algorithms) = (None, Vec::new(), None, None);
    for e in cx.entries("auth.jwt", node, "a mapping (`issuer:`, `jwks:`)") {
        match e.key.as_str() {
            "issuer" => issuer = cx.string("auth.jwt.issuer", &e.value),
            "audience" => audience = cx.strings("auth.jwt.audience", &e.value),
            "algorithms" => {
                let algs = cx.strings("auth.jwt.algorithms", &e.value);
                for alg in &algs {
                    if !ALGORITHMS.contains(&alg.as_str()) {
                        let help = crate::suggest::did_you_mean(alg, ALGORITHMS.iter().copied())
                            .unwrap_or_else(|| {
                                format!("the algorithms accepted are {}", ALGORITHMS.join(", "))
                            });
                        cx.error(&e.value, format!("unknown JWT algorithm `{alg}`"), help);
                    }
                }
                algorithms = Some(algs);
            }
            "jwks" => {
                let Some(src) = cx.string("auth.jwt.jwks", &e.value) else {
                    continue;
                };
                if is_url(&src) {
                    jwks = Some(Jwks::Url(src));
                } else {
                    let dir = file.path.parent().unwrap_or(root);
                    let path = crate::paths::normalize(&dir.join(&src));
                    if path.is_file() {
                        jwks = Some(Jwks::File(path));
                    } else {
                        cx.error(
                            &e.value,
                            format!("the JWKS `{src}` does not exist"),
                            "give a JSON Web Key Set file (relative to compozy.yaml) or its \
                             https: URL",
                        );
                    }
                }
            }
            _ => cx.unknown(e, "`auth.jwt:`", JWT_KEYS),
        }
    }
    let Some(issuer) = issuer else {
        cx.error(
            node,
            "`auth.jwt` has no `issuer`".into(),
            "add `issuer: https://auth.example.com`, the `iss` tokens carry",
        );
        return None;
    };
    let Some(jwks) = jwks else {
        cx.error(
            node,
            "`auth.jwt` has no `jwks`".into(),
            "add `jwks:` with the authorization server's key set: a file or an https: URL",
        );
        return None;
    };
    Some(Jwt {
        issuer,
        audience,
        jwks,
        algorithms: algorithms.unwrap_or_else(|| vec!["RS256".into(), "ES256".into()]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_auth(yaml: &str) -> (Option<Auth>, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("jwks.json"), r#"{"keys": []}"#).unwrap();
        let file = SourceFile::new(
            dir.path().join("compozy.yaml"),
            "compozy.yaml".into(),
            yaml.to_owned(),
        );
        let node = super::super::yaml::parse(&file).unwrap().unwrap();
        let mut problems = Problems::default();
        let auth = auth(node.get("auth").unwrap(), &file, dir.path(), &mut problems);
        (auth, problems.0.iter().map(Problem::headline).collect())
    }

    #[test]
    fn auth_defaults() {
        let (auth, problems) = read_auth(
            "auth:\n  resource: https://t.example/mcp\n  jwt: { issuer: https://as.example, jwks: ./jwks.json }\n",
        );
        assert_eq!(problems, Vec::<String>::new());
        let auth = auth.unwrap();
        assert_eq!(auth.authorization_servers, ["https://as.example"]);
        let jwt = auth.jwt.unwrap();
        assert_eq!(jwt.audience, ["https://t.example/mcp"]);
        assert_eq!(jwt.algorithms, ["RS256", "ES256"]);
    }

    #[test]
    fn auth_needs_a_resource_and_a_kind_of_token() {
        let (auth, problems) = read_auth("auth:\n  resource: https://t.example/mcp\n");
        assert!(auth.is_none());
        assert!(problems[0].contains("accepts no token"), "{problems:?}");
        let (auth, problems) = read_auth("auth:\n  tokens: { env: T }\n");
        assert!(auth.is_none());
        assert!(problems[0].contains("has no `resource`"), "{problems:?}");
    }
}

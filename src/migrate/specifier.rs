//! Deno's import specifiers (`npm:`, `jsr:`, URLs) and what they become under Bun and Node.

/// An `npm:` specifier, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Npm {
    /// The package name (`prettier`, `@std/path`).
    pub name: String,
    /// The version or range after `@`, if any.
    pub version: Option<String>,
    /// The subpath after the package (`/fp`), or empty.
    pub subpath: String,
}

impl Npm {
    /// The bare specifier Bun and Node resolve through `node_modules`.
    pub fn bare(&self) -> String {
        format!("{}{}", self.name, self.subpath)
    }
}

/// Parses `npm:name@version/sub` (also `npm:@scope/name…` and `npm:/name…`).
pub fn npm(specifier: &str) -> Option<Npm> {
    let rest = specifier.strip_prefix("npm:")?;
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    // The name is one segment, or two for a scoped package.
    let name_len = if rest.starts_with('@') {
        let slash = rest.find('/')?;
        slash
            + 1
            + rest[slash + 1..]
                .find(['@', '/'])
                .unwrap_or(rest.len() - slash - 1)
    } else {
        rest.find(['@', '/']).unwrap_or(rest.len())
    };
    let name = &rest[..name_len];
    if name.is_empty() || name.ends_with('/') {
        return None;
    }
    let after = &rest[name_len..];
    let (version, subpath) = match after.strip_prefix('@') {
        Some(v) => {
            let end = v.find('/').unwrap_or(v.len());
            (Some(v[..end].to_owned()), v[end..].to_owned())
        }
        None => (None, after.to_owned()),
    };
    Some(Npm {
        name: name.to_owned(),
        version: version.filter(|v| !v.is_empty()),
        subpath,
    })
}

/// What a JSR package is called on JSR's npm mirror: `@std/path` → `@jsr/std__path`.
pub fn jsr_npm_name(specifier: &str) -> Option<(String, String)> {
    let rest = specifier.strip_prefix("jsr:")?;
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    let scope_end = rest.find('/')?;
    let scope = rest.get(1..scope_end)?;
    let after = &rest[scope_end + 1..];
    let name_end = after.find(['@', '/']).unwrap_or(after.len());
    let name = &after[..name_end];
    Some((format!("@{scope}/{name}"), format!("@jsr/{scope}__{name}")))
}

/// True for `http://` and `https://` imports.
pub fn is_remote(specifier: &str) -> bool {
    specifier.starts_with("https://") || specifier.starts_with("http://")
}

/// What to do instead of a remote import.
pub fn remote_help(url: &str) -> String {
    // esm.sh, unpkg, jsDelivr and Skypack serve npm packages: name the package.
    let npm_cdn = [
        "https://esm.sh/",
        "https://cdn.skypack.dev/",
        "https://unpkg.com/",
        "https://cdn.jsdelivr.net/npm/",
    ];
    if let Some(rest) = npm_cdn.iter().find_map(|cdn| url.strip_prefix(cdn)) {
        let rest = rest.split(['?', '#']).next().unwrap_or(rest);
        let rest = rest.strip_prefix("v135/").unwrap_or(rest);
        if let Some(package) = npm(&format!("npm:{rest}")) {
            let at = package
                .version
                .as_deref()
                .map(|v| format!("@{v}"))
                .unwrap_or_default();
            return format!(
                "this URL serves the npm package `{}`: import `{}` and add `{}{at}` to package.json \
                 (`npm install {}{at}`)",
                package.name,
                package.bare(),
                package.name,
                package.name
            );
        }
    }
    if url.starts_with("https://deno.land/std") {
        return "the Deno standard library: use the matching `node:` module, or `@std/…` through \
                JSR's npm mirror (`npx jsr add @std/…`), then import it by name"
            .into();
    }
    "install the package from npm and import it by name, or copy the module into the project and \
     import it by relative path"
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(s: &str) -> (String, Option<String>, String) {
        let n = npm(s).unwrap();
        (n.name, n.version, n.subpath)
    }

    #[test]
    fn npm_specifiers_come_apart() {
        let own =
            |a: &str, b: Option<&str>, c: &str| (a.to_owned(), b.map(str::to_owned), c.to_owned());
        assert_eq!(parts("npm:prettier"), own("prettier", None, ""));
        assert_eq!(
            parts("npm:prettier@3.3.3"),
            own("prettier", Some("3.3.3"), "")
        );
        assert_eq!(parts("npm:lodash@^4/fp"), own("lodash", Some("^4"), "/fp"));
        assert_eq!(parts("npm:lodash/fp"), own("lodash", None, "/fp"));
        assert_eq!(
            parts("npm:@scope/pkg@1.2.3/a/b.js"),
            own("@scope/pkg", Some("1.2.3"), "/a/b.js")
        );
        assert_eq!(parts("npm:@scope/pkg"), own("@scope/pkg", None, ""));
        assert_eq!(parts("npm:/chalk@5"), own("chalk", Some("5"), ""));
        assert_eq!(npm("npm:"), None);
        assert_eq!(npm("npm:@scope"), None);
        assert_eq!(npm("jsr:@std/path"), None);
        assert_eq!(npm("npm:@scope/pkg@1/x").unwrap().bare(), "@scope/pkg/x");
    }

    #[test]
    fn jsr_names_on_the_npm_mirror() {
        assert_eq!(
            jsr_npm_name("jsr:@std/path@^1.0.0/posix"),
            Some(("@std/path".into(), "@jsr/std__path".into()))
        );
        assert_eq!(jsr_npm_name("jsr:nope"), None);
    }

    #[test]
    fn npm_cdns_name_the_package() {
        let help = remote_help("https://esm.sh/lodash@4.17.21?target=es2022");
        assert!(help.contains("`lodash@4.17.21`"), "{help}");
        assert!(remote_help("https://deno.land/std@0.200.0/path/mod.ts").contains("node:"));
    }
}

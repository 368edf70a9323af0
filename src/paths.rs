//! Path arithmetic that must give the same answer on every machine.

use std::path::{Component, Path, PathBuf};

/// Shows `path` relative to `base` when it lies inside it, with `/` separators.
pub fn display_path(path: &Path, base: &Path) -> String {
    match path.strip_prefix(base) {
        Ok(rel) if !rel.as_os_str().is_empty() => slash_path(rel),
        _ => path.display().to_string(),
    }
}

/// A relative path with `/` separators on every platform (for generated code and messages).
pub fn slash_path(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Resolves `.` and `..` without touching the disk (symlinks are checked separately).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// The ES import specifier that reaches `target` from a module in `from_dir` (both root-relative,
/// `/`-separated): always starts with `./` or `../`.
pub fn import_specifier(from_dir: &str, target: &str) -> String {
    let from: Vec<&str> = from_dir.split('/').filter(|s| !s.is_empty()).collect();
    let to: Vec<&str> = target.split('/').filter(|s| !s.is_empty()).collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let ups = from.len() - common;
    let mut parts: Vec<&str> = Vec::with_capacity(ups + to.len());
    parts.extend(std::iter::repeat_n("..", ups));
    parts.extend(&to[common..]);
    let joined = parts.join("/");
    if ups == 0 {
        format!("./{joined}")
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_specifiers_are_relative_with_forward_slashes() {
        assert_eq!(
            import_specifier(".compozy", "tools/weather.ts"),
            "../tools/weather.ts"
        );
        assert_eq!(
            import_specifier(".compozy", ".compozy/tools.ts"),
            "./tools.ts"
        );
        assert_eq!(import_specifier("", "a.ts"), "./a.ts");
        assert_eq!(import_specifier(".compozy/x", "src/a.ts"), "../../src/a.ts");
    }

    #[test]
    fn normalize_resolves_dots_lexically() {
        assert_eq!(
            normalize(Path::new("/a/b/../c/./d")),
            PathBuf::from("/a/c/d")
        );
        assert_eq!(normalize(Path::new("a/../../b")), PathBuf::from("../b"));
    }
}

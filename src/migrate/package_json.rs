//! package.json: the npm packages the Deno code imported with `npm:` become dependencies.

use serde_json::{Map, Value};

use super::error::MigrateError;
use super::jsonc;
use crate::diagnostic::{Problem, Problems};
use crate::source::SourceFile;

/// The sections a package can already be listed in.
const SECTIONS: &[&str] = &[
    "dependencies",
    "devDependencies",
    "peerDependencies",
    "optionalDependencies",
];

/// A package.json for `deps` (name, version), in package order. `existing` is kept as it is
/// written (key order and indentation, as npm keeps them); only missing dependencies are added.
/// `None` when nothing needs to change.
pub fn edit(
    existing: Option<&SourceFile>,
    deps: &[(String, String)],
    problems: &mut Problems,
) -> Option<String> {
    if deps.is_empty() {
        return None;
    }
    let (mut root, indent, newline_at_end) = match existing {
        Some(file) => {
            let value = match serde_json::from_str::<Value>(&file.text) {
                Ok(v) => v,
                Err(e) => {
                    problems.push(
                        Problem::new(MigrateError::Json {
                            file: file.name.clone(),
                            message: e.to_string(),
                        })
                        .at_line(
                            file,
                            e.line(),
                            e.column().max(1),
                            "here",
                        ),
                    );
                    return None;
                }
            };
            let Value::Object(map) = value else {
                problems.push(
                    Problem::new(MigrateError::Shape {
                        what: file.name.clone(),
                        expected: "a JSON object",
                        help: "see https://docs.npmjs.com/cli/configuring-npm/package-json".into(),
                    })
                    .at_line(file, 1, 1, "here"),
                );
                return None;
            };
            (map, detect_indent(&file.text), file.text.ends_with('\n'))
        }
        None => {
            let mut map = Map::new();
            map.insert("type".into(), Value::String("module".into()));
            (map, "  ".to_owned(), true)
        }
    };
    let mut added = false;
    for (name, version) in deps {
        let have = SECTIONS.iter().find_map(|s| {
            root.get(*s)
                .and_then(|d| d.get(name))
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        match have {
            Some(have) => {
                if have != *version
                    && version != "latest"
                    && let Some(file) = existing
                {
                    let offset = jsonc::key_offset(&file.text, 0, name).unwrap_or(0);
                    let (line, col) = file.line_col(offset);
                    problems.push(
                        Problem::new(MigrateError::VersionDiffers {
                            package: name.clone(),
                            have,
                            wanted: version.clone(),
                        })
                        .warning()
                        .at_line(file, line, col, "here"),
                    );
                }
            }
            None => {
                let section = root
                    .entry("dependencies")
                    .or_insert_with(|| Value::Object(Map::new()));
                let Value::Object(section) = section else {
                    if let Some(file) = existing {
                        let offset = jsonc::key_offset(&file.text, 0, "dependencies").unwrap_or(0);
                        let (line, col) = file.line_col(offset);
                        problems.push(
                            Problem::new(MigrateError::Shape {
                                what: "`dependencies`".into(),
                                expected: "an object",
                                help: "write it as `\"dependencies\": { \"package\": \"1.2.3\" }`"
                                    .into(),
                            })
                            .at_line(file, line, col, "here"),
                        );
                    }
                    return None;
                };
                section.insert(name.clone(), Value::String(version.clone()));
                added = true;
            }
        }
    }
    if !added {
        return None;
    }
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    serde::Serialize::serialize(&Value::Object(root), &mut serializer).ok()?;
    let mut text = String::from_utf8(out).ok()?;
    if newline_at_end {
        text.push('\n');
    }
    Some(text)
}

/// The indentation of the first indented line (two spaces when there is none).
fn detect_indent(text: &str) -> String {
    text.lines()
        .skip(1)
        .find_map(|l| {
            let indent: String = l.chars().take_while(|c| *c == ' ' || *c == '\t').collect();
            (!indent.is_empty()).then_some(indent)
        })
        .unwrap_or_else(|| "  ".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deps(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_missing_package_json_is_created_as_a_module() {
        let out = edit(
            None,
            &deps(&[("prettier", "3.3.3")]),
            &mut Problems::default(),
        );
        assert_eq!(
            out.as_deref(),
            Some(
                "{\n  \"type\": \"module\",\n  \"dependencies\": {\n    \"prettier\": \"3.3.3\"\n  }\n}\n"
            )
        );
        assert_eq!(edit(None, &[], &mut Problems::default()), None);
    }

    #[test]
    fn an_existing_one_keeps_its_keys_and_indentation() {
        let file = SourceFile::new(
            "package.json".into(),
            "package.json".into(),
            "{\n    \"name\": \"x\",\n    \"devDependencies\": {\"zod\": \"3\"},\n    \"dependencies\": {\"b\": \"1\"}\n}".into(),
        );
        let mut problems = Problems::default();
        let out = edit(
            Some(&file),
            &deps(&[("zod", "3"), ("a", "2")]),
            &mut problems,
        )
        .unwrap();
        assert_eq!(
            out,
            "{\n    \"name\": \"x\",\n    \"devDependencies\": {\n        \"zod\": \"3\"\n    },\n    \"dependencies\": {\n        \"b\": \"1\",\n        \"a\": \"2\"\n    }\n}"
        );
        assert!(problems.0.is_empty());
        // Everything already there: nothing to write; a different version is a warning.
        assert_eq!(
            edit(Some(&file), &deps(&[("zod", "4")]), &mut problems),
            None
        );
        assert_eq!(problems.0.len(), 1);
    }
}

//! `input:` and `output:` JSON Schemas, checked against their meta-schema.

use std::collections::HashSet;

use serde_json::Value;

use super::Tool;
use super::error::ConfigError;
use super::yaml::{Node, line_col};
use crate::diagnostic::{Problem, Problems};
use crate::source::SourceFile;

/// Where a tool's `input` or `output` schema was written, to check it after all tools are read.
pub struct SchemaSite {
    /// Index of the tool in the project's list; `None` when the tool had other problems.
    pub tool: Option<usize>,
    /// The schema as JSON.
    pub schema: Value,
    /// The schema as written, with the position of every key.
    pub node: Node,
    /// `input` or `output`.
    pub field: &'static str,
    /// The YAML file it is written in.
    pub file: SourceFile,
}

/// Checks every schema against its meta-schema in parallel (it is the costly part of loading);
/// drops the tools with invalid ones.
pub fn check(tools: Vec<Tool>, sites: Vec<SchemaSite>, problems: &mut Problems) -> Vec<Tool> {
    let results = crate::parallel::map(&sites, 8, |site| {
        jsonschema::meta::validate(&site.schema)
            .err()
            .map(|e| e.to_string())
    });
    let mut bad = HashSet::new();
    for (site, error) in sites.iter().zip(results) {
        if let Some(reason) = error {
            bad.extend(site.tool);
            let (line, column) = line_col(site.node.at);
            problems.push(
                Problem::new(ConfigError::InvalidSchema {
                    field: site.field,
                    reason,
                })
                .at_line(&site.file, line, column, "this schema"),
            );
        }
    }
    tools
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !bad.contains(i))
        .map(|(_, t)| t)
        .collect()
}

//! The YAML shapes exactly as written, with source locations; `validate` turns them into a
//! [`Project`](super::Project).

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_saphyr::Spanned;

/// `compozy.yaml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProject {
    pub name: Option<Spanned<String>>,
    pub runtime: Option<RawRuntime>,
    pub autoload: Option<Spanned<RawAutoload>>,
    pub tools: Option<Vec<Spanned<RawTool>>>,
}

/// `runtime:` in `compozy.yaml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRuntime {
    #[serde(rename = "type")]
    pub kind: Option<Spanned<String>>,
    pub entrypoint: Option<Spanned<String>>,
    pub permissions: Option<Vec<Spanned<String>>>,
    pub timeout: Option<Spanned<Scalar>>,
    pub env_files: Option<Vec<Spanned<String>>>,
    pub env_passthrough: Option<Vec<Spanned<String>>>,
    pub env: Option<BTreeMap<String, Spanned<Scalar>>>,
}

/// `autoload:` in `compozy.yaml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAutoload {
    pub include: Option<Vec<Spanned<String>>>,
    pub exclude: Option<Vec<Spanned<String>>>,
}

/// One tool, inline or in a standalone file. A standalone file may instead hold `tools: [...]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTool {
    pub id: Option<Spanned<String>>,
    pub description: Option<String>,
    pub execute: Option<Spanned<String>>,
    pub timeout: Option<Spanned<Scalar>>,
    pub input: Option<Spanned<serde_json::Value>>,
    pub output: Option<Spanned<serde_json::Value>>,
    pub with: Option<Spanned<serde_json::Value>>,
    pub config: Option<Spanned<serde_json::Value>>,
    pub env: Option<BTreeMap<String, Spanned<Scalar>>>,
    pub tools: Option<Vec<Spanned<RawTool>>>,
}

/// A YAML scalar where a string is expected but numbers and booleans are tolerated (`PORT: 8080`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    String(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    /// The scalar as the string a process environment would hold.
    pub fn to_env_string(&self) -> String {
        match self {
            Scalar::String(s) => s.clone(),
            Scalar::Integer(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

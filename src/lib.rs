//! compozy: generate, check and run TypeScript tool projects on Bun or Node.
//!
//! The pipeline, one module per stage:
//! [`config`] (YAML → [`config::Project`]) → [`analyze`] (swc: what modules export) →
//! [`codegen`] (templates → `.compozy/`). [`generate`] runs the three in order, as `compozy gen`
//! does. The CLI in [`cli`] is a thin layer over this library.

pub mod analyze;
pub mod call;
pub mod cli;
pub mod codegen;
pub mod compat;
pub mod config;
pub mod diagnostic;
pub mod env;
pub mod exit;
pub mod generate;
pub mod mcp;
pub mod migrate;
mod parallel;
pub mod paths;
pub mod runtime;
pub mod scaffold;
pub mod schema_value;
pub mod source;
pub mod suggest;
pub mod warm;
pub mod watch;

pub use generate::{
    Generation, fresh_digest, prepare, up_to_date, up_to_date_project, up_to_date_project_digest,
};

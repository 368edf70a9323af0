//! Stage 2: what TypeScript/JavaScript modules export, read with swc (never executed).

mod check;
mod error;
mod exports;
mod parse;
mod resolve;

pub use check::{Analysis, ToolBinding, check};
pub use error::{AnalyzeError, is_js_identifier};
pub use parse::in_parser;
pub use resolve::{Analyzer, Failure, ModuleInfo};
// For the fuzz targets (fuzz/), not part of the library's API.
#[doc(hidden)]
pub use exports::{LocalModule, commonjs_exports, local_exports};
#[doc(hidden)]
pub use parse::{BASE, SyntaxError, is_commonjs, parse};

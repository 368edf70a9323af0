//! `compozy migrate`: a Deno-era Compozy project (a `deno.json` import map, `npm:` and `jsr:`
//! specifiers, Deno APIs) made into one compozy runs on Bun and Node, with the tools giving what
//! they gave on Deno.
//!
//! Read ([`import_map`], [`tools`]) → rewrite ([`module`], [`deno_api`], [`specifier`],
//! [`package_json`], [`tools::with_execute`]) → [`plan`]: every file's old and new text, shown as
//! a diff or written atomically. Nothing is written when any error was found.

pub mod deno_api;
mod error;
pub mod import_map;
mod jsonc;
pub mod module;
pub mod package_json;
mod plan;
pub mod specifier;
pub mod tools;

pub use error::MigrateError;
pub use plan::{Migration, plan};

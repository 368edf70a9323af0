//! `compozy mcp`: every tool of a project as a Model Context Protocol server, over stdio or
//! Streamable HTTP, on the same warm pool as `serve` (a front end that translates MCP to pool
//! jobs and back; validation, environments and deadlines stay in [`crate::runtime`]).
//!
//! Both protocol eras are served by the official SDK (rmcp): 2025-11-25 with its `initialize`
//! handshake (older 2025 versions accepted), and the stateless 2026-07-28 (`server/discover`,
//! `_meta` keys on every request).

mod auth;
pub mod content;
mod handler;
mod http;
mod result;
mod stdio;
pub mod tools;

pub use auth::Gate;
pub use handler::{Handler, Shared};
pub use http::{PATH as HTTP_PATH, serve as serve_http};
pub use result::to_result;
pub use stdio::{max_request_bytes, serve as serve_stdio};
// For the fuzz targets (fuzz/), not part of the library's API.
#[doc(hidden)]
pub use stdio::{find_id, pump, too_large};

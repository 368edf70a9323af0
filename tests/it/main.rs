//! Integration tests: the real binary against fixture projects on disk.

#[macro_use]
mod common;
mod cli;
mod dotenv;
mod errors;
mod exec;
mod exports;
mod generate;
mod mcp;
mod runtimes;
mod serve;
mod type_soundness;
mod types;
mod watch;

//! Integration tests: the real binary against fixture projects on disk.

#[macro_use]
mod common;
mod cli;
mod compozy_projects;
mod conformance;
mod discovery;
mod dotenv;
mod entrypoint;
mod errors;
mod example;
mod exec;
mod exports;
mod generate;
mod init;
mod mcp;
mod mcp_auth;
mod messages;
mod migrate;
mod native;
mod npm;
mod orphans;
mod partial;
mod plugins;
mod processes;
mod promises_exec;
mod promises_serve;
mod promises_watch;
mod protocol;
mod runtimes;
mod serve;
mod serving;
mod type_soundness;
mod types;
mod watch;
mod watcher;
mod workers;

//! Integration tests: the real binary against fixture projects on disk.

#[macro_use]
mod common;
mod cli;
mod dotenv;
mod errors;
mod example;
mod exec;
mod exports;
mod generate;
mod init;
mod mcp;
mod messages;
mod protocol;
mod runtimes;
mod serve;
mod watch;

//! Integration tests: the real binary against fixture projects on disk.

mod common;
mod errors;
mod exports;
mod generate;
mod runtimes;

//! The client's tests against a real `steled` child process (`common`):
//! the library, and the `stele` command line. One module per scenario,
//! linked into one test binary (docs/development.md).

mod common;

mod cli;
mod library;
mod middleware;
mod retention_cli;

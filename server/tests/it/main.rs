//! The server's end-to-end tests, one module per scenario, linked into one
//! test binary (docs/development.md). Most start a server in-process on an
//! ephemeral port (`common`); `binary` runs the real `steled` executable.

mod common;

mod api;
mod auth;
mod binary;
mod compact_and_erase;
mod console;
mod github;
mod http;
mod proofs;
mod retention;
mod robustness;
mod scopes;
mod subscribe;
mod tls;

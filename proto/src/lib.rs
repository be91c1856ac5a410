//! `stele-proto`: Stele's gRPC API, generated from `stele/v1/stele.proto`.
//!
//! [`v1`] holds the messages, the `Stele` and `Admin` clients
//! (`v1::stele_client`, `v1::admin_client`) and servers (`v1::stele_server`,
//! `v1::admin_server`). [`FILE_DESCRIPTOR_SET`] describes them for gRPC
//! reflection. The protocol is documented in the `.proto` file and in
//! `docs/api.md`.

/// Version 1 of the API: package `stele.v1`.
pub mod v1 {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    tonic::include_proto!("stele.v1");
}

/// The encoded `FileDescriptorSet` of the API, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/stele_descriptor.bin"));

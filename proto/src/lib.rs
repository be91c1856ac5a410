//! `stele-proto`: Stele's gRPC API, generated from `stele/v1/stele.proto`.
//!
//! [`v1`] holds the messages, the `Stele` and `Admin` clients
//! (`v1::stele_client`, `v1::admin_client`) and servers (`v1::stele_server`,
//! `v1::admin_server`). [`FILE_DESCRIPTOR_SET`] describes them for gRPC
//! reflection. The protocol is documented in the `.proto` file and in
//! `docs/api.md`. [`code_name`] names a gRPC code as both sides print it.

/// Version 1 of the API: package `stele.v1`.
pub mod v1 {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    tonic::include_proto!("stele.v1");
}

/// The encoded `FileDescriptorSet` of the API, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/stele_descriptor.bin"));

/// The canonical name of a gRPC code, as gRPC's docs and tools print it
/// (`INVALID_ARGUMENT`): what the server's HTTP errors and the client's
/// messages say.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

//! Compiles `stele/v1/stele.proto` with `protox` (pure Rust, no system
//! `protoc`) and generates the messages and the client and server stubs with
//! `tonic-prost-build`. The file descriptor set is also written out, for the
//! server's reflection service.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "stele/v1/stele.proto";
    println!("cargo:rerun-if-changed={proto}");
    let fds = protox::compile([proto], ["."])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("stele_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}

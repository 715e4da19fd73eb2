//! Compiles flintlock's protobuf API (`types/`, `services/`) into Rust types,
//! the gRPC client mooring's Flintlock backend uses and the server the
//! emulator implements. protox parses the files in Rust, so the build needs
//! no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "types/microvm.proto",
        "services/microvm/v1alpha1/microvms.proto",
    ];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    let descriptors = protox::compile(files, ["."])?;
    // Both sides in one build: the server half costs no dependency (tonic's
    // `transport` already brings the server), and a crate without features
    // is compiled once for `cargo build` and `cargo test` alike.
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}

//! Compiles flintlock's protobuf API (`proto/`) into the gRPC client the
//! Flintlock backend uses. protox parses the files in Rust, so the build
//! needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/types/microvm.proto",
        "proto/services/microvm/v1alpha1/microvms.proto",
    ];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    let descriptors = protox::compile(files, ["proto"])?;
    tonic_prost_build::configure()
        .build_server(false)
        .compile_fds(descriptors)?;
    Ok(())
}

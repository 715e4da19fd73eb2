//! Compiles mooring's copy of flintlock's protobuf API (`../proto/`) into
//! the gRPC server the Flintlock emulator implements. It is the same proto
//! the production client is built from.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "../proto/types/microvm.proto",
        "../proto/services/microvm/v1alpha1/microvms.proto",
    ];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    let descriptors = protox::compile(files, ["../proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .compile_fds(descriptors)?;
    Ok(())
}

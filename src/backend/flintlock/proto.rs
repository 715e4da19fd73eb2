//! flintlock's microVM API (types and gRPC client), generated once in the
//! `mooring-proto` workspace crate (`proto/`), which the flintlockd emulator
//! is built from too.

pub use mooring_proto::*;

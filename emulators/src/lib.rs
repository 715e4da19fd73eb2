//! Emulators for mooring's tests, sandbox and benchmarks: a Kubernetes API
//! server over HTTP and a flintlockd over gRPC, both on loopback, both keeping
//! state, both speaking the real wire protocol so that mooring's production
//! clients run against them unmodified.

pub mod flintlock;
pub mod kubernetes;

//! Emulators for mooring's tests: a Kubernetes API server over HTTP and a
//! flintlockd over gRPC, both on loopback, both keeping state.

pub mod kubernetes;

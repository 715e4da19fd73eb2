//! The Flintlock backend: microVMs over flintlockd's gRPC API.

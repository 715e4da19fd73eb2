//! What a flintlockd host is configured with: one entry of the
//! `targets.flintlock` list of `mooring.yaml` (which embeds this type), or
//! a `--flintlock NAME=URL` flag.

use std::path::PathBuf;

use serde::Deserialize;

/// One flintlockd.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FlintlockHost {
    /// Name that `mooring.dev/host` annotations refer to.
    pub name: String,
    /// gRPC endpoint, `http://host:9090` or `https://host:9090`.
    pub endpoint: String,
    #[serde(default)]
    pub tls: Option<Tls>,
    /// File holding the shared token flintlockd was started with.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
}

/// TLS for a gRPC endpoint: `ca` verifies the server; `cert` and `key`
/// present a client certificate (mTLS).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tls {
    #[serde(default)]
    pub ca: Option<PathBuf>,
    #[serde(default)]
    pub cert: Option<PathBuf>,
    #[serde(default)]
    pub key: Option<PathBuf>,
}

//! The Kubernetes backend: discovery, server-side apply, dry-run diff.

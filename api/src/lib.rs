//! Docker Engine API types, version constants and stream framing, shared by rdockerd and rdocker.
//! serde only: this crate must not depend on tokio, axum or nix.
#![forbid(unsafe_code)]

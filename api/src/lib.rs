//! Docker Engine API types, version constants and stream framing, shared by rdockerd and rdocker.
//!
//! serde (and chrono, for Docker's time values) only: this crate must not depend on tokio, axum
//! or nix. Type and field names follow the
//! Docker Engine API (see `shared/reference/docker-engine-api-v1.50.yaml`) so that the docker CLI
//! and SDKs read our answers unchanged.
#![forbid(unsafe_code)]

pub mod container;
pub mod image;
pub mod serde_ext;
pub mod stdcopy;
pub mod system;
pub mod timestamp;
pub mod units;

pub use serde_ext::Filters;

/// The API version rdockerd advertises: the newest whose request and response shapes it implements.
pub const API_VERSION: &str = "1.41";
/// The oldest API version rdockerd accepts in a `/v1.NN/` path prefix.
pub const MIN_API_VERSION: &str = "1.24";
/// The engine version reported by `GET /version` and in the `Server` header.
pub const ENGINE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The error body Docker sends with every non-2xx answer: `{"message": "..."}`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ErrorResponse {
    /// Human-readable message; the docker CLI prints it after `Error response from daemon: `.
    pub message: String,
}

/// Compares two `major.minor` API versions (`"1.41" < "1.9"` is false, as numbers).
pub fn version_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    fn parts(v: &str) -> (u32, u32) {
        let mut it = v.splitn(2, '.');
        let major = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let minor = it.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        (major, minor)
    }
    parts(a).cmp(&parts(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(version_cmp("1.41", "1.9"), Ordering::Greater);
        assert_eq!(version_cmp("1.24", "1.24"), Ordering::Equal);
        assert_eq!(version_cmp("1.12", "1.24"), Ordering::Less);
    }
}

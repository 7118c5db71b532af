//! An async client for the Registry HTTP API v2 (the OCI distribution spec): image references
//! in Docker's normal form, `X-Registry-Auth` credentials, manifest resolution (lists and OCI
//! indexes pick a platform), verified blob download, blob and manifest upload, and the
//! token/basic auth dance.
//!
//! This crate owns the wire protocol only. It must not depend on `api`, `image` or any driver:
//! the daemon's image service composes it with the image store (pull = `resolve`, `fetch_blob`
//! into a temp file, then the store and graphdriver take over).
//!
//! Credentials and tokens are never logged; events carry repositories and digests only.
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod auth;
mod client;
mod credentials;
mod digest;
mod error;
mod login;
mod manifest;
mod platform;
mod pull;
mod push;
mod reference;

pub use client::Client;
pub use credentials::Credentials;
pub use digest::sha256_digest;
pub use error::{Error, Result};
pub use manifest::{media_type, Descriptor, Index, Manifest, Resolved};
pub use platform::{select_platform, Platform};
pub use reference::Reference;

//! The image and layer metadata store, in Docker's on-disk layout under `image/<driver>/`:
//! `repositories.json` (names → image ids), `imagedb/content/sha256/<id>` (image configs),
//! `layerdb/sha256/<chain_id>/{diff,size,cache-id,parent}` (read-only layers) and
//! `layerdb/mounts/<container_id>/{mount-id,init-id,parent}` (container layers). It also reads
//! and writes `docker save` archives ([`archive`]) and decompresses layer blobs ([`decompress`]).
//!
//! This crate owns metadata only: layer *contents* belong to the graphdriver, and the daemon's
//! image service composes the two. It must not depend on the `api` crate or on any driver.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod archive;
mod compress;
mod digest;
mod error;
mod fsutil;
mod layers;
mod reference;
mod split;
mod store;

pub use compress::decompress;
pub use digest::{chain_id, sha256_hex, BackgroundSha256, Digest, DigestWriter, HashingReader};
pub use error::{Error, Result};
pub use fsutil::{write_atomic, write_replace, write_synced};
pub use layers::{LayerMeta, MountMeta};
pub use reference::Reference;
pub use split::{KeptTar, SplitWriter};
pub use store::{BlobSource, ImageConfig, ImageStore, LayerHold, RootFs, BLOB_SOURCES_MAX};

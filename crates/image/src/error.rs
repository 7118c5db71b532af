use crate::Digest;
use std::path::PathBuf;

/// Errors of the image store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No image matches the name or id.
    #[error("No such image: {0}")]
    ImageNotFound(String),
    /// No layer with that chain id.
    #[error("layer {0} not found")]
    LayerNotFound(String),
    /// A digest string is not `sha256:` followed by 64 hex characters.
    #[error("invalid digest {0:?}")]
    InvalidDigest(String),
    /// An image reference could not be parsed.
    #[error("invalid reference format: {0}")]
    InvalidReference(String),
    /// The image cannot be deleted: images were committed from it (Docker's wording).
    #[error("conflict: unable to delete {} (cannot be forced) - image has dependent child images", &.0.hex()[..12])]
    HasChildren(Digest),
    /// A short id prefix matches several images.
    #[error("multiple IDs found with provided prefix: {0}")]
    Ambiguous(String),
    /// Image config JSON is malformed.
    #[error("invalid image config")]
    InvalidConfig(#[source] serde_json::Error),
    /// A `docker save`/OCI archive is malformed or hostile; the text says what is wrong.
    #[error("invalid image archive: {0}")]
    InvalidArchive(String),
    /// The archive stream being loaded could not be read (or is not a tar).
    #[error("reading image archive")]
    ArchiveRead(#[source] std::io::Error),
    /// The archive being saved could not be written to its destination.
    #[error("writing image archive")]
    ArchiveWrite(#[source] std::io::Error),
    /// A layer being saved could not be opened or read.
    #[error("reading layer {diff_id}")]
    LayerRead {
        /// The layer.
        diff_id: Digest,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A layer being saved is not what its caller declared (size or digest).
    #[error("layer {diff_id}: {detail}")]
    LayerMismatch {
        /// The layer's declared diff id.
        diff_id: Digest,
        /// What differs.
        detail: String,
    },
    /// A filesystem operation on the store failed.
    #[error("image store i/o on {path}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Result of the image store.
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) trait IoContext<T> {
    fn at(self, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: &std::path::Path) -> Result<T> {
        self.map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}

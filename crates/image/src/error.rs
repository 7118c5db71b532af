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
    /// A short id prefix matches several images.
    #[error("multiple IDs found with provided prefix: {0}")]
    Ambiguous(String),
    /// Image config JSON is malformed.
    #[error("invalid image config")]
    InvalidConfig(#[source] serde_json::Error),
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

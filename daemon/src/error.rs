//! The services' error type: a kind (containerd's errdefs) plus Docker's message text.
//! Only `routes/error.rs` turns a kind into an HTTP status.

use std::fmt;

/// What went wrong, independent of transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The object does not exist (404).
    NotFound,
    /// The request conflicts with the object's state (409).
    Conflict,
    /// Bad input (400).
    InvalidArgument,
    /// Nothing to do, e.g. starting a running container (304).
    NotModified,
    /// The registry refused our credentials (401).
    Unauthorized,
    /// Not built yet (501).
    NotImplemented,
    /// A bug or an environment failure (500).
    Internal,
}

/// An error from a service method.
#[derive(Debug, Clone)]
pub struct ServiceError {
    kind: ErrorKind,
    message: String,
}

impl ServiceError {
    /// An error of `kind` with Docker's message text.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    /// The message as sent to clients.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// 404.
    pub fn not_found(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, m)
    }
    /// 409.
    pub fn conflict(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, m)
    }
    /// 400.
    pub fn invalid(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, m)
    }
    /// 500.
    pub fn internal(m: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, m)
    }
    /// 500 from any error, with its whole cause chain in the message.
    pub fn from_err(context: &str, e: &(dyn std::error::Error + 'static)) -> Self {
        Self::internal(format!("{context}: {}", chain(e)))
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ServiceError {}

/// Result of a service method.
pub type Result<T> = std::result::Result<T, ServiceError>;

impl From<image::Error> for ServiceError {
    fn from(e: image::Error) -> Self {
        use image::Error as E;
        match &e {
            E::ImageNotFound(_) => Self::not_found(e.to_string()),
            E::HasChildren(_) => Self::conflict(e.to_string()),
            E::InvalidReference(_)
            | E::InvalidDigest(_)
            | E::Ambiguous(_)
            | E::InvalidArchive(_) => Self::invalid(e.to_string()),
            E::ArchiveRead(_) => Self::invalid(chain(&e)),
            E::LayerNotFound(_)
            | E::InvalidConfig(_)
            | E::Io { .. }
            | E::ArchiveWrite(_)
            | E::LayerRead { .. }
            | E::LayerMismatch { .. } => Self::from_err("image store", &e),
        }
    }
}

/// An error with its causes, `: `-separated.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
    }
    msg
}

impl From<graphdriver::Error> for ServiceError {
    fn from(e: graphdriver::Error) -> Self {
        Self::from_err("storage driver", &e)
    }
}

/// Runs blocking driver work off the async workers.
pub async fn blocking<T, F>(f: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ServiceError::internal(format!("blocking task failed: {e}")))?
}

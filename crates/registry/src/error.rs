use std::path::PathBuf;

/// Errors of the registry client. Display texts follow Docker's where the daemon shows them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An image reference could not be parsed; `message` is Docker's text for it.
    #[error("{message}")]
    InvalidReference {
        /// The text that was parsed.
        reference: String,
        /// What Docker says about it, e.g. `invalid reference format`.
        message: String,
    },
    /// A digest is not `sha256:<64 hex>` (or sha384/sha512 of the right length).
    #[error("invalid digest {0:?}")]
    InvalidDigest(String),
    /// The `X-Registry-Auth` header is not base64url JSON.
    #[error("invalid X-Registry-Auth header")]
    InvalidAuthHeader(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The registry has no such manifest (404).
    #[error("manifest for {reference} not found: manifest unknown: manifest unknown")]
    ManifestUnknown {
        /// `familiar:tag` or `familiar@digest`.
        reference: String,
    },
    /// A pull was refused after authenticating (401/403).
    #[error("pull access denied for {repository}, repository does not exist or may require 'docker login': {message}")]
    PullDenied {
        /// The familiar repository name.
        repository: String,
        /// The registry's own text, e.g. `denied: requested access to the resource is denied`.
        message: String,
    },
    /// The registry or its token server refused our credentials (or asked for some we lack).
    #[error("unauthorized: {message}")]
    Unauthorized {
        /// The registry host.
        registry: String,
        /// What the server said, or `authentication required`.
        message: String,
    },
    /// A login was refused: the registry's `/v2/` did not answer 200 with the credentials.
    #[error("login attempt to {url} failed with status: {status}")]
    LoginFailed {
        /// The `/v2/` URL tried.
        url: String,
        /// Its status, e.g. `401 Unauthorized`.
        status: String,
    },
    /// A token realm would receive credentials over plain HTTP on a host not marked insecure.
    #[error("refusing to send credentials to insecure token realm {realm}")]
    InsecureRealm {
        /// The realm URL.
        realm: String,
    },
    /// A token server answered without a `token` or `access_token`.
    #[error("token server {realm} returned no token")]
    NoToken {
        /// The realm URL.
        realm: String,
    },
    /// Any other error status from the registry, with its `errors` text when it sent one.
    #[error("{message}")]
    Registry {
        /// The HTTP status.
        status: u16,
        /// The first error code (`BLOB_UNKNOWN`, `DENIED`, …), if any.
        code: Option<String>,
        /// `code: message` as Docker prints it, or the status line.
        message: String,
    },
    /// The request could not be sent or its response not read.
    #[error("request to {url} failed")]
    Http {
        /// The URL (registry URLs carry no secrets).
        url: String,
        /// The cause.
        #[source]
        source: reqwest::Error,
    },
    /// Content did not hash to the digest it was fetched or pushed by; nothing of it is trusted.
    #[error("digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The digest asked for.
        expected: String,
        /// The digest of what arrived.
        actual: String,
    },
    /// A blob had a different size than its descriptor says.
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The blob.
        digest: String,
        /// The descriptor's size.
        expected: u64,
        /// What arrived (or at least this many, when it ran over).
        actual: u64,
    },
    /// A manifest response exceeded the size limit.
    #[error("manifest {reference} is larger than {limit} bytes")]
    ManifestTooLarge {
        /// The tag or digest.
        reference: String,
        /// The limit.
        limit: usize,
    },
    /// A manifest is of a kind this client does not handle (schema1, unknown media types).
    #[error("unsupported manifest media type {media_type:?}")]
    UnsupportedMediaType {
        /// The media type.
        media_type: String,
    },
    /// A manifest or index is not valid JSON of its kind.
    #[error("invalid manifest {reference}")]
    InvalidManifest {
        /// The tag or digest.
        reference: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// No entry of a manifest list or index matches the platform.
    #[error("no matching manifest for {platform} in the manifest list entries")]
    NoMatchingPlatform {
        /// `os/arch[/variant]`.
        platform: String,
    },
    /// The registry accepted an upload but gave no usable `Location`.
    #[error("registry returned no upload location for {digest}")]
    NoUploadLocation {
        /// The blob being pushed.
        digest: String,
    },
    /// A blob to push could not be opened or read.
    #[error("failed to read {path}")]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A downloaded blob could not be written to its destination.
    #[error("failed to write blob {digest}")]
    WriteBlob {
        /// The blob.
        digest: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

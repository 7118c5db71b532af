//! `POST /auth`: `docker login` asks the daemon whether credentials open a registry.

use super::pull::registry_error;
use super::ImageService;
use crate::error::Result;
use api::system::{AuthConfig, AuthResponse};
use registry::Credentials;

impl ImageService {
    /// Checks `config` against its registry (the answer the registry gives to its challenge).
    /// Nothing is kept: the client stores the credentials and sends them with each pull and
    /// push, as with dockerd.
    pub async fn login(&self, config: AuthConfig) -> Result<AuthResponse> {
        let creds = Credentials {
            username: config.username,
            password: config.password,
            identity_token: config.identitytoken,
            registry_token: config.registrytoken,
        };
        let identity = self
            .registry()
            .login(&config.serveraddress, &creds)
            .await
            .map_err(registry_error)?;
        tracing::info!(registry = %config.serveraddress, "login succeeded");
        Ok(AuthResponse {
            status: "Login Succeeded".into(),
            identity_token: identity.unwrap_or_default(),
        })
    }
}

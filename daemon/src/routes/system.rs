//! System routes: ping, version, info.

use super::error::ApiResult;
use crate::daemon::Daemon;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::Json;
use std::sync::Arc;

pub async fn ping() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache, no-store, must-revalidate"),
        ],
        "OK",
    )
}

pub async fn version(State(d): State<Arc<Daemon>>) -> Json<api::system::Version> {
    Json(d.version())
}

pub async fn info(State(d): State<Arc<Daemon>>) -> ApiResult<Json<api::system::Info>> {
    Ok(Json(d.info().await?))
}

pub async fn df(State(d): State<Arc<Daemon>>) -> ApiResult<Json<api::system::DiskUsage>> {
    Ok(Json(d.disk_usage().await?))
}

/// `POST /auth`: `docker login`'s check of credentials against a registry.
pub async fn auth(
    State(d): State<Arc<Daemon>>,
    body: axum::body::Bytes,
) -> ApiResult<Json<api::system::AuthResponse>> {
    let config: api::system::AuthConfig = serde_json::from_slice(&body)
        .map_err(|e| super::error::ApiError::invalid(format!("invalid auth configuration: {e}")))?;
    Ok(Json(d.images.login(config).await?))
}

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

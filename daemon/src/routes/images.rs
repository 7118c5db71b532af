//! Image routes.

use super::error::{ApiError, ApiResult};
use super::query::{filters, flag, text, Q};
use crate::daemon::Daemon;
use crate::error::{ErrorKind, ServiceError};
use crate::image::ImportOptions;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::Arc;

type D = State<Arc<Daemon>>;

pub fn routes() -> Router<Arc<Daemon>> {
    Router::new()
        .route("/images/create", post(create))
        .route("/images/json", get(list))
        .route("/images/prune", post(prune))
        .route(
            "/images/{*name}",
            get(by_name).post(by_name_post).delete(remove),
        )
}

/// `POST /images/create`: import from the body (`fromSrc=-`); pulling is not built yet.
async fn create(State(d): D, Query(q): Query<Q>, body: Body) -> ApiResult<Response> {
    match (text(&q, "fromSrc"), text(&q, "fromImage")) {
        (Some("-"), _) => {
            let opts = ImportOptions {
                repo: text(&q, "repo").unwrap_or("").to_string(),
                tag: text(&q, "tag").unwrap_or("").to_string(),
                message: text(&q, "message").unwrap_or("").to_string(),
                changes: q.get("changes").map(|c| vec![c.clone()]).unwrap_or_default(),
            };
            let id = d.images.import(body.into_data_stream(), opts).await?;
            let line = serde_json::to_string(&api::image::ProgressMessage { status: Some(id.to_string()), ..Default::default() })
                .expect("progress messages always serialise");
            Ok(([(header::CONTENT_TYPE, "application/json")], format!("{line}\r\n")).into_response())
        }
        (Some(src), _) => Err(ApiError(ServiceError::new(
            ErrorKind::NotImplemented,
            format!("importing from {src} is not supported; send the tar in the request body (fromSrc=-)"),
        ))),
        (None, Some(image)) => Err(ApiError(ServiceError::new(
            ErrorKind::NotImplemented,
            format!("pulling {image} is not supported yet: load or import the image instead"),
        ))),
        (None, None) => Err(ApiError::invalid("fromSrc or fromImage is required")),
    }
}

async fn list(State(d): D, Query(q): Query<Q>) -> ApiResult<Response> {
    let _ = flag(&q, "all"); // no intermediate images exist without `build`
    Ok(Json(d.list_images(&filters(&q)?)?).into_response())
}

/// `GET /images/{name}/json|history`; names may contain slashes, so the route takes the rest
/// of the path and dispatches on its last segment.
async fn by_name(State(d): D, Path(path): Path<String>) -> ApiResult<Response> {
    if let Some(name) = path.strip_suffix("/json") {
        return Ok(Json(d.images.inspect(name)?).into_response());
    }
    if let Some(name) = path.strip_suffix("/history") {
        return Ok(Json(d.images.history(name)?).into_response());
    }
    Err(page_not_found(&path))
}

/// `POST /images/{name}/tag`.
async fn by_name_post(
    State(d): D,
    Path(path): Path<String>,
    Query(q): Query<Q>,
) -> ApiResult<Response> {
    if let Some(name) = path.strip_suffix("/tag") {
        d.images.tag(
            name,
            text(&q, "repo").unwrap_or(""),
            text(&q, "tag").unwrap_or(""),
        )?;
        return Ok(StatusCode::CREATED.into_response());
    }
    Err(page_not_found(&path))
}

fn page_not_found(path: &str) -> ApiError {
    ApiError(ServiceError::not_found(format!(
        "page not found: /images/{path}"
    )))
}

async fn prune(State(d): D, Query(q): Query<Q>) -> ApiResult<Response> {
    let f = filters(&q)?;
    let all = f.get("dangling").iter().any(|v| v == "false" || v == "0");
    Ok(Json(d.prune_images(all).await?).into_response())
}

async fn remove(State(d): D, Path(name): Path<String>, Query(q): Query<Q>) -> ApiResult<Response> {
    Ok(Json(d.delete_image(&name, flag(&q, "force")).await?).into_response())
}

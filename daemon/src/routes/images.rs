//! Image routes.

use super::error::{ApiError, ApiResult};
use super::query::{filters, flag, text, Q};
use crate::daemon::Daemon;
use crate::error::{ErrorKind, ServiceError};
use crate::image::{ImportOptions, ListOptions};
use axum::body::Body;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
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
        .route("/images/load", post(load))
        .route("/images/get", get(save_many))
        .route("/commit", post(commit))
        .route(
            "/images/{*name}",
            get(by_name).post(by_name_post).delete(remove),
        )
}

/// `POST /images/create`: import from the body (`fromSrc=-`); pulling is not built yet.
async fn create(
    State(d): D,
    Query(q): Query<Q>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    match (text(&q, "fromSrc"), text(&q, "fromImage")) {
        (Some("-"), _) => {
            let opts = ImportOptions {
                repo: text(&q, "repo").unwrap_or("").to_string(),
                tag: text(&q, "tag").unwrap_or("").to_string(),
                message: text(&q, "message").unwrap_or("").to_string(),
                changes: url_pairs(raw.as_deref().unwrap_or(""))
                    .into_iter()
                    .filter(|(k, _)| k == "changes")
                    .map(|(_, v)| v)
                    .collect(),
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
        (None, Some(image)) => {
            let auth = headers.get("X-Registry-Auth").and_then(|v| v.to_str().ok());
            let rx = d.images.pull(image, text(&q, "tag").unwrap_or(""), auth).await?;
            Ok(progress_body(rx))
        }
        (None, None) => Err(ApiError::invalid("fromSrc or fromImage is required")),
    }
}

async fn list(State(d): D, Query(q): Query<Q>) -> ApiResult<Response> {
    let opts = ListOptions {
        all: flag(&q, "all"),
        filters: filters(&q)?,
        shared_size: flag(&q, "shared-size"),
    };
    Ok(Json(d.images.list(&opts, None)?).into_response())
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
    if let Some(name) = path.strip_suffix("/get") {
        return save(&d, vec![name.to_string()]).await;
    }
    Err(page_not_found(&path))
}

/// `POST /images/{name}/tag` and `POST /images/{name}/push`.
async fn by_name_post(
    State(d): D,
    Path(path): Path<String>,
    Query(q): Query<Q>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if let Some(name) = path.strip_suffix("/push") {
        let auth = headers.get("X-Registry-Auth").and_then(|v| v.to_str().ok());
        let rx = d
            .images
            .push(name, text(&q, "tag").unwrap_or(""), auth)
            .await?;
        return Ok(progress_body(rx));
    }
    if let Some(name) = path.strip_suffix("/tag") {
        d.images
            .tag(
                name,
                text(&q, "repo").unwrap_or(""),
                text(&q, "tag").unwrap_or(""),
            )
            .await?;
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
    Ok(Json(d.prune_images(&filters(&q)?).await?).into_response())
}

async fn remove(State(d): D, Path(name): Path<String>, Query(q): Query<Q>) -> ApiResult<Response> {
    Ok(Json(d.delete_image(&name, flag(&q, "force")).await?).into_response())
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&changes=&pause=`.
async fn commit(State(d): D, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let pairs: Vec<(String, String)> = url_pairs(raw.as_deref().unwrap_or(""));
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let container = get("container");
    if container.is_empty() {
        return Err(ApiError::invalid("container is required"));
    }
    let request = crate::image::CommitRequest {
        repo: get("repo"),
        tag: get("tag"),
        comment: get("comment"),
        author: get("author"),
        changes: pairs
            .iter()
            .filter(|(n, _)| n == "changes")
            .map(|(_, v)| v.clone())
            .collect(),
    };
    // Docker pauses unless told `pause=0` (the CLI's `--pause=false`).
    let pause = !matches!(
        get("pause").as_str(),
        "0" | "false" | "False" | "FALSE" | "no"
    );
    let id = d.commit(&container, request, pause).await?;
    Ok((StatusCode::CREATED, Json(api::container::IdResponse { id })).into_response())
}

/// Every `key=value` of a query, repeated keys kept (`changes` may appear several times).
fn url_pairs(raw: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect()
}

/// `POST /images/load`: a JSON stream of progress lines (`Loading layer` unless `quiet`, then
/// `Loaded image: …`).
async fn load(State(d): D, Query(q): Query<Q>, body: Body) -> ApiResult<Response> {
    if !flag(&q, "quiet") {
        let rx = d.images.load_with_progress(body.into_data_stream()).await?;
        return Ok(progress_body(rx));
    }
    let lines = d.images.load(body.into_data_stream()).await?;
    let mut out = String::new();
    for l in lines {
        out.push_str(&serde_json::to_string(&l).expect("progress messages always serialise"));
        out.push_str("\r\n");
    }
    Ok(([(header::CONTENT_TYPE, "application/json")], out).into_response())
}

/// `GET /images/get?names=a&names=b`.
async fn save_many(State(d): D, RawQuery(raw): RawQuery) -> ApiResult<Response> {
    let names: Vec<String> = url_pairs(raw.as_deref().unwrap_or(""))
        .into_iter()
        .filter(|(k, _)| k == "names")
        .map(|(_, v)| v)
        .collect();
    if names.is_empty() {
        return Err(ApiError::invalid("no image names given"));
    }
    save(&d, names).await
}

async fn save(d: &Arc<Daemon>, names: Vec<String>) -> ApiResult<Response> {
    let rx = d.images.save(names).await?;
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }));
    Ok(([(header::CONTENT_TYPE, "application/x-tar")], body).into_response())
}

/// A chunked stream of JSON progress lines.
fn progress_body(rx: tokio::sync::mpsc::Receiver<api::image::ProgressMessage>) -> Response {
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        let msg = rx.recv().await?;
        let mut line = serde_json::to_vec(&msg).expect("progress messages always serialise");
        line.extend_from_slice(b"\r\n");
        Some((
            Ok::<_, std::convert::Infallible>(axum::body::Bytes::from(line)),
            rx,
        ))
    }));
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

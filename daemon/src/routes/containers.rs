//! Container routes.

use super::error::{ApiError, ApiResult};
use super::hijack;
use super::query::{filters, flag, int, text, Q};
use crate::container::{ListOptions, LogOptions, WaitCondition};
use crate::daemon::Daemon;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use std::sync::Arc;

type D = State<Arc<Daemon>>;

pub fn routes() -> Router<Arc<Daemon>> {
    Router::new()
        .route("/containers/create", post(create))
        .route("/containers/json", get(list))
        .route("/containers/prune", post(prune))
        .route("/containers/{id}/json", get(inspect))
        .route("/containers/{id}/start", post(start))
        .route("/containers/{id}/stop", post(stop))
        .route("/containers/{id}/kill", post(kill))
        .route("/containers/{id}/restart", post(restart))
        .route("/containers/{id}/wait", post(wait))
        .route("/containers/{id}/attach", post(attach))
        .route("/containers/{id}/logs", get(logs))
        .route("/containers/{id}/resize", post(resize))
        .route("/containers/{id}/export", get(export))
        .route("/containers/{id}/changes", get(changes))
        .route("/containers/{id}", delete(remove))
}

async fn create(State(d): D, Query(q): Query<Q>, body: Bytes) -> ApiResult<Response> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid(
            "Config cannot be empty in order to create a container",
        ));
    }
    let req: api::container::CreateRequest = serde_json::from_slice(&body)
        .map_err(|e| ApiError::invalid(format!("invalid JSON: {e}")))?;
    let name = text(&q, "name").map(String::from);
    let created = d.containers.create(name, req).await?;
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn list(State(d): D, Query(q): Query<Q>) -> ApiResult<Response> {
    let limit = int(&q, "limit")?.filter(|n| *n > 0).map(|n| n as usize);
    let opts = ListOptions {
        all: flag(&q, "all"),
        limit,
        size: flag(&q, "size"),
        filters: filters(&q)?,
    };
    Ok(Json(d.containers.list(opts).await?).into_response())
}

async fn inspect(State(d): D, Path(id): Path<String>, Query(q): Query<Q>) -> ApiResult<Response> {
    Ok(Json(d.containers.inspect(&id, flag(&q, "size")).await?).into_response())
}

async fn start(State(d): D, Path(id): Path<String>) -> ApiResult<StatusCode> {
    d.containers.start(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn stop(State(d): D, Path(id): Path<String>, Query(q): Query<Q>) -> ApiResult<StatusCode> {
    d.containers
        .stop(&id, text(&q, "signal"), int(&q, "t")?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn kill(State(d): D, Path(id): Path<String>, Query(q): Query<Q>) -> ApiResult<StatusCode> {
    d.containers.kill(&id, text(&q, "signal")).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn restart(State(d): D, Path(id): Path<String>, Query(q): Query<Q>) -> ApiResult<StatusCode> {
    d.containers
        .restart(&id, text(&q, "signal"), int(&q, "t")?)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn remove(State(d): D, Path(id): Path<String>, Query(q): Query<Q>) -> ApiResult<StatusCode> {
    d.containers
        .remove(&id, flag(&q, "force"), flag(&q, "v"))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn prune(State(d): D, Query(q): Query<Q>) -> ApiResult<Response> {
    Ok(Json(d.containers.prune(&filters(&q)?).await?).into_response())
}

async fn resize(State(d): D, Path(id): Path<String>, Query(q): Query<Q>) -> ApiResult<StatusCode> {
    let dim = |k: &str| -> ApiResult<u16> {
        Ok(int(&q, k)?.and_then(|v| u16::try_from(v).ok()).unwrap_or(0))
    };
    d.containers.resize(&id, dim("h")?, dim("w")?)?;
    Ok(StatusCode::OK)
}

/// Answers with the head at once and the body when the condition is met: the docker CLI sends
/// `start` only after this head has arrived.
async fn wait(State(d): D, Path(id): Path<String>, Query(q): Query<Q>) -> ApiResult<Response> {
    let cond: WaitCondition = q
        .get("condition")
        .map(String::as_str)
        .unwrap_or("")
        .parse()?;
    let done = d.containers.wait(&id, cond)?;
    let body = futures_util::stream::once(async move {
        let mut json = serde_json::to_vec(&done.await).expect("wait responses always serialise");
        json.push(b'\n');
        Ok::<_, std::convert::Infallible>(Bytes::from(json))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response())
}

async fn attach(
    State(d): D,
    Path(id): Path<String>,
    Query(q): Query<Q>,
    req: Request,
) -> ApiResult<Response> {
    let want_stdin = flag(&q, "stdin");
    let streams = d.containers.attach(&id, want_stdin)?;
    let select = hijack::Select {
        stdout: flag(&q, "stdout"),
        stderr: flag(&q, "stderr"),
    };
    Ok(hijack::attach(req, streams, select))
}

async fn logs(State(d): D, Path(id): Path<String>, Query(q): Query<Q>) -> ApiResult<Response> {
    let secs = |k: &str| q.get(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let opts = LogOptions {
        stdout: flag(&q, "stdout"),
        stderr: flag(&q, "stderr"),
        follow: flag(&q, "follow"),
        timestamps: flag(&q, "timestamps"),
        tail: q.get("tail").and_then(|t| t.parse().ok()),
        since: secs("since"),
        until: secs("until"),
    };
    if !opts.stdout && !opts.stderr {
        return Err(ApiError::invalid(
            "Bad parameters: you must choose at least one stream",
        ));
    }
    let stream = d.containers.logs(&id, opts)?;
    Ok(hijack::log_body(stream))
}

async fn export(State(d): D, Path(id): Path<String>) -> ApiResult<Response> {
    let rx = d.containers.export(&id)?;
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }));
    Ok(([(header::CONTENT_TYPE, "application/x-tar")], body).into_response())
}

async fn changes(State(d): D, Path(id): Path<String>) -> ApiResult<Response> {
    Ok(Json(d.containers.changes(&id).await?).into_response())
}

//! The HTTP API: one route file per API tag, a `/v1.NN` prefix stripped before routing, and
//! Docker's headers on every answer. Handlers extract, call one service method, and map the result.

mod containers;
pub mod error;
mod hijack;
mod images;
mod query;
mod system;

use crate::daemon::Daemon;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

/// The API version a request asked for with its `/v1.NN/` prefix.
#[derive(Debug, Clone)]
pub struct RequestedVersion(pub String);

/// The routes, wrapped in the version-prefix rewrite (which must run before routing).
pub fn app(
    d: Arc<Daemon>,
) -> impl tower::Service<
    Request,
    Response = Response,
    Error = std::convert::Infallible,
    Future = impl Send,
> + Clone
       + Send
       + 'static {
    let router = Router::new()
        .route("/_ping", get(system::ping).head(system::ping))
        .route("/version", get(system::version))
        .route("/info", get(system::info))
        .route("/system/df", get(system::df))
        .route("/auth", post(system::auth))
        .merge(containers::routes())
        .merge(images::routes())
        .fallback(not_found)
        .layer(middleware::from_fn(check_version))
        .layer(middleware::map_response(add_headers))
        .with_state(d);
    tower::ServiceBuilder::new()
        .map_request(strip_version)
        .service(router)
}

fn strip_version(mut req: Request) -> Request {
    let path = req.uri().path();
    let Some(rest) = path.strip_prefix("/v") else {
        return req;
    };
    let (ver, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let valid = ver.split_once('.').is_some_and(|(a, b)| {
        !a.is_empty() && !b.is_empty() && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit())
    });
    if !valid {
        return req;
    }
    let ver = ver.to_string();
    let mut new = format!("/{tail}");
    if let Some(q) = req.uri().query() {
        new.push('?');
        new.push_str(q);
    }
    if let Ok(uri) = new.parse::<Uri>() {
        *req.uri_mut() = uri;
        req.extensions_mut().insert(RequestedVersion(ver));
    }
    req
}

async fn check_version(req: Request, next: Next) -> Response {
    if let Some(RequestedVersion(v)) = req.extensions().get::<RequestedVersion>() {
        use std::cmp::Ordering::*;
        if api::version_cmp(v, api::API_VERSION) == Greater {
            let msg = format!(
                "client version {v} is too new. Maximum supported API version is {}",
                api::API_VERSION
            );
            return error::ApiError::invalid(msg).into_response();
        }
        if api::version_cmp(v, api::MIN_API_VERSION) == Less {
            let msg = format!(
                "client version {v} is too old. Minimum supported API version is {}, please upgrade your client to a newer version",
                api::MIN_API_VERSION
            );
            return error::ApiError::invalid(msg).into_response();
        }
    }
    next.run(req).await
}

async fn add_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert("Api-Version", HeaderValue::from_static(api::API_VERSION));
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    h.insert(
        "Server",
        HeaderValue::from_static(concat!("rdocker/", env!("CARGO_PKG_VERSION"), " (linux)")),
    );
    res
}

async fn not_found(req: Request<Body>) -> error::ApiError {
    error::ApiError(crate::error::ServiceError::not_found(format!(
        "page not found: {}",
        req.uri().path()
    )))
}

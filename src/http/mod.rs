//! Routes and extractors. `app(state)` assembles every resource's router and the middleware around it.

pub mod admin;
pub mod admin_attempts;
pub mod admin_jobs;
pub mod api_keys;
pub mod auth_cache;
pub mod channel_callbacks;
pub mod channels;
pub mod collect;
pub mod collections;
pub mod contacts;
pub mod events;
pub mod extract;
pub mod followups;
pub mod health;
pub mod idempotent;
pub mod listing;
pub mod openapi;
pub mod pay;
pub mod providers;
pub mod rate_limit;
pub mod sandbox;
pub mod scheduled;
pub mod webhook_endpoints;
pub mod webhooks;
pub mod wire;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, MatchedPath};
use axum::http::{header, HeaderName, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{middleware, Router};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::error::ApiError;
use crate::AppState;

/// Largest request body accepted; larger ones get 413 in the error shape.
pub const BODY_LIMIT: usize = 1024 * 1024;

pub fn app(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let timeout = state.config.request_timeout;
    Router::new()
        .merge(collections::router())
        .merge(collect::router())
        .merge(scheduled::consent::router())
        .merge(webhooks::router())
        .merge(events::router())
        .merge(webhook_endpoints::router())
        .merge(providers::router())
        .merge(followups::router())
        .merge(contacts::router())
        .merge(channels::router())
        .merge(channel_callbacks::router())
        .merge(sandbox::router())
        .merge(pay::router())
        .merge(admin::router())
        .merge(admin_attempts::router())
        .merge(admin_jobs::router())
        .merge(api_keys::router())
        .merge(health::router())
        .merge(openapi::router())
        .fallback(|| async { ApiError::NotFound("no such route".to_owned()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        // Innermost first: each `layer` call wraps everything added before it.
        .layer(
            ServiceBuilder::new()
                .layer(CatchPanicLayer::custom(|_| ApiError::internal("handler panicked").into_response()))
                .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
                .layer(DefaultBodyLimit::max(BODY_LIMIT)),
        )
        .layer(middleware::map_response(error_shape))
        .layer(middleware::map_response(security_headers))
        .layer(middleware::from_fn(record_metrics))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|req: &Request<Body>| {
                            let path = req.extensions().get::<MatchedPath>().map(MatchedPath::as_str);
                            let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok());
                            tracing::info_span!("request", method = %req.method(), path = path.unwrap_or("-"),
                                request_id = id.unwrap_or("-"), merchant = tracing::field::Empty)
                        })
                        .on_response(DefaultOnResponse::new().level(Level::INFO)),
                )
                .layer(PropagateRequestIdLayer::new(request_id)),
        )
        .with_state(state.clone())
        // Emulators answer in their provider's shapes, so they sit outside Cowry's error-shape layer.
        .merge(emulators(&state))
}

fn emulators(state: &AppState) -> Router {
    if !state.config.emulators {
        return Router::new();
    }
    crate::emulator::router(crate::emulator::EmulatorConfig {
        // Emulated callbacks come back to this process (known once bound), like a provider calling
        // the public URL.
        webhook_base: format!(
            "{}/webhooks",
            state
                .config
                .emulator_callback_url
                .as_deref()
                .or(state.providers.self_base())
                .unwrap_or(&state.config.public_url)
        ),
        settle_delay: state.config.emulator_settle,
        public_base: state.config.public_url.clone(),
        autosettle: state.config.emulator_autosettle,
    })
}

/// Counts every answered request and its latency by method, matched route (never the raw path, so ids
/// do not explode the label set) and status.
async fn record_metrics(request: Request<Body>, next: middleware::Next) -> Response {
    let started = std::time::Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    let metrics = &crate::metrics::METRICS;
    metrics
        .http_duration
        .with_label_values(&[method, &route])
        .observe(started.elapsed().as_secs_f64());
    metrics
        .http_requests
        .with_label_values(&[method, &route, response.status().as_str()])
        .inc();
    response
}

/// Every API answer: never sniffed as another type, never cached (they carry payment data).
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(header::HeaderValue::from_static("no-store"));
    response
}

/// The `method` label: the methods the API serves, every other one as `other` (a client inventing
/// methods must not grow the label set).
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Responses made outside Cowry's handlers (timeouts, framework rejections) get the one error shape too.
async fn error_shape(response: Response) -> Response {
    let status = response.status();
    // JSON errors are already in shape; a customer's page answers its errors as a page.
    let shaped_already = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("text/html"));
    if !(status.is_client_error() || status.is_server_error()) || shaped_already {
        return response;
    }
    let error = match status {
        StatusCode::NOT_FOUND => ApiError::NotFound("no such route".to_owned()),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
        StatusCode::REQUEST_TIMEOUT => ApiError::Timeout,
        s if s.is_client_error() => ApiError::BadRequest {
            code: "bad_request",
            message: "the request could not be processed".to_owned(),
        },
        _ => ApiError::Internal("unexpected error response".into()),
    };
    let mut shaped = error.into_response();
    *shaped.status_mut() = status;
    for name in ["x-request-id", "allow"] {
        if let Some(v) = response.headers().get(name) {
            shaped.headers_mut().insert(name, v.clone());
        }
    }
    shaped
}

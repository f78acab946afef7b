//! The request log, on tracing-actix-web's `TracingLogger`: every request gets a root span,
//! `request{id=…}`, which every line logged while it is served carries, and one line when it
//! ends: method, path, route, status, time taken and the client's address. The request is
//! counted in the metrics there too.
//!
//! [`RequestLog`] is the crate's `RootSpanBuilder`, written here because the crate's default
//! span records the whole target, query string included, and the callback's query holds
//! Segment's single-use code: this one records the path only. The id is the `X-Request-Id` a
//! proxy in `TRUSTED_PROXIES` sent, if it is a sensible one (nginx: `$request_id`), else the
//! crate's own ([`RequestId`], a UUID); [`echo_id`] sends it back with the answer.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};

use super::proxy;
use super::routes::route_label;
use super::state::Site;
use crate::metrics::Metrics;

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What the log line at the end needs from the start.
#[derive(Clone)]
struct Started {
    id: String,
    at: Instant,
}

/// The root span of every request, and its line at the end.
pub struct RequestLog;

impl RootSpanBuilder for RequestLog {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let id = proxied_id(request).unwrap_or_else(|| {
            request
                .extensions()
                .get::<RequestId>()
                .map(ToString::to_string)
                .unwrap_or_default()
        });
        let span = tracing::info_span!("request", id = %id);
        request.extensions_mut().insert(Started {
            id,
            at: Instant::now(),
        });
        span
    }

    fn on_request_end<B: MessageBody>(_span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        // An error here is one no middleware turned into a response (the error pages do, for
        // the app's own): actix-web answers it, and the crate logs it.
        let Ok(response) = outcome else { return };
        let request = response.request();
        let Some(started) = request.extensions().get::<Started>().cloned() else {
            return;
        };
        let seconds = started.at.elapsed().as_secs_f64();
        let status = response.status().as_u16();
        let route = route_label(request);
        if let Some(metrics) = request.app_data::<web::Data<Metrics>>() {
            metrics.request(route, request.method(), status, seconds);
        }
        let client = request.app_data::<web::Data<Site>>().and_then(|site| {
            proxy::client_address(
                request.headers(),
                request.peer_addr().map(|a| a.ip()),
                &site.trusted_proxies,
            )
        });
        tracing::info!(
            method = %request.method(),
            path = %request.path(),
            route = route.unwrap_or("unmatched"),
            status,
            // Two decimals are plenty: `ms=0.27`, not `ms=0.26731699999999997`.
            ms = (seconds * 100_000.0).round() / 100.0,
            client = %client.map(|ip| ip.to_string()).unwrap_or_default(),
            "request"
        );
    }
}

/// The `X-Request-Id` a trusted proxy sent, if it is 1 to 64 letters, digits, `-` or `_`
/// (nothing that could forge a log line). From anyone else it is not believed.
fn proxied_id(request: &ServiceRequest) -> Option<String> {
    let site = request.app_data::<web::Data<Site>>()?;
    if !site
        .trusted_proxies
        .trusts(request.peer_addr().map(|a| a.ip()))
    {
        return None;
    }
    request
        .headers()
        .get(X_REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            (1..=64).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned)
}

/// Middleware, just inside `TracingLogger`: the answer carries the request's id back.
pub async fn echo_id(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = request.extensions().get::<Started>().map(|s| s.id.clone());
    let mut response = next.call(request).await?;
    if let Some(value) = id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        response.headers_mut().insert(X_REQUEST_ID, value);
    }
    Ok(response)
}

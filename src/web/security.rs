//! What every page gets for free: security headers, size limits, and a CSRF check on every
//! request that can change something.
//!
//! - Headers: a Content-Security-Policy that allows only this origin (no inline script or
//!   style), no framing, `Referrer-Policy: no-referrer` (the callback URL holds the code), and
//!   `nosniff`.
//! - Limits: a query string over [`MAX_QUERY_BYTES`] gets a 414; form bodies are capped at
//!   [`MAX_FORM_BYTES`] (413).
//! - CSRF: every POST (and any other non-GET) must carry the session's `csrf_token` form field.
//!   Without it, or with another one, the request is refused with 403 and changes nothing. The
//!   check runs before any handler, so a new POST route cannot forget it. One exception, so that
//!   viewing the account page stores nothing: `POST /account` from a visitor with no session
//!   (there is no token to check, and nothing to take over) is taken if the browser does not
//!   say it came from another site (`from_this_site`).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::{Method, header};
use actix_web::middleware::{DefaultHeaders, Next};
use actix_web::{HttpMessage, web};
use subtle::ConstantTimeEq;

use super::error::WebError;
use super::session::TypedSession;

/// The name of the hidden form field that carries the CSRF token.
pub const CSRF_FIELD: &str = "csrf_token";
/// The longest query string the app reads. Segment's callback needs a few hundred bytes.
pub const MAX_QUERY_BYTES: usize = 4 * 1024;
/// The largest form the app reads (the Configure form of a big destination is a few KB).
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// How long a browser that saw the app over https keeps to https for it (a year).
pub const HSTS: &str = "max-age=31536000";

/// The headers on every response; `Strict-Transport-Security` too when the app is served over
/// https (`REDIRECT_URL`), so that a browser never comes back over plain http.
pub fn headers(https: bool) -> DefaultHeaders {
    let headers = if https {
        DefaultHeaders::new().add(("Strict-Transport-Security", HSTS))
    } else {
        DefaultHeaders::new()
    };
    headers
        .add((
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
        ))
        .add(("X-Frame-Options", "DENY"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("X-Content-Type-Options", "nosniff"))
        // Pages show session data; static files set their own caching.
        .add(("Cache-Control", "no-store"))
}

/// Middleware for the app's own routes: query-string limit, then the CSRF check for anything
/// but GET and HEAD. The body it reads is handed on to the handler unchanged.
pub async fn guard(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if request.query_string().len() > MAX_QUERY_BYTES {
        return Ok(request
            .error_response(WebError::TooLarge("query string"))
            .map_into_boxed_body());
    }
    if matches!(*request.method(), Method::GET | Method::HEAD) {
        return Ok(next.call(request).await?.map_into_boxed_body());
    }
    let body = match request.extract::<web::Bytes>().await {
        Ok(body) => body,
        Err(error) if is_too_slow(&error) => {
            return Ok(request
                .error_response(WebError::TooSlow)
                .map_into_boxed_body());
        }
        Err(_) => {
            return Ok(request
                .error_response(WebError::TooLarge("form"))
                .map_into_boxed_body());
        }
    };
    let session = request.extract::<TypedSession>().await?;
    let sent = url::form_urlencoded::parse(&body)
        .find(|(name, _)| name == CSRF_FIELD)
        .map(|(_, value)| value.into_owned());
    let expected = session.existing_csrf_token();
    let valid = match (&sent, &expected) {
        (Some(sent), Some(expected)) => {
            bool::from(sent.as_bytes().ct_eq(expected.expose().as_bytes()))
        }
        // Asking for an account, with no session yet (see the module's doc).
        (_, None) => {
            *request.method() == Method::POST
                && request.match_info().as_str() == "/account"
                && session.is_empty()
                && from_this_site(&request)
        }
        _ => false,
    };
    if !valid {
        return Ok(request.error_response(WebError::Csrf).map_into_boxed_body());
    }
    request.set_payload(body.into());
    Ok(next.call(request).await?.map_into_boxed_body())
}

/// Whether the browser says the request comes from this site, or says nothing (a script): its
/// `Sec-Fetch-Site` is `same-origin` or `none`, and its `Origin` names the host it asked.
fn from_this_site(request: &ServiceRequest) -> bool {
    let headers = request.headers();
    let fetch_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| matches!(v, "same-origin" | "none"));
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|origin| {
            let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
            Some(origin_host) == host
        });
    fetch_site && origin
}

/// Middleware: a request's body must arrive whole within `limit` of the request's start, or
/// reading it fails (timed out), and the request is answered with 408 and its connection
/// closed. Headers are bounded by the server already (5 s); without this, a body sent a byte a
/// second under a large `Content-Length` would hold its connection for as long as the sender
/// liked. Requests without a body are passed on untouched.
pub async fn body_deadline(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    limit: std::time::Duration,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    use futures_util::StreamExt;
    let has_body = request.headers().contains_key(header::TRANSFER_ENCODING)
        || request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim() != "0");
    if has_body {
        let deadline = tokio::time::Instant::now() + limit;
        let payload = request.take_payload();
        let bounded = futures_util::stream::unfold(Some(payload), move |payload| async move {
            let mut payload = payload?;
            match tokio::time::timeout_at(deadline, payload.next()).await {
                Ok(Some(chunk)) => Some((chunk, Some(payload))),
                Ok(None) => None,
                Err(_) => Some((
                    Err(PayloadError::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the request body took too long to arrive",
                    ))),
                    None,
                )),
            }
        });
        let bounded: std::pin::Pin<
            Box<dyn futures_util::Stream<Item = Result<web::Bytes, PayloadError>>>,
        > = Box::pin(bounded);
        request.set_payload(bounded.into());
    }
    next.call(request).await
}

/// Whether `error` is a body that did not arrive in time ([`body_deadline`]).
pub fn is_too_slow(error: &actix_web::Error) -> bool {
    error.as_error::<PayloadError>().is_some_and(
        |e| matches!(e, PayloadError::Io(io) if io.kind() == std::io::ErrorKind::TimedOut),
    )
}

/// The body limit for the app's form extractors.
pub fn payload_config() -> web::PayloadConfig {
    web::PayloadConfig::new(MAX_FORM_BYTES)
}

//! The sandbox's own defences, since its pages act for a signed-in workspace owner:
//! - its forms (consent, Uninstall, Expire tokens, the history buttons) carry a token that must
//!   match the `sandbox_csrf` cookie (double submit: the sandbox keeps no sessions);
//! - its JSON control endpoints (faults, workspaces, machine keys) refuse requests a browser
//!   marks as cross-site (`Sec-Fetch-Site`, `Origin`); scripts and `curl` send neither; their
//!   bodies are small ([`control_json`]) and what they keep is capped;
//! - its pages and control endpoints answer only the host names it serves ([`host_allowed`]):
//!   loopback names, its App's redirect URLs' hosts, and those added with `--allow-host`. A
//!   page on another name that resolves to this machine (DNS rebinding) gets nothing.
//!
//! Segment's own endpoints (the token endpoint, the Config API) are called by servers, with
//! credentials, and are not touched here.

use super::Sandbox;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;

/// The cookie, and the form field, of the token.
pub const CSRF: &str = "sandbox_csrf";

/// The POST endpoints that are forms on the sandbox's pages (paths inside the sandbox).
fn is_form(path: &str) -> bool {
    path == "/oauth2/auth"
        || path == "/destinations/age"
        || (path.starts_with("/installs/")
            && (path.ends_with("/uninstall") || path.ends_with("/expire-tokens")))
}

/// The JSON endpoints that control the sandbox (paths inside the sandbox).
fn is_control(path: &str) -> bool {
    matches!(path, "/faults" | "/workspaces" | "/machine-keys" | "/reset")
}

/// The largest body a control endpoint takes: a fault, a workspace or a public key is far less.
pub const MAX_CONTROL_BODY: usize = 16 * 1024;

/// The JSON extractor's settings for the control endpoints: [`MAX_CONTROL_BODY`] at most (413
/// beyond), and a clear 400 for a body that does not read.
pub fn control_json() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(MAX_CONTROL_BODY)
        .error_handler(|error, _| {
            let (status, message) = match &error {
                actix_web::error::JsonPayloadError::Overflow { .. }
                | actix_web::error::JsonPayloadError::OverflowKnownLength { .. } => (
                    actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the body is larger than {MAX_CONTROL_BODY} bytes"),
                ),
                other => (
                    actix_web::http::StatusCode::BAD_REQUEST,
                    format!("the body cannot be read: {other}"),
                ),
            };
            let answer = HttpResponse::build(status)
                .json(serde_json::json!({ "error": message, "code": 3 }));
            actix_web::error::InternalError::from_response(error, answer).into()
        })
}

/// Whether `host` (a `Host` header: a name or address, and perhaps a port) is one this sandbox
/// answers: a loopback name or address, or one of `allowed`.
pub fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let name = match host.strip_prefix('[') {
        // [::1]:8890
        Some(rest) => rest.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                name
            } else {
                host
            }
        }),
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
        || allowed.iter().any(|a| a.eq_ignore_ascii_case(&name))
}

/// Whether the request carries a form token cookie (a browser that has seen a sandbox page).
pub fn has_token(request: &HttpRequest) -> bool {
    request.cookie(CSRF).is_some()
}

/// The token this browser's forms carry: the one its cookie holds, or a new one.
pub fn token(request: &HttpRequest) -> String {
    request
        .cookie(CSRF)
        .map(|c| c.value().to_owned())
        .filter(|v| {
            v.len() == 43
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .unwrap_or_else(|| {
            let mut bytes = [0u8; 32];
            rand::fill(&mut bytes);
            URL_SAFE_NO_PAD.encode(bytes)
        })
}

/// `response` with the token's cookie (for the sandbox's base path; `Secure` over https).
pub fn with_token(mut response: HttpResponse, token: &str, sandbox: &Sandbox) -> HttpResponse {
    let path = sandbox.base_path.as_str();
    let cookie = Cookie::build(CSRF, token.to_owned())
        .path(if path.is_empty() { "/" } else { path })
        .http_only(true)
        .secure(sandbox.https)
        .same_site(SameSite::Strict)
        .finish();
    let _ = response.add_cookie(&cookie);
    response
}

fn refused(message: &str) -> HttpResponse {
    HttpResponse::Forbidden().json(serde_json::json!({ "error": message, "code": 7 }))
}

/// Whether a browser said the request comes from another site.
fn cross_site(request: &ServiceRequest) -> bool {
    let headers = request.headers();
    let fetch_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !matches!(v, "same-origin" | "none"));
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let foreign_origin = headers
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|origin| {
            let origin_host = origin.split_once("://").map_or(origin, |(_, rest)| rest);
            Some(origin_host) != host
        });
    fetch_site || foreign_origin
}

/// Middleware for the sandbox's routes: the checks above, by path (`base` is the sandbox's
/// base path).
pub async fn guard(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
    base: String,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    // The path as routing sees it (percent-encoded letters decoded: `/oauth2/%61uth` is
    // `/oauth2/auth`), never the raw one, or an encoded spelling would skip the checks.
    let routed = request.match_info().as_str();
    let path = routed
        .strip_prefix(base.as_str())
        .unwrap_or(routed)
        .to_owned();
    // Segment's server-to-server endpoints are called by name from anywhere the app runs; the
    // pages, forms and control endpoints only on the names the sandbox serves.
    let for_browsers = crate::faults::Endpoint::of(&path).is_none() && path != "/token";
    if for_browsers {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let allowed = request
            .app_data::<web::Data<Sandbox>>()
            .is_some_and(|sandbox| host_allowed(host, &sandbox.world().allowed_hosts));
        if !allowed {
            return Ok(request.into_response(
                HttpResponse::Forbidden().content_type("text/plain; charset=utf-8").body(
                    "This sandbox does not answer on this host name. Open it on the name it was \
                     started for (a loopback name, or its App's redirect URL's host), or add \
                     this name with --allow-host.",
                ),
            ));
        }
    }
    let writes = !matches!(*request.method(), Method::GET | Method::HEAD);
    if writes && is_control(&path) && cross_site(&request) {
        return Ok(request.into_response(refused(
            "the sandbox's control endpoints refuse cross-site requests",
        )));
    }
    if *request.method() == Method::POST && is_form(&path) {
        let body = request.extract::<web::Bytes>().await?;
        let sent = url::form_urlencoded::parse(&body)
            .find(|(name, _)| name == CSRF)
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default();
        let expected = request.cookie(CSRF).map(|c| c.value().to_owned());
        let valid = expected
            .is_some_and(|expected| bool::from(sent.as_bytes().ct_eq(expected.as_bytes())))
            && !sent.is_empty();
        if !valid {
            return Ok(request.into_response(refused(
                "this sandbox form has expired or came from another page: reload the page and try again",
            )));
        }
        request.set_payload(body.into());
    }
    next.call(request).await.map(|r| r.map_into_boxed_body())
}

#[cfg(test)]
mod host_tests {
    use super::host_allowed;

    #[test]
    fn only_loopback_and_named_hosts_are_answered() {
        let allowed = ["demo.example.com".to_owned()];
        for host in [
            "localhost",
            "localhost:8890",
            "127.0.0.1:8890",
            "127.9.9.9",
            "[::1]:8890",
            "app.localhost:3000",
            "Demo.Example.com:443",
            "demo.example.com.",
        ] {
            assert!(host_allowed(host, &allowed), "{host}");
        }
        for host in [
            "attacker.example",
            "attacker.example:8890",
            "localhost.attacker.example",
            "127.0.0.1.nip.io",
            "10.0.0.5:8890",
            "",
        ] {
            assert!(!host_allowed(host, &allowed), "{host}");
        }
    }
}

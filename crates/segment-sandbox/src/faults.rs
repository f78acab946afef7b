//! Fault injection: the next N calls to one of Segment's endpoints fail in a chosen way, to
//! test (and show) what the app does when Segment misbehaves.
//!
//! `POST {sandbox}/faults` with a JSON [`Fault`], e.g.
//! `{"endpoint": "destinations", "method": "GET", "kind": {"status": 503}, "count": 3}`;
//! `GET {sandbox}/faults` lists the pending ones; `DELETE {sandbox}/faults` clears them.
//! Kinds: `{"status": N}` (Segment's error body with that status; a 429 says `Retry-After: 1`), `{"delay_ms": N}` (answer
//! normally, N ms late), `"malformed"` (a 200 whose body is not JSON), `"drop"` (the
//! connection is cut mid-answer).

use std::time::Duration;

use actix_web::http::{Method, StatusCode, header};
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::Sandbox;

/// The `Retry-After` (seconds) of a 429 fault.
pub const RETRY_AFTER_SECS: u64 = 1;

/// The endpoints a fault can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Endpoint {
    /// `POST /oauth2/token`
    Token,
    /// `GET /v1beta/installs/{id}/token`
    Refresh,
    /// `GET /v1beta/catalog/destinations/{slug}`
    Catalog,
    /// `GET /v1beta/workspaces/{ws}`
    Workspace,
    /// `GET /v1beta/workspaces/{ws}/sources`
    Sources,
    /// `/v1beta/workspaces/{ws}/sources/{src}/destinations[/{slug}]`, any method
    Destinations,
    /// The delivery metrics: `…/destinations/{slug}/metrics…` and
    /// `/v1beta/workspaces/{ws}/event-delivery-metrics:batchGetSummary`
    Metrics,
}

impl Endpoint {
    /// The endpoint a request (path inside the sandbox) is for; `None` for the sandbox's own
    /// pages, which are never faulted.
    pub(crate) fn of(path: &str) -> Option<Endpoint> {
        if path == "/oauth2/token" {
            return Some(Endpoint::Token);
        }
        let api = path.strip_prefix("/v1beta/")?;
        let parts: Vec<&str> = api.split('/').collect();
        match parts.as_slice() {
            ["installs", _, "token"] => Some(Endpoint::Refresh),
            ["catalog", ..] => Some(Endpoint::Catalog),
            ["workspaces", _] => Some(Endpoint::Workspace),
            ["workspaces", _, "sources"] => Some(Endpoint::Sources),
            ["workspaces", _, "event-delivery-metrics:batchGetSummary"] => Some(Endpoint::Metrics),
            [
                "workspaces",
                _,
                "sources",
                _,
                "destinations",
                _,
                metrics,
                ..,
            ] if metrics.starts_with("metrics") => Some(Endpoint::Metrics),
            ["workspaces", _, "sources", _, "destinations", ..] => Some(Endpoint::Destinations),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
/// How an armed call fails.
pub enum FaultKind {
    /// Answer with this HTTP status (and Segment's error body).
    Status(u16),
    /// Answer this many milliseconds late.
    DelayMs(u64),
    /// Answer 200 with a body nobody can read.
    Malformed,
    /// Drop the connection mid-answer.
    Drop,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
/// A failure armed for the next calls of one endpoint (`POST /faults`).
pub struct Fault {
    /// The endpoint that fails.
    pub endpoint: Endpoint,
    /// Only requests with this method (`GET`, `POST`, …); any method when absent.
    #[serde(default)]
    pub method: Option<String>,
    /// How it fails.
    pub kind: FaultKind,
    /// How many matching calls fail.
    #[serde(default = "one")]
    pub count: u32,
}

fn one() -> u32 {
    1
}

impl Sandbox {
    /// Makes the next `fault.count` matching calls fail.
    pub fn inject(&self, fault: Fault) {
        let mut world = self.world();
        world.log(&format!("fault armed: {fault:?}"), 200);
        world.faults.push(fault);
    }

    /// The fault for this request, if one is armed (and counts it down).
    pub(super) fn take_fault(&self, method: &Method, path: &str) -> Option<FaultKind> {
        let endpoint = Endpoint::of(path.strip_prefix(&self.base_path).unwrap_or(path))?;
        let mut world = self.world();
        let index = world.faults.iter().position(|f| {
            f.endpoint == endpoint
                && f.count > 0
                && f.method
                    .as_deref()
                    .is_none_or(|m| m.eq_ignore_ascii_case(method.as_str()))
        })?;
        let fault = &mut world.faults[index];
        fault.count -= 1;
        let kind = fault.kind;
        if fault.count == 0 {
            world.faults.remove(index);
        }
        world.log(&format!("fault injected: {kind:?} on {method} {path}"), 0);
        Some(kind)
    }
}

impl FaultKind {
    /// How late a `delay_ms` fault answers; other kinds answer at once, instead of the handler.
    pub fn delay(self) -> Option<Duration> {
        match self {
            FaultKind::DelayMs(ms) => Some(Duration::from_millis(ms)),
            _ => None,
        }
    }
}

/// The answer a fault gives instead of the endpoint's.
pub fn response(kind: FaultKind) -> HttpResponse {
    match kind {
        FaultKind::Status(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = HttpResponse::build(status);
            // Segment's 429s say when to come back.
            if status == StatusCode::TOO_MANY_REQUESTS {
                response.insert_header((header::RETRY_AFTER, RETRY_AFTER_SECS.to_string()));
            }
            response.json(json!({
                "error": format!("injected fault: HTTP {}", status.as_u16()),
                "code": 14,
            }))
        }
        FaultKind::Malformed => HttpResponse::Ok()
            .content_type("application/json")
            .body("{\"name\": \"workspaces/acme/sources/js"),
        // Headers go out, then the body fails: the server closes the connection mid-answer.
        FaultKind::Drop | FaultKind::DelayMs(_) => HttpResponse::Ok()
            .content_type("application/json")
            .streaming(futures_util::stream::once(async {
                Err::<web::Bytes, _>(std::io::Error::other(
                    "connection dropped by fault injection",
                ))
            })),
    }
}

/// How many faults may be armed at once (a shared demo server must not grow without end).
pub const MAX_FAULTS: usize = 100;

/// `GET`, `POST` and `DELETE /faults`: what is armed, arm one, disarm all.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/faults")
            .app_data(super::forms::control_json())
            .route(web::get().to(list))
            .route(web::post().to(arm))
            .route(web::delete().to(clear)),
    );
}

async fn list(sandbox: web::Data<Sandbox>) -> HttpResponse {
    HttpResponse::Ok().json(&sandbox.world().faults)
}

/// Arms the fault, and says what it will do (for whoever armed it with `curl`).
async fn arm(sandbox: web::Data<Sandbox>, fault: web::Json<Fault>) -> HttpResponse {
    let fault = fault.into_inner();
    if let Some(method) = &fault.method
        && Method::from_bytes(method.as_bytes()).is_err()
    {
        return HttpResponse::BadRequest()
            .json(json!({ "error": "method is not an HTTP method (GET, POST, …)", "code": 3 }));
    }
    if sandbox.world().faults.len() >= MAX_FAULTS {
        return HttpResponse::TooManyRequests().json(json!({
            "error": format!(
                "{MAX_FAULTS} faults are armed already, the most this sandbox keeps: let them \
                 fire, or DELETE /faults"
            ),
            "code": 8,
        }));
    }
    let calls = if fault.count == 1 {
        "call".to_owned()
    } else {
        format!("{} calls", fault.count)
    };
    let method = fault
        .method
        .as_deref()
        .map_or(String::new(), |m| format!("{m} "));
    let does = match fault.kind {
        FaultKind::Status(status) => format!("answer {status}"),
        FaultKind::DelayMs(ms) => format!("answer {ms} ms late"),
        FaultKind::Malformed => "answer 200 with a body that is not JSON".to_owned(),
        FaultKind::Drop => "have their connection cut".to_owned(),
    };
    let endpoint = format!("{:?}", fault.endpoint).to_lowercase();
    let message = format!("armed: the next {calls} {method}to {endpoint} will {does}");
    sandbox.inject(fault.clone());
    HttpResponse::Created().json(serde_json::json!({ "armed": fault, "message": message }))
}

async fn clear(sandbox: web::Data<Sandbox>) -> HttpResponse {
    sandbox.world().faults.clear();
    HttpResponse::NoContent().finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_told_apart_by_path() {
        assert_eq!(Endpoint::of("/oauth2/token"), Some(Endpoint::Token));
        assert_eq!(
            Endpoint::of("/v1beta/installs/7/token"),
            Some(Endpoint::Refresh)
        );
        assert_eq!(
            Endpoint::of("/v1beta/catalog/destinations/x"),
            Some(Endpoint::Catalog)
        );
        assert_eq!(
            Endpoint::of("/v1beta/workspaces/acme"),
            Some(Endpoint::Workspace)
        );
        assert_eq!(
            Endpoint::of("/v1beta/workspaces/acme/sources"),
            Some(Endpoint::Sources)
        );
        assert_eq!(
            Endpoint::of("/v1beta/workspaces/acme/sources/js/destinations/clearbrain"),
            Some(Endpoint::Destinations)
        );
        assert_eq!(
            Endpoint::of(
                "/v1beta/workspaces/acme/sources/js/destinations/clearbrain/metrics:getSummary"
            ),
            Some(Endpoint::Metrics)
        );
        assert_eq!(
            Endpoint::of("/v1beta/workspaces/acme/event-delivery-metrics:batchGetSummary"),
            Some(Endpoint::Metrics)
        );
        assert_eq!(Endpoint::of("/oauth2/auth"), None);
        assert_eq!(Endpoint::of("/"), None);
    }

    #[test]
    fn faults_read_from_json() {
        let fault: Fault = serde_json::from_value(json!({
            "endpoint": "destinations", "method": "GET", "kind": {"status": 503}, "count": 3
        }))
        .unwrap();
        assert_eq!(fault.kind, FaultKind::Status(503));
        let fault: Fault =
            serde_json::from_value(json!({"endpoint": "token", "kind": "drop"})).unwrap();
        assert_eq!((fault.kind, fault.count), (FaultKind::Drop, 1));
        let fault: Fault =
            serde_json::from_value(json!({"endpoint": "catalog", "kind": {"delay_ms": 50}}))
                .unwrap();
        assert_eq!(fault.kind, FaultKind::DelayMs(50));
    }
}

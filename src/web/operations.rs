//! What operators and their probes ask: `/healthz`, `/readyz` and `/metrics`.

use actix_web::{HttpResponse, web};

use crate::metrics::Metrics;
use crate::store::{Sessions, Store};

/// `GET /healthz`: the process answers. Does not call Segment.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: the app can serve pages: its database answers, and so does Redis when the
/// sessions are there. Does not call Segment, and makes nothing (no account, no session).
pub async fn readyz(store: web::Data<Store>, sessions: web::Data<Sessions>) -> HttpResponse {
    let (database, sessions_answer) = tokio::join!(store.ping(), sessions.ping());
    if let Err(error) = &database {
        tracing::warn!(%error, "not ready: the database does not answer");
    }
    if let Err(error) = &sessions_answer {
        tracing::warn!(%error, "not ready: Redis does not answer");
    }
    let word = |ok: bool| if ok { "ok" } else { "no answer" };
    let body = serde_json::json!({
        "status": if database.is_ok() && sessions_answer.is_ok() { "ready" } else { "unavailable" },
        "database": word(database.is_ok()),
        "sessions": match sessions.as_ref() {
            Sessions::Database(_) => "in the database",
            Sessions::Redis(_) => word(sessions_answer.is_ok()),
        },
    });
    if database.is_ok() && sessions_answer.is_ok() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// `GET /metrics`: the operators' metrics (`crate::metrics`), for Prometheus to scrape from
/// each instance, on the listener of their own (`METRICS_ADDR`), never the public one.
pub async fn metrics(metrics: web::Data<Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(metrics.render())
}

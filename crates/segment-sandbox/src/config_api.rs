//! The sandbox's Config API (`/v1beta/...`): destinations, catalog, workspace, sources and the
//! install token API, with Segment's scope rules and error bodies (see `world`).

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::Value;

use super::Sandbox;
use super::identity::basic_credentials;
use super::world::{Access, ApiError, MetricsQuery, World, destination_name};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/v1beta")
            .route(
                "/catalog/destinations/{slug}",
                web::get().to(catalog_destination),
            )
            .route("/installs/{id}/token", web::get().to(refresh_token))
            .route("/workspaces/{ws}", web::get().to(workspace))
            .route(
                "/workspaces/{ws}/event-delivery-metrics:batchGetSummary",
                web::get().to(workspace_delivery_summaries),
            )
            .route("/workspaces/{ws}/sources", web::get().to(sources))
            .service(
                web::resource("/workspaces/{ws}/sources/{src}/destinations")
                    .route(web::get().to(list_destinations))
                    .route(web::post().to(create_destination)),
            )
            .route(
                "/workspaces/{ws}/sources/{src}/destinations/{slug}/metrics",
                web::get().to(list_metrics),
            )
            .route(
                "/workspaces/{ws}/sources/{src}/destinations/{slug}/metrics:getSummary",
                web::get().to(delivery_summary),
            )
            .route(
                "/workspaces/{ws}/sources/{src}/destinations/{slug}/metrics:batchGet",
                web::get().to(delivery_series),
            )
            .route(
                "/workspaces/{ws}/sources/{src}/destinations/{slug}/metrics/{metric}",
                web::get().to(delivery_series),
            )
            .service(
                web::resource("/workspaces/{ws}/sources/{src}/destinations/{slug}")
                    .route(web::get().to(get_destination))
                    .route(web::patch().to(update_destination))
                    .route(web::delete().to(delete_destination)),
            )
            .default_service(web::to(not_found)),
    );
}

/// Runs `op` as the install behind the request's bearer token, logs the outcome, and answers
/// with the body or Segment's error body.
fn as_install(
    sandbox: &Sandbox,
    request: &HttpRequest,
    op: impl FnOnce(&mut World, &super::world::Install) -> Result<Value, ApiError>,
) -> HttpResponse {
    let mut world = sandbox.world();
    let result = world
        .authenticate(bearer(request))
        .and_then(|install| op(&mut world, &install));
    let what = format!("{} {}", request.method(), request.path());
    respond(&mut world, &what, result)
}

/// The request's bearer token, if it has one.
fn bearer(request: &HttpRequest) -> Option<&str> {
    request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
}

fn respond(world: &mut World, what: &str, result: Result<Value, ApiError>) -> HttpResponse {
    let (status, body) = match result {
        Ok(body) => (StatusCode::OK, body),
        Err(error) => (
            StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST),
            error.body(),
        ),
    };
    let summary = match body.get("error").and_then(Value::as_str) {
        Some(message) => format!("{what}: {message}"),
        None => what.to_owned(),
    };
    world.log(&summary, status.as_u16());
    world.api_calls += 1;
    HttpResponse::build(status).json(body)
}

fn json_body(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))
}

async fn catalog_destination(
    sandbox: web::Data<Sandbox>,
    request: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    as_install(&sandbox, &request, |world, _| {
        world
            .catalog
            .get(&path)
            .map(|entry| entry.json.clone())
            .ok_or_else(|| ApiError::not_found(format!("catalog destination {path} not found")))
    })
}

async fn refresh_token(
    sandbox: web::Data<Sandbox>,
    request: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let mut world = sandbox.world();
    let client_ok = basic_credentials(&request).is_some_and(|(id, secret)| {
        id == world.app.client_id && secret == world.app.client_secret.expose()
    });
    let result = if client_ok {
        world.refresh_token(&path)
    } else {
        Err(ApiError::unauthenticated(
            "the install token API needs the App's client id and secret (HTTP Basic)",
        ))
    };
    let what = format!("GET {}", request.path());
    respond(&mut world, &what, result)
}

async fn workspace(
    sandbox: web::Data<Sandbox>,
    request: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    as_install(&sandbox, &request, |world, install| {
        world.authorize(install, Access::Read, &path, None, None)?;
        world.workspace_body(&path)
    })
}

async fn sources(
    sandbox: web::Data<Sandbox>,
    request: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    as_install(&sandbox, &request, |world, install| {
        world.authorize(install, Access::Read, &path, None, None)?;
        world.sources_body(&path)
    })
}

async fn list_destinations(
    sandbox: web::Data<Sandbox>,
    request: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (ws, src) = path.into_inner();
    as_install(&sandbox, &request, |world, install| {
        world.authorize(install, Access::Read, &ws, Some(&src), None)?;
        Ok(world.list_destinations(&ws, &src))
    })
}

async fn create_destination(
    sandbox: web::Data<Sandbox>,
    request: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (ws, src) = path.into_inner();
    let name = serde_json::from_slice::<Value>(&body).ok().and_then(|b| {
        b.pointer("/destination/name")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let response = as_install(&sandbox, &request, |world, install| {
        let body = json_body(&body)?;
        // The slug comes from the body's name; check the scope against it before anything else.
        let slug = body
            .pointer("/destination/name")
            .and_then(Value::as_str)
            .and_then(|name| name.rsplit_once("/destinations/"))
            .map(|(_, slug)| slug.to_owned());
        world.authorize(install, Access::Write, &ws, Some(&src), slug.as_deref())?;
        let created = world.create_destination(&ws, &src, &body)?;
        if let Some(name) = created["name"].as_str() {
            world.created_by(name, install.id);
        }
        Ok(created)
    });
    if let (true, Some(name)) = (response.status().is_success(), name) {
        test_credentials(&sandbox, &name).await;
    }
    response
}

async fn get_destination(
    sandbox: web::Data<Sandbox>,
    request: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> HttpResponse {
    let (ws, src, slug) = path.into_inner();
    as_install(&sandbox, &request, |world, install| {
        world.authorize(install, Access::Read, &ws, Some(&src), Some(&slug))?;
        world.get_destination(&ws, &src, &slug)
    })
}

async fn update_destination(
    sandbox: web::Data<Sandbox>,
    request: HttpRequest,
    path: web::Path<(String, String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (ws, src, slug) = path.into_inner();
    let response = as_install(&sandbox, &request, |world, install| {
        world.authorize(install, Access::Write, &ws, Some(&src), Some(&slug))?;
        let body = json_body(&body)?;
        world.update_destination(&ws, &src, &slug, &body)
    });
    if response.status().is_success() {
        let name = destination_name(&ws, &src, &slug);
        test_credentials(&sandbox, &name).await;
    }
    response
}

/// Tests the destination's `apiKey` against the partner's API, as Segment does when a
/// destination is created or its settings change: `GET` with `Authorization: Bearer <key>`,
/// expecting a 2xx. The outcome shows in the inspector.
async fn test_credentials(sandbox: &Sandbox, name: &str) {
    let Some((url, key)) = sandbox.world().credential_test_target(name) else {
        return;
    };
    let outcome = sandbox
        .http
        .get(&url)
        .bearer_auth(&key)
        .timeout(std::time::Duration::from_secs(3))
        .send()
        .await;
    let (text, ok) = match outcome {
        Ok(response) if response.status().is_success() => ("passed".to_owned(), true),
        Ok(response) => (
            format!("failed: the partner's API answered {}", response.status()),
            false,
        ),
        Err(error) => (
            format!("failed: the partner's API could not be reached ({error})"),
            false,
        ),
    };
    sandbox.world().record_credential_test(name, text, ok);
}

/// The destination a metrics path names, after the install may read it.
fn readable_destination(
    world: &World,
    install: &super::world::Install,
    path: &DestinationPath,
) -> Result<String, ApiError> {
    world.authorize(
        install,
        Access::Read,
        &path.ws,
        Some(&path.src),
        Some(&path.slug),
    )?;
    Ok(destination_name(&path.ws, &path.src, &path.slug))
}

#[derive(serde::Deserialize)]
struct DestinationPath {
    ws: String,
    src: String,
    slug: String,
    /// `/metrics/{metric}` only.
    metric: Option<String>,
}

/// Before metrics are read: the credential test again for the destinations whose last one is
/// older than `key_retest_after`, so that a key the partner's API stopped accepting shows.
/// Only for a caller with a good bearer token: an anonymous request makes no outgoing call.
async fn retest_keys(sandbox: &Sandbox, request: &HttpRequest, names: &[String]) {
    let stale = {
        let world = sandbox.world();
        if world.authenticate(bearer(request)).is_err() {
            return;
        }
        world.keys_to_retest(names, chrono::Utc::now())
    };
    for name in stale {
        test_credentials(sandbox, &name).await;
    }
}

async fn list_metrics(
    sandbox: web::Data<Sandbox>,
    request: HttpRequest,
    path: web::Path<DestinationPath>,
) -> HttpResponse {
    as_install(&sandbox, &request, |world, install| {
        let name = readable_destination(world, install, &path)?;
        world.list_metrics(&name)
    })
}

async fn delivery_summary(
    sandbox: web::Data<Sandbox>,
    request: HttpRequest,
    path: web::Path<DestinationPath>,
) -> HttpResponse {
    let name = destination_name(&path.ws, &path.src, &path.slug);
    retest_keys(&sandbox, &request, &[name]).await;
    let query = MetricsQuery::parse(request.query_string());
    as_install(&sandbox, &request, |world, install| {
        let name = readable_destination(world, install, &path)?;
        world.delivery_summary(&name, &query)
    })
}

/// `…/metrics:batchGet?names=…` and `…/metrics/{metric}`.
async fn delivery_series(
    sandbox: web::Data<Sandbox>,
    request: HttpRequest,
    path: web::Path<DestinationPath>,
) -> HttpResponse {
    let query = MetricsQuery::parse(request.query_string());
    let (metrics, batch) = match &path.metric {
        Some(metric) => (vec![metric.clone()], false),
        None => (query.names.clone(), true),
    };
    as_install(&sandbox, &request, |world, install| {
        let name = readable_destination(world, install, &path)?;
        world.delivery_series(&name, &metrics, &query, batch)
    })
}

async fn workspace_delivery_summaries(
    sandbox: web::Data<Sandbox>,
    request: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    let query = MetricsQuery::parse(request.query_string());
    retest_keys(&sandbox, &request, &query.names).await;
    as_install(&sandbox, &request, |world, install| {
        world.workspace_delivery_summaries(install, &path, &query)
    })
}

async fn delete_destination(
    sandbox: web::Data<Sandbox>,
    request: HttpRequest,
    path: web::Path<(String, String, String)>,
) -> HttpResponse {
    let (ws, src, slug) = path.into_inner();
    as_install(&sandbox, &request, |world, install| {
        world.authorize(install, Access::Write, &ws, Some(&src), Some(&slug))?;
        world.delete_destination(&ws, &src, &slug)
    })
}

async fn not_found(request: HttpRequest) -> HttpResponse {
    let error = ApiError::not_found(format!(
        "no such endpoint: {} {}",
        request.method(),
        request.path()
    ));
    HttpResponse::NotFound().json(error.body())
}

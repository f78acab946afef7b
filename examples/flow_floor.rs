//! The floor under issue 15's measure, for the load benchmark (`bench/run.sh --flows`): the
//! install flow's HTTP exchanges, made with this app's web server and its Segment client, and
//! nothing else. No store, no sessions, no login, no templates, no logs: the flow's state and
//! install token are kept in this process's memory under a plain random cookie.
//!
//! **Not an app**: a cookie anyone can read, nothing kept across a restart, memory that only
//! grows. It exists to say what the crates themselves cost on a machine: what this app spends
//! per flow above it is the app's own work (BENCHMARKS.md).
//!
//! It reads the app's settings (`CLIENT_ID`, `CLIENT_SECRET`, `SEGMENT_ID_URL`,
//! `SEGMENT_API_URL`, `PORT`, …) and answers the same four paths:
//! - `GET /auth/segment`: a fresh state and PKCE verifier, and the redirect to consent;
//! - `GET /auth/segment/callback`: the state compared, the code exchanged, a 303 to
//!   `/destination`;
//! - `GET /destination`: the destination read with the install token, a small page;
//! - `GET /healthz`.

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Mutex;

use actix_web::cookie::Cookie;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use rand::Rng;
use segment_partnerapp::config::Settings;
use segment_partnerapp::secret::{AuthorizationCode, CsrfToken, PkceCodeVerifier};
use segment_partnerapp::segment::{DestinationSlug, InstallToken, SegmentClient};
use serde::Deserialize;

const COOKIE: &str = "floor";

/// What one browser's flow holds: the pending state, then the install.
enum Flow {
    Pending(CsrfToken, Option<PkceCodeVerifier>),
    Installed(Box<InstallToken>),
}

struct Floor {
    segment: SegmentClient,
    slug: DestinationSlug,
    flows: Mutex<HashMap<String, Flow>>,
}

fn browser(request: &HttpRequest) -> Option<String> {
    request.cookie(COOKIE).map(|c| c.value().to_owned())
}

fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header(("location", location))
        .finish()
}

async fn start(floor: web::Data<Floor>) -> HttpResponse {
    let request = floor.segment.authorization_request();
    let id = hex::encode(rand::rng().random::<[u8; 16]>());
    let flow = Flow::Pending(request.state, request.pkce_verifier);
    floor
        .flows
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id.clone(), flow);
    let mut response = see_other(request.url.as_str());
    let _ = response.add_cookie(&Cookie::build(COOKIE, id).path("/").finish());
    response
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
}

async fn callback(
    floor: web::Data<Floor>,
    request: HttpRequest,
    params: web::Query<Callback>,
) -> HttpResponse {
    let Some(id) = browser(&request) else {
        return HttpResponse::BadRequest().body("no flow");
    };
    let pending = floor
        .flows
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&id);
    let Some(Flow::Pending(state, verifier)) = pending else {
        return HttpResponse::BadRequest().body("no flow");
    };
    if params.state.as_deref() != Some(state.secret()) {
        return HttpResponse::BadRequest().body("state mismatch");
    }
    let code = AuthorizationCode::new(params.code.clone().unwrap_or_default());
    match floor.segment.exchange_code(code, verifier).await {
        Ok(install) => {
            let flow = Flow::Installed(Box::new(install));
            floor
                .flows
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id, flow);
            see_other("/destination")
        }
        Err(error) => HttpResponse::BadGateway().body(error.to_string()),
    }
}

async fn destination(floor: web::Data<Floor>, request: HttpRequest) -> HttpResponse {
    let install = browser(&request).and_then(|id| {
        match floor
            .flows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
        {
            Some(Flow::Installed(install)) => Some(install.clone()),
            _ => None,
        }
    });
    let Some((install, source)) = install.and_then(|i| {
        let source = i.source()?.clone();
        Some((i, source))
    }) else {
        return HttpResponse::BadRequest().body("not installed");
    };
    let name = source.destination(&floor.slug);
    match floor
        .segment
        .get_destination(&install.access_token, &name)
        .await
    {
        Ok(found) => HttpResponse::Ok().content_type("text/html").body(format!(
            "<!doctype html><title>Destination</title><h1>{}</h1><p>{}</p>",
            install.install_name,
            if found.is_some() {
                "enabled"
            } else {
                "not enabled yet"
            }
        )),
        Err(error) => HttpResponse::BadGateway().body(error.to_string()),
    }
}

#[actix_web::main]
async fn main() -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("flow_floor: {error}");
            return ExitCode::FAILURE;
        }
    };
    let segment = match segment_partnerapp::startup::segment_client(&settings, settings.port) {
        Ok(segment) => segment,
        Err(error) => {
            eprintln!("flow_floor: {error}");
            return ExitCode::FAILURE;
        }
    };
    let floor = web::Data::new(Floor {
        segment,
        slug: settings.destination_slug.clone(),
        flows: Mutex::new(HashMap::new()),
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(floor.clone())
            .route("/healthz", web::get().to(HttpResponse::Ok))
            .route("/auth/segment", web::get().to(start))
            .route("/auth/segment/callback", web::get().to(callback))
            .route("/destination", web::get().to(destination))
    })
    .bind((settings.host.as_str(), settings.port));
    match server {
        Ok(server) => match server.run().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("flow_floor: {error}");
                ExitCode::FAILURE
            }
        },
        Err(error) => {
            eprintln!("flow_floor: cannot listen: {error}");
            ExitCode::FAILURE
        }
    }
}

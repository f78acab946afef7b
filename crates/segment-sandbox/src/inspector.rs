//! The inspector at the sandbox's root: what Segment would show about this workspace (the App,
//! its installs, the destinations and their config, the latest API calls), secrets masked.
//! HTML for people, JSON for `Accept: application/json`. Two buttons act as a workspace owner
//! would in Segment: uninstall an App, and (to show what a stale token does) expire its tokens.
//!
//! On a demo server several people share, each browser (known by its form token, `forms`)
//! sees its own installs and their destinations in full, with their buttons; other visitors'
//! are listed without names, settings or buttons, and their actions are refused. A script's
//! JSON request (no form cookie) sees everything: it is how tests and load tests read it.

use actix_web::http::header::{self, ContentType};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;

use super::world::{Snapshot, Visitor};
use super::{Sandbox, forms};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource(["", "/"]).route(web::get().to(inspect)))
        .service(web::resource("/assets/sandbox.css").route(web::get().to(stylesheet)))
        .service(web::resource("/installs/{id}/uninstall").route(web::post().to(uninstall)))
        .service(
            web::resource("/workspaces")
                .app_data(forms::control_json())
                .route(web::post().to(add_workspace)),
        )
        .service(web::resource("/reset").route(web::post().to(reset)))
        .service(web::resource("/destinations/age").route(web::post().to(age_destination)))
        .service(
            web::resource("/installs/{id}/expire-tokens").route(web::post().to(expire_tokens)),
        );
}

#[derive(Template)]
#[template(path = "sandbox/inspector.html")]
struct InspectorPage<'a> {
    base_path: &'a str,
    snapshot: Snapshot,
    /// The token the page's forms carry (`forms`).
    csrf: String,
    /// The partner app's home page: the origin of the App's redirect URI.
    app_home: String,
}

async fn inspect(sandbox: web::Data<Sandbox>, request: HttpRequest) -> HttpResponse {
    let wants_json = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        let viewer = forms::has_token(&request).then(|| viewer(&request));
        return HttpResponse::Ok().json(sandbox.world().snapshot(viewer.as_ref()));
    }
    let csrf = forms::token(&request);
    let snapshot = sandbox.world().snapshot(Some(&Visitor::of_token(&csrf)));
    let app_home = snapshot
        .app
        .redirect_uris
        .first()
        .and_then(|uri| url::Url::parse(uri).ok())
        .map(|uri| format!("{}/", uri.origin().ascii_serialization()))
        .unwrap_or_else(|| "/".to_owned());
    let page = InspectorPage {
        base_path: &sandbox.base_path,
        snapshot,
        csrf,
        app_home,
    };
    match page.render() {
        Ok(body) => forms::with_token(
            HttpResponse::Ok()
                .content_type(ContentType::html())
                .body(body),
            &page.csrf,
            &sandbox,
        ),
        Err(error) => {
            tracing::error!(%error, "the sandbox inspector failed to render");
            HttpResponse::InternalServerError().body("The sandbox could not render this page.")
        }
    }
}

/// `POST {sandbox}/reset`: the sandbox as it started (its App, its limits and the credential
/// test's address stay), so that each of another project's tests begins from the same world.
async fn reset(sandbox: web::Data<Sandbox>) -> HttpResponse {
    sandbox.reset();
    HttpResponse::NoContent().finish()
}

#[derive(serde::Deserialize)]
struct NewWorkspace {
    slug: String,
    display_name: String,
}

/// `POST {sandbox}/workspaces` with `{"slug", "display_name"}`: another workspace of the
/// signed-in user, with the demo sources (an App installs once per workspace, so a load test
/// needs one per customer).
async fn add_workspace(sandbox: web::Data<Sandbox>, body: web::Json<NewWorkspace>) -> HttpResponse {
    let valid = !body.slug.is_empty()
        && body.slug.len() <= 64
        && body
            .slug
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return HttpResponse::BadRequest().json(serde_json::json!({
            "error": "slug must be 1 to 64 letters, digits, '-' or '_'", "code": 3
        }));
    }
    match sandbox.add_workspace(&body.slug, &body.display_name) {
        Ok(()) => HttpResponse::NoContent().finish(),
        Err(refused @ crate::world::WorkspaceRefused::NameTooLong) => HttpResponse::BadRequest()
            .json(serde_json::json!({
                "error": refused.to_string(), "code": 3
            })),
        Err(refused) => HttpResponse::TooManyRequests().json(serde_json::json!({
            "error": refused.to_string(), "code": 8
        })),
    }
}

#[derive(serde::Deserialize)]
struct AgeForm {
    /// The destination's full name.
    name: String,
    /// How far back its history moves.
    hours: u32,
}

/// `POST {sandbox}/destinations/age` (the inspector's "A day later" and "A week later"): the
/// destination's delivery history moves back, as if that much time had passed.
async fn age_destination(
    sandbox: web::Data<Sandbox>,
    form: web::Form<AgeForm>,
    request: HttpRequest,
) -> HttpResponse {
    if !sandbox
        .world()
        .destination_is_for(&form.name, Some(&viewer(&request)))
    {
        return not_yours();
    }
    if form.hours == 0 || form.hours > 24 * 14 {
        return HttpResponse::BadRequest().json(serde_json::json!({
            "error": "hours must be 1 to 336", "code": 3
        }));
    }
    let by = chrono::Duration::hours(i64::from(form.hours));
    if !sandbox.age_destination(&form.name, by) {
        return HttpResponse::NotFound().json(serde_json::json!({
            "error": format!("destination {} not found", form.name), "code": 5
        }));
    }
    back_to_inspector(&sandbox)
}

async fn uninstall(
    sandbox: web::Data<Sandbox>,
    path: web::Path<u64>,
    request: HttpRequest,
) -> HttpResponse {
    on_own_install(&sandbox, path.into_inner(), &request, |world, id| {
        world.uninstall(id);
    })
}

async fn expire_tokens(
    sandbox: web::Data<Sandbox>,
    path: web::Path<u64>,
    request: HttpRequest,
) -> HttpResponse {
    on_own_install(&sandbox, path.into_inner(), &request, |world, id| {
        world.expire_tokens(id);
        world.log(
            &format!("tokens of installs/{id} expired from the inspector"),
            200,
        );
    })
}

/// Does `act` on the install `id` if it is the asking browser's (or a script's), then goes
/// back to the inspector; another visitor's is refused.
fn on_own_install(
    sandbox: &Sandbox,
    id: u64,
    request: &HttpRequest,
    act: impl FnOnce(&mut super::world::World, u64),
) -> HttpResponse {
    let mut world = sandbox.world();
    if world.install_for(id, Some(&viewer(request))).is_none() {
        return not_yours();
    }
    act(&mut world, id);
    drop(world);
    back_to_inspector(sandbox)
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("../static/sandbox.css"))
}

/// The browser asking (its form token; `forms` checked it on every form).
fn viewer(request: &HttpRequest) -> Visitor {
    Visitor::of_token(&forms::token(request))
}

/// Another visitor's install or destination (or none by that name): nothing is done.
fn not_yours() -> HttpResponse {
    HttpResponse::Forbidden().json(serde_json::json!({
        "error": "that install or destination is not one this browser made: only the browser \
                  that installed it can act on it here",
        "code": 7
    }))
}

fn back_to_inspector(sandbox: &Sandbox) -> HttpResponse {
    let target = sandbox.path("/");
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, target))
        .finish()
}

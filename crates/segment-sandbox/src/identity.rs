//! The sandbox's identity service: `GET /oauth2/auth` (checks the request, shows the consent
//! page), `POST /oauth2/auth` (the user's Allow or Deny) and `POST /oauth2/token` (the code
//! exchange), as RFC 6749 and Segment's docs describe them.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde_json::json;
use url::Url;

use super::journal::{ClientAuth, Exchange};
use super::scope::Scope;
use super::world::{AutoConsent, CodeExchange, Visitor, World};
use super::{Sandbox, forms};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/oauth2/auth")
            .route(web::get().to(authorize))
            .route(web::post().to(decide)),
    )
    .service(web::resource("/oauth2/token").route(web::post().to(token)));
}

/// The authorization request's parameters. All optional: missing ones are refused with a reason.
#[derive(Debug, Default, Deserialize)]
struct AuthorizeParams {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
}

/// The consent form: the request's parameters (re-checked on submit) and the user's choices.
#[derive(Debug, Deserialize)]
struct Decision {
    #[serde(flatten)]
    params: AuthorizeParams,
    decision: Option<String>,
    workspace: Option<String>,
    source: Option<String>,
}

/// A request that passed every check.
struct Checked {
    redirect_uri: Url,
    state: Option<String>,
    code_challenge: Option<String>,
}

/// Why a request was refused. Only a known client and a registered redirect URI earn a
/// redirect; anything before that gets a page (RFC 6749 §4.1.2.1).
enum Refusal {
    Page(String),
    Redirect {
        redirect_uri: Url,
        state: Option<String>,
        error: &'static str,
        description: String,
        hint: String,
    },
}

// A refusal is rare and short-lived; boxing it would only add noise.
#[allow(clippy::result_large_err)]
fn check(world: &World, params: &AuthorizeParams) -> Result<Checked, Refusal> {
    let app = &world.app;
    if params.client_id.as_deref() != Some(app.client_id.as_str()) {
        return Err(Refusal::Page(format!(
            "The client_id {:?} does not belong to any App.",
            params.client_id.as_deref().unwrap_or("")
        )));
    }
    let redirect_uri = match params.redirect_uri.as_deref() {
        Some(uri) if app.redirect_uris.iter().any(|r| r == uri) => uri,
        Some(uri) => {
            return Err(Refusal::Page(format!(
                "The redirect_uri {uri:?} is not one of the App's registered redirect URIs ({}).",
                app.redirect_uris.join(", ")
            )));
        }
        None => return Err(Refusal::Page("The redirect_uri is missing.".to_owned())),
    };
    let redirect_uri = Url::parse(redirect_uri)
        .map_err(|_| Refusal::Page("The registered redirect_uri is not a URL.".to_owned()))?;
    let state = params.state.clone();
    let refuse = |error, description: String, hint: String| Refusal::Redirect {
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        error,
        description,
        hint,
    };
    if params.response_type.as_deref() != Some("code") {
        return Err(refuse(
            "unsupported_response_type",
            "The authorization server does not support obtaining a token using this method."
                .to_owned(),
            "Segment only accepts response_type=code.".to_owned(),
        ));
    }
    let scope = params.scope.as_deref().unwrap_or("");
    if Scope::parse(scope).ok().as_ref() != Some(&app.scope) {
        return Err(refuse(
            "invalid_scope",
            "The requested scope is invalid, unknown, or malformed.".to_owned(),
            format!(
                "The App was created with the scope {:?}, but the request asked for {scope:?}; \
                 they must be the same.",
                app.scope.to_string()
            ),
        ));
    }
    match (
        params.code_challenge.as_deref(),
        params.code_challenge_method.as_deref(),
    ) {
        (None, _) | (Some(_), Some("S256")) => {}
        (Some(_), method) => {
            return Err(refuse(
                "invalid_request",
                "The request is missing a required parameter, includes an invalid parameter \
                 value, includes a parameter more than once, or is otherwise malformed."
                    .to_owned(),
                format!(
                    "code_challenge_method must be S256, not {:?}.",
                    method.unwrap_or("plain")
                ),
            ));
        }
    }
    Ok(Checked {
        redirect_uri,
        state,
        code_challenge: params.code_challenge.clone(),
    })
}

/// The consent form's value for "a new workspace of my own".
const NEW_WORKSPACE: &str = "new";

#[derive(Template)]
#[template(path = "sandbox/consent.html")]
struct ConsentPage<'a> {
    base_path: &'a str,
    app_name: &'a str,
    scope: String,
    scope_explained: String,
    user: &'a str,
    /// (slug, label, selected) of the user's workspaces, and the new one on offer.
    workspaces: Vec<(String, String, bool)>,
    /// (slug, display name) of the sources to pick from, for `destination/<slug>` scopes.
    sources: Vec<(String, String)>,
    problem: Option<String>,
    hidden: Vec<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "sandbox/error.html")]
struct ErrorPage<'a> {
    base_path: &'a str,
    message: &'a str,
}

async fn authorize(sandbox: web::Data<Sandbox>, request: HttpRequest) -> HttpResponse {
    let params = match web::Query::<AuthorizeParams>::from_query(request.query_string()) {
        Ok(query) => query.into_inner(),
        Err(error) => return error_page(&sandbox, &format!("The request cannot be read: {error}")),
    };
    let mut world = sandbox.world();
    let checked = match check(&world, &params) {
        Ok(checked) => checked,
        Err(refusal) => return refuse(&sandbox, refusal),
    };
    // The conformance kit's consent, made without a browser (`World::auto_consent`).
    match world.auto_consent.clone() {
        Some(AutoConsent::Deny) => refuse(&sandbox, denied(&mut world, checked)),
        Some(AutoConsent::Allow { workspace, source }) => {
            consented(&mut world, checked, &workspace, source, None)
        }
        None => consent_page(
            &sandbox,
            &world,
            &params,
            None,
            StatusCode::OK,
            &forms::token(&request),
        ),
    }
}

/// The owner chose Deny: back to the App with `access_denied`.
fn denied(world: &mut World, checked: Checked) -> Refusal {
    world.log("consent denied by the workspace owner", 302);
    Refusal::Redirect {
        redirect_uri: checked.redirect_uri,
        state: checked.state,
        error: "access_denied",
        description: "The resource owner denied the request.".to_owned(),
        hint: "The workspace owner chose Deny on the consent screen.".to_owned(),
    }
}

/// The owner chose Allow for `workspace` (and `source`): back to the App with a code (and
/// the request's `state`). The install it makes is `visitor`'s, when a browser consented.
fn consented(
    world: &mut World,
    checked: Checked,
    workspace: &str,
    source: Option<String>,
    visitor: Option<Visitor>,
) -> HttpResponse {
    let code = world.grant(
        checked.redirect_uri.as_str(),
        workspace,
        source,
        checked.code_challenge,
    );
    if let Some(visitor) = visitor {
        world.consented_by(&code, visitor);
    }
    let mut target = checked.redirect_uri;
    {
        let mut query = target.query_pairs_mut();
        query.append_pair("code", code.expose());
        if let Some(state) = &checked.state {
            query.append_pair("state", state);
        }
    }
    redirect(&target)
}

async fn decide(
    sandbox: web::Data<Sandbox>,
    request: HttpRequest,
    form: web::Bytes,
) -> HttpResponse {
    let decision = match serde_urlencoded::from_bytes::<Decision>(&form) {
        Ok(decision) => decision,
        Err(error) => return error_page(&sandbox, &format!("The form cannot be read: {error}")),
    };
    let mut world = sandbox.world();
    let checked = match check(&world, &decision.params) {
        Ok(checked) => checked,
        Err(refusal) => return refuse(&sandbox, refusal),
    };
    match decision.decision.as_deref() {
        Some("allow") => {}
        Some("deny") => return refuse(&sandbox, denied(&mut world, checked)),
        _ => return error_page(&sandbox, "Choose Allow or Deny."),
    }
    let pick_again = |world: &World, problem: &str| {
        consent_page(
            &sandbox,
            world,
            &decision.params,
            Some(problem.to_owned()),
            StatusCode::BAD_REQUEST,
            &forms::token(&request),
        )
    };
    let viewer = Visitor::of_token(&forms::token(&request));
    // `None` inside: a new workspace of the visitor's own, made once the form is good.
    let workspace = match decision.workspace.as_deref() {
        Some(NEW_WORKSPACE) if world.has_room() => Some(None),
        // Only a workspace this browser may see: everyone's, or one made for it.
        Some(slug) => world
            .workspaces_for(&viewer)
            .find(|w| w.slug == slug)
            .map(|w| Some(w.slug.clone())),
        None if world.workspaces.len() == 1 => {
            world.workspaces.first().map(|w| Some(w.slug.clone()))
        }
        None => None,
    };
    let Some(workspace) = workspace else {
        return pick_again(&world, "Pick the workspace to install the App on.");
    };
    let source = if world.app.scope.names_a_source() {
        // Every workspace has the same demo sources: a new one's are the first one's.
        let has_source = |source: &str| {
            let on = workspace.as_deref().and_then(|w| world.workspace(w));
            on.or(world.workspaces.first())
                .is_some_and(|w| w.has_source(source))
        };
        match decision.source.as_deref() {
            Some(source) if has_source(source) => Some(source.to_owned()),
            _ => return pick_again(&world, "Pick the source to install the App on."),
        }
    } else {
        None
    };
    let workspace = match workspace {
        Some(slug) => slug,
        None => match world.add_visitor_workspace(viewer.clone()) {
            Some(slug) => slug,
            None => return pick_again(&world, "Pick the workspace to install the App on."),
        },
    };
    // The install this consent makes belongs to this browser (`forms` checked its token).
    consented(&mut world, checked, &workspace, source, Some(viewer))
}

fn consent_page(
    sandbox: &Sandbox,
    world: &World,
    params: &AuthorizeParams,
    problem: Option<String>,
    status: StatusCode,
    token: &str,
) -> HttpResponse {
    let app = &world.app;
    let scope_explained = scope_explained(world);
    // Every workspace has the same demo sources; the first one's stand for all.
    let sources = match world.workspaces.first() {
        Some(workspace) if app.scope.names_a_source() => workspace
            .sources
            .iter()
            .map(|s| (s.slug.clone(), s.display_name.clone()))
            .collect(),
        _ => Vec::new(),
    };
    let workspaces = workspace_choices(world, &Visitor::of_token(token));
    let user = world
        .workspaces
        .first()
        .map(|w| w.owner_email.as_str())
        .unwrap_or("owner@acme.example");
    let mut hidden = Vec::new();
    for (name, value) in [
        ("response_type", &params.response_type),
        ("client_id", &params.client_id),
        ("redirect_uri", &params.redirect_uri),
        ("scope", &params.scope),
        ("state", &params.state),
        ("code_challenge", &params.code_challenge),
        ("code_challenge_method", &params.code_challenge_method),
    ] {
        if let Some(value) = value {
            hidden.push((name, value.clone()));
        }
    }
    hidden.push((forms::CSRF, token.to_owned()));
    let page = ConsentPage {
        base_path: &sandbox.base_path,
        app_name: &app.display_name,
        scope: app.scope.to_string(),
        scope_explained,
        user,
        workspaces,
        sources,
        problem,
        hidden,
    };
    forms::with_token(html(status, page.render()), token, sandbox)
}

/// What the App's scope lets it do, in the consent screen's words.
fn scope_explained(world: &World) -> String {
    match &world.app.scope {
        Scope::Destination(slug) => {
            let name = world
                .catalog
                .get(slug.as_str())
                .map(|e| e.display_name.clone())
                .unwrap_or_else(|| slug.to_string());
            format!(
                "create, change and remove the {name} destination on the one source you pick below"
            )
        }
        Scope::WorkspaceRead => {
            "read every setting of this workspace, and change nothing".to_owned()
        }
        Scope::Workspace => "read and change every setting of this workspace".to_owned(),
    }
}

/// The workspaces `viewer` may pick, as (slug, label, selected): everyone's and this browser's
/// own (other visitors' are not listed), and, on a shared demo server, a new one of its own
/// (one install of an App per workspace), chosen once every other has the App.
fn workspace_choices(world: &World, viewer: &Visitor) -> Vec<(String, String, bool)> {
    let all_taken = world
        .workspaces_for(viewer)
        .all(|w| world.is_installed_on(&w.slug));
    let mut workspaces: Vec<(String, String, bool)> = world
        .workspaces_for(viewer)
        .map(|w| {
            let taken = if world.is_installed_on(&w.slug) {
                " (the App is installed here)"
            } else {
                ""
            };
            (
                w.slug.clone(),
                format!("{} ({}){taken}", w.display_name, w.slug),
                false,
            )
        })
        .collect();
    if world.has_room() {
        workspaces.insert(
            0,
            (
                NEW_WORKSPACE.to_owned(),
                "A new workspace of my own".to_owned(),
                all_taken,
            ),
        );
        if !all_taken && let Some(first) = workspaces.get_mut(1) {
            first.2 = true;
        }
    }
    workspaces
}

fn refuse(sandbox: &Sandbox, refusal: Refusal) -> HttpResponse {
    match refusal {
        Refusal::Page(message) => error_page(sandbox, &message),
        Refusal::Redirect {
            mut redirect_uri,
            state,
            error,
            description,
            hint,
        } => {
            {
                let mut query = redirect_uri.query_pairs_mut();
                query
                    .append_pair("error", error)
                    .append_pair("error_description", &description)
                    .append_pair("error_hint", &hint);
                if let Some(state) = &state {
                    query.append_pair("state", state);
                }
            }
            redirect(&redirect_uri)
        }
    }
}

fn error_page(sandbox: &Sandbox, message: &str) -> HttpResponse {
    let page = ErrorPage {
        base_path: &sandbox.base_path,
        message,
    };
    html(StatusCode::BAD_REQUEST, page.render())
}

fn html(status: StatusCode, rendered: askama::Result<String>) -> HttpResponse {
    match rendered {
        Ok(body) => HttpResponse::build(status)
            .content_type(ContentType::html())
            .body(body),
        Err(error) => {
            tracing::error!(%error, "a sandbox page failed to render");
            HttpResponse::InternalServerError().body("The sandbox could not render this page.")
        }
    }
}

fn redirect(target: &Url) -> HttpResponse {
    HttpResponse::Found()
        .insert_header((header::LOCATION, target.as_str()))
        .finish()
}

// ---- the token endpoint ------------------------------------------------------------------------

async fn token(
    sandbox: web::Data<Sandbox>,
    request: HttpRequest,
    form: web::Bytes,
) -> HttpResponse {
    let mut world = sandbox.world();
    let basic = basic_credentials(&request);
    let mut seen = Exchange {
        client_auth: ClientAuth::Missing,
        redirect_uri: None,
        code_verifier: false,
        code_hash: None,
    };
    let (answer, made) = match read_exchange(&form, &mut seen) {
        Err(answer) => (answer, None),
        Ok(_) if basic.is_none() => {
            world.log(
                "token request refused: no HTTP Basic client authentication",
                401,
            );
            let answer = oauth_error(
                401,
                "invalid_client",
                "Client authentication failed: Segment takes the App's client id and secret \
                 in an HTTP Basic Authorization header.",
            );
            (answer, None)
        }
        Ok(_)
            if basic.as_ref().is_some_and(|(id, secret)| {
                *id != world.app.client_id || secret != world.app.client_secret.expose()
            }) =>
        {
            world.log("token request refused: unknown client or wrong secret", 401);
            let answer = oauth_error(
                401,
                "invalid_client",
                "Client authentication failed (HTTP Basic with the App's client id and secret).",
            );
            (answer, None)
        }
        Ok(exchange) => match world.exchange_code(&exchange) {
            Ok(body) => {
                let made: Option<u64> = body["install_name"]
                    .as_str()
                    .and_then(|name| name.strip_prefix("installs/"))
                    .and_then(|id| id.parse().ok());
                let answer = HttpResponse::Ok()
                    .insert_header((header::CACHE_CONTROL, "no-store"))
                    .json(body);
                (answer, made)
            }
            Err(error) => (
                oauth_error(error.status, error.error, &error.description),
                None,
            ),
        },
    };
    if basic.is_some() {
        seen.client_auth = ClientAuth::Basic;
    }
    let mut answer = answer;
    answer.extensions_mut().insert((seen, made));
    answer
}

/// The form of a code exchange, and what the journal keeps of it (`seen`). A parameter given
/// twice is refused (RFC 6749 §3.2).
fn read_exchange(form: &[u8], seen: &mut Exchange) -> Result<CodeExchange, HttpResponse> {
    let mut exchange = CodeExchange::default();
    let mut names = Vec::new();
    for (key, value) in url::form_urlencoded::parse(form) {
        if names.contains(&key) {
            return Err(oauth_error(
                400,
                "invalid_request",
                &format!("The parameter {key} is given more than once."),
            ));
        }
        let slot = match key.as_ref() {
            "grant_type" => &mut exchange.grant_type,
            "code" => &mut exchange.code,
            "redirect_uri" => &mut exchange.redirect_uri,
            "code_verifier" => &mut exchange.code_verifier,
            "client_secret" => {
                seen.client_auth = ClientAuth::Form;
                names.push(key);
                continue;
            }
            _ => {
                names.push(key);
                continue;
            }
        };
        *slot = Some(value.to_string());
        names.push(key);
    }
    seen.redirect_uri = exchange.redirect_uri.clone();
    seen.code_verifier = exchange.code_verifier.is_some();
    seen.code_hash = exchange.code.as_deref().map(crate::pkce_s256);
    Ok(exchange)
}

fn oauth_error(status: u16, error: &str, description: &str) -> HttpResponse {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = HttpResponse::build(status);
    response.insert_header((header::CACHE_CONTROL, "no-store"));
    if status == StatusCode::UNAUTHORIZED {
        response.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"segment-sandbox\""));
    }
    response.json(json!({ "error": error, "error_description": description }))
}

/// The client id and secret of an HTTP Basic `Authorization` header. Each part is
/// form-urlencoded before base64 (RFC 6749 §2.3.1), so it is decoded here.
pub(super) fn basic_credentials(request: &HttpRequest) -> Option<(String, String)> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((form_decode(id), form_decode(secret)))
}

fn form_decode(part: &str) -> String {
    url::form_urlencoded::parse(part.as_bytes())
        .map(|(key, value)| {
            if value.is_empty() {
                key.into_owned()
            } else {
                format!("{key}={value}")
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        assert_eq!(form_decode("sandbox%7Esecret+x"), "sandbox~secret x");
        assert_eq!(form_decode("plain-secret"), "plain-secret");
        assert_eq!(form_decode("a=b&c"), "a=b&c");
    }
}

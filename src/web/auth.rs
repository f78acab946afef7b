//! The install flow: `GET /auth/segment` sends the visitor to Segment's consent screen,
//! `GET /auth/segment/callback` brings them back with a code that becomes an install token,
//! `POST /logout` ends the session.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::cookies::CookieSeal;
use super::demo_login::with_cookie;
use super::error::WebError;
use super::flow::{self, PendingFlow};
use super::installs;
use super::login::{CurrentAccount, Login, account_or_sign_up};
use super::pages::{AlreadyInstalledPage, InstallChoice, Layout, see_other};
use super::proxy;
use super::session::{FlashKind, TypedSession};
use super::state::Site;
use crate::metrics::Metrics;
use crate::secret::AuthorizationCode;
use crate::segment::SegmentClient;
use crate::store::Store;

/// The query of `GET /auth/segment`. Other parameters are ignored.
#[derive(Debug, Deserialize)]
pub struct StartParams {
    /// `1`: connect another workspace, even with an install stored.
    new: Option<String>,
    /// `1`: the browser was already moved to `REDIRECT_URL`'s origin (never move it twice).
    moved: Option<String>,
}

/// `GET /auth/segment`: a fresh `state` (and PKCE verifier) for this flow, kept in the flow's
/// cookie (`web::flow`), then off to Segment.
// A handler's arguments are what it uses: each dependency is one of them (`web::state`).
#[allow(clippy::too_many_arguments)]
pub async fn start(
    segment: web::Data<SegmentClient>,
    store: web::Data<Store>,
    login: web::Data<dyn Login>,
    site: web::Data<Site>,
    metrics: web::Data<Metrics>,
    seal: web::Data<CookieSeal>,
    session: TypedSession,
    account: Option<CurrentAccount>,
    query: web::Query<StartParams>,
    http: HttpRequest,
) -> Result<HttpResponse, WebError> {
    // The session cookie belongs to the host the browser used, and Segment sends the browser
    // back to REDIRECT_URL's host: if they differ (localhost vs 127.0.0.1), the callback would
    // arrive without the session. Move the browser there first, once (a proxy that rewrites
    // Host must not make this loop).
    // `?new=1` connects another workspace (see below).
    let another = query.new.as_deref() == Some("1");
    let moved = query.moved.as_deref() == Some("1");
    // Behind a proxy, what the browser used comes from the proxy's headers if it is trusted
    // (`web::proxy`); a proxy that says the browser used another scheme moves it too.
    let origin = proxy::browser_origin(&http, &site.trusted_proxies);
    let elsewhere = !origin.host.eq_ignore_ascii_case(&site.public_host)
        || origin
            .scheme
            .is_some_and(|scheme| !site.public_origin.starts_with(&format!("{scheme}://")));
    if elsewhere && !moved {
        let new = if another { "&new=1" } else { "" };
        return Ok(see_other(&format!(
            "{}/auth/segment?moved=1{new}",
            site.public_origin
        )));
    }
    // A visitor without an account gets one when the flow succeeds, if the login makes
    // accounts (the demo's); any other login sends them to sign in first.
    if account.is_none() && !login.signs_up() {
        return Err(WebError::SignInFirst);
    }
    // Segment's FAQ: with the install stored, skip the flow, unless Segment refused its last
    // token (then the flow is the way to reconnect).
    if !another
        && let Some(account) = &account
        && let Some(install) = installs::resume(&store, &session, account).await?
        && install.attention().is_none()
    {
        let workspace = install.workspace_slug();
        session.flash(
            FlashKind::Success,
            format!(
                "Welcome back: this is the install you made earlier on the {workspace} workspace."
            ),
        )?;
        return Ok(see_other("/destination"));
    }
    let request = segment.authorization_request();
    let pending = PendingFlow {
        state: request.state,
        pkce_verifier: request.pkce_verifier,
        started_at: Utc::now(),
        account_id: account.as_ref().map(CurrentAccount::id),
    };
    metrics.flow_started();
    with_cookie(
        see_other(request.url.as_str()),
        Some(flow::cookie(&seal, &pending)),
    )
}

/// What Segment puts on the redirect back: `code` and `state`, or `error`,
/// `error_description`, `error_hint` and `state`.
#[derive(Debug, Deserialize)]
pub struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    error_hint: Option<String>,
}

/// `GET /auth/segment/callback`
// A handler's arguments are what it uses: each dependency is one of them (`web::state`).
#[allow(clippy::too_many_arguments)]
pub async fn callback(
    segment: web::Data<SegmentClient>,
    store: web::Data<Store>,
    login: web::Data<dyn Login>,
    site: web::Data<Site>,
    metrics: web::Data<Metrics>,
    seal: web::Data<CookieSeal>,
    session: TypedSession,
    account: Option<CurrentAccount>,
    params: web::Query<CallbackParams>,
    http: HttpRequest,
) -> Result<HttpResponse, WebError> {
    let params = params.into_inner();
    let result = match this_browsers_flow(&seal, &http, params.state.as_deref()) {
        Err(refused) => Err(refused),
        Ok(flow) => {
            let flow = Flow {
                pending: flow,
                login: &**login,
                account,
                client: site.client_of(&http),
            };
            let finished = finish_flow(&segment, &store, &site, &session, flow, params).await;
            // The flow is used up, whatever happened: its cookie goes, with the page that says
            // how it ended (`web::error_page` keeps the cookies of the responses it replaces).
            let mut response = finished.unwrap_or_else(HttpResponse::from_error);
            response
                .add_cookie(&flow::cleared(&seal))
                .map_err(|e| WebError::Session(e.to_string()))?;
            Ok(response)
        }
    };
    metrics.flow_completed(match result.as_ref().map(|r| r.error()) {
        Ok(None) => "installed",
        Ok(Some(error)) => match error.as_error::<WebError>() {
            Some(WebError::Provider { error, .. }) if error == "access_denied" => "denied",
            _ => "failed",
        },
        Err(_) => "failed",
    });
    result
}

/// The flow this browser started, if the callback's `state` is its own. Only this browser's
/// own flow is answered: a link with another `state` (or none) gets "not valid", whatever else
/// it carries, and leaves the pending flow as it was. Segment's error is shown only for the
/// flow it belongs to.
fn this_browsers_flow(
    seal: &CookieSeal,
    http: &HttpRequest,
    returned: Option<&str>,
) -> Result<PendingFlow, WebError> {
    let flow = flow::pending(seal, http).ok_or(WebError::NoFlow)?;
    let matches: bool = returned
        .unwrap_or_default()
        .as_bytes()
        .ct_eq(flow.state.expose().as_bytes())
        .into();
    if matches {
        Ok(flow)
    } else {
        Err(WebError::StateMismatch)
    }
}

/// A flow that came back to this browser, and who the visitor is now.
struct Flow<'a> {
    pending: PendingFlow,
    login: &'a dyn Login,
    account: Option<CurrentAccount>,
    /// The visitor's address (what a login that makes accounts may bound them by).
    client: Option<std::net::IpAddr>,
}

/// The callback's work, for this browser's own flow: the code exchanged, the account made if
/// the visitor has none yet, the install saved.
async fn finish_flow(
    segment: &SegmentClient,
    store: &Store,
    site: &Site,
    session: &TypedSession,
    flow: Flow<'_>,
    params: CallbackParams,
) -> Result<HttpResponse, WebError> {
    let Flow {
        pending: flow,
        login,
        account,
        client,
    } = flow;
    if let Some(error) = params.error {
        return Err(WebError::Provider {
            error,
            description: params.error_description,
            hint: params.error_hint,
        });
    }
    if flow.is_expired(Utc::now()) {
        return Err(WebError::FlowExpired);
    }
    // The install goes to the account that started the flow, and to no other. A flow started
    // without one is for this browser's account, made below if it still has none.
    let account = match (flow.account_id, account) {
        (Some(started_by), Some(account)) if account.id() == started_by => Some(account),
        (Some(_), _) => return Err(WebError::NoFlow),
        (None, account) => account,
    };
    let code = AuthorizationCode::new(
        params
            .code
            .filter(|c| !c.is_empty())
            .ok_or(WebError::MissingCode)?,
    );

    let install = match segment
        .exchange_code(&code, flow.pkce_verifier.as_ref())
        .await
    {
        Ok(install) => install,
        // Installed before. Segment does not say on which workspace, so nothing is claimed:
        // the visitor sees their own installs and picks one; an account without any is told
        // that someone else installed it.
        Err(error) if error.is_already_exists() => {
            let installs = match &account {
                Some(account) => store
                    .installs(account.id())
                    .await
                    .map_err(WebError::store)?,
                None => Vec::new(),
            };
            if installs.is_empty() {
                return Err(WebError::InstalledElsewhere);
            }
            let page = AlreadyInstalledPage {
                layout: Layout::with_forms(site.sandbox, session),
                installs: installs
                    .iter()
                    .map(|install| InstallChoice {
                        name: install.install_name.to_string(),
                        workspace: install.workspace_slug().to_owned(),
                        connected: install.is_connected(),
                    })
                    .collect(),
            };
            return Ok(HttpResponse::build(actix_web::http::StatusCode::CONFLICT)
                .content_type(actix_web::http::header::ContentType::html())
                .body(askama::Template::render(&page)?));
        }
        Err(error) => {
            return Err(WebError::segment(
                "exchanging the authorization code for an install token",
            )(error));
        }
    };
    if install.scope.names_a_source() && install.source().is_none() {
        return Err(WebError::MissingSource(install.scope.to_string()));
    }
    tracing::info!(
        install = %install.install_name,
        workspace = ?install.workspace().map(|w| w.as_str()),
        source = ?install.source().map(|s| s.as_str()),
        scope = %install.scope,
        "install token received"
    );
    // Segment said yes: now the visitor is worth an account, if they have none yet.
    let (account, new_cookie) = account_or_sign_up(login, store, session, account, client).await?;
    let saved = store
        .save_install(account.id(), &install)
        .await
        .map_err(|error| match error {
            crate::store::StoreError::NotYours(_) => WebError::InstalledElsewhere,
            other => WebError::store(other),
        })?;
    for old in saved.superseded {
        tracing::info!(install = %old, new = %install.install_name, "a stored install was superseded by a new install on its workspace");
    }
    session.log_in(&install.install_name)?;
    let workspace = install.workspace_slug();
    session.flash(
        FlashKind::Success,
        format!(
            "Connected to Segment: the App is installed on the {workspace} workspace ({}).",
            install.install_name
        ),
    )?;
    with_cookie(see_other("/destination"), new_cookie)
}

/// `POST /logout`: ends the session (on the server: a copy of its cookie is worth nothing). The
/// install stays in Segment and with the account.
pub async fn logout(session: TypedSession) -> Result<HttpResponse, WebError> {
    session.log_out();
    session.flash(
        FlashKind::Info,
        "You are logged out. This browser still remembers your demo account: Enable with Segment \
         logs you in again; Forget this account (below) if this is not your browser.",
    )?;
    Ok(see_other("/"))
}

/// The form of `POST /installs/use`.
#[derive(Debug, Deserialize)]
pub struct UseInstall {
    install: String,
}

/// `POST /installs/use`: uses one of the account's own installs (offered after Segment's
/// "already installed"), connected again if it was disconnected.
pub async fn use_install(
    store: web::Data<Store>,
    session: TypedSession,
    account: CurrentAccount,
    form: web::Form<UseInstall>,
) -> Result<HttpResponse, WebError> {
    let name = crate::segment::InstallName::parse(&form.install)
        .map_err(|reason| WebError::BadRequest(format!("install: {reason}")))?;
    let Some(install) = installs::choose(&store, &session, &account, &name).await? else {
        return Err(WebError::BadRequest(
            "that install is not one of your account's".into(),
        ));
    };
    let workspace = install.workspace_slug();
    session.flash(
        FlashKind::Success,
        format!("You are using your install on the {workspace} workspace."),
    )?;
    Ok(see_other("/destination"))
}

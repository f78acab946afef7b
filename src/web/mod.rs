//! The web layer: routes, handlers, the session and the pages. It turns browser requests into
//! calls of the Segment client and the answers into pages; it never builds a Segment URL or
//! JSON body itself.
//!
//! | route                         | handler                   |
//! |-------------------------------|---------------------------|
//! | `GET /`                       | [`home`]                  |
//! | `GET /auth/segment`           | [`auth::start`]           |
//! | `GET /auth/segment/callback`  | [`auth::callback`]        |
//! | `POST /logout`                | [`auth::logout`]          |
//! | `GET /account`, `POST /account` | [`account::show`], [`account::create`] |
//! | `POST /account/rotate-key`    | [`account::rotate_key`]   |
//! | `POST /account/sign-out`      | [`account::sign_out`]     |
//! | `GET /api/v1/me`              | [`account::me`]           |
//! | `GET /destination`            | [`destination::show`]     |
//! | `GET /destination/sources`    | [`destination::sources`]  |
//! | `POST /destination/source`    | [`destination::choose_source`] |
//! | `POST /destination/enable`    | [`destination::enable`]   |
//! | `POST /destination/disable`   | [`destination::disable`]  |
//! | `POST /destination/remove`    | [`destination::remove`]   |
//! | `GET /destination/configure`  | [`configure::show`]       |
//! | `POST /destination/configure` | [`configure::save`]       |
//! | `GET /healthz`                | [`healthz`]               |
//! | `GET /readyz`                 | [`readyz`]                |
//! | `GET /metrics`                | [`metrics`]               |
//! | `GET /static/style.css`       | [`stylesheet`]            |

pub mod account;
pub mod auth;
pub mod configure;
pub mod description;
pub mod destination;
pub mod error;
pub mod extract;
pub mod installs;
pub mod login;
pub mod pages;
pub mod proxy;
pub mod security;
pub mod session;
pub mod settings_form;
pub mod tokens;

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use crate::secret::DestinationKey;
use crate::segment::{DestinationSlug, SegmentClient};
use error::WebError;
use pages::{AccountView, HomePage, Layout, render};
use session::TypedSession;

/// What every handler can reach.
pub struct AppState {
    pub segment: SegmentClient,
    pub destination_slug: DestinationSlug,
    /// Pushed into the destination's `apiKey` setting by Enable instead of the account's own
    /// key, when set (a demo override).
    pub destination_api_key: Option<DestinationKey>,
    /// Accounts and installs (with their tokens).
    pub store: crate::store::Store,
    /// Where the sessions are (the database, or Redis): for `/readyz`.
    pub sessions: crate::store::Sessions,
    /// The app is served over https (cookies are `Secure`).
    pub https: bool,
    /// The app talks to the built-in sandbox (pages show a marker).
    pub sandbox: bool,
    /// Takes turns on install token refreshes, one per install at a time.
    pub tokens: tokens::TokenKeeper,
    /// Where the browser reaches this app: REDIRECT_URL's origin (`http://localhost:8888`)
    /// and its `Host` (`localhost:8888`).
    pub public_origin: String,
    pub public_host: String,
    /// Whose `X-Forwarded-*` headers are believed (`TRUSTED_PROXIES`).
    pub trusted_proxies: proxy::TrustedProxies,
    /// What `/metrics` shows.
    pub metrics: crate::metrics::Metrics,
    /// Who the partner's user on a request is ([`login::DemoAccounts`] unless the app was built
    /// with another).
    pub login: std::sync::Arc<dyn login::Login>,
}

impl AppState {
    /// The key Enable pushes into the destination's `apiKey`: the demo override if set, else
    /// the visitor's own key, as the login gives it (by default unsealed from the store).
    pub async fn api_key_for(
        &self,
        account: &account::CurrentAccount,
    ) -> Result<DestinationKey, WebError> {
        match &self.destination_api_key {
            Some(key) => Ok(key.clone()),
            None => self.login.api_key(&self.store, account).await,
        }
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home))
        .route("/healthz", web::get().to(healthz))
        .route("/readyz", web::get().to(readyz))
        .route("/metrics", web::get().to(metrics))
        .route("/api/v1/me", web::get().to(account::me))
        .route("/account", web::get().to(account::show))
        .route("/account", web::post().to(account::create))
        .route("/account/rotate-key", web::post().to(account::rotate_key))
        .route("/account/sign-out", web::post().to(account::sign_out))
        .route("/static/style.css", web::get().to(stylesheet))
        .route("/static/favicon.svg", web::get().to(favicon))
        .route("/favicon.ico", web::get().to(favicon))
        .route("/auth/segment", web::get().to(auth::start))
        .route("/auth/segment/callback", web::get().to(auth::callback))
        .route("/logout", web::post().to(auth::logout))
        .route("/destination", web::get().to(destination::show))
        .route("/destination/sources", web::get().to(destination::sources))
        .route(
            "/destination/source",
            web::post().to(destination::choose_source),
        )
        .route("/destination/enable", web::post().to(destination::enable))
        .route("/destination/disable", web::post().to(destination::disable))
        .route("/destination/remove", web::post().to(destination::remove))
        .route(
            "/destination/disconnect",
            web::post().to(destination::disconnect),
        )
        .route("/destination/configure", web::get().to(configure::show))
        .route("/destination/configure", web::post().to(configure::save))
        .app_data(web::QueryConfig::default().error_handler(|error, _| {
            WebError::BadRequest(format!("the query string cannot be read: {error}")).into()
        }))
        .app_data(
            web::FormConfig::default()
                .limit(16 * 1024)
                .error_handler(|error, _| {
                    WebError::BadRequest(format!("the form cannot be read: {error}")).into()
                }),
        );
}

/// Anything else: the error page's 404.
pub async fn not_found(request: actix_web::HttpRequest) -> Result<HttpResponse, WebError> {
    use actix_web::HttpMessage;
    request.extensions_mut().insert(Unmatched);
    Err(WebError::NotFound)
}

/// Set on a request that no route matched (the default service answered it).
pub struct Unmatched;

/// The route a request took, for the metrics: `None` when no route matched. The app's routes
/// are all plain paths, so the path is the pattern; the sandbox's (which have parameters) are
/// one label. Cheaper than actix-web's `match_pattern()`, which matches the path against every
/// route again.
pub fn route_label(request: &actix_web::HttpRequest) -> Option<&str> {
    use actix_web::HttpMessage;
    if request.extensions().get::<Unmatched>().is_some() {
        return None;
    }
    let path = request.path();
    if path == "/sandbox" || path.starts_with("/sandbox/") {
        return Some("/sandbox");
    }
    Some(path)
}

/// `GET /`: what this app is, and the button that starts the install. Viewing it makes
/// nothing: no account, and no session for a visitor without one.
pub async fn home(
    state: web::Data<AppState>,
    session: TypedSession,
    account: Option<account::CurrentAccount>,
) -> Result<HttpResponse, WebError> {
    let (account, connected_workspace) = match account {
        None => (None, None),
        Some(account) => {
            let installs = state
                .store
                .installs(account.id())
                .await
                .map_err(WebError::store)?;
            // The install the session names, if the account holds it (looked up with it).
            let connected_workspace = account
                .in_use
                .as_ref()
                .filter(|install| install.is_connected())
                .map(|install| install.workspace_slug().to_owned());
            let view = AccountView {
                id: account.id(),
                key_prefix: account.account.api_key_prefix.clone(),
                new_key: session.take_new_api_key().map(|k| k.expose().to_owned()),
                has_installs: !installs.is_empty(),
            };
            (Some(view), connected_workspace)
        }
    };
    let layout = if account.is_some() {
        Layout::with_forms(state.sandbox, &session)
    } else {
        Layout::without_forms(state.sandbox, &session)
    };
    render(&HomePage {
        layout,
        account,
        destination_slug: state.destination_slug.to_string(),
        scope: state.segment.scope().to_string(),
        connected_workspace,
    })
}

/// `GET /healthz`: the process answers. Does not call Segment.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// `GET /readyz`: the app can serve pages: its database answers, and so does Redis when the
/// sessions are there. Does not call Segment, and makes nothing (no account, no session).
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let (database, sessions) = tokio::join!(state.store.ping(), state.sessions.ping());
    if let Err(error) = &database {
        tracing::warn!(%error, "not ready: the database does not answer");
    }
    if let Err(error) = &sessions {
        tracing::warn!(%error, "not ready: Redis does not answer");
    }
    let word = |ok: bool| if ok { "ok" } else { "no answer" };
    let body = serde_json::json!({
        "status": if database.is_ok() && sessions.is_ok() { "ready" } else { "unavailable" },
        "database": word(database.is_ok()),
        "sessions": match &state.sessions {
            crate::store::Sessions::Database(_) => "in the database",
            crate::store::Sessions::Redis(_) => word(sessions.is_ok()),
        },
    });
    if database.is_ok() && sessions.is_ok() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// `GET /metrics`: the operators' metrics (`crate::metrics`), for Prometheus to scrape from
/// each instance directly (the nginx recipe keeps it off the public side).
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.render())
}

/// `GET /static/style.css`, compiled in so the app runs from any directory.
pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("../../static/style.css"))
}

/// `GET /static/favicon.svg` (and `/favicon.ico`, for clients that ask for it anyway).
pub async fn favicon() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("image/svg+xml")
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(include_str!("../../static/favicon.svg"))
}

/// A redirect that makes the browser GET `location` (also after a POST).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}

//! The web layer: routes, handlers, the session and the pages. It turns browser requests into
//! calls of the Segment client and the answers into pages; it never builds a Segment URL or
//! JSON body itself.
//!
//! Every route, with its handler and what it is for, is in one table: [`ROUTES`] (the
//! `route_table!` below), which the router, the property test and the README follow.

pub mod account;
pub mod auth;
pub mod configure;
pub mod description;
pub mod destination;
pub mod error;
pub mod error_page;
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

/// Writes the router and [`ROUTES`] from one table, so the two cannot disagree.
macro_rules! route_table {
    ($($method:ident $path:literal => $handler:path : $what:literal;)*) => {
        /// Every route of the app: method, path and what it is. The router is made from the same
        /// table; the property test fuzzes every route in it, and a test checks that the README's
        /// route table lists exactly these.
        pub const ROUTES: &[Route] = &[$(Route {
            method: route_table!(@name $method),
            path: $path,
            what: $what,
        }),*];

        pub fn routes(cfg: &mut web::ServiceConfig) {
            $(cfg.route($path, web::$method().to($handler));)*
            cfg.app_data(web::QueryConfig::default().error_handler(|error, _| {
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
    };
    (@name get) => { "GET" };
    (@name post) => { "POST" };
}

/// One route of [`ROUTES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// `GET` or `POST`.
    pub method: &'static str,
    pub path: &'static str,
    pub what: &'static str,
}

route_table! {
    get "/" => home: "what this app is, and Enable with Segment";
    get "/auth/segment" => auth::start: "starts the install: off to Segment's consent screen";
    get "/auth/segment/callback" => auth::callback: "Segment's redirect back: the code exchanged, the install kept";
    post "/logout" => auth::logout: "ends the session (the install stays with the account)";
    get "/account" => account::show: "offers a demo account";
    post "/account" => account::create: "makes the demo account and shows its API key once";
    post "/account/rotate-key" => account::rotate_key: "Replace API key";
    post "/account/sign-out" => account::sign_out: "Sign out of this demo account";
    get "/api/v1/me" => account::me: "the partner API Segment's credential test calls";
    get "/destination" => destination::show: "the destination on the consented source, and its actions";
    get "/destination/sources" => destination::sources: "the source picker (wider scopes)";
    post "/destination/source" => destination::choose_source: "picks the source to manage (wider scopes)";
    post "/destination/enable" => destination::enable: "Enable: creates or updates the destination, with the API key";
    post "/destination/disable" => destination::disable: "Disable";
    post "/destination/remove" => destination::remove: "Remove the destination";
    post "/destination/disconnect" => destination::disconnect: "Disconnect: the app stops using the install";
    get "/destination/configure" => configure::show: "the settings form, from the catalog";
    post "/destination/configure" => configure::save: "saves the changed settings";
    get "/healthz" => healthz: "the process answers";
    get "/readyz" => readyz: "the database (and Redis) answer";
    get "/metrics" => metrics: "the operators' metrics";
    get "/static/style.css" => stylesheet: "the stylesheet";
    get "/static/favicon.svg" => favicon: "the icon";
    get "/favicon.ico" => favicon: "the icon, where browsers look for it";
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

#[cfg(test)]
mod tests {
    use super::ROUTES;

    /// The README's route table lists exactly the routes of [`ROUTES`], in its order.
    #[test]
    fn the_readme_lists_every_route() {
        let readme = include_str!("../../README.md");
        let table = readme
            .split("### Routes")
            .nth(1)
            .expect("the README has a Routes section");
        let listed: Vec<(String, String)> = table
            .lines()
            .skip_while(|line| !line.starts_with("| method"))
            .skip(2)
            .take_while(|line| line.starts_with('|'))
            .map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                (cells[1].to_owned(), cells[2].trim_matches('`').to_owned())
            })
            .collect();
        let routes: Vec<(String, String)> = ROUTES
            .iter()
            .map(|r| (r.method.to_owned(), r.path.to_owned()))
            .collect();
        assert_eq!(listed, routes, "the README's route table is not the app's");
    }
}

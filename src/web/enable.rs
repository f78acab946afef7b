//! The app's side of the flow library (`enable_with_segment`), as any partner's would be: who
//! the signed-in user is (the account the login put on the request, or the demo's new account),
//! and the app's own pages around the flow ("welcome back", the landing on `/destination` with a
//! flash, "already installed", and every failure on the error page). The library mounts the
//! routes, moves the browser to the public origin, runs the flow and keeps the installs (in its
//! [`SqlStore`], on the app's database).

use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use enable_with_segment::{
    ConfigApi, EnableWithSegment, Event, FlowError, Hooks, InstallStore, NewUser, Users,
};

use super::error::{FlowFailure, WebError};
use super::installs;
use super::login::{CurrentAccount, Login, SignedUp};
use super::pages::{AlreadyInstalledPage, InstallChoice, Layout, see_other};
use super::proxy;
use super::session::{FlashKind, TypedSession};
use super::state::Site;
use crate::metrics::Metrics;
use crate::segment::InstallToken;
use crate::store::{SqlStore, Store};

/// The flow, as the app mounts it: installs in the library's store on the app's database, for
/// its accounts, with its pages.
pub type Enable = EnableWithSegment<SqlStore, Accounts, AppPages>;

/// The Config API for one of an account's installs.
pub type Api<'a> = ConfigApi<'a, SqlStore, Accounts, AppPages>;

/// The app's users are its accounts, as its [`Login`] finds them.
pub struct Accounts {
    pub login: web::Data<dyn Login>,
    pub store: Store,
    pub site: web::Data<Site>,
}

impl Users for Accounts {
    type Id = i64;
    type Error = WebError;

    async fn signed_in(&self, request: &HttpRequest) -> Result<Option<i64>, WebError> {
        Ok(request
            .extensions()
            .get::<CurrentAccount>()
            .map(CurrentAccount::id))
    }

    fn signs_up(&self) -> bool {
        self.login.signs_up()
    }

    async fn may_sign_up(&self, request: &HttpRequest) -> Result<(), WebError> {
        self.login.admit(self.site.client_of(request))
    }

    async fn sign_up(&self, request: &HttpRequest) -> Result<Option<NewUser<i64>>, WebError> {
        let session = TypedSession::of_request(request);
        let SignedUp { account, cookie } = self.login.sign_up(&self.store, &session).await?;
        Ok(Some(match cookie {
            Some(cookie) => NewUser::with_cookie(account.id(), cookie),
            None => NewUser::new(account.id()),
        }))
    }
}

/// The app's pages around the flow.
pub struct AppPages {
    pub installs: SqlStore,
    pub site: web::Data<Site>,
    pub metrics: Metrics,
}

impl AppPages {
    /// "Welcome back" for an account whose install is stored and fine (Segment's FAQ: skip the
    /// flow then), unless the visitor asked to connect another workspace (`?new=1`).
    async fn welcome_back(&self, request: &HttpRequest) -> Result<Option<HttpResponse>, WebError> {
        let query = web::Query::<StartParams>::from_query(request.query_string())
            .map_err(|e| WebError::BadRequest(format!("the query string cannot be read: {e}")))?;
        let account = request.extensions().get::<CurrentAccount>().cloned();
        let Some(account) = account.filter(|_| query.new.as_deref() != Some("1")) else {
            return Ok(None);
        };
        let session = TypedSession::of_request(request);
        let Some(install) = installs::resume(&self.installs, &session, &account).await? else {
            return Ok(None);
        };
        if install.refused.is_some() {
            return Ok(None);
        }
        let workspace = install.token.workspace_slug();
        session.flash(
            FlashKind::Success,
            format!(
                "Welcome back: this is the install you made earlier on the {workspace} workspace."
            ),
        )?;
        Ok(Some(see_other("/destination")))
    }

    /// Installed: the session uses the install from now on, and the landing page says so.
    fn landed(
        &self,
        request: &HttpRequest,
        install: &InstallToken,
        landing: &str,
    ) -> Result<HttpResponse, WebError> {
        let session = TypedSession::of_request(request);
        session.log_in(&install.install_name)?;
        let workspace = install.workspace_slug();
        session.flash(
            FlashKind::Success,
            format!(
                "Connected to Segment: the App is installed on the {workspace} workspace ({}).",
                install.install_name
            ),
        )?;
        Ok(see_other(landing))
    }

    /// Segment said "already installed" without saying where: the visitor's own installs to
    /// pick from, or (an account without any) the "already installed" page: another account
    /// here has it, or a connection this app did not keep.
    async fn already_installed(
        &self,
        request: &HttpRequest,
        account: Option<&i64>,
    ) -> Result<HttpResponse, WebError> {
        let installs = match account {
            Some(account) => self
                .installs
                .installs(account)
                .await
                .map_err(WebError::installs)?,
            None => Vec::new(),
        };
        if installs.is_empty() {
            return Err(WebError::Flow(Box::new(FlowError::AlreadyInstalled)));
        }
        let session = TypedSession::of_request(request);
        let page = AlreadyInstalledPage {
            layout: Layout::with_forms(self.site.sandbox, &session),
            installs: installs
                .iter()
                .map(|install| InstallChoice {
                    name: install.name().to_string(),
                    workspace: install.token.workspace_slug().to_owned(),
                    connected: install.is_connected(),
                })
                .collect(),
        };
        Ok(HttpResponse::build(StatusCode::CONFLICT)
            .content_type(ContentType::html())
            .body(askama::Template::render(&page)?))
    }
}

/// The query of `GET /auth/segment` the app reads. Other parameters are ignored.
#[derive(Debug, serde::Deserialize)]
struct StartParams {
    /// `1`: connect another workspace, even with an install stored.
    new: Option<String>,
}

/// A page, or the error page for why there is none.
fn page(result: Result<HttpResponse, WebError>) -> HttpResponse {
    result.unwrap_or_else(HttpResponse::from_error)
}

impl Hooks<Accounts, SqlStore> for AppPages {
    async fn before_start(
        &self,
        request: &HttpRequest,
        _account: Option<&i64>,
    ) -> Result<Option<HttpResponse>, FlowFailure> {
        Ok(self
            .welcome_back(request)
            .await
            .unwrap_or_else(|error| Some(HttpResponse::from_error(error))))
    }

    async fn installed(
        &self,
        request: &HttpRequest,
        _account: &i64,
        install: &InstallToken,
        landing: &str,
    ) -> HttpResponse {
        page(self.landed(request, install, landing))
    }

    async fn failed(
        &self,
        request: &HttpRequest,
        account: Option<&i64>,
        error: FlowFailure,
    ) -> HttpResponse {
        match error {
            FlowError::AlreadyInstalled => page(self.already_installed(request, account).await),
            other => HttpResponse::from_error(WebError::Flow(Box::new(other))),
        }
    }

    /// Behind a trusted proxy, what the browser used comes from the proxy's headers; from
    /// anyone else only `Host` is believed, and the scheme is the public origin's.
    fn browser_origin(&self, request: &HttpRequest) -> String {
        let origin = proxy::browser_origin(request, &self.site.trusted_proxies);
        let public_scheme = if self.site.https { "https" } else { "http" };
        let scheme = origin.scheme.as_deref().unwrap_or(public_scheme);
        format!("{scheme}://{}", origin.host)
    }

    fn event(&self, event: Event) {
        match event {
            Event::FlowStarted => self.metrics.flow_started(),
            Event::FlowEnded(outcome) => self.metrics.flow_completed(outcome.as_str()),
            Event::Refresh(outcome) => self.metrics.refresh(outcome.as_str()),
            _ => {}
        }
    }
}

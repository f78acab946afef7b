//! The app's side of the flow library (`enable_with_segment`): who the signed-in user is (the
//! account the login put on the request, or the demo's new account), and the app's own pages
//! around the flow (the browser moved to the public origin, "welcome back", the landing on
//! `/destination` with a flash, "already installed", and every failure on the error page).

use actix_web::cookie::Cookie;
use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use enable_with_segment::{
    EnableWithSegment, Event, FlowError, Hooks, StoreError as LibraryError, UserError, Users,
};

use super::demo_login::with_cookie;
use super::error::WebError;
use super::installs;
use super::login::{CurrentAccount, Login, account_or_sign_up};
use super::pages::{AlreadyInstalledPage, InstallChoice, Layout, see_other};
use super::proxy;
use super::session::{FlashKind, TypedSession};
use super::state::Site;
use crate::metrics::Metrics;
use crate::segment::InstallToken;
use crate::store::Store;

/// The flow, as the app mounts it: installs in the app's store, for its accounts, with its
/// pages.
pub type Enable = EnableWithSegment<Store, Accounts, AppPages>;

/// The account the demo's login made at the callback: its cookie goes on the response.
struct NewAccountCookie(Cookie<'static>);

/// The app's users are its accounts, as its [`Login`] finds them.
pub struct Accounts {
    pub login: web::Data<dyn Login>,
    pub store: Store,
    pub site: web::Data<Site>,
}

impl Users for Accounts {
    type Id = i64;

    async fn signed_in(&self, request: &HttpRequest) -> Result<Option<i64>, UserError> {
        Ok(request
            .extensions()
            .get::<CurrentAccount>()
            .map(CurrentAccount::id))
    }

    fn signs_up(&self) -> bool {
        self.login.signs_up()
    }

    async fn sign_up(&self, request: &HttpRequest) -> Result<Option<i64>, UserError> {
        let session = TypedSession::of_request(request);
        let client = self.site.client_of(request);
        let (account, cookie) =
            account_or_sign_up(&**self.login, &self.store, &session, None, client).await?;
        if let Some(cookie) = cookie {
            request.extensions_mut().insert(NewAccountCookie(cookie));
        }
        let id = account.id();
        request.extensions_mut().insert(account);
        Ok(Some(id))
    }
}

/// The app's pages around the flow.
pub struct AppPages {
    pub store: Store,
    pub site: web::Data<Site>,
    pub metrics: Metrics,
}

impl AppPages {
    /// Before the flow: the browser moved to the public origin (behind a trusted proxy, what
    /// the browser used comes from the proxy's headers), and "welcome back" for an account
    /// whose install is stored and fine (Segment's FAQ: skip the flow then).
    async fn before(&self, request: &HttpRequest) -> Result<Option<HttpResponse>, WebError> {
        let query = web::Query::<StartParams>::from_query(request.query_string())
            .map_err(|e| WebError::BadRequest(format!("the query string cannot be read: {e}")))?;
        let another = query.new.as_deref() == Some("1");
        let moved = query.moved.as_deref() == Some("1");
        let site = &self.site;
        let origin = proxy::browser_origin(request, &site.trusted_proxies);
        let elsewhere = !origin.host.eq_ignore_ascii_case(&site.public_host)
            || origin
                .scheme
                .is_some_and(|scheme| !site.public_origin.starts_with(&format!("{scheme}://")));
        if elsewhere && !moved {
            let new = if another { "&new=1" } else { "" };
            return Ok(Some(see_other(&format!(
                "{}/auth/segment?moved=1{new}",
                site.public_origin
            ))));
        }
        let account = request.extensions().get::<CurrentAccount>().cloned();
        let Some(account) = account.filter(|_| !another) else {
            return Ok(None);
        };
        let session = TypedSession::of_request(request);
        let Some(install) = installs::resume(&self.store, &session, &account).await? else {
            return Ok(None);
        };
        if install.attention().is_some() {
            return Ok(None);
        }
        let workspace = install.workspace_slug();
        session.flash(
            FlashKind::Success,
            format!(
                "Welcome back: this is the install you made earlier on the {workspace} workspace."
            ),
        )?;
        Ok(Some(see_other("/destination")))
    }

    /// Installed: the session uses the install from now on, and the destination page says so.
    async fn landed(
        &self,
        request: &HttpRequest,
        install: &InstallToken,
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
        let cookie = request
            .extensions_mut()
            .remove::<NewAccountCookie>()
            .map(|c| c.0);
        with_cookie(see_other("/destination"), cookie)
    }

    /// Segment said "already installed" without saying where: the visitor's own installs to
    /// pick from, or (an account without any) that someone else installed it.
    async fn already_installed(
        &self,
        request: &HttpRequest,
        account: Option<&i64>,
    ) -> Result<HttpResponse, WebError> {
        let installs = match account {
            Some(account) => self
                .store
                .installs(*account)
                .await
                .map_err(WebError::store)?,
            None => Vec::new(),
        };
        if installs.is_empty() {
            return Err(WebError::InstalledElsewhere);
        }
        let session = TypedSession::of_request(request);
        let page = AlreadyInstalledPage {
            layout: Layout::with_forms(self.site.sandbox, &session),
            installs: installs
                .iter()
                .map(|install| InstallChoice {
                    name: install.install_name.to_string(),
                    workspace: install.workspace_slug().to_owned(),
                    connected: install.is_connected(),
                })
                .collect(),
        };
        Ok(HttpResponse::build(StatusCode::CONFLICT)
            .content_type(ContentType::html())
            .body(askama::Template::render(&page)?))
    }
}

/// The query of `GET /auth/segment`. Other parameters are ignored.
#[derive(Debug, serde::Deserialize)]
struct StartParams {
    /// `1`: connect another workspace, even with an install stored.
    new: Option<String>,
    /// `1`: the browser was already moved to `REDIRECT_URL`'s origin (never move it twice).
    moved: Option<String>,
}

/// The library's failure, in the app's words (the error page shows it).
pub fn web_error(error: FlowError) -> WebError {
    match error {
        FlowError::NoFlow => WebError::NoFlow,
        FlowError::StateMismatch => WebError::StateMismatch,
        FlowError::Expired => WebError::FlowExpired,
        FlowError::Provider {
            error,
            description,
            hint,
        } => WebError::Provider {
            error,
            description,
            hint,
        },
        FlowError::BadQuery(reason) => {
            WebError::BadRequest(format!("the query string cannot be read: {reason}"))
        }
        FlowError::MissingCode => WebError::MissingCode,
        FlowError::MissingSource(scope) => WebError::MissingSource(scope),
        FlowError::AlreadyInstalled | FlowError::InstalledElsewhere => WebError::InstalledElsewhere,
        FlowError::SignInFirst => WebError::SignInFirst,
        FlowError::Aborted(reason) => WebError::BadRequest(reason),
        FlowError::Segment(error) => {
            WebError::segment("exchanging the authorization code for an install token")(error)
        }
        FlowError::Store(error) => store_error(error),
        FlowError::Users(error) => match error.downcast::<WebError>() {
            Ok(error) => *error,
            Err(other) => WebError::Session(other.to_string()),
        },
    }
}

/// The library's store failure, as the app's (a sealed token that no longer opens, say).
pub fn store_error(error: LibraryError) -> WebError {
    match error {
        LibraryError::HeldByAnotherUser => WebError::InstalledElsewhere,
        LibraryError::Failed(error) => match error.downcast::<crate::store::StoreError>() {
            Ok(error) => WebError::store(*error),
            Err(other) => WebError::Store(other.to_string()),
        },
    }
}

/// A page, or the error page for why there is none.
fn page(result: Result<HttpResponse, WebError>) -> HttpResponse {
    result.unwrap_or_else(HttpResponse::from_error)
}

impl Hooks<i64> for AppPages {
    async fn before_start(
        &self,
        request: &HttpRequest,
        _account: Option<&i64>,
    ) -> Result<Option<HttpResponse>, FlowError> {
        Ok(self
            .before(request)
            .await
            .unwrap_or_else(|error| Some(HttpResponse::from_error(error))))
    }

    async fn installed(
        &self,
        request: &HttpRequest,
        _account: &i64,
        install: &InstallToken,
        _landing: &str,
    ) -> HttpResponse {
        page(self.landed(request, install).await)
    }

    async fn failed(
        &self,
        request: &HttpRequest,
        account: Option<&i64>,
        error: FlowError,
    ) -> HttpResponse {
        match error {
            FlowError::AlreadyInstalled => page(self.already_installed(request, account).await),
            other => HttpResponse::from_error(web_error(other)),
        }
    }

    fn event(&self, event: Event) {
        match event {
            Event::FlowStarted => self.metrics.flow_started(),
            Event::FlowEnded(outcome) => self.metrics.flow_completed(outcome),
            Event::Refresh(outcome) => self.metrics.refresh(outcome),
        }
    }
}

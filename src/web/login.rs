//! Who the partner's user on a request is: **the seam a partner replaces with their own login.**
//!
//! The app asks a [`Login`] once per page request (in [`middleware`]) and puts
//! the answer on the request as a [`CurrentAccount`]; every handler, install and refresh goes
//! through that account, and nothing else in the app knows how users sign in. An account is the
//! app's row for one of the partner's users: it holds the user's installs and the API key that
//! Enable pushes.
//!
//! - [`DemoAccounts`](super::demo_login::DemoAccounts) (the default): the demo's accounts, one
//!   per browser, remembered by the account cookie (a random credential, stored hashed), made by
//!   Enable with Segment or `/account` (`web/demo_login.rs`).
//! - `examples/proxy_login.rs`: the user an authenticating reverse proxy (oauth2-proxy) names
//!   in `X-Forwarded-User`, believed only from the proxy's address. Its accounts are keyed by
//!   that user id ([`Store::account_for_user`]).
//!
//! Not for: sessions (the Segment flow's state lives in the session, whoever the user is) or
//! the partner API's key check (`/api/v1/me` looks the key up in the store).

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use actix_session::SessionExt;
use actix_web::body::MessageBody;
use actix_web::cookie::Cookie;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};

use super::error::WebError;
use super::session::TypedSession;
use crate::secret::Secret;
use crate::segment::InstallName;
use crate::store::{Account, Store, StoreError};
use enable_with_segment::{FlowError, Install};

/// What a login says about one request.
pub struct Visitor {
    /// The signed-in user's account (with the install `in_use` if it holds it), if anyone is
    /// signed in.
    pub account: Option<CurrentAccount>,
    /// A cookie the response must set (the demo removes a cookie that opens nothing).
    pub cookie: Option<Cookie<'static>>,
}

/// An account [`Login::sign_up`] made, and the cookie the response must set for it.
pub struct SignedUp {
    pub account: CurrentAccount,
    pub cookie: Option<Cookie<'static>>,
}

/// A boxed future, so that the app can hold any login as `Arc<dyn Login>`.
pub type Answer<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Who the partner's user on a request is, and which key Enable pushes for them.
pub trait Login: Send + Sync + 'static {
    /// The visitor of `request`, found through `store`. `in_use` is the install the session
    /// names: look it up with the account ([`Store::account_by_login`] and
    /// [`Store::account_for_user`] do both in one query), or leave it `None`.
    fn visitor<'a>(
        &'a self,
        request: &'a ServiceRequest,
        store: &'a Store,
        in_use: Option<&'a InstallName>,
    ) -> Answer<'a, Result<Visitor, StoreError>>;

    /// Whether [`Login::sign_up`] makes accounts (the demo's does). Then a visitor without one
    /// may start Enable with Segment, and gets their account when the flow succeeds; otherwise
    /// (the default) they get the "sign in first" page at once, before going anywhere.
    fn signs_up(&self) -> bool {
        false
    }

    /// Whether [`Login::sign_up`] may make an account for the visitor at `client` (their
    /// address, as `TRUSTED_PROXIES` allow), asked first: at the install flow's callback, before
    /// Segment installs anything. A login that bounds how many accounts one address makes (the
    /// demo's does) spends one here. Default: yes.
    fn admit(&self, _client: Option<IpAddr>) -> Result<(), WebError> {
        Ok(())
    }

    /// A visitor with no account finished something that needs one (Enable with Segment, asking
    /// for an API key), and [`Login::admit`] let them. Only the demo's login makes an account
    /// then, and the cookie that holds it; any other login leaves accounts to the partner's
    /// sign-in, and the visitor gets the "sign in first" page (the default).
    fn sign_up<'a>(
        &'a self,
        _store: &'a Store,
        _session: &'a TypedSession,
    ) -> Answer<'a, Result<SignedUp, WebError>> {
        Box::pin(async { Err(WebError::flow(FlowError::SignInFirst)) })
    }

    /// The API key Enable pushes into the destination for `account`: by default the key the
    /// store keeps for it (sealed). A partner with a key service of its own fetches it here.
    fn api_key<'a>(
        &'a self,
        store: &'a Store,
        account: &'a CurrentAccount,
    ) -> Answer<'a, Result<Secret, WebError>> {
        Box::pin(async move {
            let key = store.api_key(&account.account).map_err(WebError::store)?;
            Ok(key.as_secret().clone())
        })
    }
}

/// The visitor's partner account. Its API key is read (unsealed) only where it is pushed.
#[derive(Debug, Clone)]
pub struct CurrentAccount {
    pub account: Account,
    /// The install the session names, if this account holds it: looked up with the account, so
    /// a page costs one query for both (see `web::installs::current`).
    pub in_use: Option<Install>,
}

impl CurrentAccount {
    pub fn id(&self) -> i64 {
        self.account.id
    }
}

impl FromRequest for CurrentAccount {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<CurrentAccount, actix_web::Error>>;

    /// Fails for a visitor without an account; take `Option<CurrentAccount>` where that is fine.
    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            request
                .extensions()
                .get::<CurrentAccount>()
                .cloned()
                .ok_or_else(|| WebError::NoAccount.into()),
        )
    }
}

/// Middleware: puts the visitor's [`CurrentAccount`] on the request, as the app's login finds
/// it, and sets the cookie the login asks for. Requests that are not for pages (health checks,
/// static files, the partner API) are not looked at.
pub async fn middleware(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    // The path as routing sees it (`/%61pi/…` is `/api/…`).
    let path = request.match_info().as_str();
    let not_for_pages = path == "/healthz"
        || path == "/readyz"
        || path == "/favicon.ico"
        || path.starts_with("/static/")
        || path.starts_with("/api/");
    let (Some(login), Some(store)) = (
        request.app_data::<web::Data<dyn Login>>().cloned(),
        request.app_data::<web::Data<Store>>().cloned(),
    ) else {
        return Ok(next.call(request).await?.map_into_boxed_body());
    };
    if not_for_pages {
        return Ok(next.call(request).await?.map_into_boxed_body());
    }
    let in_use = request
        .get_session()
        .get::<InstallName>(super::session::INSTALL)
        .ok()
        .flatten();
    let visitor = match login.visitor(&request, &store, in_use.as_ref()).await {
        Ok(visitor) => visitor,
        Err(error) => {
            return Ok(request
                .error_response(WebError::store(error))
                .map_into_boxed_body());
        }
    };
    if let Some(account) = visitor.account {
        request.extensions_mut().insert(account);
    }
    let mut response = next.call(request).await?.map_into_boxed_body();
    if let Some(cookie) = visitor.cookie {
        response.response_mut().add_cookie(&cookie)?;
    }
    Ok(response)
}

/// The visitor's account: `current`, or, for a visitor without one, what the login's
/// [`Login::sign_up`] gives (the demo makes one; other logins send the visitor to sign in).
pub async fn account_or_sign_up(
    login: &dyn Login,
    store: &Store,
    session: &TypedSession,
    current: Option<CurrentAccount>,
    client: Option<IpAddr>,
) -> Result<(CurrentAccount, Option<Cookie<'static>>), WebError> {
    match current {
        Some(current) => Ok((current, None)),
        None => {
            login.admit(client)?;
            let SignedUp { account, cookie } = login.sign_up(store, session).await?;
            Ok((account, cookie))
        }
    }
}

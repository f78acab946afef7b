//! Who the partner's user on a request is: **the seam a partner replaces with their own login.**
//!
//! The app asks a [`Login`] once per page request (in [`super::account::middleware`]) and puts
//! the answer on the request as a [`CurrentAccount`]; every handler, install and refresh goes
//! through that account, and nothing else in the app knows how users sign in. An account is the
//! app's row for one of the partner's users: it holds the user's installs and the API key that
//! Enable pushes.
//!
//! - [`DemoAccounts`] (the default): the demo's accounts, one per browser, remembered by the
//!   account cookie (a random credential, stored hashed), made by Enable with Segment or
//!   `/account`.
//! - `examples/proxy_login.rs`: the user an authenticating reverse proxy (oauth2-proxy) names
//!   in `X-Forwarded-User`, believed only from the proxy's address. Its accounts are keyed by
//!   that user id ([`Store::account_for_user`]).
//!
//! Not for: sessions (the Segment flow's state lives in the session, whoever the user is) or
//! the partner API's key check (`/api/v1/me` looks the key up in the store).

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::Cookie;
use actix_web::dev::ServiceRequest;

use super::account::{CurrentAccount, account_cookie, cookie_name};
use super::error::WebError;
use crate::secret::DestinationKey;
use crate::segment::InstallName;
use crate::store::{LoginToken, Store, StoreError};

/// What a login says about one request.
pub struct Visitor {
    /// The signed-in user's account (with the install `in_use` if it holds it), if anyone is
    /// signed in.
    pub account: Option<CurrentAccount>,
    /// A cookie the response must set (the demo removes a cookie that opens nothing).
    pub cookie: Option<Cookie<'static>>,
}

/// A boxed future, so that the app can hold any login as `Arc<dyn Login>`.
pub type Answer<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Who the partner's user on a request is, and which key Enable pushes for them.
pub trait Login: Send + Sync + 'static {
    /// The visitor of `request`, found through `store`. `in_use` is the install the session
    /// names: look it up with the account when you can ([`Store::account_by_login`] and
    /// [`Store::account_for_user`] do both in one query), or leave it `None`.
    fn visitor<'a>(
        &'a self,
        request: &'a ServiceRequest,
        store: &'a Store,
        in_use: Option<&'a InstallName>,
    ) -> Answer<'a, Result<Visitor, StoreError>>;

    /// The API key Enable pushes into the destination for `account`: by default the key the
    /// store keeps for it (sealed). A partner with a key service of its own fetches it here.
    fn api_key<'a>(
        &'a self,
        store: &'a Store,
        account: &'a CurrentAccount,
    ) -> Answer<'a, Result<DestinationKey, WebError>> {
        Box::pin(async move {
            let key = store.api_key(&account.account).map_err(WebError::store)?;
            Ok(DestinationKey::new(key.expose()))
        })
    }
}

/// The demo's accounts: the account cookie's credential opens one (see [`super::account`]).
#[derive(Debug)]
pub struct DemoAccounts {
    /// The cookie is `Secure` and named `__Host-…` over https.
    pub https: bool,
}

impl Login for DemoAccounts {
    fn visitor<'a>(
        &'a self,
        request: &'a ServiceRequest,
        store: &'a Store,
        in_use: Option<&'a InstallName>,
    ) -> Answer<'a, Result<Visitor, StoreError>> {
        Box::pin(async move {
            let Some(cookie) = request.cookie(&cookie_name(self.https)) else {
                return Ok(Visitor {
                    account: None,
                    cookie: None,
                });
            };
            let found = match LoginToken::parse(cookie.value()) {
                Some(login) => store.account_by_login(&login, in_use).await?,
                None => None,
            };
            Ok(match found {
                Some((account, in_use)) => Visitor {
                    account: Some(CurrentAccount { account, in_use }),
                    cookie: None,
                },
                // Signed out, or cleaned up: the cookie opens nothing, and goes.
                None => Visitor {
                    account: None,
                    cookie: Some(account_cookie(self.https, None)),
                },
            })
        })
    }
}

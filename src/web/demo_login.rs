//! The demo's own login, the default [`Login`]: one account per browser, remembered by the
//! account cookie (`partnerapp_account`), which holds a random login credential and nothing
//! else; the store keeps only its hash. It never creates an account on a page view: its
//! [`Login::sign_up`] does, for the two things that need one (an install flow that succeeded,
//! asking for an API key). It is the only login that makes accounts. A partner with a login of
//! their own replaces this file's [`DemoAccounts`] (see `web/login.rs`).

use std::net::IpAddr;
use std::num::NonZeroU32;

use actix_web::HttpResponse;
use actix_web::cookie::{Cookie, time::Duration as CookieDuration};
use actix_web::dev::ServiceRequest;
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::error::WebError;
use super::login::{Answer, CurrentAccount, Login, SignedUp, Visitor};
use super::session::TypedSession;
use crate::segment::InstallName;
use crate::store::{LoginToken, Store, StoreError};
use enable_with_segment::site_cookie;

const COOKIE: &str = "partnerapp_account";
/// How long the account cookie lives (it stands in for a partner's login). Signing out revokes
/// it at once, whatever its age.
const COOKIE_DAYS: i64 = 30;

/// The demo's account cookie: `__Host-` over https.
pub fn cookie_name(https: bool) -> String {
    enable_with_segment::cookie_name(COOKIE, https)
}

/// The account cookie holding `login`; `None` for the cookie that removes it.
pub fn account_cookie(https: bool, login: Option<&LoginToken>) -> Cookie<'static> {
    let mut cookie = site_cookie(
        cookie_name(https),
        login.map(|l| l.expose().to_owned()).unwrap_or_default(),
        https,
    )
    .max_age(CookieDuration::days(COOKIE_DAYS))
    .finish();
    if login.is_none() {
        cookie.make_removal();
    }
    cookie
}

/// The demo's accounts: the account cookie's credential opens one (see [`super::account`]).
pub struct DemoAccounts {
    /// The cookie is `Secure` and named `__Host-…` over https.
    pub https: bool,
    /// How many accounts it makes, per client address and in total.
    pub limits: SignUpLimits,
}

impl DemoAccounts {
    /// The demo's login; `limits` bound the accounts it makes.
    pub fn new(https: bool, limits: SignUpLimits) -> DemoAccounts {
        DemoAccounts { https, limits }
    }
}

/// How many accounts the demo makes for visitors nobody knows yet, an hour: per client address
/// (a room of demo visitors behind one router shares one) and in total, per instance, with
/// governor's rate limiters (all of an hour's at once, then one more every hour / n). Anything
/// past them gets "Too many new accounts" (429) and makes nothing.
pub struct SignUpLimits {
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    total: DefaultDirectRateLimiter,
}

impl SignUpLimits {
    /// `per_address` accounts an hour per client address, `total` an hour in all
    /// (`SIGNUPS_PER_ADDRESS`, `SIGNUPS_TOTAL`).
    pub fn per_hour(per_address: NonZeroU32, total: NonZeroU32) -> SignUpLimits {
        SignUpLimits {
            per_address: RateLimiter::keyed(Quota::per_hour(per_address)),
            total: RateLimiter::direct(Quota::per_hour(total)),
        }
    }

    /// Takes one account from both limits, or says which one is spent.
    fn admit(&self, client: Option<IpAddr>) -> Result<(), WebError> {
        if let Some(client) = client
            && self.per_address.check_key(&client).is_err()
        {
            return Err(WebError::TooManyAccounts("from this address"));
        }
        self.total
            .check()
            .map_err(|_| WebError::TooManyAccounts("on this server"))?;
        // Addresses whose quota is whole again are forgotten (the map stays small).
        self.per_address.retain_recent();
        Ok(())
    }
}

impl Login for DemoAccounts {
    fn signs_up(&self) -> bool {
        true
    }

    /// One account from the [`SignUpLimits`].
    fn admit(&self, client: Option<IpAddr>) -> Result<(), WebError> {
        self.limits.admit(client)
    }

    /// A new account, its cookie, and its key kept in the session to be shown once.
    fn sign_up<'a>(
        &'a self,
        store: &'a Store,
        session: &'a TypedSession,
    ) -> Answer<'a, Result<SignedUp, WebError>> {
        Box::pin(async move {
            let (account, key, login) = store.create_account().await.map_err(WebError::store)?;
            tracing::info!(account = account.id, "new partner account");
            session.show_new_api_key_once(&key)?;
            Ok(SignedUp {
                account: CurrentAccount {
                    account,
                    in_use: None,
                },
                cookie: Some(account_cookie(self.https, Some(&login))),
            })
        })
    }

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

/// Adds `cookie`, if any, to `response`.
pub fn with_cookie(
    mut response: HttpResponse,
    cookie: Option<Cookie<'static>>,
) -> Result<HttpResponse, WebError> {
    if let Some(cookie) = cookie {
        response
            .add_cookie(&cookie)
            .map_err(|e| WebError::Session(e.to_string()))?;
    }
    Ok(response)
}

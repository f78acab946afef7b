//! The partner's side of the handshake, in the web layer.
//!
//! - [`middleware`] asks the app's [`Login`](super::login::Login) who the visitor is and puts
//!   their [`CurrentAccount`] on the request. **To plug in your own login, implement that
//!   trait** (`web/login.rs`; `examples/proxy_login.rs` is one); nothing here changes.
//! - The demo's own login ([`DemoAccounts`](super::login::DemoAccounts)) remembers a browser's
//!   account with the account cookie (`partnerapp_account`), which holds a random login
//!   credential and nothing else; the store keeps only its hash. It never creates an account
//!   on a page view: [`ensure`] does, for the two actions that need one (starting Enable with
//!   Segment, asking for an API key).
//! - `GET /api/v1/me` is the partner API Segment's credential test calls, with the key as
//!   `Authorization: Bearer <key>` (the "custom" scheme) or as HTTP Basic user name (the "basic"
//!   scheme): 200 with the account, 401 otherwise.
//! - `GET /account` offers an account (and its API key) to a visitor without one;
//!   `POST /account` makes it. `POST /account/rotate-key` replaces the key (the one in Segment
//!   stops working); `POST /account/sign-out` revokes the cookie's credential.

use actix_web::body::MessageBody;
use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use super::error::WebError;
use super::pages::{AccountPage, Layout, render};
use super::session::{FlashKind, TypedSession};
use super::{AppState, see_other};
use crate::store::{Account, ApiKey, LoginToken, StoredInstall};

const COOKIE: &str = "partnerapp_account";
/// How long the account cookie lives (it stands in for a partner's login). Signing out revokes
/// it at once, whatever its age.
const COOKIE_DAYS: i64 = 30;

/// The visitor's partner account. Its API key is read (unsealed) only where it is pushed.
#[derive(Debug, Clone)]
pub struct CurrentAccount {
    pub account: Account,
    /// The install the session names, if this account holds it: looked up with the account, so
    /// a page costs one query for both (see `web::installs::current`).
    pub in_use: Option<StoredInstall>,
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

/// The demo's account cookie: `__Host-` over https.
pub(super) fn cookie_name(https: bool) -> String {
    if https {
        format!("__Host-{COOKIE}")
    } else {
        COOKIE.to_owned()
    }
}

/// The account cookie holding `login`; `None` for the cookie that removes it.
pub(super) fn account_cookie(https: bool, login: Option<&LoginToken>) -> Cookie<'static> {
    let mut cookie = Cookie::build(
        cookie_name(https),
        login.map(|l| l.expose().to_owned()).unwrap_or_default(),
    )
    .path("/")
    .http_only(true)
    .secure(https)
    .same_site(SameSite::Lax)
    .max_age(CookieDuration::days(COOKIE_DAYS))
    .finish();
    if login.is_none() {
        cookie.make_removal();
    }
    cookie
}

/// Middleware: puts the visitor's [`CurrentAccount`] on the request, as the app's login finds
/// it, and sets the cookie the login asks for. Requests that are not for pages (health checks,
/// static files, the partner API) are not looked at.
pub async fn middleware(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let path = request.path();
    let not_for_pages = path == "/healthz"
        || path == "/readyz"
        || path == "/favicon.ico"
        || path.starts_with("/static/")
        || path.starts_with("/api/");
    let Some(state) = request.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(request).await?.map_into_boxed_body());
    };
    if not_for_pages {
        return Ok(next.call(request).await?.map_into_boxed_body());
    }
    let in_use = TypedSession::of(&request).install_name().ok().flatten();
    let visitor = match state
        .login
        .visitor(&request, &state.store, in_use.as_ref())
        .await
    {
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

/// The visitor's account, made now if they have none; the cookie to set comes with a new one.
/// The new key is kept in the session to be shown once.
pub async fn ensure(
    state: &AppState,
    session: &TypedSession,
    current: Option<CurrentAccount>,
) -> Result<(CurrentAccount, Option<Cookie<'static>>), WebError> {
    if let Some(current) = current {
        return Ok((current, None));
    }
    let (account, key, login) = state
        .store
        .create_account()
        .await
        .map_err(WebError::store)?;
    tracing::info!(account = account.id, "new partner account");
    session.show_new_api_key_once(&key)?;
    Ok((
        CurrentAccount {
            account,
            in_use: None,
        },
        Some(account_cookie(state.https, Some(&login))),
    ))
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

/// `GET /account`: what an account is, and a button to make one (visitors with an account see
/// theirs on the home page).
pub async fn show(
    state: web::Data<AppState>,
    session: TypedSession,
    current: Option<CurrentAccount>,
) -> Result<HttpResponse, WebError> {
    if current.is_some() {
        return Ok(see_other("/"));
    }
    render(&AccountPage {
        layout: Layout::with_forms(state.sandbox, &session),
    })
}

/// `POST /account`: makes the visitor's account and shows its API key, once.
pub async fn create(
    state: web::Data<AppState>,
    session: TypedSession,
    current: Option<CurrentAccount>,
) -> Result<HttpResponse, WebError> {
    let (_, cookie) = ensure(&state, &session, current).await?;
    with_cookie(see_other("/"), cookie)
}

/// `GET /api/v1/me`: the partner API's credential check.
pub async fn me(
    state: web::Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, WebError> {
    let unauthorized = || {
        HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"partner-api\""))
            .json(json!({ "error": "a valid API key is required" }))
    };
    let Some(key) = presented_key(&request) else {
        return Ok(unauthorized());
    };
    let Some(account) = state
        .store
        .account_by_key(&key)
        .await
        .map_err(WebError::store)?
    else {
        tracing::info!(key = %key.display_prefix(), "API call with a key that is not current");
        return Ok(unauthorized());
    };
    state
        .store
        .mark_key_verified(account.id)
        .await
        .map_err(WebError::store)?;
    Ok(HttpResponse::Ok().json(json!({
        "id": account.id,
        "created_at": account.created_at,
        "api_key_prefix": account.api_key_prefix,
    })))
}

/// The key of a `Bearer <key>` or `Basic base64(<key>:)` header.
fn presented_key(request: &HttpRequest) -> Option<ApiKey> {
    let value = request
        .headers()
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, credentials) = value.split_once(' ')?;
    if scheme.eq_ignore_ascii_case("bearer") {
        ApiKey::parse(credentials.trim())
    } else if scheme.eq_ignore_ascii_case("basic") {
        let decoded = String::from_utf8(STANDARD.decode(credentials.trim()).ok()?).ok()?;
        let user = decoded
            .split_once(':')
            .map_or(decoded.as_str(), |(user, _)| user);
        ApiKey::parse(user)
    } else {
        None
    }
}

/// `POST /account/rotate-key`: a new key, shown once; the old one stops working at once.
pub async fn rotate_key(
    state: web::Data<AppState>,
    session: TypedSession,
    current: CurrentAccount,
) -> Result<HttpResponse, WebError> {
    let key = state
        .store
        .rotate_key(current.id())
        .await
        .map_err(WebError::store)?;
    session.show_new_api_key_once(&key)?;
    session.flash(
        FlashKind::Info,
        "Your API key was replaced. The old one no longer works: if Segment has it, click Enable \
         on the destination page to push the new one.",
    )?;
    Ok(see_other("/"))
}

/// `POST /account/sign-out`: revokes the account cookie's credential (every copy of the cookie
/// stops working) and ends the session. The account's installs stay with it; an account that
/// holds none is removed.
pub async fn sign_out(
    state: web::Data<AppState>,
    session: TypedSession,
    current: CurrentAccount,
) -> Result<HttpResponse, WebError> {
    state
        .store
        .sign_out(current.id())
        .await
        .map_err(WebError::store)?;
    tracing::info!(account = current.id(), "signed out of the demo account");
    session.log_out();
    session.flash(
        FlashKind::Info,
        "You are signed out of the demo account: its cookie no longer opens it, here or in any \
         copy. Its installs stay in Segment.",
    )?;
    with_cookie(see_other("/"), Some(account_cookie(state.https, None)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn keys_come_as_bearer_or_basic_user_name() {
        let key = ApiKey::generate();
        let bearer = TestRequest::default()
            .insert_header((header::AUTHORIZATION, format!("Bearer {}", key.expose())))
            .to_http_request();
        assert_eq!(presented_key(&bearer), Some(key.clone()));
        let basic = STANDARD.encode(format!("{}:", key.expose()));
        let basic = TestRequest::default()
            .insert_header((header::AUTHORIZATION, format!("Basic {basic}")))
            .to_http_request();
        assert_eq!(presented_key(&basic), Some(key.clone()));
        for bad in ["Bearer nope", "Basic !!!", "Token x", ""] {
            let request = TestRequest::default()
                .insert_header((header::AUTHORIZATION, bad))
                .to_http_request();
            assert_eq!(presented_key(&request), None, "{bad}");
        }
        assert_eq!(
            presented_key(&TestRequest::default().to_http_request()),
            None
        );
    }
}

//! The partner's side of the handshake, in the web layer: the account pages and the partner API.
//! Who the visitor is comes from the app's login (`web/login.rs`); the demo's own accounts and
//! their cookie are `web/demo_login.rs`.
//!
//! - `GET /api/v1/me` is the partner API Segment's credential test calls, with the key as
//!   `Authorization: Bearer <key>` (the "custom" scheme) or as HTTP Basic user name (the "basic"
//!   scheme): 200 with the account, 401 otherwise.
//! - `GET /account` offers an account (and its API key) to a visitor without one;
//!   `POST /account` makes it. `POST /account/rotate-key` replaces the key (the one in Segment
//!   stops working); `POST /account/forget` revokes the cookie's credential.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use super::demo_login::{account_cookie, with_cookie};
use super::error::WebError;
use super::login::{CurrentAccount, Login, account_or_sign_up};
use super::pages::{AccountPage, Layout, render, see_other};
use super::session::{FlashKind, TypedSession};
use super::state::Site;
use crate::store::{ApiKey, Store};

/// `GET /account`: what an account is, and a button to make one (visitors with an account see
/// theirs on the home page).
pub async fn show(
    site: web::Data<Site>,
    session: TypedSession,
    current: Option<CurrentAccount>,
) -> Result<HttpResponse, WebError> {
    if current.is_some() {
        return Ok(see_other("/"));
    }
    // No token is made for the form: viewing the page stores nothing (`web::security` takes a
    // POST /account without a session).
    render(&AccountPage {
        layout: Layout::without_forms(site.sandbox, &session),
    })
}

/// `POST /account`: makes the visitor's account and shows its API key, once.
pub async fn create(
    login: web::Data<dyn Login>,
    store: web::Data<Store>,
    site: web::Data<Site>,
    session: TypedSession,
    current: Option<CurrentAccount>,
    request: HttpRequest,
) -> Result<HttpResponse, WebError> {
    let client = site.client_of(&request);
    let (_, cookie) = account_or_sign_up(&**login, &store, &session, current, client).await?;
    with_cookie(see_other("/"), cookie)
}

/// `GET /api/v1/me`: the partner API's credential check.
pub async fn me(store: web::Data<Store>, request: HttpRequest) -> Result<HttpResponse, WebError> {
    let unauthorized = || {
        HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, "Bearer realm=\"partner-api\""))
            .json(json!({ "error": "a valid API key is required" }))
    };
    let Some(key) = presented_key(&request) else {
        return Ok(unauthorized());
    };
    let Some(account) = store.account_by_key(&key).await.map_err(WebError::store)? else {
        tracing::info!(key = %key.display_prefix(), "API call with a key that is not current");
        return Ok(unauthorized());
    };
    store
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
    store: web::Data<Store>,
    session: TypedSession,
    current: CurrentAccount,
) -> Result<HttpResponse, WebError> {
    let key = store
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

/// `POST /account/forget`: this browser forgets its demo account. The account cookie's
/// credential is revoked (every copy of the cookie stops working) and the session ends. The
/// account's installs stay with it; an account that holds none is removed.
pub async fn forget(
    site: web::Data<Site>,
    store: web::Data<Store>,
    session: TypedSession,
    current: CurrentAccount,
) -> Result<HttpResponse, WebError> {
    store
        .revoke_login(current.id())
        .await
        .map_err(WebError::store)?;
    tracing::info!(
        account = current.id(),
        "the browser forgot its demo account"
    );
    session.log_out();
    session.flash(
        FlashKind::Info,
        "This browser has forgotten the demo account: its cookie no longer opens it, here or in \
         any copy. Its installs stay in Segment.",
    )?;
    with_cookie(see_other("/"), Some(account_cookie(site.https, None)))
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

//! The partner's side of the handshake, in the web layer.
//!
//! - [`middleware`] finds the visitor's partner account, or creates one on a first visit. For
//!   the demo the account is remembered by a long-lived encrypted cookie (`partnerapp_account`,
//!   apart from the install session), which also carries the account's API key so that
//!   **Enable** can push it into Segment; the database keeps only the key's hash. **This is the
//!   one place to replace with a real login**: put your user's id where the cookie's is.
//! - `GET /api/v1/me` is the partner API Segment's credential test calls, with the key as
//!   `Authorization: Bearer <key>` (the "custom" scheme) or as HTTP Basic user name (the "basic"
//!   scheme): 200 with the account, 401 otherwise.
//! - `POST /account/rotate-key` replaces the key (the one in Segment stops working).

use actix_web::body::MessageBody;
use actix_web::cookie::{Cookie, CookieJar, SameSite, time::Duration as CookieDuration};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::error::WebError;
use super::session::{FlashKind, TypedSession};
use super::{AppState, see_other};
use crate::accounts::{Account, ApiKey};

const COOKIE: &str = "partnerapp_account";
/// How long the account cookie lives (it stands in for a partner's login).
const COOKIE_DAYS: i64 = 365;

/// The visitor's partner account and its current API key.
#[derive(Debug, Clone)]
pub struct CurrentAccount {
    pub account: Account,
    pub key: ApiKey,
}

impl FromRequest for CurrentAccount {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<CurrentAccount, actix_web::Error>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            request
                .extensions()
                .get::<CurrentAccount>()
                .cloned()
                .ok_or_else(|| WebError::Session("no account on this request".into()).into()),
        )
    }
}

/// What the account cookie holds (encrypted and signed).
#[derive(Serialize, Deserialize)]
struct Remembered {
    id: i64,
    key: String,
}

fn cookie_name(state: &AppState) -> String {
    if state.https {
        format!("__Host-{COOKIE}")
    } else {
        COOKIE.to_owned()
    }
}

/// The account cookie for `account` and `key`, encrypted with the app's cookie key.
fn account_cookie(state: &AppState, account: &Account, key: &ApiKey) -> Option<Cookie<'static>> {
    let value = serde_json::to_string(&Remembered {
        id: account.id,
        key: key.expose().to_owned(),
    })
    .ok()?;
    let cookie = Cookie::build(cookie_name(state), value)
        .path("/")
        .http_only(true)
        .secure(state.https)
        .same_site(SameSite::Lax)
        .max_age(CookieDuration::days(COOKIE_DAYS))
        .finish();
    let mut jar = CookieJar::new();
    jar.private_mut(&state.cookie_key).add(cookie);
    jar.delta().next().cloned()
}

/// The account the request's cookie names, if the cookie is ours and its key is current.
async fn remembered(
    state: &AppState,
    request: &ServiceRequest,
) -> Result<Option<CurrentAccount>, WebError> {
    let Some(cookie) = request.cookie(&cookie_name(state)) else {
        return Ok(None);
    };
    let mut jar = CookieJar::new();
    jar.add_original(cookie.into_owned());
    let Some(plain) = jar.private(&state.cookie_key).get(&cookie_name(state)) else {
        return Ok(None);
    };
    let Ok(remembered) = serde_json::from_str::<Remembered>(plain.value()) else {
        return Ok(None);
    };
    let Some(key) = ApiKey::parse(&remembered.key) else {
        return Ok(None);
    };
    let account = state
        .store
        .account(remembered.id)
        .await
        .map_err(WebError::store)?;
    Ok(account
        .filter(|a| a.api_key_hash == key.hash())
        .map(|account| CurrentAccount { account, key }))
}

/// Middleware: puts the visitor's [`CurrentAccount`] on every page request, creating the
/// account on a first visit. Not for the API, health check or static files.
pub async fn middleware(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let path = request.path();
    let skip = path == "/healthz"
        || path == "/favicon.ico"
        || path.starts_with("/static/")
        || path.starts_with("/api/");
    let Some(state) = request.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(next.call(request).await?.map_into_boxed_body());
    };
    if skip {
        return Ok(next.call(request).await?.map_into_boxed_body());
    }
    let (current, new_cookie) = match remembered(&state, &request).await {
        Ok(Some(current)) => (current, None),
        Ok(None) => match state.store.create_account().await {
            Ok((account, key)) => {
                tracing::info!(account = account.id, "new partner account");
                let cookie = account_cookie(&state, &account, &key);
                let session = request.extract::<TypedSession>().await?;
                session.show_new_api_key_once(&key)?;
                (CurrentAccount { account, key }, cookie)
            }
            Err(error) => {
                return Ok(request
                    .error_response(WebError::store(error))
                    .map_into_boxed_body());
            }
        },
        Err(error) => return Ok(request.error_response(error).map_into_boxed_body()),
    };
    request.extensions_mut().insert(current);
    let mut response = next.call(request).await?.map_into_boxed_body();
    if let Some(cookie) = new_cookie {
        response.response_mut().add_cookie(&cookie)?;
    }
    Ok(response)
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
        .rotate_key(current.account.id)
        .await
        .map_err(WebError::store)?;
    let mut account = current.account.clone();
    account.api_key_hash = key.hash();
    session.show_new_api_key_once(&key)?;
    session.flash(
        FlashKind::Info,
        "Your API key was replaced. The old one no longer works: if Segment has it, click Enable \
         on the destination page to push the new one.",
    )?;
    let mut response = see_other("/");
    if let Some(cookie) = account_cookie(&state, &account, &key) {
        response
            .add_cookie(&cookie)
            .map_err(|e| WebError::Session(e.to_string()))?;
    }
    Ok(response)
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

//! What this app keeps in a visitor's session, behind typed methods: which install the visitor
//! is using (its name; the token stays with the install in the store), the source picked (wider
//! scopes) and the CSRF token. The one-shot flash message goes through here too, but rides in a
//! cookie of its own (`web::flash`), as does the install flow in progress (the flow library's).
//!
//! The session lives on the server (`store::sessions`); the cookie holds only its id. A
//! session never grants anything by itself: the install it names is used only if the visitor's
//! account holds it (`web::installs`).

use std::future::{Ready, ready};
use std::rc::Rc;

use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::WebError;
use super::flash::Mailbox;
pub use super::flash::{Flash, FlashKind};
use crate::secret::Secret;
use crate::segment::{InstallName, SourceName};

/// The session's entry that names the install in use (read by the login middleware too).
pub(super) const INSTALL: &str = "install";
const SOURCE: &str = "source";
const CSRF: &str = "csrf";
const NEW_API_KEY: &str = "new_api_key";

/// The visitor's session, and the request's flash messages (which ride in a cookie of their
/// own, `web::flash`).
pub struct TypedSession(Session, Option<Rc<Mailbox>>);

impl TypedSession {
    /// Uses `install` from now on, under a new session id (so a session id seen before login is
    /// worth nothing after it) with a new CSRF token, and forgets any source picked for an
    /// earlier install. The token is made here, in the write the renewal makes anyway, so the
    /// page the install lands on writes nothing.
    pub fn log_in(&self, install: &InstallName) -> Result<(), WebError> {
        self.0.renew();
        self.0.remove(SOURCE);
        self.insert(CSRF, &new_csrf_token())?;
        self.insert(INSTALL, install)
    }

    /// Stops using the install; the rest of the session stays.
    pub fn forget_install(&self) {
        self.0.remove(INSTALL);
        self.0.remove(SOURCE);
    }

    /// Whether the session names an install, without reading (deserializing) it.
    pub fn is_connected(&self) -> bool {
        self.0.contains_key(INSTALL)
    }

    /// The install the session names. Whether the visitor may use it is for the store to say.
    pub fn install_name(&self) -> Result<Option<InstallName>, WebError> {
        self.get(INSTALL)
    }

    /// Whether the session holds nothing (a first visit, or everything was taken out).
    pub fn is_empty(&self) -> bool {
        self.0.entries().is_empty()
    }

    pub fn set_source(&self, source: &SourceName) -> Result<(), WebError> {
        self.insert(SOURCE, source)
    }

    pub fn picked_source(&self) -> Result<Option<SourceName>, WebError> {
        self.get(SOURCE)
    }

    /// Shows `message` on the next page (in the flash cookie, not in the session).
    pub fn flash(&self, kind: FlashKind, message: impl Into<String>) -> Result<(), WebError> {
        let mailbox = self.1.as_ref().ok_or_else(|| {
            WebError::Session("flash messages need the flash middleware (web::flash)".to_owned())
        })?;
        mailbox.put(Flash {
            kind,
            message: message.into(),
        });
        Ok(())
    }

    /// The flash message the request brought, taken: it shows once.
    pub fn take_flash(&self) -> Option<Flash> {
        self.1.as_ref().and_then(|mailbox| mailbox.take())
    }

    /// The token every POST form of this session must carry; made on first use.
    pub fn csrf_token(&self) -> Result<Secret, WebError> {
        if let Some(token) = self.existing_csrf_token() {
            return Ok(token);
        }
        let token = new_csrf_token();
        self.insert(CSRF, &token)?;
        Ok(token)
    }

    /// The session's CSRF token, if a page has made one.
    pub fn existing_csrf_token(&self) -> Option<Secret> {
        self.get(CSRF).ok().flatten()
    }

    /// Keeps a new API key for the next page, which shows it in full once.
    pub fn show_new_api_key_once(&self, key: &crate::store::ApiKey) -> Result<(), WebError> {
        self.insert(NEW_API_KEY, key.as_secret())
    }

    /// The new API key to show, removed: it shows once.
    pub fn take_new_api_key(&self) -> Option<Secret> {
        let key = self.get(NEW_API_KEY).ok().flatten();
        if key.is_some() {
            self.0.remove(NEW_API_KEY);
        }
        key
    }

    /// Ends the session: it is deleted on the server, so any copy of its cookie is dead. What
    /// is inserted afterwards goes into a new session with a new id.
    pub fn log_out(&self) {
        self.0.clear();
        self.0.renew();
    }

    fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, WebError> {
        self.0.get(key).map_err(|e| {
            // An entry that no longer parses (e.g. after an upgrade) is dropped, not fatal.
            tracing::warn!(key, error = %e, "dropping a session entry that cannot be read");
            self.0.remove(key);
            WebError::Session(format!("the session's {key} could not be read"))
        })
    }

    fn insert<T: Serialize>(&self, key: &str, value: &T) -> Result<(), WebError> {
        self.0
            .insert(key, value)
            .map_err(|e| WebError::Session(format!("could not save the {key} in the session: {e}")))
    }
}

/// 32 random bytes, as a URL-safe string.
fn new_csrf_token() -> Secret {
    Secret::random(32)
}

/// Middleware, just inside the session middleware: a session its store could not read (Redis or
/// the database did not answer; see `store::sessions::STORE_UNAVAILABLE`) is the "sign-in is
/// unavailable" page, at once, before anything reads or writes it.
pub async fn require_store(
    request: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody + 'static>,
) -> Result<
    actix_web::dev::ServiceResponse<actix_web::body::EitherBody<impl actix_web::body::MessageBody>>,
    actix_web::Error,
> {
    let unavailable = request
        .get_session()
        .contains_key(crate::store::sessions::STORE_UNAVAILABLE);
    if unavailable {
        return Ok(request
            .error_response(WebError::SessionsUnavailable)
            .map_into_right_body());
    }
    Ok(next.call(request).await?.map_into_left_body())
}

impl TypedSession {
    /// The session of `request` (what the extractor gives, outside an extractor).
    pub fn of_request(request: &HttpRequest) -> TypedSession {
        TypedSession(request.get_session(), Mailbox::of(request))
    }
}

impl FromRequest for TypedSession {
    type Error = actix_web::Error;
    type Future = Ready<Result<TypedSession, actix_web::Error>>;

    fn from_request(request: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(Ok(TypedSession::of_request(request)))
    }
}

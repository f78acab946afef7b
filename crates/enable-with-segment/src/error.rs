//! How a flow or a Config API call can fail: [`FlowError`] for what the callback and the start
//! route hand to [`Hooks::failed`](crate::Hooks::failed), [`CallError`] for a Config API call
//! made for a stored install.
//!
//! Both carry the errors of your own traits as they are (their type parameters: your
//! [`Users::Error`](crate::Users::Error) and your store's
//! [`InstallStore::Error`](crate::InstallStore::Error)), so your hooks match on them without
//! downcasting.

use actix_web::http::StatusCode;
use segment_client::{ErrorKind, SegmentError};

/// Why the install flow did not end with a stored install. Each is one case a page can explain;
/// [`FlowError::status`] says the HTTP status that fits. `U` is your
/// [`Users::Error`](crate::Users::Error), `S` your store's
/// [`InstallStore::Error`](crate::InstallStore::Error) ([`FlowErrorOf`] names it from the two
/// traits).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FlowError<U, S> {
    /// The callback came to a browser that has no flow in progress (never started, finished
    /// already, or its cookie was altered), or the flow was started by another user.
    #[error("no install flow is in progress in this browser")]
    NoFlow,
    /// The `state` Segment sent back is not the one this browser's flow was given.
    #[error("the state sent back does not match the one this browser was given")]
    StateMismatch,
    /// The visitor took longer than [`FLOW_LIFETIME`](crate::FLOW_LIFETIME) to come back.
    #[error("the install flow expired")]
    Expired,
    /// Segment sent the browser back with `error=…` instead of a code: `access_denied` when the
    /// customer said no ([`FlowError::is_denial`]).
    #[error("Segment did not authorize the install: {error}")]
    Provider {
        /// The OAuth error code.
        error: String,
        /// `error_description`, if Segment sent one.
        description: Option<String>,
        /// `error_hint`, if Segment sent one.
        hint: Option<String>,
    },
    /// The query string cannot be read.
    #[error("the query string cannot be read: {0}")]
    BadQuery(String),
    /// The start route's `return_to` is not a path on this site.
    #[error("return_to must be a path on this site, such as /settings")]
    BadReturnTo,
    /// Segment sent the browser back without a code.
    #[error("Segment sent the browser back without a code")]
    MissingCode,
    /// The token names no source, but the App's scope needs one.
    #[error("the install token names no source, but the scope {0} needs one")]
    MissingSource(String),
    /// Segment says the App is already installed on the workspace the customer picked (Segment
    /// does not say which): offer the user's own installs
    /// ([`EnableWithSegment::installs`](crate::EnableWithSegment::installs), which lists
    /// disconnected ones too, and [`EnableWithSegment::reconnect`](crate::EnableWithSegment::reconnect)),
    /// or say another user has it.
    #[error("the App is already installed on that workspace")]
    AlreadyInstalled,
    /// The install is held by another of your users ([`Saved::HeldByAnotherUser`](crate::Saved::HeldByAnotherUser)).
    #[error("this workspace already has the App installed, by another user")]
    InstalledElsewhere,
    /// Nobody is signed in, and your [`Users`](crate::Users) makes no users.
    #[error("nobody is signed in")]
    SignInFirst,
    /// Nobody is signed in on the redirect URL's host, where the flow moved the browser (it
    /// opened the start route on another host name, and Segment sends it back to the redirect
    /// URL's): a login cookie of the first host does not reach this one.
    #[error(
        "you were moved to {origin}, where Segment sends you back, and nobody is signed in there: sign in at {origin} and start again"
    )]
    SignInOnCallbackHost {
        /// The redirect URL's origin: where the app must be opened.
        origin: String,
    },
    /// [`Hooks::before_save`](crate::Hooks::before_save) refused the install, for this reason.
    #[error("the install was refused: {0}")]
    Aborted(String),
    /// Segment failed while exchanging the code.
    #[error("Segment failed while exchanging the authorization code: {0}")]
    Segment(SegmentError),
    /// The install store failed.
    #[error("the install store failed: {0}")]
    Store(S),
    /// Your [`Users`](crate::Users) failed to say who is signed in, or to sign the visitor up.
    #[error("the signed-in user could not be found: {0}")]
    Users(U),
}

/// The [`FlowError`] of a flow with users `U` and store `S`:
/// `FlowErrorOf<MyUsers, SqlStore>`.
pub type FlowErrorOf<U, S> = FlowError<
    <U as crate::Users>::Error,
    <S as crate::InstallStore<<U as crate::Users>::Id>>::Error,
>;

impl<U, S> FlowError<U, S> {
    /// The customer said no on Segment's consent screen.
    pub fn is_denial(&self) -> bool {
        matches!(self, FlowError::Provider { error, .. } if error == "access_denied")
    }

    /// The HTTP status that fits: 4xx for what the browser or the customer did, 502/504 for
    /// Segment, 500 for your store and login.
    pub fn status(&self) -> StatusCode {
        match self {
            FlowError::NoFlow
            | FlowError::StateMismatch
            | FlowError::Expired
            | FlowError::MissingCode
            | FlowError::BadQuery(_)
            | FlowError::BadReturnTo => StatusCode::BAD_REQUEST,
            FlowError::Provider { .. } | FlowError::Aborted(_) => StatusCode::FORBIDDEN,
            FlowError::AlreadyInstalled | FlowError::InstalledElsewhere => StatusCode::CONFLICT,
            FlowError::SignInFirst | FlowError::SignInOnCallbackHost { .. } => {
                StatusCode::UNAUTHORIZED
            }
            FlowError::MissingSource(_) => StatusCode::BAD_GATEWAY,
            FlowError::Segment(error) => match error.kind() {
                // A code used already, or too late: the browser's link is spent.
                ErrorKind::CodeRejected => StatusCode::BAD_REQUEST,
                ErrorKind::Unreachable { timed_out: true } => StatusCode::GATEWAY_TIMEOUT,
                _ => StatusCode::BAD_GATEWAY,
            },
            FlowError::Store(_) | FlowError::Users(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Why a Config API call for a stored install did not succeed. `S` is your store's
/// [`InstallStore::Error`](crate::InstallStore::Error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError<S> {
    /// The user holds no connected install by that name.
    #[error("no connected install")]
    NotConnected,
    /// Another request (here or on another instance) is renewing the token and has not finished
    /// within the refresh lease.
    #[error("another request is renewing this install's token and has not finished")]
    RefreshBusy,
    /// Segment would not mint a token for the install: it was uninstalled, or the App's
    /// credentials are not accepted. The install is marked refused in the store
    /// ([`InstallStore::refused`](crate::InstallStore::refused)); see the crate's "Refused
    /// installs".
    #[error("Segment would not mint a new token for this install ({0})")]
    Refused(String),
    /// The install names no source (a `workspace` or `workspace:read` scope) and none was given
    /// ([`ConfigApi::on_source`](crate::ConfigApi::on_source)).
    #[error("the install names no source: pick one first")]
    NoSource,
    /// Segment failed, refreshing the token or in the call itself.
    #[error("Segment failed: {0}")]
    Segment(SegmentError),
    /// The install store failed.
    #[error("the install store failed: {0}")]
    Store(S),
}

impl<S> CallError<S> {
    /// The Segment failure behind this error, if it is one.
    pub fn segment(&self) -> Option<&SegmentError> {
        match self {
            CallError::Segment(error) => Some(error),
            _ => None,
        }
    }
}

impl<S> CallError<S> {
    /// The HTTP status that fits: 409 (not connected), 401 (refused), 503 (busy), 400 (no
    /// source), 502/504 for Segment, 500 for your store.
    pub fn status(&self) -> StatusCode {
        match self {
            CallError::NotConnected => StatusCode::CONFLICT,
            CallError::Refused(_) => StatusCode::UNAUTHORIZED,
            CallError::RefreshBusy => StatusCode::SERVICE_UNAVAILABLE,
            CallError::NoSource => StatusCode::BAD_REQUEST,
            CallError::Segment(error) => match error.kind() {
                ErrorKind::Unreachable { timed_out: true } => StatusCode::GATEWAY_TIMEOUT,
                ErrorKind::RateLimited => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::BAD_GATEWAY,
            },
            CallError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A handler may return a [`CallError`] with `?`: its status, and a plain-text line saying what
/// failed (a store failure's details go to the log, not the page).
impl<S: std::fmt::Debug + std::fmt::Display> actix_web::ResponseError for CallError<S> {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        let said = match self {
            CallError::Store(error) => {
                tracing::error!(%error, "the install store failed");
                "the install store failed".to_owned()
            }
            other => other.to_string(),
        };
        actix_web::HttpResponse::build(self.status())
            .content_type(actix_web::http::header::ContentType::plaintext())
            .body(said)
    }
}

//! How a flow, a stored install or a token can fail: [`FlowError`] for what the callback and the
//! start route hand to [`Hooks::failed`](crate::Hooks::failed), [`TokenError`] for a Config API
//! call made for a stored install, [`StoreError`] for what an
//! [`InstallStore`](crate::InstallStore) reports.

use actix_web::http::StatusCode;
use segment_client::{ErrorKind, SegmentError};

/// What an [`InstallStore`](crate::InstallStore) reports.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The install (its workspace) is held by another of your users: it is not saved for this
    /// one.
    #[error("the install is held by another user")]
    HeldByAnotherUser,
    /// The store failed (the database did not answer, say). Its details go to the log only.
    #[error("the install store failed: {0}")]
    Failed(Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// Wraps any error of the store's own.
    pub fn failed(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
        StoreError::Failed(Box::new(error))
    }
}

/// Why the install flow did not end with a stored install. Each is one case a page can explain;
/// [`FlowError::status`] says the HTTP status that fits it.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
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
    /// Segment sent the browser back without a code.
    #[error("Segment sent the browser back without a code")]
    MissingCode,
    /// The token names no source, but the App's scope needs one.
    #[error("the install token names no source, but the scope {0} needs one")]
    MissingSource(String),
    /// Segment says the App is already installed on the workspace the customer picked (Segment
    /// does not say which): offer the user's own installs, or say another user has it.
    #[error("the App is already installed on that workspace")]
    AlreadyInstalled,
    /// The install is held by another of your users ([`StoreError::HeldByAnotherUser`]).
    #[error("this workspace already has the App installed, by another user")]
    InstalledElsewhere,
    /// Nobody is signed in, and your [`Users`](crate::Users) makes no users.
    #[error("nobody is signed in")]
    SignInFirst,
    /// [`Hooks::before_save`](crate::Hooks::before_save) refused the install, for this reason.
    #[error("the install was refused: {0}")]
    Aborted(String),
    /// Segment failed while exchanging the code.
    #[error("Segment failed while exchanging the authorization code: {0}")]
    Segment(SegmentError),
    /// The install store failed.
    #[error(transparent)]
    Store(StoreError),
    /// Your [`Users`](crate::Users) failed to say who is signed in.
    #[error("the signed-in user could not be found: {0}")]
    Users(crate::users::UserError),
}

impl FlowError {
    /// The customer said no on Segment's consent screen.
    pub fn is_denial(&self) -> bool {
        matches!(self, FlowError::Provider { error, .. } if error == "access_denied")
    }

    /// The HTTP status that fits: 4xx for what the browser or the customer did, 502/504 for
    /// Segment, 500 for your store.
    pub fn status(&self) -> StatusCode {
        match self {
            FlowError::NoFlow
            | FlowError::StateMismatch
            | FlowError::MissingCode
            | FlowError::BadQuery(_) => StatusCode::BAD_REQUEST,
            FlowError::Expired => StatusCode::BAD_REQUEST,
            FlowError::Provider { .. } | FlowError::Aborted(_) => StatusCode::FORBIDDEN,
            FlowError::AlreadyInstalled | FlowError::InstalledElsewhere => StatusCode::CONFLICT,
            FlowError::SignInFirst => StatusCode::UNAUTHORIZED,
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

/// Why a Config API call for a stored install could not be made with a working token.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The user holds no connected install by that name.
    #[error("no connected install")]
    NotConnected,
    /// Another request (here or on another instance) is renewing the token and has not finished
    /// within the refresh lease.
    #[error("another request is renewing this install's token and has not finished")]
    RefreshBusy,
    /// Segment would not mint a token for the install: it was uninstalled, or the App's
    /// credentials are not accepted. The store was told ([`InstallStore::refused`](crate::InstallStore::refused)).
    #[error("Segment would not mint a new token for this install ({0})")]
    Refused(String),
    /// Segment failed, refreshing the token or in the call itself.
    #[error("Segment failed: {0}")]
    Segment(SegmentError),
    /// The install store failed.
    #[error(transparent)]
    Store(StoreError),
}

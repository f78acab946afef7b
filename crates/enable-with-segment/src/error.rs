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

use crate::advice::Advice;

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
    #[error(
        "this browser has no sign-in in progress: the link was already used, or it was started in another browser"
    )]
    NoFlow,
    /// The `state` Segment sent back is not the one this browser's flow was given.
    #[error(
        "the state Segment sent back does not match the one given to this browser. The link may have been tampered with, or belong to another sign-in"
    )]
    StateMismatch,
    /// The visitor took longer than [`FLOW_LIFETIME`](crate::FLOW_LIFETIME) to come back.
    #[error("the sign-in took longer than 10 minutes and expired")]
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
    #[error("this workspace already has the App installed, by another account")]
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
    /// Segment installed the App (the code was exchanged), then the install could not be kept
    /// here: the sign-up, [`Hooks::before_save`](crate::Hooks::before_save) or the store
    /// refused or failed (`cause`). The install stays in Segment until a workspace owner
    /// removes it; the page says so ([`FlowError::advice`]).
    #[error(
        "{}. Segment installed the App on {workspace} all the same, and this app did not keep it",
        .cause.as_ref()
    )]
    NotKept {
        /// The workspace Segment installed the App on (`workspaces/acme`).
        workspace: String,
        /// Why it was not kept.
        cause: Box<FlowError<U, S>>,
    },
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

// What to do, in the flow's failures' longer cases (`FlowError::advice`).
const START_AGAIN: &str = "Start again from the home page: each sign-in gets its own state, and \
    it works once, in the browser that started it.";
const NO_SOURCE: &str = "With a destination/<slug> scope Segment's consent screen asks the user \
    to pick a source and returns it in source_names. Check that the App's scope is the \
    destination scope you configured.";
const ALREADY_INSTALLED: &str = "Segment allows one install of this App per workspace. If you \
    connected it before, it is still yours here; otherwise whoever connected it can uninstall \
    the App in the workspace's settings in Segment, and you connect again.";
const INSTALLED_ELSEWHERE: &str = "Segment allows one install of this App per workspace, and \
    another account of ours made it. Ask whoever connected it, or uninstall the App in the \
    workspace's settings in Segment and connect again.";
const SIGN_IN_FIRST: &str = "This app connects Segment for the users who are signed in to it. \
    Sign in, then click Enable with Segment again.";

/// What a workspace owner does about an install Segment made and this app did not keep.
const NOT_KEPT: &str = "Segment has installed the App on the workspace, and it stays installed \
                        there until a workspace owner uninstalls it in the workspace's settings \
                        in Segment; do that before connecting the workspace again.";

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

    /// What a page can say about it: the status, a title, what to do, and whether starting
    /// again can help ([`Advice`]; for Segment's failures, [`Advice::of`] their kind).
    pub fn advice(&self) -> Advice {
        use StatusCode as S;
        let advice = |status, title, hint, connect_again| Advice {
            status,
            title,
            hint,
            connect_again,
            passes: false,
        };
        match self {
            FlowError::Segment(error) => Advice::of(error.kind()),
            FlowError::Provider {
                error, description, ..
            } => {
                // Segment's own hint is the caller's to add where there is no better advice.
                let hint = match ErrorKind::of_oauth(error, description.as_deref()) {
                    ErrorKind::OAuthRefused => None,
                    kind => Advice::of(kind).hint,
                };
                let status = if self.is_denial() {
                    S::FORBIDDEN
                } else {
                    S::BAD_REQUEST
                };
                advice(status, "Segment did not authorize the install", hint, true)
            }
            FlowError::NoFlow | FlowError::StateMismatch | FlowError::Expired => advice(
                S::BAD_REQUEST,
                "This sign-in link is not valid",
                Some(START_AGAIN),
                true,
            ),
            FlowError::MissingCode => advice(
                S::BAD_REQUEST,
                "Segment sent no authorization code",
                None,
                true,
            ),
            FlowError::MissingSource(_) => advice(
                S::BAD_GATEWAY,
                "The install has no source",
                Some(NO_SOURCE),
                true,
            ),
            FlowError::AlreadyInstalled => advice(
                S::CONFLICT,
                "This workspace has the App already",
                Some(ALREADY_INSTALLED),
                false,
            ),
            FlowError::InstalledElsewhere => advice(
                S::CONFLICT,
                "This workspace is connected to another account",
                Some(INSTALLED_ELSEWHERE),
                false,
            ),
            FlowError::SignInFirst | FlowError::SignInOnCallbackHost { .. } => {
                advice(S::UNAUTHORIZED, "Sign in first", Some(SIGN_IN_FIRST), false)
            }
            FlowError::Aborted(_) => advice(S::FORBIDDEN, "The install was refused", None, false),
            FlowError::NotKept { cause, .. } => Advice {
                hint: Some(NOT_KEPT),
                connect_again: false,
                ..cause.advice()
            },
            FlowError::BadQuery(_) | FlowError::BadReturnTo => {
                advice(S::BAD_REQUEST, "The request is not valid", None, false)
            }
            FlowError::Store(_) | FlowError::Users(_) => advice(
                S::INTERNAL_SERVER_ERROR,
                "Something went wrong on our side",
                None,
                false,
            ),
        }
    }

    /// The HTTP status that fits ([`FlowError::advice`]): 4xx for what the browser or the
    /// customer did, Segment's failure's, 500 for your store and login.
    pub fn status(&self) -> StatusCode {
        self.advice().status
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
    /// What a page can say about it: for Segment's failures [`Advice::of`] their kind, and the
    /// same for the library's own cases (an install Segment refused, a refresh that takes too
    /// long, no install, no source, your store).
    pub fn advice(&self) -> Advice {
        use StatusCode as S;
        let advice = |status, title, hint| Advice {
            status,
            title,
            hint,
            connect_again: false,
            passes: false,
        };
        match self {
            CallError::Segment(error) => Advice::of(error.kind()),
            CallError::Refused(_) => Advice {
                connect_again: true,
                ..advice(
                    S::UNAUTHORIZED,
                    "Segment refused this install's token",
                    Some(
                        "The install is kept, marked as needing attention. Either the App was \
                         uninstalled from the workspace in Segment (connect with Segment again \
                         to install it anew), or Segment does not accept this app's CLIENT_ID \
                         and CLIENT_SECRET (fix them; the next page that works clears the \
                         mark).",
                    ),
                )
            },
            CallError::RefreshBusy => Advice {
                passes: true,
                ..advice(
                    S::SERVICE_UNAVAILABLE,
                    "Segment is slow to renew the connection",
                    Some(
                        "The install token is being renewed by another request (perhaps on \
                         another instance of this app), and Segment has not answered it yet. \
                         Try again in a moment.",
                    ),
                )
            },
            CallError::NotConnected => Advice {
                connect_again: true,
                ..advice(
                    S::CONFLICT,
                    "Not connected to Segment",
                    Some("Connect with Segment first: click Enable with Segment."),
                )
            },
            CallError::NoSource => advice(
                S::BAD_REQUEST,
                "No source picked",
                Some("This install reaches the whole workspace: pick the source to manage first."),
            ),
            CallError::Store(_) => advice(
                S::INTERNAL_SERVER_ERROR,
                "Something failed on our side",
                None,
            ),
        }
    }

    /// The HTTP status that fits ([`CallError::advice`]): 409 (not connected), 401 (refused),
    /// 503 (busy), 400 (no source), Segment's failure's, 500 for your store.
    pub fn status(&self) -> StatusCode {
        self.advice().status
    }
}

/// A handler may return a [`CallError`] with `?`: its status, and plain text saying what failed
/// and what to do ([`CallError::advice`]; a store failure's details go to the log, not the
/// page).
impl<S: std::fmt::Debug + std::fmt::Display> actix_web::ResponseError for CallError<S> {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        let advice = self.advice();
        let said = match self {
            CallError::Store(error) => {
                tracing::error!(%error, "the install store failed");
                "the install store failed".to_owned()
            }
            other => other.to_string(),
        };
        let hint = advice
            .hint
            .map(|hint| format!("\n\n{hint}"))
            .unwrap_or_default();
        actix_web::HttpResponse::build(advice.status)
            .content_type(actix_web::http::header::ContentType::plaintext())
            .body(format!("{}\n\n{said}{hint}", advice.title))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::ResponseError;

    /// A handler's `?` on a call error answers with its status, what happened and what to do;
    /// a store's error shows no detail.
    #[actix_web::test]
    async fn a_call_error_answers_with_its_advice() {
        let body = async |error: CallError<std::io::Error>| {
            let response = error.error_response();
            let status = response.status().as_u16();
            let body = actix_web::body::to_bytes(response.into_body())
                .await
                .unwrap();
            (status, String::from_utf8_lossy(&body).into_owned())
        };
        let (status, text) = body(CallError::RefreshBusy).await;
        assert_eq!(status, 503);
        assert!(text.contains("Try again in a moment"), "{text}");
        let (status, text) = body(CallError::Refused("install not found".into())).await;
        assert_eq!(status, 401);
        assert!(
            text.contains("install not found") && text.contains("CLIENT_SECRET"),
            "{text}"
        );
        let limited = CallError::Segment(SegmentError::Api {
            status: 429,
            message: "slow down".into(),
        });
        assert!(limited.advice().passes);
        assert_eq!(body(limited).await.0, 503);
        let secret = std::io::Error::other("password=hunter2");
        let (status, text) = body(CallError::Store(secret)).await;
        assert_eq!(status, 500);
        assert!(!text.contains("hunter2"), "{text}");
    }
}

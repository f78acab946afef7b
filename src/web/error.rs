//! Everything that can go wrong while serving a page, the status it earns, the hint the user
//! gets (taken from the FAQ in Segment's docs), and the one error page that shows it.
//!
//! Handlers return `Result<_, WebError>`. `ResponseError` gives each error a status and a
//! plain-text body; the `error_page` middleware, which can see the app's state, replaces that
//! body with the HTML error page and writes the one log line. This module depends on nothing
//! else in `web/`.

use actix_web::http::StatusCode;
use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, ResponseError};

use crate::segment::{ErrorKind, SegmentError};

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// Segment (or the sandbox) refused or failed while the app was `doing` something.
    #[error("Segment failed while {doing}: {error}")]
    Segment {
        doing: &'static str,
        error: SegmentError,
    },

    /// Segment sent the browser back with `error=…` instead of a code.
    #[error("Segment did not authorize the install: {error}")]
    Provider {
        error: String,
        description: Option<String>,
        hint: Option<String>,
    },

    #[error("no sign-in flow is in progress in this browser")]
    NoFlow,

    #[error("the sign-in flow expired")]
    FlowExpired,

    #[error("the state sent back does not match the one this browser was given")]
    StateMismatch,

    #[error("Segment sent the browser back without a code")]
    MissingCode,

    #[error("the install token names no source, but the scope {0} needs one")]
    MissingSource(String),

    #[error("Segment would not mint a new token for this install ({0})")]
    InstallRefused(String),

    #[error("another request is renewing this install's token and has not finished")]
    RefreshBusy,

    #[error("this browser has no account with us")]
    NoAccount,

    /// The session store (Redis, or the database) failed or did not answer in time.
    #[error("the session store is unavailable")]
    SessionsUnavailable,

    /// The partner's login names nobody on this request, and only its sign-in makes accounts.
    #[error("nobody is signed in")]
    SignInFirst,

    #[error("this browser is not connected to a Segment install")]
    NotConnected,

    #[error("your API key was stored under another SESSION_KEY and cannot be read")]
    KeyUnreadable,

    #[error("this workspace already has the App installed, by another account")]
    InstalledElsewhere,

    #[error("the install's scope {0} is read-only")]
    ReadOnly(String),

    #[error("the install's scope {0} does not reach the whole workspace")]
    OneDestinationOnly(String),

    #[error("the request is not valid: {0}")]
    BadRequest(String),

    #[error("no page at this address")]
    NotFound,

    #[error("the form's security token is missing or does not belong to this session")]
    Csrf,

    #[error("the {0} is too large")]
    TooLarge(&'static str),

    #[error("the request took too long to arrive")]
    TooSlow,

    #[error("too many new accounts {0}")]
    TooManyAccounts(&'static str),

    #[error("session problem: {0}")]
    Session(String),

    #[error("the database failed: {0}")]
    Store(String),

    #[error("a page failed to render: {0}")]
    Render(#[from] askama::Error),
}

impl WebError {
    /// A database failure (its details go to the log, not the page).
    pub fn store(error: crate::store::StoreError) -> WebError {
        match error {
            crate::store::StoreError::Unreadable(_) => WebError::KeyUnreadable,
            other => WebError::Store(other.to_string()),
        }
    }

    /// Wraps a Segment error with what the app was doing when it happened.
    pub fn segment(doing: &'static str) -> impl FnOnce(SegmentError) -> WebError {
        move |error| WebError::Segment { doing, error }
    }

    /// Everything the error page says about this error: its status, title, message, hint and
    /// whether to offer to connect again, decided here, in one exhaustive match (a new variant
    /// does not compile until it says all of it). Segment's failures are told apart by their
    /// [`ErrorKind`], never by Segment's words.
    pub fn shown(&self, sandbox: bool) -> Shown {
        use StatusCode as S;
        let says = |status, title, hint: Option<&str>, offers_restart| Shown {
            status,
            title,
            message: self.message(),
            hint: hint.map(str::to_owned),
            offers_restart,
            passes: self.passes(),
        };
        match self {
            WebError::Segment { error, .. } => {
                let (status, title, hint, restart) = segment_failure(error.kind(), sandbox);
                says(status, title, hint, restart)
            }
            WebError::Provider { error, hint, .. } => {
                let kind = self.provider_kind().unwrap_or(ErrorKind::OAuthRefused);
                let ours = match kind {
                    // Segment's own hint, when it sent one and there is no better advice.
                    ErrorKind::OAuthRefused => hint.as_deref(),
                    other => segment_failure(other, sandbox).2,
                };
                let status = if error == "access_denied" {
                    S::FORBIDDEN
                } else {
                    S::BAD_REQUEST
                };
                says(status, "Segment did not authorize the install", ours, true)
            }
            WebError::NoFlow | WebError::FlowExpired | WebError::StateMismatch => says(
                S::BAD_REQUEST,
                "This sign-in link is not valid",
                Some(
                    "Start again from the home page: each sign-in gets its own state, and it \
                     works once, in the browser that started it.",
                ),
                true,
            ),
            WebError::MissingCode => says(
                S::BAD_REQUEST,
                "Segment sent no authorization code",
                None,
                true,
            ),
            WebError::MissingSource(_) => says(
                S::BAD_GATEWAY,
                "The install has no source",
                Some(
                    "With a destination/<slug> scope Segment's consent screen asks the user to \
                     pick a source and returns it in source_names. Check that the App's scope \
                     is the destination scope you configured.",
                ),
                true,
            ),
            WebError::InstallRefused(_) => says(
                S::UNAUTHORIZED,
                "Segment refused this install's token",
                Some(
                    "The install is kept, marked as needing attention. Either the App was \
                     uninstalled from the workspace in Segment (connect with Segment again to \
                     install it anew), or Segment does not accept this app's CLIENT_ID and \
                     CLIENT_SECRET (fix them; the next page that works clears the mark).",
                ),
                true,
            ),
            WebError::RefreshBusy => says(
                S::SERVICE_UNAVAILABLE,
                "Segment is slow to renew the connection",
                Some(
                    "The install token is being renewed by another request (perhaps on another \
                     instance of this app), and Segment has not answered it yet. Try again in a \
                     moment.",
                ),
                false,
            ),
            WebError::SessionsUnavailable => says(
                S::SERVICE_UNAVAILABLE,
                "Sign-in is unavailable",
                Some(
                    "This app keeps sign-ins in a service that is not answering just now. Nothing \
                     was lost: try again shortly.",
                ),
                false,
            ),
            WebError::SignInFirst => says(
                S::UNAUTHORIZED,
                "Sign in first",
                Some(
                    "This app connects Segment for the users who are signed in to it. Sign in, \
                     then click Enable with Segment again.",
                ),
                false,
            ),
            WebError::NoAccount => says(
                S::UNAUTHORIZED,
                "You have no account with us yet",
                Some("Start from the home page: Enable with Segment makes your account."),
                false,
            ),
            WebError::NotConnected => says(
                S::CONFLICT,
                "Not connected to Segment",
                Some("Start from the home page and click Enable with Segment."),
                true,
            ),
            WebError::KeyUnreadable => says(
                S::INTERNAL_SERVER_ERROR,
                "Your API key cannot be read",
                Some(
                    "The app's SESSION_KEY changed since the key was stored. Click Replace API \
                     key on the home page, then Enable to push the new key into Segment.",
                ),
                false,
            ),
            WebError::InstalledElsewhere => says(
                S::CONFLICT,
                "This workspace is connected to another account",
                Some(if sandbox {
                    "Segment allows one install of this App per workspace, and another account of \
                     ours made it. Ask whoever connected it, or uninstall the App from the \
                     sandbox inspector (/sandbox) and connect again."
                } else {
                    "Segment allows one install of this App per workspace, and another account of \
                     ours made it. Ask whoever connected it, or uninstall the App in the \
                     workspace's settings in Segment and connect again."
                }),
                false,
            ),
            WebError::ReadOnly(_) => says(
                S::FORBIDDEN,
                "This install is read-only",
                Some(
                    "An App created with the workspace:read scope can read but not change. \
                     Create an App with the workspace scope to change destinations.",
                ),
                false,
            ),
            WebError::OneDestinationOnly(_) => says(
                S::FORBIDDEN,
                "This install sees one destination, not the workspace",
                Some(
                    "An App with a destination/<slug> scope reaches only that destination, on                      the source picked at install time: its Monitor page (from the destination                      page) shows how its deliveries go. The workspace view needs an App created                      with the workspace:read or workspace scope.",
                ),
                false,
            ),
            WebError::BadRequest(_) => {
                says(S::BAD_REQUEST, "The request is not valid", None, false)
            }
            WebError::NotFound => says(S::NOT_FOUND, "Page not found", None, false),
            WebError::Csrf => says(
                S::FORBIDDEN,
                "This form has expired",
                Some(
                    "Nothing was changed. Go back, reload the page, and submit the form again; \
                     forms work only in the browser session that showed them.",
                ),
                false,
            ),
            WebError::TooSlow => says(
                S::REQUEST_TIMEOUT,
                "The request took too long to arrive",
                Some("Nothing was changed. Check your connection, and send the form again."),
                false,
            ),
            WebError::TooManyAccounts(_) => says(
                S::TOO_MANY_REQUESTS,
                "Too many new accounts",
                Some(
                    "Nothing was made. This demo makes a limited number of accounts per address \
                     and per hour; try again in a few minutes.",
                ),
                false,
            ),
            WebError::TooLarge(what) => says(
                if *what == "query string" {
                    S::URI_TOO_LONG
                } else {
                    S::PAYLOAD_TOO_LARGE
                },
                "The request is too large",
                None,
                false,
            ),
            WebError::Session(_) | WebError::Render(_) | WebError::Store(_) => says(
                S::INTERNAL_SERVER_ERROR,
                "Something went wrong on our side",
                None,
                false,
            ),
        }
    }

    /// What Segment's `error=…` on the redirect back means.
    fn provider_kind(&self) -> Option<ErrorKind> {
        match self {
            WebError::Provider {
                error, description, ..
            } => Some(ErrorKind::of_oauth(error, description.as_deref())),
            _ => None,
        }
    }

    /// What the user reads under the title. Segment's own words are kept.
    fn message(&self) -> String {
        match self {
            WebError::Segment { doing, error } => {
                // Segment's words may end a sentence already.
                let error = error.to_string();
                format!("While {doing}, {}.", error.trim_end_matches('.'))
            }
            // Known codes in our own words; Segment's only for a code we do not know.
            WebError::Provider {
                error, description, ..
            } => {
                let ours = match self.provider_kind() {
                Some(ErrorKind::AccessDenied) => Some(
                    "The workspace owner chose Deny on Segment's consent screen, so nothing was \
                     installed."
                ),
                Some(ErrorKind::InvalidScope) => Some(
                    "Segment refused the scope this app asked for: it is not the scope the App \
                     was created with."
                ),
                Some(ErrorKind::RedirectMismatch) => Some(
                    "Segment refused the redirect URL this app sent: it is not one the App \
                     registered."
                ),
                Some(ErrorKind::BadCredentials) => Some(
                    "Segment did not accept this app's credentials."
                ),
                Some(ErrorKind::InstallExists) => Some(
                    "Segment says the App is installed on that workspace already."
                ),
                _ => None,
            };
                match (ours, description) {
                    (Some(ours), _) => format!("{ours} (Segment's code: {error}.)"),
                    (None, Some(d)) => format!("Segment answered {error}: {d}"),
                    (None, None) => format!("Segment answered {error}."),
                }
            }
            WebError::NoFlow => "This browser has no sign-in in progress: the link was already \
                                 used, or it was started in another browser."
                .to_owned(),
            WebError::FlowExpired => {
                "The sign-in took longer than 10 minutes and expired.".to_owned()
            }
            WebError::StateMismatch => "The state Segment sent back does not match the one \
                                        given to this browser. The link may have been tampered \
                                        with, or belong to another sign-in."
                .to_owned(),
            WebError::Session(_) | WebError::Render(_) | WebError::Store(_) => {
                "The page could not be prepared. Try again; if it keeps happening, the app's log says why."
                    .to_owned()
            }
            // The error's own sentence, capitalised.
            other => {
                let text = other.to_string();
                let mut chars = text.chars();
                match chars.next() {
                    Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
                    None => text,
                }
            }
        }
    }

    /// Whether the same request may well work in a moment: Segment was down, slow, unreachable
    /// or limiting, or another request is renewing the token. The page then offers to try again.
    fn passes(&self) -> bool {
        match self {
            WebError::Segment { error, .. } => matches!(
                error.kind(),
                ErrorKind::Unavailable | ErrorKind::RateLimited | ErrorKind::Unreachable { .. }
            ),
            WebError::RefreshBusy | WebError::SessionsUnavailable => true,
            _ => false,
        }
    }

    /// The advice shown under the message (the FAQ answer that fits).
    pub fn hint(&self, sandbox: bool) -> Option<String> {
        self.shown(sandbox).hint
    }

    /// Whether the error page should offer to start the flow again.
    #[cfg(test)]
    fn offers_restart(&self) -> bool {
        self.shown(false).offers_restart
    }
}

/// How the error page shows an error ([`WebError::shown`]).
pub struct Shown {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: String,
    pub hint: Option<String>,
    pub offers_restart: bool,
    /// The failure is Segment's and passing (see `WebError::passes`): offer to try again.
    pub passes: bool,
}

/// Status, title, hint (from Segment's FAQ where it has one) and whether connecting again can
/// help, for each kind of Segment failure.
fn segment_failure(
    kind: ErrorKind,
    sandbox: bool,
) -> (StatusCode, &'static str, Option<&'static str>, bool) {
    use StatusCode as S;
    const NO_TOKEN: &str = "Segment did not issue an install token";
    const REFUSED: &str = "Segment refused the request";
    match kind {
        ErrorKind::InstallExists => (
            S::CONFLICT,
            NO_TOKEN,
            Some(if sandbox {
                "This App is already installed on that workspace, and Segment allows one install \
                 per workspace. A partner app stores the install (install name, workspace, source) \
                 with its user and skips the flow next time. In the sandbox, uninstall it from the \
                 sandbox inspector (/sandbox) and connect again."
            } else {
                "This App is already installed on that workspace, and Segment allows one install \
                 per workspace. Store the install (install name, workspace, source) with your user \
                 and skip the flow, or uninstall the App in the workspace's settings in Segment."
            }),
            // Connecting again cannot help.
            false,
        ),
        ErrorKind::InvalidScope => (
            S::BAD_GATEWAY,
            NO_TOKEN,
            Some(
                "The scope this app asks for (SEGMENT_SCOPE) must be exactly the scope the App \
                 was created with in Segment's Developer Center.",
            ),
            true,
        ),
        ErrorKind::RedirectMismatch => (
            S::BAD_GATEWAY,
            NO_TOKEN,
            Some(
                "The redirect URL (REDIRECT_URL) must be one of the App's registered redirect \
                 URLs, and the same in the authorization request and the code exchange.",
            ),
            true,
        ),
        ErrorKind::BadCredentials => (
            S::BAD_GATEWAY,
            NO_TOKEN,
            Some(
                "Segment did not accept the App's credentials: check CLIENT_ID and CLIENT_SECRET.",
            ),
            true,
        ),
        ErrorKind::CodeRejected => (
            S::BAD_REQUEST,
            NO_TOKEN,
            Some("Authorization codes work once and for a few minutes only. Start the flow again."),
            true,
        ),
        ErrorKind::AccessDenied => (
            S::BAD_GATEWAY,
            NO_TOKEN,
            Some(
                "The workspace owner chose Deny on Segment's consent screen. Click Enable with \
                 Segment to try again.",
            ),
            true,
        ),
        ErrorKind::OAuthRefused => (
            S::BAD_GATEWAY,
            NO_TOKEN,
            Some(
                "Segment's identity service did not issue an install token. Start again; if it \
                 keeps happening, check CLIENT_ID, CLIENT_SECRET and REDIRECT_URL.",
            ),
            true,
        ),
        ErrorKind::TokenRejected => (
            S::UNAUTHORIZED,
            REFUSED,
            Some(
                "Install tokens expire after about an hour, and a refreshed token replaces the \
                 old one; the install may also have been removed. Connect with Segment again.",
            ),
            true,
        ),
        ErrorKind::NotAllowed => (
            S::FORBIDDEN,
            REFUSED,
            Some(
                "The install's scope does not allow this. A destination/<slug> scope reaches \
                 only that destination, on the source picked at install time; workspace:read \
                 cannot change anything.",
            ),
            false,
        ),
        ErrorKind::NotFound => (S::NOT_FOUND, REFUSED, None, false),
        ErrorKind::DestinationExists => (S::CONFLICT, REFUSED, None, false),
        ErrorKind::Refused => (S::BAD_GATEWAY, REFUSED, None, false),
        ErrorKind::RateLimited => (
            S::SERVICE_UNAVAILABLE,
            REFUSED,
            Some("Segment is limiting how fast this app may call it. Wait a moment and try again."),
            false,
        ),
        ErrorKind::Unimplemented => (
            S::NOT_IMPLEMENTED,
            REFUSED,
            Some("Segment does not offer this for this destination."),
            false,
        ),
        ErrorKind::Unavailable => (
            S::BAD_GATEWAY,
            "Segment is unavailable",
            Some(
                "Segment could not answer just now. Nothing here needs fixing and nothing was \
                 lost: try again in a moment.",
            ),
            false,
        ),
        ErrorKind::Unreachable { timed_out } => (
            if timed_out {
                S::GATEWAY_TIMEOUT
            } else {
                S::BAD_GATEWAY
            },
            "Segment could not be reached",
            Some(
                "Check that SEGMENT_ID_URL and SEGMENT_API_URL are right and reachable, then try \
                 again.",
            ),
            false,
        ),
        ErrorKind::Unreadable => (
            S::BAD_GATEWAY,
            "Segment sent an unexpected answer",
            Some(
                "Segment's answer could not be read. Try again; if it keeps happening, check \
                 that SEGMENT_ID_URL and SEGMENT_API_URL point at Segment.",
            ),
            false,
        ),
    }
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        self.shown(false).status
    }

    /// A plain-text fallback; the `error_page` middleware replaces it with the HTML page.
    fn error_response(&self) -> HttpResponse {
        let shown = self.shown(false);
        HttpResponse::build(shown.status)
            .content_type(ContentType::plaintext())
            .body(format!("{}\n\n{}", shown.title, shown.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn oauth(error: &str, description: &str) -> WebError {
        WebError::Segment {
            doing: "exchanging the code",
            error: SegmentError::OAuth {
                error: error.into(),
                description: Some(description.into()),
            },
        }
    }

    #[test]
    fn each_faq_error_gets_its_hint_and_status() {
        let exists = oauth("invalid_request", "install already exists");
        assert_eq!(exists.status_code(), StatusCode::CONFLICT);
        assert!(exists.hint(true).unwrap().contains("sandbox inspector"));
        assert!(!exists.hint(false).unwrap().contains("sandbox"));
        assert!(!exists.offers_restart());

        let redirect = oauth(
            "invalid_request",
            "The request is missing a required parameter. The redirect_uri does not match.",
        );
        assert!(redirect.hint(false).unwrap().contains("REDIRECT_URL"));

        let scope = WebError::Provider {
            error: "invalid_scope".into(),
            description: None,
            hint: None,
        };
        assert!(scope.hint(false).unwrap().contains("SEGMENT_SCOPE"));
        assert_eq!(scope.status_code(), StatusCode::BAD_REQUEST);

        let denied = WebError::Provider {
            error: "access_denied".into(),
            description: None,
            hint: None,
        };
        assert_eq!(denied.status_code(), StatusCode::FORBIDDEN);
        assert!(denied.hint(false).unwrap().contains("Deny"));

        let expired = WebError::Segment {
            doing: "reading the destination",
            error: SegmentError::Api {
                status: 401,
                message: "malformed token".into(),
            },
        };
        assert_eq!(expired.status_code(), StatusCode::UNAUTHORIZED);
        assert!(expired.hint(false).unwrap().contains("expire"));
        assert!(expired.offers_restart());

        let missing = WebError::MissingSource("destination/clearbrain".into());
        assert!(missing.hint(false).unwrap().contains("source"));
    }

    #[test]
    fn upstream_failures_map_to_gateway_statuses() {
        let timeout = WebError::Segment {
            doing: "x",
            error: SegmentError::Unreachable {
                timed_out: true,
                detail: "no answer in time".into(),
            },
        };
        assert_eq!(timeout.status_code(), StatusCode::GATEWAY_TIMEOUT);
        let limited = WebError::Segment {
            doing: "x",
            error: SegmentError::Api {
                status: 429,
                message: "slow down".into(),
            },
        };
        assert_eq!(limited.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        let broken = WebError::Segment {
            doing: "x",
            error: SegmentError::Api {
                status: 500,
                message: "oops".into(),
            },
        };
        assert_eq!(broken.status_code(), StatusCode::BAD_GATEWAY);
    }
}

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

use enable_with_segment::sql::Error as SqlError;
use enable_with_segment::{Advice, CallError, FlowError};

use crate::segment::{ErrorKind, SegmentError};

/// What the install flow hands the app's failure hook: the flow library's [`FlowError`], with
/// the app's own errors for its login (sign-up) and the install store's.
pub type FlowFailure = FlowError<WebError, SqlError>;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The install flow did not end with a stored install (the flow library's words; the
    /// page's are chosen in [`WebError::shown`]).
    #[error(transparent)]
    Flow(Box<FlowFailure>),

    /// A Config API call for the install failed while the app was `doing` something: Segment
    /// refused or failed, refused a new token, or another request is renewing it.
    #[error("while {doing}: {error}")]
    Call {
        doing: &'static str,
        error: CallError<SqlError>,
    },

    #[error("this browser has no account with us")]
    NoAccount,

    /// The session store (Redis, or the database) failed or did not answer in time.
    #[error("the session store is unavailable")]
    SessionsUnavailable,

    #[error("your API key was stored under another SESSION_KEY and cannot be read")]
    KeyUnreadable,

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

// What to do, in the error page's longer cases (`WebError::shown`).
const HINT_SESSIONS_UNAVAILABLE: &str = "This app keeps sign-ins in a service that is not \
    answering just now. Nothing was lost: try again shortly.";
const HINT_KEY_UNREADABLE: &str = "The app's SESSION_KEY changed since the key was stored. Click \
    Replace API key on the home page, then Enable to push the new key into Segment.";
const HINT_READ_ONLY: &str = "An App created with the workspace:read scope can read but not \
    change. Create an App with the workspace scope to change destinations.";
const HINT_ONE_DESTINATION: &str = "An App with a destination/<slug> scope reaches only that \
    destination, on the source picked at install time: its Monitor page (from the destination \
    page) shows how its deliveries go. The workspace view needs an App created with the \
    workspace:read or workspace scope.";
const HINT_CSRF: &str = "Nothing was changed. Go back, reload the page, and submit the form \
    again; forms work only in the browser session that showed them.";
const HINT_TOO_MANY_ACCOUNTS: &str = "Nothing was made. This demo makes a limited number of \
    accounts per address and per hour; try again in a few minutes.";

impl WebError {
    /// A database failure (its details go to the log, not the page).
    pub fn store(error: crate::store::StoreError) -> WebError {
        match error {
            crate::store::StoreError::Unreadable(_) => WebError::KeyUnreadable,
            other => WebError::Store(other.to_string()),
        }
    }

    /// Wraps a failed Config API call with what the app was doing when it happened.
    pub fn call(doing: &'static str) -> impl FnOnce(CallError<SqlError>) -> WebError {
        move |error| WebError::Call { doing, error }
    }

    /// A failure the flow library names (nobody signed in, an install with no source, …),
    /// where the app meets it outside the flow.
    pub fn flow(error: FlowFailure) -> WebError {
        WebError::Flow(Box::new(error))
    }

    /// A failure of the install store (its details go to the log, not the page).
    pub fn installs(error: SqlError) -> WebError {
        WebError::Store(error.to_string())
    }

    /// Everything the error page says about this error: its status, title, message, hint and
    /// whether to offer to connect again, decided here, in one exhaustive match (a new variant
    /// does not compile until it says all of it; the flow library's errors are read in
    /// `flow_shown` and `call_shown`). Segment's failures are told apart by their
    /// [`ErrorKind`], never by Segment's words.
    pub fn shown(&self, sandbox: bool) -> Shown {
        use StatusCode as S;
        let says = |status, title, hint: Option<&str>| Shown {
            status,
            title,
            message: self.message(),
            hint: hint.map(str::to_owned),
            offers_restart: false,
            passes: matches!(self, WebError::SessionsUnavailable),
        };
        match self {
            WebError::Flow(error) => flow_shown(error, sandbox),
            WebError::Call { doing, error } => call_shown(doing, error, sandbox),
            WebError::SessionsUnavailable => says(
                S::SERVICE_UNAVAILABLE,
                "Sign-in is unavailable",
                Some(HINT_SESSIONS_UNAVAILABLE),
            ),
            WebError::NoAccount => says(
                S::UNAUTHORIZED,
                "You have no account with us yet",
                Some("Start from the home page: Enable with Segment makes your account."),
            ),
            WebError::KeyUnreadable => says(
                S::INTERNAL_SERVER_ERROR,
                "Your API key cannot be read",
                Some(HINT_KEY_UNREADABLE),
            ),
            WebError::ReadOnly(_) => says(
                S::FORBIDDEN,
                "This install is read-only",
                Some(HINT_READ_ONLY),
            ),
            WebError::OneDestinationOnly(_) => says(
                S::FORBIDDEN,
                "This install sees one destination, not the workspace",
                Some(HINT_ONE_DESTINATION),
            ),
            WebError::BadRequest(_) => says(S::BAD_REQUEST, "The request is not valid", None),
            WebError::NotFound => says(S::NOT_FOUND, "Page not found", None),
            WebError::Csrf => says(S::FORBIDDEN, "This form has expired", Some(HINT_CSRF)),
            WebError::TooSlow => says(
                S::REQUEST_TIMEOUT,
                "The request took too long to arrive",
                Some("Nothing was changed. Check your connection, and send the form again."),
            ),
            WebError::TooManyAccounts(_) => says(
                S::TOO_MANY_REQUESTS,
                "Too many new accounts",
                Some(HINT_TOO_MANY_ACCOUNTS),
            ),
            WebError::TooLarge(what) => says(
                if *what == "query string" {
                    S::URI_TOO_LONG
                } else {
                    S::PAYLOAD_TOO_LARGE
                },
                "The request is too large",
                None,
            ),
            WebError::Session(_) | WebError::Render(_) | WebError::Store(_) => says(
                S::INTERNAL_SERVER_ERROR,
                "Something went wrong on our side",
                None,
            ),
        }
    }

    /// What the user reads under the title: the error's own sentence, capitalised.
    fn message(&self) -> String {
        match self {
            WebError::Session(_) | WebError::Render(_) | WebError::Store(_) => {
                "The page could not be prepared. Try again; if it keeps happening, the app's log says why."
                    .to_owned()
            }
            other => sentence(other),
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

/// `error`'s words as a sentence: capitalised, with a full stop.
fn sentence(error: &impl std::fmt::Display) -> String {
    let text = error.to_string();
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => text,
    }
}

/// The page for a failure of the install flow: the flow library's advice for it, but for the
/// app's own words on its login's failures (a sign-up refused), Segment's failures and errors
/// told apart as for a Config API call, and the sandbox's pointer to the inspector.
fn flow_shown(error: &FlowFailure, sandbox: bool) -> Shown {
    match error {
        FlowError::Users(error) => error.shown(sandbox),
        FlowError::Store(_) => WebError::Store(String::new()).shown(sandbox),
        FlowError::Segment(error) => segment_shown(
            "exchanging the authorization code for an install token",
            error,
            sandbox,
        ),
        FlowError::Provider {
            error,
            description,
            hint,
        } => provider_shown(error, description.as_deref(), hint.as_deref(), sandbox),
        // "Already installed" without an install of this account's: another account's, or one
        // this app did not keep (a refusal after Segment installed it).
        FlowError::AlreadyInstalled => {
            let hint = if sandbox {
                "Segment allows one install of this App per workspace, and this workspace has \
                 one: another account here made it, or a connection this app did not keep. \
                 Uninstall the App from the sandbox inspector (/sandbox) and connect again."
            } else {
                "Segment allows one install of this App per workspace, and this workspace has \
                 one: another account here made it, or a connection this app did not keep. Ask \
                 whoever connected it, or have a workspace owner uninstall the App in the \
                 workspace's settings in Segment, and connect again."
            };
            advised(error.advice(), sentence(error), Some(hint))
        }
        FlowError::InstalledElsewhere => {
            let hint = error.advice().hint.filter(|_| !sandbox).or(Some(
                "Segment allows one install of this App per workspace, and another account of \
                 ours made it. Ask whoever connected it, or uninstall the App from the sandbox \
                 inspector (/sandbox) and connect again.",
            ));
            advised(error.advice(), sentence(error), hint)
        }
        // Segment installed the App and this app did not keep it: why (the cause's page), and
        // what the workspace owner does about the install left in Segment.
        FlowError::NotKept { cause, .. } => {
            let hint = if sandbox {
                "Segment has installed the App on the workspace, and it stays installed there \
                 until it is uninstalled: uninstall it from the sandbox inspector (/sandbox) \
                 before connecting the workspace again."
            } else {
                error.advice().hint.unwrap_or_default()
            };
            Shown {
                message: sentence(error),
                hint: Some(hint.to_owned()),
                offers_restart: false,
                ..flow_shown(cause, sandbox)
            }
        }
        other => advised(other.advice(), sentence(other), other.advice().hint),
    }
}

/// The page for a Config API call that failed while the app was `doing` something: the flow
/// library's advice, with Segment's failures told apart as for the flow.
fn call_shown(doing: &str, error: &CallError<SqlError>, sandbox: bool) -> Shown {
    match error {
        CallError::Segment(error) => segment_shown(doing, error, sandbox),
        CallError::Store(_) => WebError::Store(String::new()).shown(sandbox),
        other => advised(other.advice(), sentence(other), other.advice().hint),
    }
}

/// The page the library's `advice` describes, with `message` and `hint`.
fn advised(advice: Advice, message: String, hint: Option<&str>) -> Shown {
    Shown {
        status: advice.status,
        title: advice.title,
        message,
        hint: hint.map(str::to_owned),
        offers_restart: advice.connect_again,
        passes: advice.passes,
    }
}

/// The page for Segment's failure while the app was `doing` something: the flow library's
/// [`Advice`] for its kind, but in sandbox mode, where "already installed" points at the
/// inspector.
fn segment_shown(doing: &str, error: &SegmentError, sandbox: bool) -> Shown {
    // Segment's words may end a sentence already.
    let words = error.to_string();
    let message = format!("While {doing}, {}.", words.trim_end_matches('.'));
    advised(
        Advice::of(error.kind()),
        message,
        hint_for(error.kind(), sandbox),
    )
}

/// The page for Segment's `error=…` on the redirect back: known codes in the library's words
/// ([`Advice::meaning`]), Segment's only for a code it does not know, and Segment's own hint
/// where there is no better advice.
fn provider_shown(
    error: &str,
    description: Option<&str>,
    hint: Option<&str>,
    sandbox: bool,
) -> Shown {
    let message = match (Advice::meaning(error, description), description) {
        (Some(ours), _) => format!("{ours} (Segment's code: {error}.)"),
        (None, Some(d)) => format!("Segment answered {error}: {d}"),
        (None, None) => format!("Segment answered {error}."),
    };
    let hint = match ErrorKind::of_oauth(error, description) {
        ErrorKind::OAuthRefused => hint,
        other => hint_for(other, sandbox),
    };
    let provider: FlowFailure = FlowError::Provider {
        error: error.to_owned(),
        description: None,
        hint: None,
    };
    advised(provider.advice(), message, hint)
}

/// The advice for Segment's failure of `kind` ([`Advice::of`]); in sandbox mode, "already
/// installed" points at the inspector.
fn hint_for(kind: ErrorKind, sandbox: bool) -> Option<&'static str> {
    match kind {
        ErrorKind::InstallExists if sandbox => Some(
            "This App is already installed on that workspace, and Segment allows one install \
             per workspace. A partner app stores the install (install name, workspace, source) \
             with its user and skips the flow next time. In the sandbox, uninstall it from the \
             sandbox inspector (/sandbox) and connect again.",
        ),
        other => Advice::of(other).hint,
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
        WebError::Flow(Box::new(FlowError::Segment(SegmentError::OAuth {
            error: error.into(),
            description: Some(description.into()),
        })))
    }

    fn provider(error: &str) -> WebError {
        WebError::Flow(Box::new(FlowError::Provider {
            error: error.into(),
            description: None,
            hint: None,
        }))
    }

    fn segment(error: SegmentError) -> WebError {
        WebError::Call {
            doing: "reading the destination",
            error: CallError::Segment(error),
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

        let scope = provider("invalid_scope");
        assert!(scope.hint(false).unwrap().contains("SEGMENT_SCOPE"));
        assert_eq!(scope.status_code(), StatusCode::BAD_REQUEST);

        let denied = provider("access_denied");
        assert_eq!(denied.status_code(), StatusCode::FORBIDDEN);
        assert!(denied.hint(false).unwrap().contains("Deny"));

        let expired = segment(SegmentError::Api {
            status: 401,
            message: "malformed token".into(),
        });
        assert_eq!(expired.status_code(), StatusCode::UNAUTHORIZED);
        assert!(expired.hint(false).unwrap().contains("expire"));
        assert!(expired.offers_restart());

        let missing = WebError::flow(FlowError::MissingSource("destination/clearbrain".into()));
        assert!(missing.hint(false).unwrap().contains("source"));

        let refused = WebError::Call {
            doing: "reading the destination",
            error: CallError::Refused("install not found".into()),
        };
        assert_eq!(refused.status_code(), StatusCode::UNAUTHORIZED);
        assert!(refused.hint(false).unwrap().contains("CLIENT_SECRET"));
    }

    #[test]
    fn upstream_failures_map_to_gateway_statuses() {
        let timeout = segment(SegmentError::Unreachable {
            timed_out: true,
            detail: "no answer in time".into(),
        });
        assert_eq!(timeout.status_code(), StatusCode::GATEWAY_TIMEOUT);
        let limited = segment(SegmentError::Api {
            status: 429,
            message: "slow down".into(),
        });
        assert_eq!(limited.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(limited.shown(false).passes);
        let broken = segment(SegmentError::Api {
            status: 500,
            message: "oops".into(),
        });
        assert_eq!(broken.status_code(), StatusCode::BAD_GATEWAY);
    }

    #[test]
    fn an_install_not_kept_says_what_the_workspace_owner_does() {
        let not_kept = WebError::Flow(Box::new(FlowError::NotKept {
            workspace: "workspaces/acme".into(),
            cause: Box::new(FlowError::Store(SqlError::NotMigrated(1))),
        }));
        for sandbox in [false, true] {
            let shown = not_kept.shown(sandbox);
            assert_eq!(shown.status, StatusCode::INTERNAL_SERVER_ERROR);
            assert!(
                shown.message.contains("workspaces/acme"),
                "{}",
                shown.message
            );
            let hint = shown.hint.unwrap();
            assert!(hint.contains("uninstall"), "{hint}");
            assert_eq!(hint.contains("/sandbox"), sandbox, "{hint}");
            assert!(!shown.offers_restart);
        }
    }

    #[test]
    fn a_refused_sign_up_at_the_callback_is_the_apps_own_page() {
        let refused = WebError::Flow(Box::new(FlowError::Users(WebError::TooManyAccounts(
            "from this address",
        ))));
        assert_eq!(refused.status_code(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(refused.shown(false).title, "Too many new accounts");
    }
}

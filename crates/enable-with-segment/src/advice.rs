//! What a page can say when Segment fails: for each kind of Segment's failure
//! ([`ErrorKind`](segment_client::ErrorKind)), the HTTP status that fits, a title, the advice
//! (from Segment's FAQ where it has one), whether connecting again can help and whether the same
//! request may well work in a moment. [`PlainPages`](crate::PlainPages) shows it, and so can
//! your pages: [`Advice::of`]. The advice names the settings `AppSettings` reads
//! (`CLIENT_ID`, `REDIRECT_URL`, …).

use actix_web::http::StatusCode;
use segment_client::ErrorKind;

/// What to tell the customer about one kind of Segment's failure: [`Advice::of`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Advice {
    /// The status that fits: 4xx where the request or the customer's choice is the cause,
    /// 5xx where Segment or the settings are.
    pub status: StatusCode,
    /// What happened, as a page's title.
    pub title: &'static str,
    /// What to do about it, where there is something to say.
    pub hint: Option<&'static str>,
    /// Starting the flow again can help.
    pub connect_again: bool,
    /// The failure passes: Segment was down, slow, unreachable or limiting, and the same
    /// request may well work in a moment.
    pub passes: bool,
}

const NO_TOKEN: &str = "Segment did not issue an install token";
const REFUSED: &str = "Segment refused the request";

impl Advice {
    fn new(status: StatusCode, title: &'static str, hint: Option<&'static str>) -> Advice {
        Advice {
            status,
            title,
            hint,
            connect_again: false,
            passes: false,
        }
    }

    fn connect_again(self) -> Advice {
        Advice {
            connect_again: true,
            ..self
        }
    }

    fn passing(self) -> Advice {
        Advice {
            passes: true,
            ..self
        }
    }

    /// The advice for Segment's failure of this kind.
    pub fn of(kind: ErrorKind) -> Advice {
        Advice::of_identity_service(kind).unwrap_or_else(|| Advice::of_config_api(kind))
    }

    /// The advice for a failure of the identity service (the flow's), if `kind` is one.
    fn of_identity_service(kind: ErrorKind) -> Option<Advice> {
        use StatusCode as S;
        let advice = match kind {
            ErrorKind::InstallExists => Advice::new(
                S::CONFLICT,
                NO_TOKEN,
                Some(
                    "This App is already installed on that workspace, and Segment allows one \
                     install per workspace. Store the install (install name, workspace, source) \
                     with your user and skip the flow, or uninstall the App in the workspace's \
                     settings in Segment.",
                ),
            ),
            ErrorKind::InvalidScope => Advice::new(
                S::BAD_GATEWAY,
                NO_TOKEN,
                Some(
                    "The scope this app asks for (SEGMENT_SCOPE) must be exactly the scope the \
                     App was created with in Segment's Developer Center.",
                ),
            )
            .connect_again(),
            ErrorKind::RedirectMismatch => Advice::new(
                S::BAD_GATEWAY,
                NO_TOKEN,
                Some(
                    "The redirect URL (REDIRECT_URL) must be one of the App's registered \
                     redirect URLs, and the same in the authorization request and the code \
                     exchange.",
                ),
            )
            .connect_again(),
            ErrorKind::BadCredentials => Advice::new(
                S::BAD_GATEWAY,
                NO_TOKEN,
                Some(
                    "Segment did not accept the App's credentials: check CLIENT_ID and \
                     CLIENT_SECRET.",
                ),
            )
            .connect_again(),
            ErrorKind::CodeRejected => Advice::new(
                S::BAD_REQUEST,
                NO_TOKEN,
                Some(
                    "Authorization codes work once and for a few minutes only. Start the flow \
                     again.",
                ),
            )
            .connect_again(),
            ErrorKind::AccessDenied => Advice::new(
                S::BAD_GATEWAY,
                NO_TOKEN,
                Some(
                    "The workspace owner chose Deny on Segment's consent screen. Click Enable \
                     with Segment to try again.",
                ),
            )
            .connect_again(),
            ErrorKind::OAuthRefused => Advice::new(
                S::BAD_GATEWAY,
                NO_TOKEN,
                Some(
                    "Segment's identity service did not issue an install token. Start again; if \
                     it keeps happening, check CLIENT_ID, CLIENT_SECRET and REDIRECT_URL.",
                ),
            )
            .connect_again(),
            _ => return None,
        };
        Some(advice)
    }

    /// The advice for a failure of a Config API call (or of reaching Segment at all).
    fn of_config_api(kind: ErrorKind) -> Advice {
        use StatusCode as S;
        match kind {
            ErrorKind::TokenRejected => Advice::new(
                S::UNAUTHORIZED,
                REFUSED,
                Some(
                    "Install tokens expire after about an hour, and a refreshed token replaces \
                     the old one; the install may also have been removed. Connect with Segment \
                     again.",
                ),
            )
            .connect_again(),
            ErrorKind::NotAllowed => Advice::new(
                S::FORBIDDEN,
                REFUSED,
                Some(
                    "The install's scope does not allow this. A destination/<slug> scope reaches \
                     only that destination, on the source picked at install time; \
                     workspace:read cannot change anything.",
                ),
            ),
            ErrorKind::NotFound => Advice::new(S::NOT_FOUND, REFUSED, None),
            ErrorKind::DestinationExists => Advice::new(S::CONFLICT, REFUSED, None),
            ErrorKind::Refused => Advice::new(S::BAD_GATEWAY, REFUSED, None),
            ErrorKind::RateLimited => Advice::new(
                S::SERVICE_UNAVAILABLE,
                REFUSED,
                Some(
                    "Segment is limiting how fast this app may call it. Wait a moment and try \
                     again.",
                ),
            )
            .passing(),
            ErrorKind::Unimplemented => Advice::new(
                S::NOT_IMPLEMENTED,
                REFUSED,
                Some("Segment does not offer this for this destination."),
            ),
            ErrorKind::Unavailable => Advice::new(
                S::BAD_GATEWAY,
                "Segment is unavailable",
                Some(
                    "Segment could not answer just now. Nothing here needs fixing and nothing \
                     was lost: try again in a moment.",
                ),
            )
            .passing(),
            ErrorKind::Unreachable { timed_out } => Advice::new(
                if timed_out {
                    S::GATEWAY_TIMEOUT
                } else {
                    S::BAD_GATEWAY
                },
                "Segment could not be reached",
                Some(
                    "Check that SEGMENT_ID_URL and SEGMENT_API_URL are right and reachable, \
                     then try again.",
                ),
            )
            .passing(),
            ErrorKind::Unreadable => Advice::new(
                S::BAD_GATEWAY,
                "Segment sent an unexpected answer",
                Some(
                    "Segment's answer could not be read. Try again; if it keeps happening, check \
                     that SEGMENT_ID_URL and SEGMENT_API_URL point at Segment.",
                ),
            ),
            // The identity service's, answered by `of_identity_service` (named here so that a
            // new kind must be placed).
            ErrorKind::InstallExists
            | ErrorKind::InvalidScope
            | ErrorKind::RedirectMismatch
            | ErrorKind::BadCredentials
            | ErrorKind::CodeRejected
            | ErrorKind::AccessDenied
            | ErrorKind::OAuthRefused => Advice::new(S::BAD_GATEWAY, NO_TOKEN, None),
        }
    }

    /// What Segment's `error=…` on the redirect back means, in a sentence, for the codes it
    /// is known to send (`access_denied`, a scope or redirect URL it refused, …); `None` for
    /// another (show Segment's own `error_description` then).
    pub fn meaning(error: &str, description: Option<&str>) -> Option<&'static str> {
        match ErrorKind::of_oauth(error, description) {
            ErrorKind::AccessDenied => Some(
                "The workspace owner chose Deny on Segment's consent screen, so nothing was \
                 installed.",
            ),
            ErrorKind::InvalidScope => Some(
                "Segment refused the scope this app asked for: it is not the scope the App was \
                 created with.",
            ),
            ErrorKind::RedirectMismatch => Some(
                "Segment refused the redirect URL this app sent: it is not one the App \
                 registered.",
            ),
            ErrorKind::BadCredentials => Some("Segment did not accept this app's credentials."),
            ErrorKind::InstallExists => {
                Some("Segment says the App is installed on that workspace already.")
            }
            _ => None,
        }
    }
}

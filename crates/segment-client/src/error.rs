//! The one error type of the Segment client.
//!
//! It keeps what Segment said (status and message, or the OAuth `error` and
//! `error_description`) so that the web layer can explain it to the user. It never holds a
//! token, code or secret: nothing from a request we sent is copied into it.

/// What went wrong talking to Segment.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    /// The Config API answered with an error: `{"error": "...", "code": N}` and a status.
    #[error("Segment's Config API answered {status}: {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// Segment's `error`.
        message: String,
    },

    /// The identity service refused (RFC 6749 error: `error` and `error_description`).
    #[error("Segment's identity service answered {error}{}", description_suffix(.description))]
    OAuth {
        /// The OAuth error code.
        error: String,
        /// Its `error_description`, if any.
        description: Option<String>,
    },

    /// Segment could not be reached, or did not answer in time.
    #[error("could not reach Segment: {detail}")]
    Unreachable {
        /// No answer in time (rather than no connection).
        timed_out: bool,
        /// What failed.
        detail: String,
    },

    /// Segment answered with something this app cannot read.
    #[error("Segment sent an answer this app cannot read: {0}")]
    BadResponse(String),
}

fn description_suffix(description: &Option<String>) -> String {
    description
        .as_ref()
        .map(|d| format!(": {d}"))
        .unwrap_or_default()
}

/// What a failure means, decided here once from Segment's status and words: the rest of the
/// app matches on these and never reads Segment's sentences. A partner who meets a new phrase
/// from Segment changes [`SegmentError::kind`] (and its tests) and nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// "install already exists": the App is installed on that workspace already.
    InstallExists,
    /// "destination already exists": a create met a destination that is there.
    DestinationExists,
    /// The scope asked for is not the App's (`invalid_scope`).
    InvalidScope,
    /// The redirect URI is not one the App registered ("missing a required parameter",
    /// `redirect_uri`).
    RedirectMismatch,
    /// The App's credentials were not accepted (`invalid_client`).
    BadCredentials,
    /// The authorization code was used already, or expired (`invalid_grant`).
    CodeRejected,
    /// The workspace owner chose Deny (`access_denied`).
    AccessDenied,
    /// The install token was refused (401, "malformed token"): expired, retired by a newer
    /// one, or its install is gone.
    TokenRejected,
    /// The install's scope does not reach this (403).
    NotAllowed,
    /// Not there (404).
    NotFound,
    /// Segment is limiting how fast the App may call it (429).
    RateLimited,
    /// Segment has no such feature for this (501, "unimplemented"): e.g. no delivery metrics
    /// for a device-mode destination. Trying again does not help.
    Unimplemented,
    /// Segment failed to answer (5xx).
    Unavailable,
    /// No answer: the connection failed, or no answer came in time.
    Unreachable {
        /// No answer in time (rather than no connection).
        timed_out: bool,
    },
    /// An answer this app cannot read.
    Unreadable,
    /// Another refusal of the Config API (a 4xx not named above).
    Refused,
    /// Another refusal of the identity service.
    OAuthRefused,
}

impl ErrorKind {
    /// The kind of an OAuth error `code` (and its description): what the identity service says
    /// at the token endpoint, and what Segment puts on the redirect back (`error=…`).
    pub fn of_oauth(code: &str, description: Option<&str>) -> ErrorKind {
        let words = format!("{code} {}", description.unwrap_or_default()).to_ascii_lowercase();
        if words.contains("install already exists") {
            ErrorKind::InstallExists
        } else if words.contains("invalid_scope") || words.contains("invalid scope") {
            ErrorKind::InvalidScope
        } else if words.contains("missing a required parameter") || words.contains("redirect_uri") {
            ErrorKind::RedirectMismatch
        } else if code == "invalid_client" {
            ErrorKind::BadCredentials
        } else if code == "invalid_grant" {
            ErrorKind::CodeRejected
        } else if code == "access_denied" {
            ErrorKind::AccessDenied
        } else {
            ErrorKind::OAuthRefused
        }
    }
}

impl SegmentError {
    /// What this failure means (see [`ErrorKind`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            SegmentError::OAuth { error, description } => {
                ErrorKind::of_oauth(error, description.as_deref())
            }
            SegmentError::Unreachable { timed_out, .. } => ErrorKind::Unreachable {
                timed_out: *timed_out,
            },
            SegmentError::BadResponse(_) => ErrorKind::Unreadable,
            SegmentError::Api { status, message } => {
                let words = message.to_ascii_lowercase();
                if words.contains("install already exists") {
                    ErrorKind::InstallExists
                } else if words.contains("already exists") {
                    ErrorKind::DestinationExists
                } else if *status == 401 || words.contains("malformed token") {
                    ErrorKind::TokenRejected
                } else {
                    match status {
                        403 => ErrorKind::NotAllowed,
                        404 => ErrorKind::NotFound,
                        429 => ErrorKind::RateLimited,
                        501 => ErrorKind::Unimplemented,
                        500.. => ErrorKind::Unavailable,
                        _ => ErrorKind::Refused,
                    }
                }
            }
        }
    }

    /// Segment's own words, for the error page.
    pub fn message(&self) -> String {
        match self {
            SegmentError::Api { message, .. } => message.clone(),
            SegmentError::OAuth { error, description } => match description {
                Some(d) => format!("{error}: {d}"),
                None => error.clone(),
            },
            SegmentError::Unreachable { detail, .. } => detail.clone(),
            SegmentError::BadResponse(detail) => detail.clone(),
        }
    }

    /// The HTTP status Segment answered with, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            SegmentError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// A create of something that is already there (an install, or a destination).
    pub fn is_already_exists(&self) -> bool {
        matches!(
            self.kind(),
            ErrorKind::InstallExists | ErrorKind::DestinationExists
        )
    }

    /// A failure that may pass: no connection, no answer in time, or a 5xx.
    pub fn is_transient(&self) -> bool {
        match self {
            SegmentError::Unreachable { .. } => true,
            SegmentError::Api { status, .. } => *status >= 500 && *status != 501,
            _ => false,
        }
    }

    /// What kind of failure this is, as the metrics count it.
    pub fn outcome(&self) -> &'static str {
        match self.kind() {
            ErrorKind::Unavailable => "server_error",
            // Usually an answer, not a failure: the destination does not exist (yet).
            ErrorKind::NotFound => "not_found",
            ErrorKind::Unreachable { .. } => "unreachable",
            ErrorKind::Unreadable => "unreadable",
            _ => "client_error",
        }
    }

    /// Whether Segment said the thing is not there (404).
    pub fn is_not_found(&self) -> bool {
        self.kind() == ErrorKind::NotFound
    }

    /// Segment's error body, if `body` is one; otherwise a short, printable excerpt of it.
    pub(crate) fn from_api_response(status: u16, body: &[u8]) -> SegmentError {
        #[derive(serde::Deserialize)]
        struct ApiErrorBody {
            error: String,
        }
        let message = match serde_json::from_slice::<ApiErrorBody>(body) {
            Ok(parsed) => parsed.error,
            Err(_) => {
                let text = excerpt(body);
                if text.is_empty() {
                    format!("HTTP {status} with an empty body")
                } else {
                    text
                }
            }
        };
        SegmentError::Api { status, message }
    }

    pub(crate) fn from_transport(error: &reqwest::Error) -> SegmentError {
        let detail = describe_transport(error);
        // Where it went is for the logs; the error (and any page that shows it) says what.
        if let Some(url) = error.url() {
            tracing::warn!(
                url = %format!("{}{}", url.origin().ascii_serialization(), url.path()),
                error = %detail,
                "no answer from Segment"
            );
        }
        SegmentError::Unreachable {
            timed_out: error.is_timeout(),
            detail,
        }
    }
}

/// A one-line description of a transport error, with its causes, and without its URL (reqwest's
/// own `Display` names the URL, and stops at "error sending request").
fn describe_transport(error: &reqwest::Error) -> String {
    let mut detail = if error.is_timeout() {
        "no answer in time"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_body() || error.is_decode() {
        "the answer was cut off"
    } else {
        "the request failed"
    }
    .to_owned();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        detail.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    detail
}

/// At most 200 printable characters of a body, for an error message.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    cleaned.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A call that found nobody says so, and names no address: pages show it.
    #[tokio::test]
    async fn a_transport_error_names_no_url() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/oauth2/token", listener.local_addr().unwrap());
        drop(listener);
        let error = reqwest::get(&url).await.unwrap_err();
        let said = SegmentError::from_transport(&error).to_string();
        assert!(
            said.starts_with("could not reach Segment: connection failed"),
            "{said}"
        );
        assert!(
            !said.contains("127.0.0.1") && !said.contains("oauth2"),
            "{said}"
        );
    }

    #[test]
    fn reads_segments_error_body() {
        let err = SegmentError::from_api_response(
            400,
            br#"{"error":"destination already exists","code":6}"#,
        );
        assert_eq!(err.message(), "destination already exists");
        assert!(err.is_already_exists());
        assert_eq!(err.status(), Some(400));
    }

    /// Every phrase of Segment's this app knows, and what it means.
    #[test]
    fn each_segment_phrase_has_its_kind() {
        let api = |status, message: &str| {
            SegmentError::Api {
                status,
                message: message.to_owned(),
            }
            .kind()
        };
        let oauth = |error: &str, description: Option<&str>| {
            SegmentError::OAuth {
                error: error.to_owned(),
                description: description.map(str::to_owned),
            }
            .kind()
        };
        assert_eq!(api(400, "install already exists"), ErrorKind::InstallExists);
        assert_eq!(
            oauth("invalid_request", Some("install already exists")),
            ErrorKind::InstallExists
        );
        assert_eq!(
            api(400, "destination already exists"),
            ErrorKind::DestinationExists
        );
        assert_eq!(oauth("invalid_scope", None), ErrorKind::InvalidScope);
        assert_eq!(
            oauth(
                "invalid_request",
                Some("The requested scope is invalid scope")
            ),
            ErrorKind::InvalidScope
        );
        assert_eq!(
            oauth(
                "invalid_request",
                Some(
                    "The request is missing a required parameter. The redirect_uri does not match."
                )
            ),
            ErrorKind::RedirectMismatch
        );
        assert_eq!(oauth("invalid_client", None), ErrorKind::BadCredentials);
        assert_eq!(oauth("invalid_grant", None), ErrorKind::CodeRejected);
        assert_eq!(oauth("access_denied", None), ErrorKind::AccessDenied);
        assert_eq!(oauth("server_error", None), ErrorKind::OAuthRefused);
        assert_eq!(api(401, "unauthorized"), ErrorKind::TokenRejected);
        assert_eq!(api(400, "malformed token"), ErrorKind::TokenRejected);
        assert_eq!(api(403, "forbidden"), ErrorKind::NotAllowed);
        assert_eq!(api(404, "not found"), ErrorKind::NotFound);
        assert_eq!(api(429, "slow down"), ErrorKind::RateLimited);
        assert_eq!(api(503, "unavailable"), ErrorKind::Unavailable);
        assert_eq!(api(501, "unimplemented"), ErrorKind::Unimplemented);
        assert!(
            !SegmentError::Api {
                status: 501,
                message: "unimplemented".into()
            }
            .is_transient()
        );
        assert_eq!(api(400, "bad config"), ErrorKind::Refused);
        assert_eq!(
            SegmentError::BadResponse("x".into()).kind(),
            ErrorKind::Unreadable
        );
        assert_eq!(
            SegmentError::Unreachable {
                timed_out: true,
                detail: "x".into()
            }
            .kind(),
            ErrorKind::Unreachable { timed_out: true }
        );
    }

    #[test]
    fn keeps_an_excerpt_of_other_bodies() {
        let err = SegmentError::from_api_response(502, b"<html>Bad Gateway</html>\n");
        assert_eq!(err.message(), "<html>Bad Gateway</html>");
        let err = SegmentError::from_api_response(503, b"");
        assert_eq!(err.message(), "HTTP 503 with an empty body");
        let long = vec![b'x'; 5000];
        assert_eq!(
            SegmentError::from_api_response(500, &long).message().len(),
            200
        );
    }

    #[test]
    fn oauth_errors_read_like_segment_said_them() {
        let err = SegmentError::OAuth {
            error: "invalid_request".into(),
            description: Some("install already exists".into()),
        };
        assert_eq!(err.message(), "invalid_request: install already exists");
        assert!(err.is_already_exists());
        assert!(!err.is_not_found());
    }
}

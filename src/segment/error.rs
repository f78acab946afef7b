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
    Api { status: u16, message: String },

    /// The identity service refused (RFC 6749 error: `error` and `error_description`).
    #[error("Segment's identity service answered {error}{}", description_suffix(.description))]
    OAuth {
        error: String,
        description: Option<String>,
    },

    /// Segment could not be reached, or did not answer in time.
    #[error("could not reach Segment: {detail}")]
    Unreachable { timed_out: bool, detail: String },

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

impl SegmentError {
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

    /// A create of something that is already there ("destination already exists",
    /// "install already exists").
    pub fn is_already_exists(&self) -> bool {
        self.message()
            .to_ascii_lowercase()
            .contains("already exists")
    }

    /// A failure that may pass: no connection, no answer in time, or a 5xx.
    pub fn is_transient(&self) -> bool {
        match self {
            SegmentError::Unreachable { .. } => true,
            SegmentError::Api { status, .. } => *status >= 500,
            _ => false,
        }
    }

    /// What kind of failure this is, as the metrics count it.
    pub fn outcome(&self) -> &'static str {
        match self {
            SegmentError::Api { status, .. } if *status >= 500 => "server_error",
            // Usually an answer, not a failure: the destination does not exist (yet).
            SegmentError::Api { status: 404, .. } => "not_found",
            SegmentError::Api { .. } | SegmentError::OAuth { .. } => "client_error",
            SegmentError::Unreachable { .. } => "unreachable",
            SegmentError::BadResponse(_) => "unreadable",
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
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
        SegmentError::Unreachable {
            timed_out: error.is_timeout(),
            detail: describe_transport(error),
        }
    }
}

/// A one-line description of a transport error, with its cause (reqwest's own `Display` stops at
/// "error sending request").
fn describe_transport(error: &reqwest::Error) -> String {
    let mut detail = if error.is_timeout() {
        "no answer in time".to_owned()
    } else if error.is_connect() {
        "connection failed".to_owned()
    } else {
        error.to_string()
    };
    if let Some(url) = error.url() {
        detail.push_str(&format!(
            " ({}{})",
            url.origin().ascii_serialization(),
            url.path()
        ));
    }
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

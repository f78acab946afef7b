//! The scenarios: each plays one of Segment's behaviours and judges the app by the calls that
//! reached the sandbox (`journal`) and the page the app answered.

use std::collections::HashMap;

use url::Url;

use super::Kit;
use super::browser::{Browser, Page};
use super::report::Status;

/// A scenario: its id and what it takes to pass.
pub struct Scenario {
    /// As `--only` names it.
    pub id: &'static str,
    /// The pass criterion, as the reports state it.
    pub criterion: &'static str,
}

/// Every scenario, in the order they run.
pub const SCENARIOS: [Scenario; 12] = [
    Scenario {
        id: "install",
        criterion: "through the real consent form: one token exchange, with HTTP Basic client \
                    authentication and the exact registered redirect_uri; the callback answers \
                    without an error",
    },
    Scenario {
        id: "pkce",
        criterion: "the authorization request carries an S256 code_challenge and the token call \
                    its verifier (no PKCE is a WARNING)",
    },
    Scenario {
        id: "state-missing",
        criterion: "a callback without its state: no token call, a 4xx page",
    },
    Scenario {
        id: "state-mismatch",
        criterion: "a callback with another state: no token call, a 4xx page",
    },
    Scenario {
        id: "state-reused",
        criterion: "a second browser's callback carrying the first browser's state: no token \
                    call, a 4xx page (one state per process fails here)",
    },
    Scenario {
        id: "callback-replay",
        criterion: "the same callback again, reloaded and with a saved copy of the browser's \
                    cookies: one token exchange in all, no 5xx",
    },
    Scenario {
        id: "consent-denied",
        criterion: "the owner chose Deny: no token call, no Config API call, no 5xx, a page \
                    that says so (else a WARNING)",
    },
    Scenario {
        id: "install-exists",
        criterion: "Segment answers \"install already exists\": no 5xx, a page that explains \
                    (else a WARNING)",
    },
    Scenario {
        id: "token-expired",
        criterion: "probe with an expired token: one refresh, then the call again with the new \
                    token is taken (no 401), and the page answers 2xx",
    },
    Scenario {
        id: "token-revoked",
        criterion: "probe after the App was uninstalled: the refused call and at most one \
                    more (a refresh), no 5xx, a page that asks the user to connect again (else \
                    a WARNING)",
    },
    Scenario {
        id: "rate-limited",
        criterion: "probe meets a 429 with Retry-After: no call to that endpoint before it, \
                    retries bounded, no 5xx",
    },
    Scenario {
        id: "unavailable",
        criterion: "probe meets a 503, then a dropped connection: each answered within 10 s, \
                    with a page that says Segment (else a WARNING)",
    },
];

/// A verdict and its evidence.
pub struct Verdict {
    pub status: Status,
    pub detail: String,
}

impl Verdict {
    pub(super) fn passed(detail: impl Into<String>) -> Verdict {
        Verdict {
            status: Status::Passed,
            detail: detail.into(),
        }
    }
    pub fn failed(detail: impl Into<String>) -> Verdict {
        Verdict {
            status: Status::Failed,
            detail: detail.into(),
        }
    }
    pub(super) fn warning(detail: impl Into<String>) -> Verdict {
        Verdict {
            status: Status::Warning,
            detail: detail.into(),
        }
    }
    pub(super) fn skipped(detail: impl Into<String>) -> Verdict {
        Verdict {
            status: Status::Skipped,
            detail: detail.into(),
        }
    }
}

/// A scenario's step either goes on or ends the scenario with a verdict (usually FAILED: the
/// app could not be driven that far).
pub(super) type Step<T> = Result<T, Verdict>;

/// The authorization request the app sent the browser to Segment with.
pub(super) struct Authorize {
    pub(super) url: Url,
    pub(super) params: HashMap<String, String>,
}

impl Authorize {
    pub(super) fn state(&self) -> Option<&str> {
        self.params.get("state").map(String::as_str)
    }
}

/// A browser with an install made through the app.
pub(super) struct Installed {
    pub(super) browser: Browser,
    pub(super) install: u64,
}

/// Words a page uses when it tells the owner declined.
pub(super) const DENIAL: [&str; 7] = [
    "denied",
    "deny",
    "declined",
    "decline",
    "cancel",
    "did not allow",
    "didn't allow",
];
/// Words a page uses when it explains the App is installed already.
pub(super) const ALREADY: [&str; 3] = ["already", "another account", "installed"];
/// Words a page uses when it asks the user to connect again.
pub(super) const RECONNECT: [&str; 7] = [
    "reconnect",
    "re-connect",
    "connect again",
    "connect with segment again",
    "connect to segment again",
    "enable with segment",
    "connect segment",
];

impl Kit {
    /// Plays scenario `id`.
    pub(super) async fn play(&self, id: &str) -> Verdict {
        let played = match id {
            "install" => self.install().await,
            "pkce" => self.pkce().await,
            "state-missing" => {
                self.refused_callback("without its state", |callback, _| {
                    with_param(callback, "state", None)
                })
                .await
            }
            "state-mismatch" => {
                self.refused_callback("with another state", |callback, _| {
                    with_param(callback, "state", Some("conform-not-the-state-0123456789"))
                })
                .await
            }
            "state-reused" => self.state_reused().await,
            "callback-replay" => self.callback_replay().await,
            "consent-denied" => self.consent_denied().await,
            "install-exists" => self.install_exists().await,
            "token-expired" => self.token_expired().await,
            "token-revoked" => self.token_revoked().await,
            "rate-limited" => self.rate_limited().await,
            "unavailable" => self.unavailable().await,
            _ => Err(Verdict::failed("no such scenario")),
        };
        played.unwrap_or_else(|verdict| verdict)
    }
}

/// Opens the callback in the browser, following the app's redirects.
pub(super) async fn deliver(browser: &Browser, callback: &Url) -> Step<Page> {
    browser
        .page(callback)
        .await
        .map_err(|e| Verdict::failed(format!("the callback: {e}")))
}

/// `url` with the query parameter `name` set to `value` (or removed).
pub(super) fn with_param(url: &Url, name: &str, value: Option<&str>) -> Url {
    let mut changed = url.clone();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .filter(|(n, _)| n != name)
        .collect();
    {
        let mut query = changed.query_pairs_mut();
        query.clear().extend_pairs(&pairs);
        if let Some(value) = value {
            query.append_pair(name, value);
        }
    }
    changed
}

/// " (after N redirects)", when there were some.
pub(super) fn after_hops(page: &Page) -> String {
    match page.hops {
        0 => String::new(),
        1 => " after a redirect".to_owned(),
        n => format!(" after {n} redirects"),
    }
}

/// Segment's page refusing the authorization request (a wrong client id or redirect URI).
pub(super) fn refused_by_segment(page: &Page) -> Verdict {
    let text = page.text();
    // The sandbox's error page: a heading, the reason, then a note on why it shows a page.
    let said = text
        .split_once("cannot be served")
        .map_or(text.as_str(), |(_, rest)| rest);
    let said = said.split("Segment shows this page").next().unwrap_or(said);
    let said: String = said.chars().take(300).collect();
    Verdict::failed(format!(
        "Segment refused the authorization request ({}): {}",
        page.status.as_u16(),
        said.trim()
    ))
}

/// Segment sent the browser back with an error instead of the consent screen.
pub(super) fn refused_on_redirect(callback: &Url) -> Verdict {
    let params: HashMap<String, String> = callback.query_pairs().into_owned().collect();
    Verdict::failed(format!(
        "Segment refused the authorization request: {} ({})",
        params.get("error").map_or("no error", String::as_str),
        params
            .get("error_hint")
            .or(params.get("error_description"))
            .map_or("", String::as_str)
    ))
}

//! The install flow between `GET /auth/segment` and the callback: its `state`, its PKCE
//! verifier, when it began and which account began it. They ride in a cookie of their own
//! (`partnerapp_flow`, `__Host-` over https), sealed with the cookie key, HttpOnly,
//! `SameSite=Lax` (it must come back on the provider's redirect, a top-level navigation), for
//! [`FLOW_LIFETIME`]. The callback clears it, whatever comes next: a `state` works once.
//!
//! Nothing is stored on the server before the visitor comes back: a visitor who only opens
//! `/auth/segment`, or a script that does it 5,000 times, leaves no row and no session behind,
//! and the flow costs no database round trip until it has succeeded. A captured copy of the
//! cookie is worth little: the code it goes with works once, and only with this flow's PKCE
//! verifier (Slack's `ClearStateStore` makes the same trade).

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, time::Duration as CookieDuration};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::cookies::{self, CookieSeal};
use crate::secret::{OAuthState, PkceVerifier};

/// How long a visitor has to come back from the consent screen.
pub const FLOW_LIFETIME: Duration = Duration::minutes(10);

const COOKIE: &str = "partnerapp_flow";

/// A flow that was started and has not come back yet.
#[derive(Debug, Serialize, Deserialize)]
pub struct PendingFlow {
    pub state: OAuthState,
    pub pkce_verifier: Option<PkceVerifier>,
    pub started_at: DateTime<Utc>,
    /// The account that started it, which the install will be for; `None`: a visitor without
    /// one, whose account the login makes when the flow succeeds (the demo's).
    pub account_id: Option<i64>,
}

impl PendingFlow {
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now - self.started_at > FLOW_LIFETIME
    }
}

/// The cookie that carries `flow`, replacing any flow this browser started before.
pub fn cookie(seal: &CookieSeal, flow: &PendingFlow) -> Cookie<'static> {
    // Strings, an optional number and a time always serialize.
    let json = serde_json::to_string(flow).unwrap_or_default();
    let lifetime = CookieDuration::seconds(FLOW_LIFETIME.num_seconds());
    seal.seal(
        cookies::build(cookies::name(COOKIE, seal.https), json, seal.https)
            .max_age(lifetime)
            .finish(),
    )
}

/// The flow this browser started, if its cookie came and opens (`None` if it was altered or
/// sealed with another key).
pub fn pending(seal: &CookieSeal, request: &HttpRequest) -> Option<PendingFlow> {
    let cookie = request.cookie(&cookies::name(COOKIE, seal.https))?;
    serde_json::from_str(&seal.open(&cookie)?).ok()
}

/// The cookie that removes the flow's.
pub fn cleared(seal: &CookieSeal) -> Cookie<'static> {
    seal.removal(COOKIE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::cookie::Key;
    use actix_web::test::TestRequest;

    fn seal() -> CookieSeal {
        CookieSeal {
            key: Key::generate(),
            https: true,
        }
    }

    fn flow() -> PendingFlow {
        PendingFlow {
            state: OAuthState::new("the-state"),
            pkce_verifier: Some(PkceVerifier::new("the-verifier")),
            started_at: Utc::now(),
            account_id: Some(7),
        }
    }

    #[test]
    fn the_flow_opens_with_its_own_key_and_name_only() {
        let seal = seal();
        let sealed = cookie(&seal, &flow());
        assert_eq!(sealed.name(), "__Host-partnerapp_flow");
        assert!(!sealed.value().contains("the-verifier"), "{sealed}");
        assert_eq!(sealed.max_age(), Some(CookieDuration::minutes(10)));
        assert_eq!(sealed.http_only(), Some(true));
        let back = |c: Cookie<'static>, seal: &CookieSeal| {
            pending(seal, &TestRequest::default().cookie(c).to_http_request())
        };
        let opened = back(sealed.clone(), &seal).expect("the flow opens");
        assert_eq!(opened.state.expose(), "the-state");
        assert_eq!(opened.account_id, Some(7));
        assert!(back(sealed.clone(), &self::seal()).is_none(), "another key");
        let mut altered = sealed.clone();
        altered.set_value(format!("A{}", sealed.value()));
        assert!(back(altered, &seal).is_none(), "altered");
        // Another of the app's sealed cookies, under the flow's name, does not open as a flow.
        let json = serde_json::to_string(&flow()).unwrap();
        let mut other = seal.seal(Cookie::new("__Host-partnerapp_flash", json));
        other.set_name("__Host-partnerapp_flow");
        assert!(back(other, &seal).is_none(), "another cookie's value");
    }

    #[test]
    fn a_flow_expires_after_ten_minutes() {
        let flow = flow();
        let started_at = flow.started_at;
        assert!(!flow.is_expired(started_at + Duration::minutes(10)));
        assert!(flow.is_expired(started_at + Duration::minutes(10) + Duration::seconds(1)));
    }
}

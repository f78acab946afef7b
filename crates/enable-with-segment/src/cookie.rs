//! The flow between the start route and the callback: its `state`, its PKCE verifier, when it
//! began, which user began it and where it returns to, in a cookie of its own: sealed
//! (actix-web's private cookies, AES-256-GCM with the cookie's name bound in), HttpOnly,
//! `SameSite=Lax` (it must come back on Segment's redirect, a top-level navigation), `__Host-`
//! and Secure over https, for [`FLOW_LIFETIME`]. The callback clears it however the flow ends: a `state` works once.
//!
//! Nothing is stored on the server before the visitor comes back, so the flow works behind a
//! proxy and across instances with no shared state, and a script that opens the start route
//! 5,000 times leaves nothing behind.

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, CookieJar, Key, SameSite, time::Duration as CookieDuration};
use chrono::{DateTime, Duration, Utc};
use segment_client::secret::{OAuthState, PkceVerifier};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// How long a visitor has to come back from Segment's consent screen.
pub const FLOW_LIFETIME: Duration = Duration::minutes(10);

/// A flow that was started and has not come back yet.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct PendingFlow<Id> {
    pub state: OAuthState,
    pub pkce_verifier: Option<PkceVerifier>,
    pub started_at: DateTime<Utc>,
    /// The user who started it, whom the install will be for; `None`: a visitor nobody was
    /// signed in as, who gets a user when the flow succeeds (`Users::sign_up`).
    pub user: Option<Id>,
    /// Where the success hook lands: a path on this site the start route was given.
    #[serde(default)]
    pub return_to: Option<String>,
}

impl<Id> PendingFlow<Id> {
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now - self.started_at > FLOW_LIFETIME
    }
}

/// The flow cookie's name and key.
#[derive(Clone)]
pub(crate) struct FlowCookie {
    /// The full name (`__Host-` included over https).
    pub name: String,
    pub key: Key,
    pub https: bool,
}

impl FlowCookie {
    pub fn new(base: &str, key: Key, https: bool) -> FlowCookie {
        let name = if https {
            format!("__Host-{base}")
        } else {
            base.to_owned()
        };
        FlowCookie { name, key, https }
    }

    fn build(&self, value: String) -> Cookie<'static> {
        Cookie::build(self.name.clone(), value)
            .path("/")
            .http_only(true)
            .secure(self.https)
            .same_site(SameSite::Lax)
            .finish()
    }

    /// The cookie that carries `flow`, replacing any flow this browser started before.
    pub fn seal<Id: Serialize>(&self, flow: &PendingFlow<Id>) -> Cookie<'static> {
        // Strings, an id that serializes and a time: an id whose Serialize fails gets an empty
        // cookie, which opens as no flow.
        let json = serde_json::to_string(flow).unwrap_or_default();
        let mut cookie = self.build(json);
        cookie.set_max_age(CookieDuration::seconds(FLOW_LIFETIME.num_seconds()));
        let mut jar = CookieJar::new();
        jar.private_mut(&self.key).add(cookie);
        jar.get(&self.name)
            .cloned()
            .unwrap_or_else(|| self.build(String::new()))
    }

    /// The flow this browser started, if its cookie came and opens (`None` if it was altered,
    /// sealed with another key or under another name).
    pub fn open<Id: DeserializeOwned>(&self, request: &HttpRequest) -> Option<PendingFlow<Id>> {
        let cookie = request.cookie(&self.name)?;
        let mut jar = CookieJar::new();
        jar.add_original(cookie);
        let opened = jar.private(&self.key).get(&self.name)?;
        serde_json::from_str(opened.value()).ok()
    }

    /// The cookie that removes the flow's.
    pub fn removal(&self) -> Cookie<'static> {
        let mut cookie = self.build(String::new());
        cookie.make_removal();
        cookie
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn flow() -> PendingFlow<i64> {
        PendingFlow {
            state: OAuthState::new("the-state"),
            pkce_verifier: Some(PkceVerifier::new("the-verifier")),
            started_at: Utc::now(),
            user: Some(7),
            return_to: Some("/settings".to_owned()),
        }
    }

    fn back(cookie: Cookie<'static>, seal: &FlowCookie) -> Option<PendingFlow<i64>> {
        seal.open(&TestRequest::default().cookie(cookie).to_http_request())
    }

    #[test]
    fn the_flow_opens_with_its_own_key_and_name_only() {
        let seal = FlowCookie::new("flow", Key::generate(), true);
        let sealed = seal.seal(&flow());
        assert_eq!(sealed.name(), "__Host-flow");
        assert!(!sealed.value().contains("the-verifier"), "{sealed}");
        assert_eq!(sealed.max_age(), Some(CookieDuration::minutes(10)));
        assert_eq!(sealed.http_only(), Some(true));
        assert_eq!(sealed.secure(), Some(true));
        let opened = back(sealed.clone(), &seal).expect("the flow opens");
        assert_eq!(opened.state.expose(), "the-state");
        assert_eq!(opened.user, Some(7));
        assert_eq!(opened.return_to.as_deref(), Some("/settings"));
        let other_key = FlowCookie::new("flow", Key::generate(), true);
        assert!(back(sealed.clone(), &other_key).is_none(), "another key");
        let mut altered = sealed.clone();
        altered.set_value(format!("A{}", sealed.value()));
        assert!(back(altered, &seal).is_none(), "altered");
        // A value sealed under another name does not open under the flow's.
        let other_name = FlowCookie::new("other", seal.key.clone(), true);
        let mut renamed = other_name.seal(&flow());
        renamed.set_name("__Host-flow");
        assert!(back(renamed, &seal).is_none(), "another cookie's value");
    }

    #[test]
    fn a_flow_expires_after_ten_minutes() {
        let flow = flow();
        let started_at = flow.started_at;
        assert!(!flow.is_expired(started_at + Duration::minutes(10)));
        assert!(flow.is_expired(started_at + Duration::minutes(10) + Duration::seconds(1)));
    }
}

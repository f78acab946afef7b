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
use actix_web::cookie::{
    Cookie, CookieBuilder, CookieJar, Key, SameSite, time::Duration as CookieDuration,
};
use chrono::{DateTime, Duration, Utc};
use segment_client::secret::{CsrfToken, PkceCodeVerifier};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// How long a visitor has to come back from Segment's consent screen.
pub const FLOW_LIFETIME: Duration = Duration::minutes(10);

/// A flow that was started and has not come back yet.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct PendingFlow<Id> {
    pub state: CsrfToken,
    pub pkce_verifier: Option<PkceCodeVerifier>,
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

/// `base`, or over https `__Host-base`: the browser then refuses the cookie unless it is Secure,
/// host-only and for `/`, so neither a subdomain nor plain http can plant it.
pub fn cookie_name(base: &str, https: bool) -> String {
    if https {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

/// A cookie `name` holding `value`, with a site's attributes: for the whole site, HttpOnly,
/// `SameSite=Lax` (so that it comes back on Segment's redirect to the callback, a top-level
/// navigation), Secure over https.
pub fn site_cookie(name: String, value: String, https: bool) -> CookieBuilder<'static> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .secure(https)
        .same_site(SameSite::Lax)
}

/// A site's sealed cookies: values encrypted and signed with one key (actix-web's private
/// cookies, AES-256-GCM, the cookie's name bound in, so one cookie's value never opens as
/// another's), named and set as [`cookie_name`] and [`site_cookie`] say. The flow's cookie is
/// one; your own (a flash message, say) can be others, sealed the same way.
#[derive(Clone)]
pub struct SealedCookies {
    /// The key every instance seals and opens with.
    pub key: Key,
    /// Whether the site is served over https (`__Host-` names and Secure then).
    pub https: bool,
}

impl SealedCookies {
    /// `cookie` with its value sealed.
    pub fn seal(&self, cookie: Cookie<'static>) -> Cookie<'static> {
        let name = cookie.name().to_owned();
        let mut jar = CookieJar::new();
        jar.private_mut(&self.key).add(cookie);
        // The jar holds what was just added.
        jar.get(&name)
            .cloned()
            .unwrap_or_else(|| Cookie::new(name, ""))
    }

    /// The value `cookie` was sealed with; `None` if it does not open (altered, sealed with
    /// another key, or under another name).
    pub fn open(&self, cookie: &Cookie<'_>) -> Option<String> {
        let mut jar = CookieJar::new();
        jar.add_original(cookie.clone().into_owned());
        let opened = jar.private(&self.key).get(cookie.name())?;
        Some(opened.value().to_owned())
    }

    /// The cookie `base` (`__Host-base` over https), with the site's attributes, removed.
    pub fn removal(&self, base: &str) -> Cookie<'static> {
        let name = cookie_name(base, self.https);
        let mut cookie = site_cookie(name, String::new(), self.https).finish();
        cookie.make_removal();
        cookie
    }
}

/// The flow cookie: its base name, sealed as the site's cookies are.
#[derive(Clone)]
pub(crate) struct FlowCookie {
    base: String,
    /// The full name (`__Host-` included over https).
    pub name: String,
    pub sealed: SealedCookies,
}

impl FlowCookie {
    pub fn new(base: &str, key: Key, https: bool) -> FlowCookie {
        FlowCookie {
            base: base.to_owned(),
            name: cookie_name(base, https),
            sealed: SealedCookies { key, https },
        }
    }

    /// The cookie that carries `flow`, replacing any flow this browser started before.
    pub fn seal<Id: Serialize>(&self, flow: &PendingFlow<Id>) -> Cookie<'static> {
        // Strings, an id that serializes and a time: an id whose Serialize fails gets an empty
        // cookie, which opens as no flow.
        let json = serde_json::to_string(flow).unwrap_or_default();
        let cookie = site_cookie(self.name.clone(), json, self.sealed.https)
            .max_age(CookieDuration::seconds(FLOW_LIFETIME.num_seconds()))
            .finish();
        self.sealed.seal(cookie)
    }

    /// The flow this browser started, if its cookie came and opens (`None` if it was altered,
    /// sealed with another key or under another name).
    pub fn open<Id: DeserializeOwned>(&self, request: &HttpRequest) -> Option<PendingFlow<Id>> {
        let cookie = request.cookie(&self.name)?;
        serde_json::from_str(&self.sealed.open(&cookie)?).ok()
    }

    /// The cookie that removes the flow's.
    pub fn removal(&self) -> Cookie<'static> {
        self.sealed.removal(&self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn flow() -> PendingFlow<i64> {
        PendingFlow {
            state: CsrfToken::new("the-state".into()),
            pkce_verifier: Some(PkceCodeVerifier::new("the-verifier".into())),
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
        assert_eq!(opened.state.secret(), "the-state");
        assert_eq!(opened.user, Some(7));
        assert_eq!(opened.return_to.as_deref(), Some("/settings"));
        let other_key = FlowCookie::new("flow", Key::generate(), true);
        assert!(back(sealed.clone(), &other_key).is_none(), "another key");
        let mut altered = sealed.clone();
        altered.set_value(format!("A{}", sealed.value()));
        assert!(back(altered, &seal).is_none(), "altered");
        // A value sealed under another name does not open under the flow's.
        let other_name = FlowCookie::new("other", seal.sealed.key.clone(), true);
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

//! What the app's own cookies (the session's, the demo account's, the flash message's, the
//! install flow's) have in common: the name, `__Host-…` over https, the attributes, and sealing.
//! actix-session makes the session's itself, given the same name and attributes
//! (`startup::session_middleware`).

use actix_web::cookie::{Cookie, CookieBuilder, CookieJar, Key, SameSite};

/// `name`, or over https `__Host-name`: the browser then refuses the cookie unless it is
/// Secure, host-only and for `/`, so neither a subdomain nor plain http can plant it.
pub fn name(base: &str, https: bool) -> String {
    if https {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

/// A cookie `name` holding `value`: for the whole site, HttpOnly, `SameSite=Lax` (it comes back
/// on Segment's redirect to the callback, a top-level navigation), Secure over https.
pub fn build(name: String, value: String, https: bool) -> CookieBuilder<'static> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .secure(https)
        .same_site(SameSite::Lax)
}

/// What sealing a cookie takes: the app's cookie key, and whether the site is https. A sealed
/// cookie's value is encrypted and signed (actix-web's private cookies: AES-256-GCM, with the
/// cookie's name bound in, so one cookie's value never opens as another's).
#[derive(Clone)]
pub struct CookieSeal {
    pub key: Key,
    pub https: bool,
}

impl CookieSeal {
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
    /// another key, or for another name).
    pub fn open(&self, cookie: &Cookie<'_>) -> Option<String> {
        let mut jar = CookieJar::new();
        jar.add_original(cookie.clone().into_owned());
        let opened = jar.private(&self.key).get(cookie.name())?;
        Some(opened.value().to_owned())
    }

    /// The cookie `name` (`__Host-name` over https), with the app's attributes, removed.
    pub fn removal(&self, name: &str) -> Cookie<'static> {
        let mut cookie = build(self::name(name, self.https), String::new(), self.https).finish();
        cookie.make_removal();
        cookie
    }
}

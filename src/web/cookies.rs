//! What the app's own cookies (the session's, the demo account's, the flash message's) have in
//! common: the name, `__Host-…` over https, and the attributes. actix-session makes the
//! session's itself, given the same name and attributes (`startup::session_middleware`).

use actix_web::cookie::{Cookie, CookieBuilder, SameSite};

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

//! Strings that must never be printed in full.
//!
//! The OAuth ones are the `oauth2` crate's own types, used as they are everywhere (the flow
//! library, its cookie, the install store): [`AuthorizationCode`], [`PkceCodeVerifier`],
//! [`CsrfToken`] (the flow's `state`), [`AccessToken`] (an install token's bearer) and
//! [`ClientSecret`]. Each is a type of its own, so two roles cannot be swapped:
//!
//! ```compile_fail
//! # use segment_client::secret::{AuthorizationCode, PkceCodeVerifier};
//! fn exchange(_code: &AuthorizationCode, _verifier: Option<&PkceCodeVerifier>) {}
//! let (code, verifier) = (AuthorizationCode::new("c".into()), PkceCodeVerifier::new("v".into()));
//! exchange(&verifier, Some(&code)); // swapped: does not compile
//! ```
//!
//! A PKCE verifier, used once, cannot be copied:
//!
//! ```compile_fail
//! # use segment_client::secret::PkceCodeVerifier;
//! let copy = PkceCodeVerifier::new("v".into()).clone();
//! ```
//!
//! None of them can be printed: their `Debug` says `[redacted]`, and they have no `Display`.
//! Code that needs the value calls `secret()`, which is easy to search for; a page that shows one
//! shows [`mask`] of it.
//!
//! [`Secret`] is for the rest (login credentials, the API key pushed into a destination, a new
//! key shown once): its `Debug` and `Display` print the masked form, for pages that name a key
//! by its last characters.

pub use oauth2::{AccessToken, AuthorizationCode, ClientSecret, CsrfToken, PkceCodeVerifier};

use std::fmt;

use serde::{Deserialize, Serialize};

/// A string that is never printed in full (login credentials, the key pushed into a
/// destination, a new key shown once).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself. Call only where it is sent to the party that owns it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The masked form also used by `Debug` and `Display`.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }

    /// `bytes` random bytes, as a URL-safe string (oauth2's generator, as the flow's `state`
    /// is made): a form token, say.
    pub fn random(bytes: u32) -> Secret {
        Secret(oauth2::CsrfToken::new_random_len(bytes).into_secret())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.masked())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Masks a secret for display: the last four characters of a long value (enough to tell two
/// keys apart), nothing of a short one.
pub fn mask(value: &str) -> String {
    let chars = value.chars().count();
    if chars >= 16 {
        let tail: String = value.chars().skip(chars - 4).collect();
        format!("••••••••{tail}")
    } else {
        "••••••••".to_owned()
    }
}

/// Whether a destination setting holds a credential whose value pages must mask: the catalog's
/// PASSWORD settings, and `key_setting`, the one the partner's API key is pushed into (a plain
/// STRING in the catalog). Not every name with "key" in it: an app key or a write key is an
/// identifier the customer needs to read.
pub fn is_secret_setting(name: &str, kind: &str, key_setting: &str) -> bool {
    kind.eq_ignore_ascii_case("password") || name == key_setting
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_mask_the_value() {
        let s = Secret::new("YL8a0w-Boz1EgZgmD2ELZvsxakjqSMwO8xe7tV");
        assert_eq!(format!("{s}"), "••••••••e7tV");
        assert_eq!(format!("{s:?}"), "Secret(••••••••e7tV)");
        assert_eq!(s.expose(), "YL8a0w-Boz1EgZgmD2ELZvsxakjqSMwO8xe7tV");
    }

    #[test]
    fn secret_settings_are_passwords_and_the_pushed_key() {
        assert!(is_secret_setting("apiKey", "STRING", "apiKey"));
        assert!(is_secret_setting("whatever", "PASSWORD", "apiKey"));
        assert!(is_secret_setting("clientSecret", "password", "apiKey"));
        // An app key or a write key is an identifier, not a secret.
        assert!(!is_secret_setting("appKey", "STRING", "apiKey"));
        assert!(!is_secret_setting("writeKey", "STRING", "apiKey"));
        assert!(!is_secret_setting("trackingId", "STRING", "apiKey"));
        assert!(!is_secret_setting("enhancedEcommerce", "BOOLEAN", "apiKey"));
    }

    #[test]
    fn short_values_show_nothing() {
        assert_eq!(mask("abcd1234"), "••••••••");
        assert_eq!(mask(""), "••••••••");
    }

    #[test]
    fn masks_multibyte_text_without_panicking() {
        assert_eq!(mask("ééééééééééééééééxyzé"), "••••••••xyzé");
    }
}

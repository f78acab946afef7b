//! Strings that must never be printed in full: one type per role (authorization code, PKCE
//! verifier, OAuth state, install access token, client secret, the key pushed into a
//! destination), and [`Secret`] for the rest (login credentials, a new key shown once).
//!
//! `Debug` and `Display` print a masked form, so a secret that ends up in a log line or a page by
//! accident shows only a hint of itself. Code that needs the value calls [`Secret::expose`],
//! which is easy to search for.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A string that is never printed in full (login credentials, a new key shown once).
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

/// A newtype for one role of secret, with the same masked `Debug` and `Display` as [`Secret`]
/// and `Clone` only when it is asked for: a value whose copy would be a bug (a verifier, a
/// code) cannot be copied, and two roles cannot be swapped for each other.
macro_rules! secret_type {
    ($(#[$doc:meta])* $name:ident $(, $derive:ident)*) => {
        $(#[$doc])*
        #[derive(Serialize, Deserialize $(, $derive)*)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps `value`.
            pub fn new(value: impl Into<String>) -> $name {
                $name(value.into())
            }

            /// The value itself. Call only where it is sent to the party that owns it.
            pub fn expose(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), mask(&self.0))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&mask(&self.0))
            }
        }
    };
}

secret_type!(
    /// The code Segment sends back to the callback: traded once for an install token.
    ///
    /// ```compile_fail
    /// # use segment_client::secret::{AuthorizationCode, PkceVerifier};
    /// fn exchange(_code: &AuthorizationCode, _verifier: Option<&PkceVerifier>) {}
    /// let (code, verifier) = (AuthorizationCode::new("c"), PkceVerifier::new("v"));
    /// exchange(&verifier, Some(&code)); // swapped: does not compile
    /// ```
    AuthorizationCode
);
secret_type!(
    /// The PKCE verifier of one authorization request, kept in the session until the callback
    /// uses it, once. It cannot be copied:
    ///
    /// ```compile_fail
    /// # use segment_client::secret::PkceVerifier;
    /// let copy = PkceVerifier::new("v").clone();
    /// ```
    PkceVerifier
);
secret_type!(
    /// The `state` of one authorization request, compared (in constant time) with the one
    /// Segment sends back.
    OAuthState
);
secret_type!(
    /// An install token's access token: the bearer of every Config API call for the install.
    InstallAccessToken,
    Clone,
    PartialEq,
    Eq
);
secret_type!(
    /// The App's OAuth client secret (`CLIENT_SECRET`).
    ClientSecret,
    Clone
);
secret_type!(
    /// The API key Enable pushes into the destination: the account's own, or the demo's
    /// `DESTINATION_API_KEY`.
    DestinationKey,
    Clone
);

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

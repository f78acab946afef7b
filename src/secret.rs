//! A string that must never be printed in full: client secrets, install tokens, API keys,
//! authorization codes, PKCE verifiers, session keys.
//!
//! `Debug` and `Display` print a masked form, so a secret that ends up in a log line or a page by
//! accident shows only a hint of itself. Code that needs the value calls [`Secret::expose`],
//! which is easy to search for.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
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
/// PASSWORD settings, and settings whose names say key, secret, token or password (the API key
/// Segment's FAQ pushes, `apiKey`, is a plain STRING in the catalog).
pub fn is_secret_setting(name: &str, kind: &str) -> bool {
    let name = name.to_ascii_lowercase();
    kind.eq_ignore_ascii_case("password")
        || ["key", "secret", "token", "password"]
            .iter()
            .any(|word| name.contains(word))
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
    fn secret_settings_by_type_or_name() {
        assert!(is_secret_setting("apiKey", "STRING"));
        assert!(is_secret_setting("clientSecret", "string"));
        assert!(is_secret_setting("whatever", "PASSWORD"));
        assert!(!is_secret_setting("trackingId", "STRING"));
        assert!(!is_secret_setting("enhancedEcommerce", "BOOLEAN"));
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

//! What the sandbox never shows in full, as Segment does not: the App's client secret, the
//! codes and tokens it issues, and destination settings that hold credentials. Its own copy of
//! the rule, so that the sandbox shares no code with the client it stands in front of.

use std::fmt;

/// A value shown masked by `Debug` and `Display`; [`Secret::expose`] gives the value itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself.
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

/// The last four characters of a long value (enough to tell two apart), nothing of a short one.
pub fn mask(value: &str) -> String {
    let chars = value.chars().count();
    if chars >= 16 {
        let tail: String = value.chars().skip(chars - 4).collect();
        format!("••••••••{tail}")
    } else {
        "••••••••".to_owned()
    }
}

/// Whether a destination setting holds a credential: the catalog's PASSWORD settings, and
/// `key_setting`, where the partner's API key goes (a plain STRING in the catalog).
pub fn is_secret_setting(name: &str, kind: &str, key_setting: &str) -> bool {
    kind.eq_ignore_ascii_case("password") || name == key_setting
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_show_their_tail_and_short_ones_nothing() {
        assert_eq!(
            Secret::new("YL8a0w-Boz1EgZgmD2ELZvsxakjqSMwO8xe7tV").to_string(),
            "••••••••e7tV"
        );
        assert_eq!(mask("abcd1234"), "••••••••");
        assert_eq!(mask("ééééééééééééééééxyzé"), "••••••••xyzé");
        assert!(is_secret_setting("apiKey", "STRING", "apiKey"));
        assert!(!is_secret_setting("writeKey", "STRING", "apiKey"));
    }
}

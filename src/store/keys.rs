//! The two random credentials of a partner account, each `<prefix>` and 40 random base-62
//! characters (about 238 bits) from the OS's secure generator:
//! - [`ApiKey`] (`pak_…`): the key of the partner's API, pushed into the customer's destination.
//!   Stored hashed (for lookup) and encrypted (so Enable can push it again).
//! - [`LoginToken`] (`pal_…`): what the demo's account cookie holds instead of a login. Stored
//!   only hashed, so signing out (forgetting the hash) makes every copy of the cookie worthless.
//!
//! Values this long and random need no slow hash: nobody can guess one to test against a stored
//! hash.

use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};

use crate::secret::Secret;

/// The recognisable start of every key, so a leaked key is easy to spot (and to scan for).
pub const PREFIX: &str = "pak_";
/// The start of every login token.
pub const LOGIN_PREFIX: &str = "pal_";
const RANDOM_CHARS: usize = 40;

fn random_text(prefix: &str) -> Secret {
    let random: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(RANDOM_CHARS)
        .map(char::from)
        .collect();
    Secret::new(format!("{prefix}{random}"))
}

/// Whether `value` is `prefix` and then [`RANDOM_CHARS`] base-62 characters.
fn has_shape(value: &str, prefix: &str) -> bool {
    value.strip_prefix(prefix).is_some_and(|random| {
        random.len() == RANDOM_CHARS && random.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// A whole API key. `Debug` and `Display` are masked, as for every secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey(Secret);

impl ApiKey {
    pub fn generate() -> ApiKey {
        ApiKey(random_text(PREFIX))
    }

    /// A key as it came in (a header, a decrypted row); `None` unless it has the shape of ours.
    pub fn parse(value: &str) -> Option<ApiKey> {
        has_shape(value, PREFIX).then(|| ApiKey(Secret::new(value)))
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// The key as the [`Secret`] it is (for a page that shows it, for Enable that pushes it).
    pub fn as_secret(&self) -> &Secret {
        &self.0
    }

    /// The part that may be shown to tell keys apart: the prefix and 4 characters.
    pub fn display_prefix(&self) -> String {
        self.expose().chars().take(PREFIX.len() + 4).collect()
    }

    /// What is stored: SHA-256, hex.
    pub fn hash(&self) -> String {
        hash(self.expose())
    }
}

/// The account cookie's credential. `Debug` and `Display` are masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginToken(Secret);

impl LoginToken {
    pub fn generate() -> LoginToken {
        LoginToken(random_text(LOGIN_PREFIX))
    }

    /// A token as the cookie brought it; `None` unless it has the shape of ours.
    pub fn parse(value: &str) -> Option<LoginToken> {
        has_shape(value, LOGIN_PREFIX).then(|| LoginToken(Secret::new(value)))
    }

    /// The cookie's value.
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    /// What is stored: SHA-256, hex.
    pub fn hash(&self) -> String {
        hash(self.expose())
    }
}

/// SHA-256 of a key's text, hex (also for values that are not keys of ours, such as what
/// Segment holds in a destination's `apiKey`).
pub fn hash(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_prefixed_and_hashed() {
        let a = ApiKey::generate();
        let b = ApiKey::generate();
        assert_ne!(a, b);
        assert!(a.expose().starts_with("pak_"));
        assert_eq!(a.expose().len(), 44);
        assert_eq!(ApiKey::parse(a.expose()), Some(a.clone()));
        assert_eq!(a.hash().len(), 64);
        assert_eq!(a.hash(), hash(a.expose()));
        assert_ne!(a.hash(), b.hash());
        assert_eq!(a.display_prefix().len(), 8);
        assert!(
            !format!("{a:?}").contains(a.expose()),
            "Debug shows the key"
        );
    }

    #[test]
    fn login_tokens_are_not_api_keys() {
        let login = LoginToken::generate();
        assert!(login.expose().starts_with("pal_"));
        assert_eq!(LoginToken::parse(login.expose()), Some(login.clone()));
        assert_eq!(ApiKey::parse(login.expose()), None);
        assert_eq!(LoginToken::parse(ApiKey::generate().expose()), None);
        assert!(!format!("{login:?}").contains(login.expose()));
    }

    #[test]
    fn only_our_shape_parses() {
        for bad in [
            "",
            "pak_",
            "pak_short",
            "sk_0123456789012345678901234567890123456789",
            &format!("pak_{}", "é".repeat(40)),
        ] {
            assert_eq!(ApiKey::parse(bad), None, "{bad}");
        }
    }
}

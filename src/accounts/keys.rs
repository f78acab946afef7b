//! API keys of the partner's product: `pak_` and 40 random base-62 characters (about 238
//! bits), from the OS's secure generator. Only their SHA-256 is stored. A key this long and
//! random needs no slow hash: nobody can guess one to test against the stored hash.

use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};

use crate::secret::Secret;

/// The recognisable start of every key, so a leaked key is easy to spot (and to scan for).
pub const PREFIX: &str = "pak_";
const RANDOM_CHARS: usize = 40;

/// A whole API key. `Debug` and `Display` are masked, as for every secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey(Secret);

impl ApiKey {
    pub fn generate() -> ApiKey {
        let random: String = rand::rng()
            .sample_iter(Alphanumeric)
            .take(RANDOM_CHARS)
            .map(char::from)
            .collect();
        ApiKey(Secret::new(format!("{PREFIX}{random}")))
    }

    /// A key as it came in (a header, a cookie); `None` unless it has the shape of ours.
    pub fn parse(value: &str) -> Option<ApiKey> {
        let random = value.strip_prefix(PREFIX)?;
        (random.len() == RANDOM_CHARS && random.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then(|| ApiKey(Secret::new(value)))
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
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

/// SHA-256 of a key's text, hex (also for values that are not keys of ours, such as what
/// Segment holds in a destination's `apiKey`).
pub fn hash(value: &str) -> String {
    Sha256::digest(value.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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

//! The app's keys, all derived from one secret, `SESSION_KEY`, and the encryption of data at rest.
//!
//! - [`MasterKey::parse`] reads `SESSION_KEY` as `openssl rand -hex 32` or
//!   `openssl rand -base64 32` print it, and refuses a short or obviously weak one.
//! - HKDF-SHA256 derives one independent key per use from it: the key that signs and encrypts
//!   cookies, and the key for data at rest. Knowing one derived key tells nothing of the others.
//! - [`Sealer`] encrypts data at rest (API keys, install tokens, session state) with AES-256-GCM,
//!   a random 96-bit nonce per value, and the row it belongs to as associated data, so a value
//!   copied into another row does not open.
//!
//! Not for passwords or for anything a user types: those would need a slow hash.

use std::sync::Arc;

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use hkdf::Hkdf;
use rand::RngCore;
use sha2::Sha256;

/// The shortest `SESSION_KEY`, once decoded: 256 bits.
pub const MIN_KEY_BYTES: usize = 32;
/// A random 32-byte key has about 30 distinct byte values; fewer than this means a pattern
/// (`0000…`, `deadbeef…`, a word repeated), not randomness.
const MIN_DISTINCT_BYTES: usize = 16;
const NONCE_BYTES: usize = 12;

/// Why `SESSION_KEY` cannot be used. Its `Display` completes "SESSION_KEY …".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("is neither hex nor base64: make one with `openssl rand -base64 32`")]
    Encoding,
    #[error(
        "is too short ({0} bytes once decoded; at least {MIN_KEY_BYTES}): make one with `openssl rand -base64 32`"
    )]
    Short(usize),
    #[error(
        "looks weak (only {0} distinct byte values): make a random one with `openssl rand -base64 32`"
    )]
    Weak(usize),
}

/// The secret every other key is derived from. Its `Debug` shows nothing.
#[derive(Clone)]
pub struct MasterKey(Vec<u8>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(••••••••)")
    }
}

impl MasterKey {
    /// `SESSION_KEY` as given: hex (an even number of hex digits) or base64 (standard or URL-safe,
    /// padded or not).
    pub fn parse(text: &str) -> Result<MasterKey, KeyError> {
        let text = text.trim();
        let is_hex = text.len().is_multiple_of(2) && text.bytes().all(|b| b.is_ascii_hexdigit());
        let bytes = if is_hex {
            hex::decode(text).map_err(|_| KeyError::Encoding)?
        } else {
            [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
                .iter()
                .find_map(|engine| engine.decode(text).ok())
                .ok_or(KeyError::Encoding)?
        };
        MasterKey::from_bytes(bytes)
    }

    /// A key from raw bytes, with the same checks as [`MasterKey::parse`].
    pub fn from_bytes(bytes: Vec<u8>) -> Result<MasterKey, KeyError> {
        if bytes.len() < MIN_KEY_BYTES {
            return Err(KeyError::Short(bytes.len()));
        }
        let mut seen = [false; 256];
        bytes.iter().for_each(|&b| seen[b as usize] = true);
        let distinct = seen.iter().filter(|&&s| s).count();
        if distinct < MIN_DISTINCT_BYTES {
            return Err(KeyError::Weak(distinct));
        }
        Ok(MasterKey(bytes))
    }

    /// A new random key (32 bytes from the OS's generator).
    pub fn generate() -> MasterKey {
        let mut bytes = vec![0u8; MIN_KEY_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        MasterKey(bytes)
    }

    /// The key as base64, to keep it (the sandbox demo's generated key).
    pub fn to_base64(&self) -> String {
        STANDARD.encode(&self.0)
    }

    fn derive<const N: usize>(&self, purpose: &str) -> [u8; N] {
        let mut out = [0u8; N];
        Hkdf::<Sha256>::new(Some(b"segment-partnerapp"), &self.0)
            .expand(purpose.as_bytes(), &mut out)
            .expect("HKDF-SHA256 gives up to 8160 bytes");
        out
    }

    /// Signs and encrypts the app's cookies (actix-web wants 64 bytes).
    pub fn cookie_key(&self) -> actix_web::cookie::Key {
        actix_web::cookie::Key::from(&self.derive::<64>("cookies v1"))
    }

    /// Encrypts data at rest.
    pub fn sealer(&self) -> Sealer {
        let key = self.derive::<32>("data at rest v1");
        Sealer(Arc::new(Aes256Gcm::new(&key.into())))
    }

    /// Seals the install tokens in the flow library's store: the key of [`MasterKey::sealer`],
    /// so that the tokens the app sealed itself before still open there (the library seals
    /// them the same way, bound to their install).
    pub fn token_seal_key(&self) -> enable_with_segment::sql::SealKey {
        enable_with_segment::sql::SealKey::from_bytes(self.derive::<32>("data at rest v1"))
    }
}

/// A sealed value could not be opened: it was sealed with another key (SESSION_KEY changed),
/// for another row, or was altered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a stored value could not be decrypted (was SESSION_KEY changed?)")]
pub struct OpenError;

/// Encrypts and decrypts data at rest. Cheap to clone.
#[derive(Clone)]
pub struct Sealer(Arc<Aes256Gcm>);

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer")
    }
}

impl Sealer {
    /// `plain`, encrypted and bound to `row` (what identifies where it is stored): the nonce,
    /// then the ciphertext and its tag.
    pub fn seal(&self, plain: &[u8], row: &str) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let payload = Payload {
            msg: plain,
            aad: row.as_bytes(),
        };
        let sealed = self
            .0
            .encrypt(&nonce, payload)
            .expect("AES-GCM encrypts any message under 64 GiB");
        let mut out = Vec::with_capacity(NONCE_BYTES + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// The plain value of [`Sealer::seal`]'s output for the same `row`.
    pub fn open(&self, sealed: &[u8], row: &str) -> Result<Vec<u8>, OpenError> {
        let (nonce, ciphertext) = sealed.split_first_chunk::<NONCE_BYTES>().ok_or(OpenError)?;
        let payload = Payload {
            msg: ciphertext,
            aad: row.as_bytes(),
        };
        self.0
            .decrypt(&Nonce::from(*nonce), payload)
            .map_err(|_| OpenError)
    }

    /// [`Sealer::open`] for text.
    pub fn open_text(&self, sealed: &[u8], row: &str) -> Result<String, OpenError> {
        String::from_utf8(self.open(sealed, row)?).map_err(|_| OpenError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "3f1c9a0e5b7d2468ace13579bdf02468a1b2c3d4e5f60718293a4b5c6d7e8f90";

    #[test]
    fn session_key_is_read_as_openssl_prints_it() {
        let from_hex = MasterKey::parse(HEX).unwrap();
        let bytes = hex::decode(HEX).unwrap();
        for text in [
            STANDARD.encode(&bytes),
            STANDARD_NO_PAD.encode(&bytes),
            URL_SAFE_NO_PAD.encode(&bytes),
            format!("  {HEX}\n"),
        ] {
            assert_eq!(MasterKey::parse(&text).unwrap().0, from_hex.0, "{text}");
        }
    }

    #[test]
    fn short_weak_and_garbled_keys_are_refused() {
        assert_eq!(MasterKey::parse("abcd").unwrap_err(), KeyError::Short(2));
        assert_eq!(
            MasterKey::parse(&"0".repeat(64)).unwrap_err(),
            KeyError::Weak(1)
        );
        assert!(matches!(
            MasterKey::parse(&"deadbeef".repeat(8)),
            Err(KeyError::Weak(4))
        ));
        // The old format (64 characters used as raw bytes) decodes to a repeating pattern.
        assert!(matches!(
            MasterKey::parse(&"k".repeat(64)),
            Err(KeyError::Weak(_))
        ));
        assert_eq!(
            MasterKey::parse("not a key, not at all!").unwrap_err(),
            KeyError::Encoding
        );
        assert!(MasterKey::parse(&MasterKey::generate().to_base64()).is_ok());
    }

    #[test]
    fn derived_keys_differ_by_purpose_and_by_master() {
        let a = MasterKey::parse(HEX).unwrap();
        let b = MasterKey::generate();
        assert_ne!(a.derive::<32>("x"), a.derive::<32>("y"));
        assert_ne!(a.derive::<32>("x"), b.derive::<32>("x"));
        assert_eq!(a.cookie_key().master(), a.cookie_key().master());
        assert!(!format!("{a:?}").contains("3f1c"));
    }

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_row() {
        let sealer = MasterKey::parse(HEX).unwrap().sealer();
        let sealed = sealer.seal(b"pak_secret", "accounts/1");
        assert!(!sealed.windows(10).any(|w| w == b"pak_secret"));
        assert_eq!(sealer.open(&sealed, "accounts/1").unwrap(), b"pak_secret");
        assert_ne!(
            sealer.seal(b"pak_secret", "accounts/1"),
            sealed,
            "nonce reused"
        );
        assert_eq!(sealer.open(&sealed, "accounts/2"), Err(OpenError));
        let other = MasterKey::generate().sealer();
        assert_eq!(other.open(&sealed, "accounts/1"), Err(OpenError));
        let mut altered = sealed.clone();
        altered[NONCE_BYTES] ^= 1;
        assert_eq!(sealer.open(&altered, "accounts/1"), Err(OpenError));
        assert_eq!(sealer.open(b"short", "accounts/1"), Err(OpenError));
    }
}

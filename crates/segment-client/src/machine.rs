//! Segment's server-to-server OAuth 2.0: a partner server signs a short-lived JWT with its
//! private key (RS256) and trades it at a regional authorization server for an access token
//! (scopes `tracking_api:write`, `functions:write`, `public_api:read_write`). Tokens are cached
//! and minted again shortly before they expire.
//!
//! Segment's docs give the JWT and the form but not the token path: this client posts to
//! `{region}/token` and uses the region's base URL as the audience. Both can be overridden
//! ([`MachineConfig::token_url`], [`MachineConfig::audience`]).

use std::fmt;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::secret::Secret;

/// How long an assertion is valid (the docs: "under a minute").
const ASSERTION_LIFETIME_SECS: i64 = 50;
/// A cached token is minted again when it expires within this.
const REMINT_MARGIN: Duration = Duration::seconds(60);

/// Segment's regional authorization servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    /// Oregon
    Us,
    /// Dublin
    Eu,
}

impl Region {
    /// The region `value` names (`us` or `oregon`, `eu` or `dublin`).
    pub fn parse(value: &str) -> Result<Region, MachineError> {
        match value.to_ascii_lowercase().as_str() {
            "us" | "oregon" => Ok(Region::Us),
            "eu" | "dublin" => Ok(Region::Eu),
            other => Err(MachineError::Usage(format!(
                "unknown region {other:?}: expected us (Oregon) or eu (Dublin)"
            ))),
        }
    }

    /// The region's authorization server.
    pub fn base_url(self) -> &'static str {
        match self {
            Region::Us => "https://oauth2.segment.io",
            Region::Eu => "https://oauth2.eu1.segmentapis.com",
        }
    }
}

/// The scopes a machine token can have.
pub const SCOPES: [&str; 3] = [
    "tracking_api:write",
    "functions:write",
    "public_api:read_write",
];

/// `value`, if it is one of [`SCOPES`].
pub fn parse_scope(value: &str) -> Result<String, MachineError> {
    if SCOPES.contains(&value) {
        Ok(value.to_owned())
    } else {
        Err(MachineError::Usage(format!(
            "unknown scope {value:?}: expected one of {}",
            SCOPES.join(", ")
        )))
    }
}

/// Why a machine token could not be had.
#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    #[error("{0}")]
    /// A setting or argument is wrong.
    Usage(String),
    #[error("the private key cannot be read from {path}: {reason}")]
    /// The private key's file cannot be read.
    UnreadableKey {
        /// The file.
        path: String,
        /// Why it cannot be read.
        reason: String,
    },
    #[error("the private key is not an RSA key in PEM form (RS256 needs one): {0}")]
    /// The key is not an RSA key in PEM form.
    NotRsa(String),
    #[error("the JWT could not be signed: {0}")]
    /// Signing the assertion failed.
    Signing(String),
    #[error("the authorization server could not be reached: {0}")]
    /// No answer from the authorization server.
    Unreachable(String),
    #[error("the authorization server refused: {error}{}", .description.as_ref().map(|d| format!(": {d}")).unwrap_or_default())]
    /// The authorization server answered with an OAuth error.
    Refused {
        /// Its HTTP status.
        status: u16,
        /// The OAuth error code.
        error: String,
        /// Its `error_description`, if any.
        description: Option<String>,
    },
    #[error("the authorization server's answer cannot be read: {0}")]
    /// An answer that cannot be read.
    BadResponse(String),
}

/// The claims of the assertion.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The issuer: the OAuth application's id.
    pub iss: String,
    /// The subject: the same id.
    pub sub: String,
    /// The audience: the region's authorization server.
    pub aud: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// A unique id, so that the assertion is used once.
    pub jti: String,
}

/// An RSA private key and the id Segment knows its public key by.
pub struct SigningKey {
    key_id: String,
    key: EncodingKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}, private key hidden)", self.key_id)
    }
}

impl SigningKey {
    /// The key in `pem` (PKCS#1 or PKCS#8), known to Segment as `key_id`.
    pub fn from_pem(pem: &[u8], key_id: &str) -> Result<SigningKey, MachineError> {
        let key =
            EncodingKey::from_rsa_pem(pem).map_err(|e| MachineError::NotRsa(e.to_string()))?;
        Ok(SigningKey {
            key_id: key_id.to_owned(),
            key,
        })
    }

    /// The key in the PEM file at `path`, known to Segment as `key_id`.
    pub fn from_file(path: &std::path::Path, key_id: &str) -> Result<SigningKey, MachineError> {
        let pem = std::fs::read(path).map_err(|e| MachineError::UnreadableKey {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        SigningKey::from_pem(&pem, key_id)
    }

    /// Signs `claims` as an RS256 JWT with this key's `kid`.
    pub fn sign(&self, claims: &Claims) -> Result<String, MachineError> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.key_id.clone());
        header.typ = Some("JWT".to_owned());
        jsonwebtoken::encode(&header, claims, &self.key)
            .map_err(|e| MachineError::Signing(e.to_string()))
    }
}

/// Everything a partner server needs to ask for tokens.
#[derive(Debug)]
pub struct MachineConfig {
    /// The OAuth application's id (the JWT's `iss` and `sub`).
    pub app_id: String,
    /// The key the assertion is signed with.
    pub key: SigningKey,
    /// The scope asked for (one of [`SCOPES`]).
    pub scope: String,
    /// `{region}/token` unless overridden.
    pub token_url: Url,
    /// The region's base URL unless overridden.
    pub audience: String,
}

impl MachineConfig {
    /// The settings for `region`'s authorization server.
    pub fn for_region(
        app_id: &str,
        key: SigningKey,
        scope: String,
        region: Region,
    ) -> MachineConfig {
        let base = region.base_url();
        MachineConfig {
            app_id: app_id.to_owned(),
            key,
            scope,
            token_url: Url::parse(&format!("{base}/token")).expect("the region URLs are valid"),
            audience: base.to_owned(),
        }
    }
}

/// An access token and when it expires. `Debug` leaves the raw answer out: it holds the token.
#[derive(Clone)]
pub struct MachineToken {
    /// The bearer token.
    pub access_token: Secret,
    /// Its type (`bearer`).
    pub token_type: String,
    /// The scope granted.
    pub scope: String,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
    /// The server's whole answer, for `--json`.
    pub raw: serde_json::Value,
}

impl fmt::Debug for MachineToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MachineToken")
            .field("access_token", &self.access_token)
            .field("token_type", &self.token_type)
            .field("scope", &self.scope)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Mints machine tokens and keeps the current one.
#[derive(Debug)]
pub struct MachineClient {
    http: reqwest::Client,
    config: MachineConfig,
    current: Mutex<Option<MachineToken>>,
}

impl MachineClient {
    /// A client that mints tokens with `config` over `http`.
    pub fn new(http: reqwest::Client, config: MachineConfig) -> MachineClient {
        MachineClient {
            http,
            config,
            current: Mutex::new(None),
        }
    }

    /// The assertion for one token request: fresh `iat`, `exp` under a minute later, a new
    /// random `jti`.
    pub fn assertion(&self) -> Result<String, MachineError> {
        let now = Utc::now().timestamp();
        let jti: String = rand::rng()
            .sample_iter(Alphanumeric)
            .take(32)
            .map(char::from)
            .collect();
        self.config.key.sign(&Claims {
            iss: self.config.app_id.clone(),
            sub: self.config.app_id.clone(),
            aud: self.config.audience.clone(),
            iat: now,
            exp: now + ASSERTION_LIFETIME_SECS,
            jti,
        })
    }

    /// The current token, minted again when it expires within a minute.
    pub async fn token(&self) -> Result<MachineToken, MachineError> {
        let cached = self
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .filter(|t| t.expires_at > Utc::now() + REMINT_MARGIN);
        if let Some(token) = cached {
            return Ok(token);
        }
        let token = self.mint().await?;
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(token.clone());
        Ok(token)
    }

    /// A new token, whatever is cached.
    pub async fn mint(&self) -> Result<MachineToken, MachineError> {
        let assertion = self.assertion()?;
        let form = [
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion.as_str()),
            ("scope", self.config.scope.as_str()),
        ];
        let response = self
            .http
            .post(self.config.token_url.clone())
            .form(&form)
            .send()
            .await
            .map_err(|e| MachineError::Unreachable(e.to_string()))?;
        let status = response.status();
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| MachineError::BadResponse(format!("HTTP {status}, not JSON ({e})")))?;
        if !status.is_success() {
            return Err(MachineError::Refused {
                status: status.as_u16(),
                error: body["error"].as_str().unwrap_or("unknown_error").to_owned(),
                description: body["error_description"].as_str().map(str::to_owned),
            });
        }
        let access_token = body["access_token"]
            .as_str()
            .ok_or_else(|| MachineError::BadResponse("no access_token in the answer".into()))?;
        let lifetime = body["expires_in"].as_i64().unwrap_or(3600);
        Ok(MachineToken {
            access_token: Secret::new(access_token),
            token_type: body["token_type"].as_str().unwrap_or("bearer").to_owned(),
            scope: body["scope"]
                .as_str()
                .unwrap_or(&self.config.scope)
                .to_owned(),
            expires_at: Utc::now() + Duration::seconds(lifetime),
            raw: body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_and_scopes_parse() {
        assert_eq!(
            Region::parse("EU").unwrap().base_url(),
            "https://oauth2.eu1.segmentapis.com"
        );
        assert_eq!(Region::parse("oregon").unwrap(), Region::Us);
        assert!(
            Region::parse("mars")
                .unwrap_err()
                .to_string()
                .contains("unknown region")
        );
        assert_eq!(parse_scope("functions:write").unwrap(), "functions:write");
        assert!(
            parse_scope("workspace")
                .unwrap_err()
                .to_string()
                .contains("tracking_api:write")
        );
    }
}

//! Segment's identity service: the authorization URL and the code exchange, through the
//! `oauth2` crate, with Segment's extra token fields as a typed extension of the standard
//! token response.

use chrono::{Duration, Utc};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    ExtraTokenFields, HttpClientError, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
    RequestTokenError, Scope, StandardRevocableToken, StandardTokenResponse, TokenResponse,
    TokenUrl,
};
use serde::{Deserialize, Serialize};
use url::Url;

use super::{InstallName, InstallToken, SegmentError, SegmentScope, SourceName, WorkspaceName};

/// How long a token lives when Segment does not say (its docs: "about an hour").
const DEFAULT_TOKEN_LIFETIME_SECS: i64 = 3599;
/// The longest lifetime believed: a longer `expires_in` (Segment's tokens live an hour) is read
/// as a day, so the token is refreshed then at the latest, and no time overflows.
const MAX_TOKEN_LIFETIME_SECS: i64 = 24 * 3600;

/// The fields Segment adds to RFC 6749's token response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentTokenFields {
    /// The App the token is for (`apps/{id}`).
    pub app_name: String,
    /// The install (`installs/{id}`).
    pub install_name: String,
    #[serde(default)]
    /// The workspace consented on.
    pub workspace_names: Vec<String>,
    /// Present only for `destination/<slug>` scopes.
    #[serde(default)]
    pub source_names: Vec<String>,
}

impl ExtraTokenFields for SegmentTokenFields {}

/// The token response of `/oauth2/token` and of the install token API.
pub type SegmentTokenResponse = StandardTokenResponse<SegmentTokenFields, BasicTokenType>;

/// An `oauth2` client with an authorization and a token endpoint.
pub(super) type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    SegmentTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Where to send the user, and what to remember until they come back.
#[derive(Debug)]
pub struct AuthorizationRequest {
    /// Segment's consent screen, with this request's parameters.
    pub url: Url,
    /// Sent back unchanged by Segment; compare it on the callback.
    pub state: CsrfToken,
    /// Proves on the code exchange that we started this flow (PKCE); `None` when PKCE is off.
    pub pkce_verifier: Option<PkceCodeVerifier>,
}

pub(super) fn build_client(
    client_id: &str,
    client_secret: &ClientSecret,
    authorize_url: Url,
    token_url: Url,
    redirect_url: Url,
) -> OAuthClient {
    oauth2::Client::new(ClientId::new(client_id.to_owned()))
        .set_client_secret(client_secret.clone())
        .set_auth_uri(AuthUrl::from_url(authorize_url))
        .set_token_uri(TokenUrl::from_url(token_url))
        .set_redirect_uri(RedirectUrl::from_url(redirect_url))
}

pub(super) fn authorization_request(
    client: &OAuthClient,
    scope: &SegmentScope,
    pkce: bool,
) -> AuthorizationRequest {
    let mut request = client
        .authorize_url(CsrfToken::new_random)
        .add_scope(Scope::new(scope.to_string()));
    let mut pkce_verifier = None;
    if pkce {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        request = request.set_pkce_challenge(challenge);
        pkce_verifier = Some(verifier);
    }
    let (url, state) = request.url();
    AuthorizationRequest {
        url,
        state,
        pkce_verifier,
    }
}

pub(super) async fn exchange_code(
    client: &OAuthClient,
    http: &reqwest::Client,
    code: AuthorizationCode,
    pkce_verifier: Option<PkceCodeVerifier>,
) -> Result<InstallToken, SegmentError> {
    let mut request = client.exchange_code(code);
    if let Some(verifier) = pkce_verifier {
        request = request.set_pkce_verifier(verifier);
    }
    let response = request
        .request_async(http)
        .await
        .map_err(from_token_error)?;
    install_token(&response, &[])
}

/// Turns a token response into an [`InstallToken`]. `known_sources` fills in the source for
/// responses that do not repeat it (the install token API leaves `source_names` out).
pub(super) fn install_token(
    response: &SegmentTokenResponse,
    known_sources: &[SourceName],
) -> Result<InstallToken, SegmentError> {
    let extra = response.extra_fields();
    let bad = |what: &str, reason: &str| {
        SegmentError::BadResponse(format!("the token response has {what}: {reason}"))
    };
    let scope_text = response
        .scopes()
        .map(|scopes| {
            scopes
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    let scope = SegmentScope::parse(&scope_text)
        .map_err(|reason| bad(&format!("an unexpected scope {scope_text:?}"), reason))?;
    let install_name =
        InstallName::parse(&extra.install_name).map_err(|r| bad("a bad install_name", r))?;
    let workspace_names = extra
        .workspace_names
        .iter()
        .map(|n| WorkspaceName::parse(n))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|r| bad("a bad workspace name", r))?;
    let mut source_names = extra
        .source_names
        .iter()
        .map(|n| SourceName::parse(n))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|r| bad("a bad source name", r))?;
    if source_names.is_empty() {
        source_names = known_sources.to_vec();
    }
    let lifetime = response
        .expires_in()
        .map_or(DEFAULT_TOKEN_LIFETIME_SECS, |d| {
            i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
        })
        .min(MAX_TOKEN_LIFETIME_SECS);
    Ok(InstallToken {
        access_token: response.access_token().clone(),
        expires_at: Utc::now() + Duration::seconds(lifetime),
        scope,
        app_name: extra.app_name.clone(),
        install_name,
        workspace_names,
        source_names,
    })
}

fn from_token_error(
    error: RequestTokenError<HttpClientError<reqwest::Error>, BasicErrorResponse>,
) -> SegmentError {
    match error {
        RequestTokenError::ServerResponse(response) => SegmentError::OAuth {
            error: response.error().to_string(),
            description: response.error_description().cloned(),
        },
        RequestTokenError::Request(HttpClientError::Reqwest(error)) => {
            SegmentError::from_transport(&error)
        }
        RequestTokenError::Request(other) => SegmentError::Unreachable {
            timed_out: false,
            detail: other.to_string(),
        },
        // The body is not quoted: a half-valid token response still holds the access token.
        RequestTokenError::Parse(error, _body) => SegmentError::BadResponse(format!(
            "the token endpoint's answer is not a token response ({error})"
        )),
        RequestTokenError::Other(detail) => SegmentError::BadResponse(detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(expires_in: serde_json::Value) -> SegmentTokenResponse {
        serde_json::from_value(serde_json::json!({
            "access_token": "sgp_token",
            "token_type": "bearer",
            "expires_in": expires_in,
            "scope": "destination/clearbrain",
            "app_name": "apps/1",
            "install_name": "installs/1",
            "workspace_names": ["workspaces/acme"],
            "source_names": ["workspaces/acme/sources/js"],
        }))
        .expect("a token response")
    }

    /// A huge `expires_in` is read as a day: no overflow, no panic.
    #[test]
    fn a_huge_lifetime_is_cut_to_a_day() {
        for huge in [
            serde_json::json!(100_000_000_000_000_000u64),
            serde_json::json!(i64::MAX),
            serde_json::json!(u64::MAX),
        ] {
            let before = Utc::now();
            let token = install_token(&response(huge.clone()), &[]).expect("a token");
            let lifetime = token.expires_at - before;
            assert!(
                lifetime <= Duration::hours(24) + Duration::seconds(1),
                "{huge}"
            );
            assert!(
                lifetime >= Duration::hours(24) - Duration::seconds(5),
                "{huge}"
            );
        }
        let token = install_token(&response(serde_json::json!(3600)), &[]).unwrap();
        assert!(token.expires_at - Utc::now() <= Duration::hours(1));
    }
}

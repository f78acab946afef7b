//! A client for Segment's side of "Enable with Segment": the identity service (the OAuth flow
//! and install tokens), the Config API (workspaces, sources, destinations, the catalog), Event
//! Delivery Metrics ([`delivery`]) and server-to-server tokens ([`machine`]).
//!
//! It knows Segment's URLs, bodies and errors, and nothing about web frameworks: it depends on
//! no actix crate and works from any tokio program. Calls take typed values and give typed
//! values back; Segment's failures are told apart by [`ErrorKind`], never by Segment's words.
//! Every call is bounded ([`Limits`]), GETs are retried after a passing failure, and secrets
//! ([`secret`]) print masked. Point it at real Segment, at the `segment-sandbox`, or at any
//! test double: only the base URLs change.
//!
//! The `enable-with-segment` crate mounts the flow in an actix-web app with this client.
//!
//! # Example
//!
//! ```
//! use segment_client::AppSettings;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // `AppSettings::from_env()` reads the same names from the environment.
//! let settings = AppSettings::from_lookup(|name| match name {
//!     "CLIENT_ID" => Some("my-client-id".into()),
//!     "CLIENT_SECRET" => Some("my-client-secret".into()),
//!     "REDIRECT_URL" => Some("https://partner.example/auth/segment/callback".into()),
//!     "DESTINATION_SLUG" => Some("my-destination".into()),
//!     _ => None,
//! })?;
//! let segment = settings.client()?;
//! // Where to send the customer: Segment's consent screen, with a fresh state and PKCE.
//! let request = segment.authorization_request();
//! assert!(request.url.as_str().starts_with("https://id.segmentapis.com/oauth2/auth?"));
//! assert!(request.url.as_str().contains("scope=destination%2Fmy-destination"));
//! // After the callback: `segment.exchange_code(&code, request.pkce_verifier.as_ref())`
//! // gives the install token, and its access token is the bearer of Config API calls.
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

pub mod delivery;
mod error;
mod http;
pub mod machine;
mod oauth;
pub mod secret;
pub mod settings;
mod types;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

pub use error::{ErrorKind, SegmentError};
pub use http::{Limits, http_client};
pub use oauth::{AuthorizationRequest, SegmentTokenFields, SegmentTokenResponse};
pub use settings::{AppSettings, DEFAULT_API_URL, DEFAULT_ID_URL, SettingError};
pub use types::*;

use crate::secret::{AccessToken, AuthorizationCode, ClientSecret, PkceCodeVerifier};

/// Told of each call a [`SegmentClient`] made, when it ended: the app counts them in its
/// metrics.
pub trait CallObserver: Send + Sync + std::fmt::Debug {
    /// A call to `endpoint` ended with `outcome` (`ok`, `not_found`, `client_error`,
    /// `server_error`, `unreachable`, `unreadable`) after `seconds`.
    fn segment_call(&self, endpoint: &'static str, outcome: &'static str, seconds: f64);
}

/// The base URLs of Segment's two services.
#[derive(Debug, Clone)]
pub struct SegmentUrls {
    /// Where the browser is sent to consent: `{authorize_base}/oauth2/auth`.
    pub authorize_base: Url,
    /// Where this app exchanges codes: `{token_base}/oauth2/token`. The same host as
    /// `authorize_base` for Segment; differs only when the sandbox is mounted in this app.
    pub token_base: Url,
    /// The Config API: `{api_base}/v1beta/...`.
    pub api_base: Url,
}

/// The partner's App, as registered with Segment.
#[derive(Debug, Clone)]
pub struct AppCredentials {
    /// Its OAuth client id (`CLIENT_ID`).
    pub client_id: String,
    /// Its OAuth client secret (`CLIENT_SECRET`).
    pub client_secret: ClientSecret,
    /// Where Segment sends the browser back (`REDIRECT_URL`), as registered.
    pub redirect_url: Url,
    /// The scope it asks for (`SEGMENT_SCOPE`).
    pub scope: SegmentScope,
    /// Send a PKCE S256 challenge with the authorization request.
    pub pkce: bool,
}

/// How many pages of a list the client follows before it stops.
const MAX_PAGES: usize = 20;

/// Talks to Segment on behalf of one partner App.
#[derive(Debug, Clone)]
pub struct SegmentClient {
    http: reqwest::Client,
    oauth: oauth::OAuthClient,
    app: AppCredentials,
    api_base: Url,
    /// One permit per call in flight (see [`Limits::max_in_flight`]).
    in_flight: Arc<Semaphore>,
    /// How long a call may wait for a permit.
    wait: Duration,
    /// Told of every call by endpoint and outcome, when given ([`SegmentClient::observed_by`]).
    observer: Option<Arc<dyn CallObserver>>,
}

impl SegmentClient {
    /// A client for `app`, talking to Segment at `urls` over `http` (one [`http_client`] for the whole program), within `limits`.
    pub fn new(
        http: reqwest::Client,
        urls: SegmentUrls,
        app: AppCredentials,
        limits: &Limits,
    ) -> SegmentClient {
        let oauth = oauth::build_client(
            &app.client_id,
            &app.client_secret,
            join(&urls.authorize_base, "oauth2/auth"),
            join(&urls.token_base, "oauth2/token"),
            app.redirect_url.clone(),
        );
        SegmentClient {
            http,
            oauth,
            app,
            api_base: urls.api_base,
            in_flight: Arc::new(Semaphore::new(limits.max_in_flight.max(1))),
            wait: limits.total,
            observer: None,
        }
    }

    /// Tells `observer` of every call the client makes (to count them in metrics, say).
    pub fn observed_by(mut self, observer: Arc<dyn CallObserver>) -> SegmentClient {
        self.observer = Some(observer);
        self
    }

    /// Records how a call to `endpoint` that began at `started` ended.
    fn count(&self, endpoint: &'static str, started: Instant, error: Option<&SegmentError>) {
        if let Some(observer) = &self.observer {
            let outcome = error.map_or("ok", SegmentError::outcome);
            observer.segment_call(endpoint, outcome, started.elapsed().as_secs_f64());
        }
    }

    /// How long one call may take (its time-out, waiting for a free slot included): what a
    /// caller that must finish within a deadline of its own allows for.
    pub fn call_timeout(&self) -> Duration {
        self.wait
    }

    /// The App the client acts for.
    pub fn app(&self) -> &AppCredentials {
        &self.app
    }

    /// The scope the App asks for.
    pub fn scope(&self) -> &SegmentScope {
        &self.app.scope
    }

    // ---- the install flow -------------------------------------------------------------------

    /// A fresh authorization request: a new random `state` (and PKCE verifier) every time.
    pub fn authorization_request(&self) -> AuthorizationRequest {
        oauth::authorization_request(&self.oauth, &self.app.scope, self.app.pkce)
    }

    /// Trades the code from the callback for an install token. Both are used up: a code and a
    /// verifier work once.
    pub async fn exchange_code(
        &self,
        code: AuthorizationCode,
        pkce_verifier: Option<PkceCodeVerifier>,
    ) -> Result<InstallToken, SegmentError> {
        let _permit = self.permit().await?;
        let started = Instant::now();
        let result = oauth::exchange_code(&self.oauth, &self.http, code, pkce_verifier).await;
        self.count("exchange_code", started, result.as_ref().err());
        result
    }

    /// Mints a new token for an install (`GET /v1beta/{install_name}/token`). The previous token
    /// stops working.
    pub async fn refresh_install_token(
        &self,
        install: &InstallToken,
    ) -> Result<InstallToken, SegmentError> {
        self.mint_install_token(&install.install_name, &install.source_names)
            .await
    }

    /// Mints a token for an install known only by name (a stored install): no code, no
    /// consent. The install token API does not repeat the source, so `known_sources` (kept with
    /// the install) fills it in.
    pub async fn mint_install_token(
        &self,
        install_name: &InstallName,
        known_sources: &[SourceName],
    ) -> Result<InstallToken, SegmentError> {
        let url = self.api(&format!("{install_name}/token"));
        let request = || {
            self.http
                .get(url.clone())
                .basic_auth(&self.app.client_id, Some(self.app.client_secret.secret()))
        };
        let response: SegmentTokenResponse = self
            .send_json("install_token", Method::GET, request)
            .await?;
        oauth::install_token(&response, known_sources)
    }

    // ---- destinations -----------------------------------------------------------------------

    /// The destination, or `None` when it does not exist.
    pub async fn get_destination(
        &self,
        token: &AccessToken,
        name: &DestinationName,
    ) -> Result<Option<Destination>, SegmentError> {
        match self
            .call(
                "get_destination",
                Method::GET,
                name.as_str(),
                token,
                None::<&()>,
            )
            .await
        {
            Ok(destination) => Ok(Some(destination)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Creates `name` on its source with the given fields. Fails with "destination already
    /// exists" when it is there.
    pub async fn create_destination(
        &self,
        token: &AccessToken,
        source: &SourceName,
        name: &DestinationName,
        fields: &DestinationChange,
    ) -> Result<Destination, SegmentError> {
        let body = serde_json::json!({ "destination": write_body(name, fields) });
        let path = format!("{source}/destinations");
        self.call(
            "create_destination",
            Method::POST,
            &path,
            token,
            Some(&body),
        )
        .await
    }

    /// Changes the fields set in `change`, and only those (the update mask says which).
    pub async fn update_destination(
        &self,
        token: &AccessToken,
        name: &DestinationName,
        change: &DestinationChange,
    ) -> Result<Destination, SegmentError> {
        let body = serde_json::json!({
            "destination": write_body(name, change),
            "update_mask": { "paths": change.update_mask() },
        });
        self.call(
            "update_destination",
            Method::PATCH,
            name.as_str(),
            token,
            Some(&body),
        )
        .await
    }

    /// [`SegmentClient::update_destination`], with `None` when there is no such destination
    /// (Disable and Push my API key before Enable created it).
    pub async fn update_existing_destination(
        &self,
        token: &AccessToken,
        name: &DestinationName,
        change: &DestinationChange,
    ) -> Result<Option<Destination>, SegmentError> {
        match self.update_destination(token, name, change).await {
            Ok(updated) => Ok(Some(updated)),
            Err(error) if error.is_not_found() => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Removes the destination `name` (`DELETE`); a destination already gone is an error of
    /// kind [`ErrorKind::NotFound`].
    pub async fn delete_destination(
        &self,
        token: &AccessToken,
        name: &DestinationName,
    ) -> Result<(), SegmentError> {
        let _: serde_json::Value = self
            .call(
                "delete_destination",
                Method::DELETE,
                name.as_str(),
                token,
                None::<&()>,
            )
            .await?;
        Ok(())
    }

    // ---- catalog and workspace --------------------------------------------------------------

    /// The destination's catalog entry, with the schema of its settings.
    pub async fn get_catalog_destination(
        &self,
        token: &AccessToken,
        slug: &DestinationSlug,
    ) -> Result<CatalogDestination, SegmentError> {
        let path = format!("catalog/destinations/{slug}");
        self.call(
            "get_catalog_destination",
            Method::GET,
            &path,
            token,
            None::<&()>,
        )
        .await
    }

    /// The workspace (wider scopes only).
    pub async fn get_workspace(
        &self,
        token: &AccessToken,
        workspace: &WorkspaceName,
    ) -> Result<Workspace, SegmentError> {
        self.call(
            "get_workspace",
            Method::GET,
            workspace.as_str(),
            token,
            None::<&()>,
        )
        .await
    }

    /// Every source on the workspace (wider scopes only), following pages up to a bound.
    pub async fn list_sources(
        &self,
        token: &AccessToken,
        workspace: &WorkspaceName,
    ) -> Result<Vec<Source>, SegmentError> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            sources: Vec<Source>,
            #[serde(default)]
            next_page_token: String,
        }
        let mut sources = Vec::new();
        let mut page_token = String::new();
        for _ in 0..MAX_PAGES {
            let mut path = format!("{workspace}/sources");
            if !page_token.is_empty() {
                let query: String = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("page_token", &page_token)
                    .finish();
                path = format!("{path}?{query}");
            }
            let page: Page = self
                .call("list_sources", Method::GET, &path, token, None::<&()>)
                .await?;
            sources.extend(page.sources);
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        Ok(sources)
    }

    /// The destinations on `source` (wider scopes), following pages up to a bound.
    pub async fn list_destinations(
        &self,
        token: &AccessToken,
        source: &SourceName,
    ) -> Result<Vec<Destination>, SegmentError> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            destinations: Vec<Destination>,
        }
        let path = format!("{source}/destinations");
        let page: Page = self
            .call("list_destinations", Method::GET, &path, token, None::<&()>)
            .await?;
        Ok(page.destinations)
    }

    // ---- plumbing ---------------------------------------------------------------------------

    fn api(&self, path: &str) -> Url {
        join(&self.api_base, &format!("v1beta/{path}"))
    }

    async fn call<T: DeserializeOwned, B: Serialize>(
        &self,
        endpoint: &'static str,
        method: Method,
        path: &str,
        token: &AccessToken,
        body: Option<&B>,
    ) -> Result<T, SegmentError> {
        let url = self.api(path);
        let request = || {
            let request = self
                .http
                .request(method.clone(), url.clone())
                .bearer_auth(token.secret());
            match body {
                Some(body) => request.json(body),
                None => request,
            }
        };
        self.send_json(endpoint, method.clone(), request).await
    }
}

/// The JSON of a destination in a create or update body.
fn write_body(name: &DestinationName, change: &DestinationChange) -> serde_json::Value {
    let mut body = serde_json::Map::new();
    body.insert("name".into(), name.as_str().into());
    if let Some(enabled) = change.enabled {
        body.insert("enabled".into(), enabled.into());
    }
    if let Some(mode) = change.connection_mode {
        body.insert(
            "connection_mode".into(),
            serde_json::to_value(mode).unwrap_or_default(),
        );
    }
    if let Some(config) = &change.config {
        body.insert(
            "config".into(),
            serde_json::to_value(config).unwrap_or_default(),
        );
    }
    body.into()
}

/// `base` + `path`, keeping any path `base` has (`http://host/sandbox` + `oauth2/auth`).
fn join(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!("{}/{}", base.path().trim_end_matches('/'), path);
    match joined.split_once('?') {
        Some((path, query)) => {
            url.set_path(path);
            url.set_query(Some(query));
        }
        None => {
            url.set_path(&joined);
            url.set_query(None);
        }
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_keeps_the_base_path() {
        let base = Url::parse("http://127.0.0.1:8888/sandbox").unwrap();
        assert_eq!(
            join(&base, "oauth2/auth").as_str(),
            "http://127.0.0.1:8888/sandbox/oauth2/auth"
        );
        let base = Url::parse("https://platform.segmentapis.com").unwrap();
        assert_eq!(
            join(&base, "v1beta/workspaces/acme/sources?page_token=a%2Bb").as_str(),
            "https://platform.segmentapis.com/v1beta/workspaces/acme/sources?page_token=a%2Bb"
        );
    }

    #[test]
    fn write_body_has_only_the_changed_fields() {
        let name =
            DestinationName::parse("workspaces/a/sources/js/destinations/clearbrain").unwrap();
        let body = write_body(
            &name,
            &DestinationChange {
                enabled: Some(false),
                ..Default::default()
            },
        );
        assert_eq!(
            body,
            serde_json::json!({"name": name.as_str(), "enabled": false})
        );
        let body = write_body(
            &name,
            &DestinationChange {
                enabled: Some(true),
                connection_mode: Some(ConnectionMode::Cloud),
                config: Some(vec![ConfigValue {
                    name: name.setting("apiKey"),
                    value: "k".into(),
                }]),
            },
        );
        assert_eq!(body["connection_mode"], "CLOUD");
        assert_eq!(body["config"][0]["name"], name.setting("apiKey"));
    }
}

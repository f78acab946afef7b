//! The sandbox's in-memory world and its rules: one App, one signed-in workspace owner, one
//! workspace with three sources, the catalog, and whatever the flows create (codes, installs,
//! tokens, destinations).
//!
//! Every rule Segment enforces lives here, as plain functions over [`World`] that return the
//! body or the error Segment would send, so the HTTP layer only translates. Nothing here is
//! shared with the Segment client on purpose: the sandbox reads the wire format on its own,
//! the way Segment would.

use std::collections::{BTreeMap, HashMap, VecDeque};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::catalog::Catalog;
use super::scope::Scope;
use crate::secret::{Secret, mask};

/// How long an authorization code can be exchanged.
pub const CODE_LIFETIME: Duration = Duration::minutes(10);
/// What Segment answers as `expires_in`.
pub const TOKEN_LIFETIME_SECS: i64 = 3599;
/// How many entries the activity log keeps.
const ACTIVITY_LEN: usize = 100;
/// How many issued secrets are remembered for leak checks (a long demo must not grow forever).
const SECRETS_SEEN_LEN: usize = 10_000;

/// The partner's App, as registered in the Developer Center.
#[derive(Debug, Clone)]
pub struct App {
    pub client_id: String,
    pub client_secret: Secret,
    pub display_name: String,
    /// `apps/1`
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub scope: Scope,
}

#[derive(Debug, Clone, Serialize)]
pub struct SourceRecord {
    pub slug: String,
    pub display_name: String,
    pub catalog_name: String,
}

#[derive(Debug, Clone)]
pub struct Workspace {
    pub slug: String,
    pub display_name: String,
    pub id: String,
    pub create_time: DateTime<Utc>,
    pub owner_email: String,
    pub sources: Vec<SourceRecord>,
}

impl Workspace {
    /// A workspace of the signed-in owner, with the three demo sources.
    fn seeded(slug: &str, display_name: &str) -> Workspace {
        Workspace {
            slug: slug.into(),
            display_name: display_name.into(),
            id: format!("ws_{slug}"),
            create_time: Utc::now(),
            owner_email: "owner@acme.example".into(),
            sources: [
                (
                    "javascript",
                    "Website (JavaScript)",
                    "catalog/sources/javascript",
                ),
                ("ios", "iOS app", "catalog/sources/ios"),
                ("node-server", "Backend (Node.js)", "catalog/sources/node"),
            ]
            .into_iter()
            .map(|(slug, display_name, catalog_name)| SourceRecord {
                slug: slug.into(),
                display_name: display_name.into(),
                catalog_name: catalog_name.into(),
            })
            .collect(),
        }
    }

    pub fn name(&self) -> String {
        format!("workspaces/{}", self.slug)
    }

    pub fn source_name(&self, source: &str) -> String {
        format!("workspaces/{}/sources/{}", self.slug, source)
    }

    pub fn has_source(&self, source: &str) -> bool {
        self.sources.iter().any(|s| s.slug == source)
    }
}

/// What the user agreed to, waiting for the code exchange.
#[derive(Debug, Clone)]
struct Grant {
    client_id: String,
    redirect_uri: String,
    workspace: String,
    source: Option<String>,
    code_challenge: Option<String>,
    expires_at: DateTime<Utc>,
    used: bool,
}

#[derive(Debug, Clone)]
pub struct Install {
    pub id: u64,
    pub client_id: String,
    pub app_name: String,
    pub scope: Scope,
    pub workspace: String,
    /// The consented source, for `destination/<slug>` scopes.
    pub source: Option<String>,
    pub create_time: DateTime<Utc>,
    pub tokens_minted: u32,
}

impl Install {
    pub fn name(&self) -> String {
        format!("installs/{}", self.id)
    }
}

#[derive(Debug, Clone)]
struct TokenRecord {
    install_id: u64,
    expires_at: DateTime<Utc>,
}

/// A destination as the sandbox stores it.
#[derive(Debug, Clone)]
pub struct StoredDestination {
    pub workspace: String,
    pub source: String,
    pub slug: String,
    pub display_name: String,
    pub enabled: bool,
    pub connection_mode: String,
    /// Setting name → value, in the catalog's order when shown.
    pub config: BTreeMap<String, Value>,
    pub create_time: DateTime<Utc>,
    pub update_time: DateTime<Utc>,
    /// The last credential test of the `apiKey` against the partner's API.
    pub credential_test: Option<String>,
}

impl StoredDestination {
    pub fn name(&self) -> String {
        format!(
            "workspaces/{}/sources/{}/destinations/{}",
            self.workspace, self.source, self.slug
        )
    }
}

/// One line of the activity log, for the inspector.
#[derive(Debug, Clone, Serialize)]
pub struct Activity {
    pub time: String,
    pub what: String,
    pub status: u16,
}

/// An error as the Config API sends it: `{"error": message, "code": grpc_code}` with `status`.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub code: u16,
    pub message: String,
}

impl ApiError {
    fn new(status: u16, code: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, 3, message)
    }
    pub fn unauthenticated(message: impl Into<String>) -> ApiError {
        ApiError::new(401, 16, message)
    }
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(403, 7, message)
    }
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(404, 5, message)
    }
    pub fn already_exists(message: impl Into<String>) -> ApiError {
        ApiError::new(409, 6, message)
    }
    pub fn body(&self) -> Value {
        json!({ "error": self.message, "code": self.code })
    }
}

/// An error from the token endpoint, as RFC 6749 §5.2 has it.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthError {
    pub status: u16,
    pub error: &'static str,
    pub description: String,
}

impl OAuthError {
    fn new(status: u16, error: &'static str, description: impl Into<String>) -> OAuthError {
        OAuthError {
            status,
            error,
            description: description.into(),
        }
    }
}

/// What a Config API call wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Everything the inspector shows, secrets masked; served as HTML and as JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub app: AppView,
    pub workspaces: Vec<WorkspaceView>,
    pub installs: Vec<InstallView>,
    pub destinations: Vec<DestinationView>,
    /// How many times the install token API minted a new token.
    pub refreshes: u64,
    /// How many Config API calls were answered (to count a page's upstream calls).
    pub api_calls: u64,
    /// How many server-to-server tokens were issued.
    pub machine_tokens: u64,
    /// Newest first.
    pub activity: Vec<Activity>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AppView {
    pub display_name: String,
    pub name: String,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uris: Vec<String>,
    pub scope: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct WorkspaceView {
    pub name: String,
    pub display_name: String,
    pub owner: String,
    pub sources: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InstallView {
    pub id: u64,
    pub name: String,
    pub app_name: String,
    pub scope: String,
    pub workspace: String,
    pub source: Option<String>,
    pub create_time: String,
    pub tokens_minted: u32,
    pub tokens: Vec<TokenView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TokenView {
    pub token: String,
    pub expires_at: String,
    pub expired: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct DestinationView {
    pub name: String,
    pub display_name: String,
    pub enabled: bool,
    pub connection_mode: String,
    pub config: Vec<SettingView>,
    pub update_time: String,
    pub credential_test: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SettingView {
    pub setting: String,
    pub value: String,
}

/// What the token endpoint is asked: the form fields of an `authorization_code` grant.
#[derive(Debug, Default)]
pub struct CodeExchange {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
}

pub struct World {
    pub app: App,
    /// The workspaces the signed-in user owns (Acme, unless more are added).
    pub workspaces: Vec<Workspace>,
    pub catalog: Catalog,
    grants: HashMap<String, Grant>,
    installs: BTreeMap<u64, Install>,
    tokens: HashMap<String, TokenRecord>,
    /// Keyed by the destination's full name.
    destinations: BTreeMap<String, StoredDestination>,
    activity: VecDeque<Activity>,
    next_install: u64,
    /// Every refresh through the install token API, for the inspector (and tests).
    pub refreshes: u64,
    /// Every Config API call answered.
    pub api_calls: u64,
    /// The `expires_in` of new tokens.
    pub token_lifetime_secs: i64,
    /// Armed faults, played by the `faults` middleware.
    pub faults: Vec<super::faults::Fault>,
    /// The partner's API that credential tests call (`GET` with the key as Bearer).
    pub credential_test_url: Option<String>,
    /// Server-to-server OAuth: registered keys, used `jti`s, tokens issued.
    pub machine: super::machine::Machine,
    /// Every code and token issued and every PKCE verifier received, so tests can prove none
    /// of them leaks into a log or a page.
    pub secrets_seen: Vec<String>,
}

/// The number of the first install a sandbox makes: milliseconds since 2026-01-01 at its start.
/// Install names then never repeat across restarts (a run would have to make more than one
/// install per millisecond it ran), so an app that kept `installs/…` from an earlier run never
/// mistakes a new install for it.
fn first_install_id(now: DateTime<Utc>) -> u64 {
    const EPOCH_2026_MS: i64 = 1_767_225_600_000;
    u64::try_from(now.timestamp_millis() - EPOCH_2026_MS)
        .unwrap_or(0)
        .max(1)
}

impl World {
    pub fn new(app: App, catalog: Catalog) -> World {
        World {
            app,
            workspaces: vec![Workspace::seeded("acme", "Acme Inc.")],
            catalog,
            grants: HashMap::new(),
            installs: BTreeMap::new(),
            tokens: HashMap::new(),
            destinations: BTreeMap::new(),
            activity: VecDeque::new(),
            next_install: first_install_id(Utc::now()),
            refreshes: 0,
            api_calls: 0,
            token_lifetime_secs: TOKEN_LIFETIME_SECS,
            faults: Vec::new(),
            credential_test_url: None,
            machine: Default::default(),
            secrets_seen: Vec::new(),
        }
    }

    /// Adds a workspace the signed-in user owns, with the demo sources.
    pub fn add_workspace(&mut self, slug: &str, display_name: &str) {
        if self.workspace(slug).is_none() {
            self.workspaces.push(Workspace::seeded(slug, display_name));
        }
    }

    pub fn workspace(&self, slug: &str) -> Option<&Workspace> {
        self.workspaces.iter().find(|w| w.slug == slug)
    }

    // ---- consent and codes -----------------------------------------------------------------

    /// Records the user's consent and returns the authorization code for the redirect.
    pub fn grant(
        &mut self,
        redirect_uri: &str,
        workspace: &str,
        source: Option<String>,
        code_challenge: Option<String>,
    ) -> Secret {
        let now = Utc::now();
        self.grants
            .retain(|_, g| g.expires_at > now - CODE_LIFETIME);
        let code = random_token(24);
        self.saw_secret(code.clone());
        self.grants.insert(
            code.clone(),
            Grant {
                client_id: self.app.client_id.clone(),
                redirect_uri: redirect_uri.to_owned(),
                workspace: workspace.to_owned(),
                source,
                code_challenge,
                expires_at: now + CODE_LIFETIME,
                used: false,
            },
        );
        self.log("consent given: authorization code issued", 302);
        Secret::new(code)
    }

    /// `POST /oauth2/token` with `grant_type=authorization_code`, once the client is known.
    pub fn exchange_code(&mut self, request: &CodeExchange) -> Result<Value, OAuthError> {
        let result = self.try_exchange_code(request);
        match &result {
            Ok(_) => self.log("code exchanged for an install token", 200),
            Err(e) => self.log(
                &format!("code exchange refused: {}", e.description),
                e.status,
            ),
        }
        result
    }

    fn try_exchange_code(&mut self, request: &CodeExchange) -> Result<Value, OAuthError> {
        if let Some(verifier) = &request.code_verifier {
            self.saw_secret(verifier.clone());
        }
        let malformed = |what: &str| {
            OAuthError::new(
                400,
                "invalid_request",
                format!(
                    "The request is missing a required parameter, includes an invalid parameter \
                     value, includes a parameter more than once, or is otherwise malformed. {what}"
                ),
            )
        };
        match request.grant_type.as_deref() {
            Some("authorization_code") => {}
            Some(_) => {
                return Err(OAuthError::new(
                    400,
                    "unsupported_grant_type",
                    "Only the authorization_code grant is supported.",
                ));
            }
            None => return Err(malformed("The grant_type is missing.")),
        }
        let code = request
            .code
            .as_deref()
            .ok_or_else(|| malformed("The code is missing."))?;
        let invalid_grant = |why: &str| OAuthError::new(400, "invalid_grant", why.to_owned());
        let grant = self
            .grants
            .get_mut(code)
            .ok_or_else(|| invalid_grant("The authorization code is not valid."))?;
        if grant.used {
            return Err(invalid_grant(
                "The authorization code has already been used.",
            ));
        }
        // A code is spent by any attempt to use it, good or bad (RFC 6749 §10.5).
        grant.used = true;
        let grant = grant.clone();
        if grant.expires_at <= Utc::now() {
            return Err(invalid_grant("The authorization code has expired."));
        }
        if grant.client_id != self.app.client_id {
            return Err(invalid_grant(
                "The authorization code was issued to another client.",
            ));
        }
        if request.redirect_uri.as_deref() != Some(grant.redirect_uri.as_str()) {
            return Err(malformed(
                "The redirect_uri does not match the one used in the authorization request.",
            ));
        }
        if let Some(challenge) = &grant.code_challenge {
            let verifier = request
                .code_verifier
                .as_deref()
                .ok_or_else(|| invalid_grant("The PKCE code_verifier is missing."))?;
            if pkce_s256(verifier) != *challenge {
                return Err(invalid_grant(
                    "The PKCE code_verifier does not match the challenge.",
                ));
            }
        }
        let workspace = grant.workspace.clone();
        if self
            .installs
            .values()
            .any(|i| i.client_id == grant.client_id && i.workspace == workspace)
        {
            return Err(OAuthError::new(
                400,
                "invalid_request",
                "install already exists",
            ));
        }
        let id = self.next_install;
        self.next_install += 1;
        let install = Install {
            id,
            client_id: grant.client_id.clone(),
            app_name: self.app.name.clone(),
            scope: self.app.scope.clone(),
            workspace,
            source: grant.source.clone(),
            create_time: Utc::now(),
            tokens_minted: 0,
        };
        self.installs.insert(id, install);
        Ok(self.mint_token(id, true))
    }

    /// A new token for the install: Segment's token shape. Earlier tokens stop working.
    fn mint_token(&mut self, install_id: u64, with_sources: bool) -> Value {
        self.tokens.retain(|_, t| t.install_id != install_id);
        let token = format!("{}.{}", random_token(32), random_token(32));
        self.saw_secret(token.clone());
        self.tokens.insert(
            token.clone(),
            TokenRecord {
                install_id,
                expires_at: Utc::now() + Duration::seconds(self.token_lifetime_secs),
            },
        );
        let Some(install) = self.installs.get_mut(&install_id) else {
            return Value::Null;
        };
        install.tokens_minted += 1;
        let mut body = json!({
            "access_token": token,
            "token_type": "bearer",
            "expires_in": self.token_lifetime_secs,
            "scope": install.scope.to_string(),
            "app_name": install.app_name,
            "install_name": install.name(),
            "workspace_names": [format!("workspaces/{}", install.workspace)],
        });
        if with_sources && let Some(source) = &install.source {
            body["source_names"] = json!([format!(
                "workspaces/{}/sources/{}",
                install.workspace, source
            )]);
        }
        body
    }

    /// `GET /v1beta/installs/{id}/token`, once the client is known.
    pub fn refresh_token(&mut self, install_id: &str) -> Result<Value, ApiError> {
        let install = install_id
            .parse::<u64>()
            .ok()
            .and_then(|id| self.installs.get(&id))
            .filter(|i| i.client_id == self.app.client_id)
            .ok_or_else(|| ApiError::not_found("install not found"))?;
        let id = install.id;
        self.refreshes += 1;
        self.log(&format!("install token refreshed for installs/{id}"), 200);
        Ok(self.mint_token(id, false))
    }

    /// Removes an install and its tokens, as a workspace owner does in Segment's settings.
    /// The destinations it created stay.
    pub fn uninstall(&mut self, install_id: u64) -> bool {
        let removed = self.installs.remove(&install_id).is_some();
        if removed {
            self.tokens.retain(|_, t| t.install_id != install_id);
            self.log(
                &format!("installs/{install_id} uninstalled from the workspace"),
                200,
            );
        }
        removed
    }

    /// Makes every token of the install expire now (to show what a stale token does).
    pub fn expire_tokens(&mut self, install_id: u64) {
        let past = Utc::now() - Duration::seconds(1);
        for token in self
            .tokens
            .values_mut()
            .filter(|t| t.install_id == install_id)
        {
            token.expires_at = past;
        }
    }

    // ---- the Config API ---------------------------------------------------------------------

    /// The install behind a bearer token.
    pub fn authenticate(&self, bearer: Option<&str>) -> Result<Install, ApiError> {
        let malformed = || ApiError::unauthenticated("malformed token");
        let record = bearer
            .and_then(|t| self.tokens.get(t))
            .ok_or_else(malformed)?;
        if record.expires_at <= Utc::now() {
            return Err(malformed());
        }
        self.installs
            .get(&record.install_id)
            .cloned()
            .ok_or_else(malformed)
    }

    /// Whether `install` may touch `workspace` (and, below it, `source` and `slug`).
    pub fn authorize(
        &self,
        install: &Install,
        access: Access,
        workspace: &str,
        source: Option<&str>,
        slug: Option<&str>,
    ) -> Result<(), ApiError> {
        let scope = &install.scope;
        if workspace != install.workspace {
            return Err(ApiError::forbidden(format!(
                "the install has no access to workspaces/{workspace}"
            )));
        }
        match scope {
            Scope::Destination(allowed) => {
                let on_consented_source = source.is_some() && source == install.source.as_deref();
                if !on_consented_source || slug != Some(allowed.as_str()) {
                    return Err(ApiError::forbidden(format!(
                        "the scope {scope} only allows the {allowed} destination on the consented source"
                    )));
                }
            }
            Scope::WorkspaceRead if access == Access::Write => {
                return Err(ApiError::forbidden(
                    "the scope workspace:read cannot change anything",
                ));
            }
            _ => {}
        }
        if let Some(source) = source
            && !self
                .workspace(workspace)
                .is_some_and(|w| w.has_source(source))
        {
            return Err(ApiError::not_found(format!(
                "source workspaces/{workspace}/sources/{source} not found"
            )));
        }
        Ok(())
    }

    pub fn workspace_body(&self, slug: &str) -> Result<Value, ApiError> {
        let workspace = self
            .workspace(slug)
            .ok_or_else(|| ApiError::not_found(format!("workspace {slug} not found")))?;
        Ok(json!({
            "name": workspace.name(),
            "display_name": workspace.display_name,
            "id": workspace.id,
            "create_time": timestamp(workspace.create_time),
        }))
    }

    pub fn sources_body(&self, slug: &str) -> Result<Value, ApiError> {
        let workspace = self
            .workspace(slug)
            .ok_or_else(|| ApiError::not_found(format!("workspace {slug} not found")))?;
        let sources: Vec<Value> = workspace
            .sources
            .iter()
            .map(|s| {
                json!({
                    "name": workspace.source_name(&s.slug),
                    "catalog_name": s.catalog_name,
                    "parent": workspace.name(),
                    "write_keys": [format!("wk_{}_{}", workspace.slug, s.slug)],
                    "create_time": timestamp(workspace.create_time),
                })
            })
            .collect();
        Ok(json!({ "sources": sources, "next_page_token": "" }))
    }

    pub fn destination_body(&self, d: &StoredDestination) -> Value {
        let entry = self.catalog.get(&d.slug);
        let config: Vec<Value> = d
            .config
            .iter()
            .map(|(setting, value)| {
                let schema = entry.and_then(|e| e.setting(setting));
                json!({
                    "name": format!("{}/config/{}", d.name(), setting),
                    "display_name": schema.map(|s| s.display_name.as_str()).unwrap_or(setting),
                    "value": value,
                    "type": schema.map(|s| s.kind.to_ascii_lowercase()).unwrap_or_default(),
                })
            })
            .collect();
        json!({
            "name": d.name(),
            "parent": format!("workspaces/{}/sources/{}", d.workspace, d.source),
            "display_name": d.display_name,
            "enabled": d.enabled,
            "connection_mode": d.connection_mode,
            "config": config,
            "create_time": timestamp(d.create_time),
            "update_time": timestamp(d.update_time),
        })
    }

    pub fn get_destination(
        &self,
        workspace: &str,
        source: &str,
        slug: &str,
    ) -> Result<Value, ApiError> {
        let name = format!("workspaces/{workspace}/sources/{source}/destinations/{slug}");
        self.destinations
            .get(&name)
            .map(|d| self.destination_body(d))
            .ok_or_else(|| ApiError::not_found(format!("destination {name} not found")))
    }

    pub fn list_destinations(&self, workspace: &str, source: &str) -> Value {
        let destinations: Vec<Value> = self
            .destinations
            .values()
            .filter(|d| d.workspace == workspace && d.source == source)
            .map(|d| self.destination_body(d))
            .collect();
        json!({ "destinations": destinations, "next_page_token": "" })
    }

    /// `POST …/destinations` with `{"destination": {...}}`.
    pub fn create_destination(
        &mut self,
        workspace: &str,
        source: &str,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let destination = body
            .get("destination")
            .ok_or_else(|| ApiError::bad_request("the body needs a \"destination\" object"))?;
        let name = destination
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad_request("destination.name is required"))?;
        let prefix = format!("workspaces/{workspace}/sources/{source}/destinations/");
        let slug = name
            .strip_prefix(&prefix)
            .filter(|s| !s.is_empty() && !s.contains('/'))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "destination.name must be {prefix}<slug>, the source in the path"
                ))
            })?
            .to_owned();
        if self.destinations.contains_key(name) {
            return Err(ApiError::already_exists(format!(
                "destination already exists: {name}"
            )));
        }
        let display_name = self
            .catalog
            .get(&slug)
            .map(|e| e.display_name.clone())
            .ok_or_else(|| {
                ApiError::bad_request(format!("unknown destination {slug:?}: not in the catalog"))
            })?;
        let now = Utc::now();
        let mut stored = StoredDestination {
            workspace: workspace.to_owned(),
            source: source.to_owned(),
            slug,
            display_name,
            enabled: false,
            connection_mode: "UNSPECIFIED".into(),
            config: BTreeMap::new(),
            create_time: now,
            update_time: now,
            credential_test: None,
        };
        self.apply(
            &mut stored,
            destination,
            &["enabled", "connection_mode", "config"],
            true,
        )?;
        let body = self.destination_body(&stored);
        self.destinations.insert(name.to_owned(), stored);
        Ok(body)
    }

    /// `PATCH …/destinations/{slug}` with `{"destination": {...}, "update_mask": {"paths": [...]}}`.
    pub fn update_destination(
        &mut self,
        workspace: &str,
        source: &str,
        slug: &str,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let name = format!("workspaces/{workspace}/sources/{source}/destinations/{slug}");
        let paths: Vec<&str> = body
            .pointer("/update_mask/paths")
            .and_then(Value::as_array)
            .map(|paths| paths.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if paths.is_empty() {
            return Err(ApiError::bad_request(
                "update_mask.paths is required: say which fields to change",
            ));
        }
        let mut fields = Vec::new();
        for path in &paths {
            match path.strip_prefix("destination.") {
                Some(field @ ("enabled" | "connection_mode" | "config")) => fields.push(field),
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "update_mask path {path:?} is not one of destination.enabled, \
                         destination.config, destination.connection_mode"
                    )));
                }
            }
        }
        let destination = body
            .get("destination")
            .ok_or_else(|| ApiError::bad_request("the body needs a \"destination\" object"))?;
        let mut stored = self
            .destinations
            .get(&name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("destination {name} not found")))?;
        self.apply(&mut stored, destination, &fields, false)?;
        stored.update_time = Utc::now();
        let body = self.destination_body(&stored);
        self.destinations.insert(name, stored);
        Ok(body)
    }

    pub fn delete_destination(
        &mut self,
        workspace: &str,
        source: &str,
        slug: &str,
    ) -> Result<Value, ApiError> {
        let name = format!("workspaces/{workspace}/sources/{source}/destinations/{slug}");
        self.destinations
            .remove(&name)
            .map(|_| json!({}))
            .ok_or_else(|| ApiError::not_found(format!("destination {name} not found")))
    }

    /// Copies the `fields` of `input` onto `stored`, checking each against the catalog.
    fn apply(
        &self,
        stored: &mut StoredDestination,
        input: &Value,
        fields: &[&str],
        optional: bool,
    ) -> Result<(), ApiError> {
        for field in fields {
            let value = match input.get(*field) {
                Some(value) => value,
                None if optional => continue,
                None => {
                    return Err(ApiError::bad_request(format!(
                        "the update mask names destination.{field} but the body has no {field}"
                    )));
                }
            };
            match *field {
                "enabled" => {
                    stored.enabled = value.as_bool().ok_or_else(|| {
                        ApiError::bad_request("destination.enabled must be a boolean")
                    })?;
                }
                "connection_mode" => {
                    let mode = value.as_str().unwrap_or_default();
                    if !matches!(mode, "CLOUD" | "DEVICE" | "UNSPECIFIED") {
                        return Err(ApiError::bad_request(format!(
                            "destination.connection_mode {value} is not CLOUD, DEVICE or UNSPECIFIED"
                        )));
                    }
                    stored.connection_mode = mode.to_owned();
                }
                _ => self.apply_config(stored, value)?,
            }
        }
        Ok(())
    }

    fn apply_config(&self, stored: &mut StoredDestination, config: &Value) -> Result<(), ApiError> {
        let entries = config
            .as_array()
            .ok_or_else(|| ApiError::bad_request("destination.config must be a list"))?;
        let prefix = format!("{}/config/", stored.name());
        let entry = self.catalog.get(&stored.slug);
        let mut updates = BTreeMap::new();
        for item in entries {
            let name = item.get("name").and_then(Value::as_str).unwrap_or_default();
            let setting = name.strip_prefix(&prefix).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "config entry name {name:?} must be {prefix}<setting>"
                ))
            })?;
            let schema = entry.and_then(|e| e.setting(setting)).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "unknown setting {setting:?} for destination {}",
                    stored.slug
                ))
            })?;
            let value = item.get("value").cloned().unwrap_or(Value::Null);
            schema
                .check(&value)
                .map_err(|why| ApiError::bad_request(format!("setting {setting:?}: {why}")))?;
            updates.insert(setting.to_owned(), value);
        }
        stored.config.extend(updates);
        Ok(())
    }

    /// The `apiKey` of a destination and the URL to test it against, if both are there.
    pub fn credential_test_target(&self, name: &str) -> Option<(String, String)> {
        let url = self.credential_test_url.clone()?;
        let key = self
            .destinations
            .get(name)?
            .config
            .get("apiKey")?
            .as_str()?
            .to_owned();
        Some((url, key))
    }

    /// Records a credential test's outcome on the destination.
    pub fn record_credential_test(&mut self, name: &str, outcome: String, ok: bool) {
        self.log(
            &format!("credential test of {name}: {outcome}"),
            if ok { 200 } else { 401 },
        );
        if let Some(destination) = self.destinations.get_mut(name) {
            destination.credential_test = Some(outcome);
        }
    }

    // ---- the activity log and the inspector ----------------------------------------------------

    /// Remembers a code, token or verifier for leak checks, keeping the newest ones.
    pub fn saw_secret(&mut self, secret: String) {
        if self.secrets_seen.len() >= SECRETS_SEEN_LEN {
            self.secrets_seen.drain(..SECRETS_SEEN_LEN / 2);
        }
        self.secrets_seen.push(secret);
    }

    pub fn log(&mut self, what: &str, status: u16) {
        if self.activity.len() == ACTIVITY_LEN {
            self.activity.pop_front();
        }
        self.activity.push_back(Activity {
            time: Utc::now().format("%H:%M:%S").to_string(),
            what: what.to_owned(),
            status,
        });
    }

    /// What the inspector shows: everything, with tokens and secret values masked.
    pub fn snapshot(&self) -> Snapshot {
        let installs = self
            .installs
            .values()
            .map(|i| InstallView {
                id: i.id,
                name: i.name(),
                app_name: i.app_name.clone(),
                scope: i.scope.to_string(),
                workspace: format!("workspaces/{}", i.workspace),
                source: i
                    .source
                    .as_ref()
                    .map(|s| format!("workspaces/{}/sources/{}", i.workspace, s)),
                create_time: timestamp(i.create_time),
                tokens_minted: i.tokens_minted,
                tokens: self
                    .tokens
                    .iter()
                    .filter(|(_, t)| t.install_id == i.id)
                    .map(|(token, t)| TokenView {
                        token: mask(token),
                        expires_at: timestamp(t.expires_at),
                        expired: t.expires_at <= Utc::now(),
                    })
                    .collect(),
            })
            .collect();
        let destinations = self
            .destinations
            .values()
            .map(|d| {
                let entry = self.catalog.get(&d.slug);
                let config = d
                    .config
                    .iter()
                    .map(|(setting, value)| {
                        let secret = entry
                            .and_then(|e| e.setting(setting))
                            .is_some_and(|s| s.is_secret());
                        let value = match value {
                            Value::String(s) if secret => mask(s),
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        SettingView {
                            setting: setting.clone(),
                            value,
                        }
                    })
                    .collect();
                DestinationView {
                    name: d.name(),
                    display_name: d.display_name.clone(),
                    enabled: d.enabled,
                    connection_mode: d.connection_mode.clone(),
                    config,
                    update_time: timestamp(d.update_time),
                    credential_test: d.credential_test.clone(),
                }
            })
            .collect();
        Snapshot {
            app: AppView {
                display_name: self.app.display_name.clone(),
                name: self.app.name.clone(),
                client_id: self.app.client_id.clone(),
                client_secret: self.app.client_secret.masked(),
                redirect_uris: self.app.redirect_uris.clone(),
                scope: self.app.scope.to_string(),
            },
            workspaces: self
                .workspaces
                .iter()
                .map(|w| WorkspaceView {
                    name: w.name(),
                    display_name: w.display_name.clone(),
                    owner: w.owner_email.clone(),
                    sources: w.sources.iter().map(|s| w.source_name(&s.slug)).collect(),
                })
                .collect(),
            installs,
            destinations,
            refreshes: self.refreshes,
            api_calls: self.api_calls,
            machine_tokens: self.machine.tokens_issued,
            activity: self.activity.iter().rev().cloned().collect(),
        }
    }
}

/// The S256 PKCE challenge of a verifier (RFC 7636 §4.2).
pub fn pkce_s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn random_token(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    rand::fill(&mut buffer[..]);
    URL_SAFE_NO_PAD.encode(buffer)
}

pub fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

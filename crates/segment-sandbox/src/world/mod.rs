//! The sandbox's in-memory world and its rules: one App, one signed-in workspace owner, one
//! workspace with three sources, the catalog, and whatever the flows create (codes, installs,
//! tokens, destinations).
//!
//! Every rule Segment enforces lives here, as plain functions over [`World`] that return the
//! body or the error Segment would send, so the HTTP layer only translates. Nothing here is
//! shared with the Segment client on purpose: the sandbox reads the wire format on its own,
//! the way Segment would.
//!
//! The rules are split by job: [`oauth`] (consent, codes, installs, install tokens),
//! [`config_api`] (tokens on the Config API, scopes, destinations, the credential test) and
//! [`views`] (what the inspector shows). This file holds the records they share.

mod config_api;
mod delivery;
mod oauth;
mod views;

pub use delivery::MetricsQuery;
pub use views::*;

use std::collections::{BTreeMap, HashMap, VecDeque};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::catalog::Catalog;
use super::scope::Scope;
use crate::redact::Secret;

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
    /// Its OAuth client id.
    pub client_id: String,
    /// Its OAuth client secret.
    pub client_secret: Secret,
    /// What the consent screen calls it.
    pub display_name: String,
    /// `apps/1`
    pub name: String,
    /// The redirect URLs it registered: the only ones a flow may use.
    pub redirect_uris: Vec<String>,
    /// The scope it was created with.
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
    /// The browser it was made for ("A new workspace of my own"); `None`: everyone's.
    pub visitor: Option<Visitor>,
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
            visitor: None,
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
    /// The browser that consented ([`Visitor`]), if a browser did.
    owner: Option<Visitor>,
}

/// A browser at the sandbox, known by its form token (the SHA-256 of it, never the token):
/// what it installs is its own, and the inspector shows it only that in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visitor(String);

impl Visitor {
    pub fn of_token(token: &str) -> Visitor {
        Visitor(crate::pkce_s256(token))
    }
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
    /// The browser that consented; `None` for an install made by a script or a test.
    pub owner: Option<Visitor>,
}

impl Install {
    /// Whether `viewer` may see it in full and act on it: its own, or nobody's (a script's).
    pub fn is_for(&self, viewer: Option<&Visitor>) -> bool {
        self.owner.is_none() || viewer.is_none() || self.owner.as_ref() == viewer
    }
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
    /// Whether the partner's API accepted the key at that test, and when it ran.
    pub key_accepted: Option<bool>,
    pub key_tested_at: Option<DateTime<Utc>>,
    /// What the destination did with its events since when (`sandbox::traffic`).
    pub history: crate::traffic::History,
    /// The install that created it, if an App did: uninstalling the App removes it.
    pub created_by: Option<u64>,
}

/// A destination's full name, as the Config API's paths and bodies spell it.
pub fn destination_name(workspace: &str, source: &str, slug: &str) -> String {
    format!("workspaces/{workspace}/sources/{source}/destinations/{slug}")
}

impl StoredDestination {
    pub fn name(&self) -> String {
        destination_name(&self.workspace, &self.source, &self.slug)
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
    /// Reads (`GET`).
    Read,
    /// Changes (`POST`, `PATCH`, `DELETE`).
    Write,
}

/// What the token endpoint is asked: the form fields of an `authorization_code` grant.
#[derive(Debug, Default)]
pub struct CodeExchange {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
}

/// Everything the sandbox knows: the App, the workspaces, installs, tokens, destinations and the activity log, and the rules that change them.
pub struct World {
    /// The one App.
    pub app: App,
    /// The workspaces the signed-in user owns (Acme, unless more are added).
    pub workspaces: Vec<Workspace>,
    /// The destinations' catalog.
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
    /// The last answers of the delivery metrics endpoints, so tests can compare a page with
    /// what was sent.
    pub metrics_sent: VecDeque<Value>,
    /// How old a credential test may be before reading metrics runs it again.
    pub key_retest_after: Duration,
    /// How many workspaces it keeps at most: a shared demo server runs for days, and anyone
    /// who reaches it may add some (`DEFAULT_MAX_WORKSPACES`).
    pub max_workspaces: usize,
    /// Every call to Segment's endpoints, with its answer (`journal`).
    pub journal: crate::journal::Journal,
    /// Host names the sandbox's pages and control endpoints answer, besides loopback ones
    /// (`forms::host_allowed`): its App's redirect URLs' hosts, and `--allow-host`.
    pub allowed_hosts: Vec<String>,
    /// When set, `GET /oauth2/auth` answers as if the owner had made this choice on the consent
    /// screen, without showing it (the conformance kit's browserless consent).
    pub auto_consent: Option<AutoConsent>,
}

/// A choice on the consent screen, made without showing it ([`World::auto_consent`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutoConsent {
    /// Allow, installing on this workspace (and source, for `destination/<slug>` scopes).
    Allow {
        /// The workspace's slug.
        workspace: String,
        /// The source's slug.
        source: Option<String>,
    },
    /// Deny.
    Deny,
}

/// How many workspaces a sandbox keeps, unless told otherwise (`Sandbox::set_max_workspaces`).
pub const DEFAULT_MAX_WORKSPACES: usize = 500;
/// The longest workspace name the sandbox takes (Segment's own are short).
pub const MAX_NAME_CHARS: usize = 100;

/// Why a workspace was not added.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkspaceRefused {
    #[error("this sandbox already has {0} workspaces, its most: reset it or use one it has")]
    Full(usize),
    #[error("a workspace name is at most {MAX_NAME_CHARS} characters")]
    NameTooLong,
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
    /// A world with `app` registered and the Acme workspace.
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
            metrics_sent: VecDeque::new(),
            key_retest_after: Duration::seconds(2),
            max_workspaces: DEFAULT_MAX_WORKSPACES,
            journal: Default::default(),
            allowed_hosts: Vec::new(),
            auto_consent: None,
        }
    }

    /// Adds a workspace the signed-in user owns, with the demo sources (nothing if it has one
    /// by that slug), within [`World::max_workspaces`] and `MAX_NAME_CHARS`.
    pub fn add_workspace(
        &mut self,
        slug: &str,
        display_name: &str,
    ) -> Result<(), WorkspaceRefused> {
        if display_name.chars().count() > MAX_NAME_CHARS {
            return Err(WorkspaceRefused::NameTooLong);
        }
        if self.workspace(slug).is_some() {
            return Ok(());
        }
        if !self.has_room() {
            return Err(WorkspaceRefused::Full(self.max_workspaces));
        }
        self.workspaces.push(Workspace::seeded(slug, display_name));
        Ok(())
    }

    /// Whether another workspace fits.
    pub fn has_room(&self) -> bool {
        self.workspaces.len() < self.max_workspaces
    }

    /// Makes a workspace for a visitor of a shared demo (`demo-<n>`), and returns its slug.
    pub fn add_visitor_workspace(&mut self, visitor: Visitor) -> Option<String> {
        let n = (1..=self.workspaces.len() + 1)
            .find(|n| self.workspace(&format!("demo-{n}")).is_none())?;
        let slug = format!("demo-{n}");
        let mut workspace = Workspace::seeded(&slug, &format!("Demo workspace {n}"));
        workspace.visitor = Some(visitor);
        self.workspaces.push(workspace);
        self.log(&format!("workspaces/{slug} made for a visitor"), 200);
        Some(slug)
    }

    /// Whether this App is installed on the workspace.
    pub fn is_installed_on(&self, workspace: &str) -> bool {
        self.installs.values().any(|i| i.workspace == workspace)
    }

    /// The workspaces `viewer` may see and install on: everyone's, and its own.
    pub fn workspaces_for<'a>(
        &'a self,
        viewer: &'a Visitor,
    ) -> impl Iterator<Item = &'a Workspace> + 'a {
        self.workspaces
            .iter()
            .filter(move |w| w.visitor.as_ref().is_none_or(|v| v == viewer))
    }

    /// The workspace `slug`, if there is one.
    pub fn workspace(&self, slug: &str) -> Option<&Workspace> {
        self.workspaces.iter().find(|w| w.slug == slug)
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

/// A world whose App has `scope`, for the rules' unit tests.
#[cfg(test)]
pub(crate) fn test_world(scope: &str) -> World {
    let redirect = url::Url::parse("http://localhost:8888/auth/segment/callback").unwrap();
    let scope = Scope::parse(scope).unwrap();
    let slug = match &scope {
        Scope::Destination(slug) => Some(slug.clone()),
        _ => None,
    };
    World::new(
        super::demo_app(&redirect, scope),
        Catalog::load(slug.as_deref()),
    )
}

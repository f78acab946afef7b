//! What handlers are given: each dependency is its own `web::Data<T>` (as in zero-to-production's
//! `startup.rs`), so a handler's signature says what it uses. `startup` registers them all:
//!
//! | `web::Data<…>` | what it is |
//! |---|---|
//! | [`SegmentClient`] | the App's Segment client (its scope, for the home page) |
//! | [`Enable`](super::enable::Enable) | the flow library: installs, and the Config API for them with a fresh install token |
//! | [`Store`] | accounts (and the installs' store, on the same database) |
//! | [`Sessions`](crate::store::Sessions) | where the sessions are (for `/readyz`) |
//! | [`Metrics`](crate::metrics::Metrics) | what `/metrics` shows |
//! | `dyn` [`Login`] | who the partner's user on a request is |
//! | [`Site`] | how the browser reaches the app, and how pages look |
//! | [`Partner`] | the partner's destination, and the key Enable pushes |
//! | [`HealthCache`](super::health::HealthCache) | the destination page's health lines, briefly |
//! | [`DemoClock`] | sandbox mode only: lets time pass for a destination (Monitor's buttons) |
//!
//! Not for: per-request state (the session, the visitor's account), which come as extractors.
//!
//! [`SegmentClient`]: crate::segment::SegmentClient

use std::sync::Arc;

use super::error::WebError;
use super::login::{CurrentAccount, Login};
use super::proxy::TrustedProxies;
use crate::config::Settings;
use crate::secret::Secret;
use crate::segment::DestinationSlug;
use crate::store::Store;

/// How the browser reaches the app, and how its pages look.
#[derive(Debug, Clone)]
pub struct Site {
    /// The app talks to the built-in sandbox (pages show a marker).
    pub sandbox: bool,
    /// The app is served over https (cookies are `Secure`).
    pub https: bool,
    /// Whose `X-Forwarded-*` headers are believed (`TRUSTED_PROXIES`).
    pub trusted_proxies: TrustedProxies,
}

impl Site {
    pub fn new(settings: &Settings) -> Site {
        Site {
            sandbox: settings.mode.is_sandbox(),
            https: settings.redirect_url.scheme() == "https",
            trusted_proxies: settings.trusted_proxies.clone(),
        }
    }

    /// The address of `request`'s client: the connection's peer, or what a trusted proxy says.
    pub fn client_of(&self, request: &actix_web::HttpRequest) -> Option<std::net::IpAddr> {
        super::proxy::client_address(
            request.headers(),
            request.peer_addr().map(|a| a.ip()),
            &self.trusted_proxies,
        )
    }
}

/// The partner's side of Enable: which destination it creates, and the API key it pushes.
pub struct Partner {
    /// The destination's catalog slug (`DESTINATION_SLUG`).
    pub destination_slug: DestinationSlug,
    /// Pushed instead of the account's own key, when set (`DESTINATION_API_KEY`, a demo
    /// override).
    key_override: Option<Secret>,
    login: Arc<dyn Login>,
    store: Store,
    /// The destination's display name ("Airship"), once a catalog or destination read said it:
    /// pages name it so, and by its slug until then. A cache of a catalog fact, not state.
    display_name: std::sync::RwLock<Option<String>>,
}

impl Partner {
    pub fn new(settings: &Settings, login: Arc<dyn Login>, store: Store) -> Partner {
        Partner {
            destination_slug: settings.destination_slug.clone(),
            key_override: settings.destination_api_key.clone(),
            login,
            store,
            display_name: std::sync::RwLock::new(None),
        }
    }

    /// How pages name the destination: its display name once known, else its slug.
    pub fn display_name(&self) -> String {
        self.display_name
            .read()
            .ok()
            .and_then(|name| name.clone())
            .unwrap_or_else(|| self.destination_slug.to_string())
    }

    /// Whether a catalog or destination read has named the destination yet.
    pub fn knows_display_name(&self) -> bool {
        self.display_name.read().is_ok_and(|name| name.is_some())
    }

    /// Remembers the display name a catalog entry or a destination gave (empty is ignored).
    pub fn learn_display_name(&self, name: &str) {
        if name.is_empty() {
            return;
        }
        if let Ok(mut known) = self.display_name.write()
            && known.as_deref() != Some(name)
        {
            *known = Some(name.to_owned());
        }
    }

    /// The key Enable pushes into the destination's API key setting: the demo override if set,
    /// else the visitor's own key, as the login gives it (by default unsealed from the store).
    pub async fn api_key(&self, account: &CurrentAccount) -> Result<Secret, WebError> {
        match &self.key_override {
            Some(key) => Ok(key.clone()),
            None => self.login.api_key(&self.store, account).await,
        }
    }

    /// Enable pushes the demo override, not the accounts' own keys.
    pub fn pushes_override(&self) -> bool {
        self.key_override.is_some()
    }

    /// The demo override (`DESTINATION_API_KEY`), if set.
    pub fn override_key(&self) -> Option<&Secret> {
        self.key_override.as_ref()
    }
}

/// Sandbox mode only: moves the sandbox's record of a destination's deliveries into the past,
/// as if time had passed (the Monitor page's "An hour later", "A day later" and "A week later",
/// which the sandbox inspector also has). Registered only when the sandbox is mounted; the web
/// layer knows it as this function, not as the sandbox.
#[derive(Clone)]
pub struct DemoClock(pub Arc<PassTime>);

/// Lets a duration pass for the destination of that full name; false if there is none.
pub type PassTime = dyn Fn(&str, chrono::Duration) -> bool + Send + Sync;

impl DemoClock {
    /// Lets `by` pass for the destination named `name` (its full name); false if the sandbox
    /// has no such destination.
    pub fn pass(&self, name: &str, by: chrono::Duration) -> bool {
        (self.0)(name, by)
    }
}

//! A stand-in for Segment's identity service and Config API, for "Enable with Segment" apps:
//! in memory, serving Segment's paths, so a partner app works with no Segment account and no
//! network.
//!
//! - `world` holds the state and every rule Segment enforces (scopes, codes, tokens, bodies).
//! - `identity` is `/oauth2/auth` (with the consent page) and `/oauth2/token`.
//! - `config_api` is `/v1beta/...`.
//! - `inspector` is the page at the sandbox's root that shows what each click did; `/faults`
//!   arms failures; `POST /reset` starts the world over.
//!
//! Three ways to run it:
//! - mounted in an actix-web app ([`scope`]), as the partner app does under `/sandbox`;
//! - on a listener of its own ([`serve`]), as in the example below;
//! - as the `segment-sandbox` binary, from any project's tests (as stripe-mock is run):
//!   `segment-sandbox --port 0` prints its base URL as the first line of standard output
//!   ([`process::Process`] starts it so from a Rust test).
//!
//! It shares no code with the `segment-client` crate it stands in front of, so that the two can
//! disagree and a test catches it.
//!
//! # Example
//!
//! ```
//! use segment_sandbox::{Sandbox, Scope, demo_app, serve};
//!
//! actix_web::rt::System::new().block_on(async {
//!     let redirect = url::Url::parse("http://127.0.0.1:8080/auth/segment/callback").unwrap();
//!     let scope = Scope::parse("destination/clearbrain").unwrap();
//!     let sandbox = Sandbox::new(demo_app(&redirect, scope), "");
//!     let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
//!     let base = format!("http://{}", listener.local_addr().unwrap());
//!     let server = serve(sandbox, listener).unwrap();
//!     let handle = server.handle();
//!     actix_web::rt::spawn(server);
//!     // Segment's consent screen, as a browser is sent to it.
//!     let consent = reqwest::get(format!(
//!         "{base}/oauth2/auth?response_type=code&client_id={}&redirect_uri={redirect}\
//!          &scope=destination/clearbrain&state=s1",
//!         segment_sandbox::CLIENT_ID
//!     ))
//!     .await
//!     .unwrap();
//!     assert_eq!(consent.status(), 200);
//!     handle.stop(true).await;
//! });
//! ```

#![deny(missing_docs)]

mod catalog;
mod config_api;
pub mod conform;
pub mod faults;
mod forms;
mod identity;
mod inspector;
pub mod journal;
mod machine;
pub mod process;
mod redact;
mod scope;
pub mod standalone;
pub mod traffic;
mod world;

use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard};

use actix_web::dev::{Server, Service};
use actix_web::{App as ActixApp, HttpServer, web};
use url::Url;

pub use catalog::Catalog;
pub use redact::Secret;
pub use scope::Scope;
pub use world::{Access, App, AutoConsent, Snapshot, World, pkce_s256};

/// The sandbox App's credentials; the app uses them in sandbox mode.
pub const CLIENT_ID: &str = "sandbox-partner-app";
/// See [`CLIENT_ID`].
pub const CLIENT_SECRET: &str = "sandbox-client-secret";

/// The sandbox: its world behind a lock, and the path it is mounted at.
pub struct Sandbox {
    /// `""` when it has a server of its own, `"/sandbox"` when mounted in the app.
    base_path: String,
    /// Served over https: mounted in an app whose redirect URL is https. (On a server of its
    /// own it speaks plain http.) Its form-token cookie is `Secure` then.
    https: bool,
    world: Mutex<World>,
    /// For the credential tests it makes against the partner's API.
    http: reqwest::Client,
    /// Whether calls are recorded in the journal: from the first [`Sandbox::journal_mark`] on,
    /// so that a sandbox nobody reads the journal of (the demo's) spends nothing on it.
    journaling: std::sync::atomic::AtomicBool,
}

impl Sandbox {
    /// A sandbox whose one App has `app`'s registration, with the catalog (plus an entry for the
    /// App's destination if the catalog lacks it).
    pub fn new(app: App, base_path: &str) -> Arc<Sandbox> {
        let extra_slug = match &app.scope {
            Scope::Destination(slug) => Some(slug.clone()),
            _ => None,
        };
        let catalog = Catalog::load(extra_slug.as_deref());
        let base_path = base_path.trim_end_matches('/').to_owned();
        let https = !base_path.is_empty()
            && !app.redirect_uris.is_empty()
            && app
                .redirect_uris
                .iter()
                .all(|uri| uri.starts_with("https://"));
        let mut world = World::new(app, catalog);
        // Mounted in an app, the sandbox is reached on the app's host name.
        world.allowed_hosts = world
            .app
            .redirect_uris
            .iter()
            .filter_map(|uri| Url::parse(uri).ok()?.host_str().map(str::to_owned))
            .collect();
        Arc::new(Sandbox {
            base_path,
            https,
            world: Mutex::new(world),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            journaling: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The world, for one short, synchronous look or change. A panic while it was held (there
    /// should be none) does not make the sandbox unusable.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Makes new tokens live `seconds` (Segment: 3599), to show and test what expiry does.
    pub fn set_token_lifetime(&self, seconds: i64) {
        self.world().token_lifetime_secs = seconds;
    }

    /// Adds a workspace the signed-in user owns (with the demo sources), e.g. one per client
    /// in a load test, since an App installs once per workspace.
    pub fn add_workspace(
        &self,
        slug: &str,
        display_name: &str,
    ) -> Result<(), world::WorkspaceRefused> {
        self.world().add_workspace(slug, display_name)
    }

    /// Forgets every install, token, destination, workspace added, fault and log line: the
    /// world as it started, with the same App, limits and credential test address.
    pub fn reset(&self) {
        let mut world = self.world();
        let mut fresh = World::new(world.app.clone(), world.catalog.clone());
        fresh.credential_test_url = world.credential_test_url.take();
        fresh.max_workspaces = world.max_workspaces;
        fresh.allowed_hosts = std::mem::take(&mut world.allowed_hosts);
        *world = fresh;
        world.log("the sandbox was reset", 200);
    }

    /// Lets the sandbox's pages and control endpoints answer on the host name `host` too
    /// (besides loopback names and its App's redirect URLs' hosts).
    pub fn allow_host(&self, host: &str) {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let mut world = self.world();
        if !world.allowed_hosts.contains(&host) {
            world.allowed_hosts.push(host);
        }
    }

    /// How many workspaces it keeps at most (`DEFAULT_MAX_WORKSPACES`, 500, unless set here:
    /// a load test that makes one per customer needs more).
    pub fn set_max_workspaces(&self, max: usize) {
        self.world().max_workspaces = max;
    }

    /// Every code and token the sandbox issued and every PKCE verifier it received.
    pub fn secrets_seen(&self) -> Vec<String> {
        self.world().secrets_seen.clone()
    }

    /// Where credential tests go: the partner API's `GET /api/v1/me` (in sandbox mode, this
    /// app's own). Unset: no credential tests.
    pub fn set_credential_test_url(&self, url: &str) {
        self.world().credential_test_url = Some(url.to_owned());
    }

    /// Moves a destination's delivery history `by` into the past, as if that much time had
    /// passed (a week of traffic for a demo, or minutes of 401s for a test).
    /// The display name of a destination in the sandbox's catalog (a slug it does not know is
    /// its own display name, as the catalog serves it).
    pub fn catalog_display_name(&self, slug: &str) -> Option<String> {
        let world = self.world();
        let entry = world.catalog.get(slug)?;
        Some(entry.display_name.clone())
    }

    /// Lets time pass for the destination `name`: its traffic moves `by` into the past (Monitor's "An hour later"). `false` if there is no such destination.
    pub fn age_destination(&self, name: &str, by: chrono::Duration) -> bool {
        let mut world = self.world();
        let aged = world.age_history(name, by).is_ok();
        if aged {
            world.log(
                &format!(
                    "delivery history of {name} moved {} minutes back",
                    by.num_minutes()
                ),
                200,
            );
        }
        aged
    }

    /// The last answers of the delivery metrics endpoints, oldest first.
    pub fn metrics_sent(&self) -> Vec<serde_json::Value> {
        self.world().metrics_sent.iter().cloned().collect()
    }

    /// How old a credential test may be before a metrics read runs it again (2 s by default).
    pub fn set_key_retest_after(&self, after: chrono::Duration) {
        self.world().key_retest_after = after;
    }

    /// A link inside the sandbox.
    fn path(&self, path: &str) -> String {
        format!("{}{}", self.base_path, path)
    }
}

/// The sandbox App registered for this app: the app's redirect URL and scope.
pub fn demo_app(redirect_url: &Url, scope: Scope) -> App {
    App {
        client_id: CLIENT_ID.to_owned(),
        client_secret: Secret::new(CLIENT_SECRET),
        display_name: "Partner App (sandbox)".to_owned(),
        name: "apps/1".to_owned(),
        redirect_uris: vec![redirect_url.to_string()],
        scope,
    }
}

/// The Content-Security-Policy of the sandbox's pages: nothing but their own origin, except that
/// a form may go on to the App's redirect URIs (the consent form's answer redirects there; a
/// browser checks `form-action` on that redirect too).
fn content_security_policy(redirect_uris: &[String]) -> String {
    let origins: Vec<String> = redirect_uris
        .iter()
        .filter_map(|uri| Url::parse(uri).ok())
        .map(|uri| uri.origin().ascii_serialization())
        .collect();
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         form-action 'self' {}; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
        origins.join(" ")
    )
}

/// The sandbox's routes, under its base path.
pub fn scope(sandbox: Arc<Sandbox>) -> impl actix_web::dev::HttpServiceFactory + use<> {
    let prefix = sandbox.base_path.clone();
    let armed = sandbox.clone();
    let base = prefix.clone();
    let policy = content_security_policy(&sandbox.world().app.redirect_uris);
    web::scope(&prefix)
        // Its own pages' policy: like the app's, and its forms may lead back to the App's
        // redirect URI (Allow and Deny redirect there), wherever the sandbox is served.
        .wrap(actix_web::middleware::DefaultHeaders::new().add(("Content-Security-Policy", policy)))
        .app_data(web::Data::from(sandbox))
        // Its forms carry a token, its control endpoints refuse cross-site calls (`forms`).
        .wrap(actix_web::middleware::from_fn(move |request, next| {
            forms::guard(request, next, base.clone())
        }))
        // Plays armed faults (see `faults`) before the endpoint runs, and records every call
        // to Segment's endpoints with its answer (see `journal`).
        .wrap_fn(move |request, service| {
            let arrival = journal::Arrival::of(&armed, &request);
            let fault = armed.take_fault(request.method(), request.match_info().as_str());
            let outcome = match fault {
                Some(kind) if kind.delay().is_none() => {
                    Err(request.into_response(faults::response(kind)))
                }
                _ => Ok(service.call(request)),
            };
            let sandbox = armed.clone();
            async move {
                let response = match outcome {
                    Err(answer) => answer,
                    Ok(call) => {
                        if let Some(delay) = fault.and_then(faults::FaultKind::delay) {
                            tokio::time::sleep(delay).await;
                        }
                        call.await?
                    }
                };
                if let Some(arrival) = arrival {
                    let exchange = response.response().extensions().get().cloned();
                    let status = response.status().as_u16();
                    sandbox
                        .world()
                        .journal
                        .record(arrival, status, fault, exchange);
                }
                Ok(response)
            }
        })
        .configure(identity::routes)
        .configure(config_api::routes)
        .configure(inspector::routes)
        .configure(faults::routes)
        .configure(machine::routes)
}

/// Runs the sandbox alone on `listener`, at its root.
pub fn serve(sandbox: Arc<Sandbox>, listener: TcpListener) -> std::io::Result<Server> {
    let server = HttpServer::new(move || ActixApp::new().service(scope(sandbox.clone())))
        .workers(1)
        .listen(listener)?
        .run();
    Ok(server)
}

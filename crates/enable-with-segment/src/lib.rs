//! "Enable with Segment" for any actix-web app: your customers connect your destination to
//! their Segment workspace in a few clicks, and your app then enables, disables and reads that
//! destination for them.
//!
//! The library brings the install flow (a start route and Segment's callback: PKCE, a single-use
//! `state` bound to the browser), the installs (a store on SQLite or Postgres, or yours), and
//! the Config API for an install with a token that works (refreshed once across all your
//! instances). What stays yours: who is signed in ([`Users`]), your pages ([`Hooks`], with
//! plain defaults), your API key. The Segment client is re-exported as [`segment`].
//!
//! # 1. Mount the flow
//!
//! Tell the library who is signed in, give it a store, and mount its two routes. The App's
//! settings come from the environment (`CLIENT_ID`, `CLIENT_SECRET`, `REDIRECT_URL`, and
//! `SEGMENT_ID_URL` / `SEGMENT_API_URL` to point it at the `segment-sandbox`):
//!
//! ```no_run
//! use actix_session::{SessionExt, SessionMiddleware, storage::CookieSessionStore};
//! use actix_web::{App, HttpRequest, HttpServer, cookie::Key};
//! use enable_with_segment::segment::AppSettings;
//! use enable_with_segment::sql::{SealKey, SqlStore};
//! use enable_with_segment::{EnableWithSegment, Users};
//!
//! /// Your users: here, the name your login put in the session.
//! struct SessionUsers;
//!
//! impl Users for SessionUsers {
//!     type Id = String;
//!     type Error = actix_session::SessionGetError;
//!     async fn signed_in(&self, request: &HttpRequest) -> Result<Option<String>, Self::Error> {
//!         request.get_session().get("user")
//!     }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let settings = AppSettings::from_env()?;
//! let key = Key::generate(); // load yours: it seals the flow's cookie and the stored tokens
//! let store = SqlStore::connect("sqlite://data/installs.db", &SealKey::derive_from(&key)).await?;
//! let enable = EnableWithSegment::new(settings.client()?, store, SessionUsers, key.clone());
//! HttpServer::new(move || {
//!     App::new()
//!         .wrap(SessionMiddleware::new(CookieSessionStore::default(), key.clone()))
//!         .configure(|cfg| enable.configure(cfg))
//! })
//! .bind(("127.0.0.1", 8080))?
//! .run()
//! .await?;
//! # Ok(())
//! # }
//! ```
//!
//! A link to the start route (`/auth/segment` for the redirect URL
//! `…/auth/segment/callback`: the redirect URL's folder) sends the customer to Segment's
//! consent screen; Segment sends them back to the callback, where the install is stored for the
//! user who started, and the browser lands on `/` ([`Builder::landing`]), or on the start
//! route's `return_to` (a path on your site, say `/auth/segment?return_to=/settings`).
//!
//! - **In a `web::scope`**: routes in a scope are relative to it, and Segment calls the
//!   redirect URL's full path, so tell the builder where: `.scope_path("/integrations/segment")`,
//!   then `web::scope("/integrations/segment").configure(|cfg| enable.configure(cfg))`
//!   ([`Builder::scope_path`]).
//! - **One host name**: the flow's cookie, like your login's, belongs to the host the browser
//!   used, and Segment sends the browser back to the redirect URL's host. A browser that starts
//!   on `127.0.0.1` while the redirect URL says `localhost` is moved there first (logged), and
//!   a user whose login cookie stayed behind is told to sign in there
//!   ([`FlowError::SignInOnCallbackHost`]). Serve and open your app on the redirect URL's host.
//! - **Your pages**: [`Hooks`] (before the start, before the install is kept, installed,
//!   failed), with a plain default for each ([`PlainPages`]). Every failure is a [`FlowError`]
//!   of its own: denial, Segment's error, "already installed", a replayed or tampered callback,
//!   your store's or login's own error (as its own type, no downcasting).
//!
//! # 2. Keep the installs
//!
//! [`sql::SqlStore`] (the `sqlite` and `postgres` features) keeps them in a table of its own,
//! `segment_installs`, keyed by your user id as its `Display` writes it, with its migrations
//! recorded apart from yours; it opens its own pool ([`sql::SqlStore::connect`]) or takes yours
//! ([`sql::SqlStore::new`], then [`sql::SqlStore::migrate`]). Tokens are sealed at rest.
//! [`MemoryStore`] keeps them in memory, for tests. Your own store implements [`InstallStore`]
//! and proves it keeps the rules with [`contract::check`].
//!
//! A user's installs are [`EnableWithSegment::installs`]: connected or not, refused or not, most
//! recently used first.
//!
//! # 3. Enable, disable, remove, read
//!
//! One call each on the user's install ([`ConfigApi`]), with your destination's slug
//! (`DESTINATION_SLUG`) and your API key for this customer:
//!
//! ```no_run
//! # use enable_with_segment::{EnableWithSegment, CallError, Users};
//! # use enable_with_segment::segment::DestinationSlug;
//! # use enable_with_segment::sql::SqlStore;
//! # async fn enable<U: Users<Id = String>>(
//! #     enable: &EnableWithSegment<SqlStore, U>,
//! #     user: String,
//! #     slug: DestinationSlug,
//! #     api_key: &str,
//! # ) -> Result<(), CallError<enable_with_segment::sql::Error>> {
//! if let Some(mut api) = enable.config_api(&user).await? {
//!     let enabled = api.enable_destination(&slug, Some(api_key)).await?;
//!     if !enabled.missing.is_empty() {
//!         // Required settings with no value: the key is in, the destination stays off.
//!     }
//!     let status = api.destination_status(&slug).await?; // Not created, Enabled, Disabled
//!     println!("{} on {:?}", status.label(), api.install().source());
//!     api.disable_destination(&slug).await?;
//!     api.remove_destination(&slug).await?;
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Each refreshes the install's token first if it is about to expire, and once more if Segment
//! refuses it; [`ConfigApi::call`] does the same for any other call of the [`segment`] client.
//! A handler may return a [`CallError`] with `?` (it is an actix-web `ResponseError`).
//!
//! # 4. From a background job
//!
//! Every future is `Send`: a job on `tokio::spawn` needs no request and no session.
//!
//! ```no_run
//! # use enable_with_segment::{EnableWithSegment, Users};
//! # use enable_with_segment::segment::DestinationSlug;
//! # use enable_with_segment::sql::SqlStore;
//! # fn job<U: Users<Id = String>>(enable: EnableWithSegment<SqlStore, U>, slug: DestinationSlug) {
//! tokio::spawn(async move {
//!     for user in ["ann".to_owned(), "bob".to_owned()] {
//!         match enable.config_api(&user).await {
//!             Ok(Some(mut api)) => {
//!                 let status = api.destination_status(&slug).await;
//!                 tracing::info!(%user, ?status, "destination checked");
//!             }
//!             Ok(None) => {} // not connected (or refused: see below)
//!             Err(error) => tracing::warn!(%user, %error, "the install store failed"),
//!         }
//!     }
//! });
//! # }
//! ```
//!
//! Refreshes take turns: however many requests and jobs on however many instances find a
//! token stale at once, one refreshes and the others use its token (the store's refresh
//! lease).
//!
//! # 5. Uninstall
//!
//! [`EnableWithSegment::uninstall`] is your "Disconnect" button: it forgets the install here
//! (no token kept, no call made for it). The App stays installed on the workspace in Segment,
//! and its destination keeps running, until a workspace owner removes the App there. Segment
//! installs an App once per workspace, so connecting that workspace again meets "already
//! installed" ([`FlowError::AlreadyInstalled`]): the install is still listed as the user's
//! (disconnected), and [`EnableWithSegment::reconnect`] takes it back.
//!
//! # Refused installs
//!
//! When Segment will not mint a token for an install (the App was uninstalled from the
//! workspace, or your `CLIENT_ID` / `CLIENT_SECRET` are wrong), the install is kept and marked
//! ([`Install::refused`]): a mistyped secret must not wipe your customers' installs. The one
//! rule that follows: **a background job never calls Segment for a refused install**
//! ([`EnableWithSegment::config_api`] skips it), while **your page that names it tries again,
//! once per call** ([`EnableWithSegment::config_api_with`]), so that fixing the secret heals it
//! at the next page view. A new install of the workspace replaces it.

#![deny(missing_docs)]

mod api;
pub mod contract;
mod cookie;
mod destination;
mod error;
mod flow;
mod hooks;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub mod sql;
mod store;
mod users;

use std::sync::Arc;

use actix_web::cookie::Key;
use actix_web::{HttpRequest, web};

pub use api::{ConfigApi, REFRESH_LEASE, REFRESH_MARGIN};
pub use cookie::FLOW_LIFETIME;
pub use destination::{DestinationStatus, Enabled};
pub use error::{CallError, FlowError, FlowErrorOf};
pub use hooks::{Event, FlowOutcome, Hooks, PlainPages, RefreshOutcome};
pub use segment_client as segment;
pub use store::{Install, InstallStore, MemoryStore, Refusal, Saved};
pub use users::{NewUser, Users};

use api::Turns;
use cookie::FlowCookie;
use segment_client::SegmentClient;

/// Enable with Segment, mounted on your app: the flow's two routes
/// ([`EnableWithSegment::configure`]), your users' installs, and the Config API for them
/// ([`EnableWithSegment::config_api`]). Cheap to clone: clones share everything.
pub struct EnableWithSegment<S, U, H = PlainPages> {
    inner: Arc<Inner<S, U, H>>,
}

impl<S, U, H> Clone for EnableWithSegment<S, U, H> {
    fn clone(&self) -> Self {
        EnableWithSegment {
            inner: self.inner.clone(),
        }
    }
}

struct Inner<S, U, H> {
    segment: SegmentClient,
    store: S,
    users: U,
    hooks: H,
    start_path: String,
    callback_path: String,
    /// The path of the `web::scope` the routes are mounted in, if any.
    scope_path: Option<String>,
    landing: String,
    cookie: FlowCookie,
    /// `scheme://host[:port]` of the redirect URL, when a browser on another origin is moved
    /// there before the flow starts.
    callback_origin: Option<String>,
    turns: Turns,
}

/// The default start route: the redirect URL's folder (`/auth/segment` for
/// `…/auth/segment/callback`), or `/auth/segment` if that is the site's root.
fn default_start_path(callback_path: &str) -> String {
    match callback_path.rsplit_once('/') {
        Some((folder, _)) if !folder.is_empty() => folder.to_owned(),
        _ => "/auth/segment".to_owned(),
    }
}

impl<S, U> EnableWithSegment<S, U, PlainPages>
where
    U: Users,
    S: InstallStore<U::Id>,
{
    /// The flow with every default: see [`EnableWithSegment::builder`].
    pub fn new(segment: SegmentClient, store: S, users: U, cookie_key: Key) -> Self {
        Self::builder(segment, store, users, cookie_key).build()
    }

    /// The flow for `segment`'s App, storing installs in `store` for the user `users` names,
    /// with the flow's cookie sealed by `cookie_key` (keep it across restarts and share it
    /// between instances; `Key::generate()` for one process). By default the callback is the
    /// path of the App's redirect URL, the start route its folder (`/auth/segment` for
    /// `…/auth/segment/callback`), and a finished install lands on `/`.
    pub fn builder(segment: SegmentClient, store: S, users: U, cookie_key: Key) -> Builder<S, U> {
        let redirect = &segment.app().redirect_url;
        let https = redirect.scheme() == "https";
        let callback_path = redirect.path().to_owned();
        let callback_origin = Some(redirect.origin().ascii_serialization());
        Builder(Inner {
            segment,
            store,
            users,
            hooks: PlainPages,
            start_path: default_start_path(&callback_path),
            callback_path,
            scope_path: None,
            landing: "/".to_owned(),
            cookie: FlowCookie::new("segment_flow", cookie_key, https),
            callback_origin,
            turns: Turns::default(),
        })
    }
}

/// The settings of an [`EnableWithSegment`], each with a default:
/// [`EnableWithSegment::builder`], then [`Builder::build`].
pub struct Builder<S, U, H = PlainPages>(Inner<S, U, H>);

impl<S, U, H> Builder<S, U, H> {
    /// Your hooks instead of [`PlainPages`].
    pub fn hooks<H2>(self, hooks: H2) -> Builder<S, U, H2> {
        let inner = self.0;
        Builder(Inner {
            segment: inner.segment,
            store: inner.store,
            users: inner.users,
            hooks,
            start_path: inner.start_path,
            callback_path: inner.callback_path,
            scope_path: inner.scope_path,
            landing: inner.landing,
            cookie: inner.cookie,
            callback_origin: inner.callback_origin,
            turns: inner.turns,
        })
    }

    /// The start route's full path (default: the redirect URL's folder). The callback's path
    /// is always the App's redirect URL's.
    pub fn start_path(mut self, path: &str) -> Self {
        self.0.start_path = path.to_owned();
        self
    }

    /// The path of the `web::scope` you mount the routes in with
    /// [`EnableWithSegment::configure`] (default: none, the `App` itself). Routes in a scope
    /// are relative to it, and Segment calls the redirect URL's full path: with
    /// `.scope_path("/integrations/segment")`, the routes are registered as the rest of their
    /// full paths, so that `web::scope("/integrations/segment").configure(|cfg|
    /// enable.configure(cfg))` serves `/integrations/segment` and
    /// `/integrations/segment/callback`. Both paths must be under it.
    pub fn scope_path(mut self, path: &str) -> Self {
        self.0.scope_path = Some(path.trim_end_matches('/').to_owned());
        self
    }

    /// Where a finished install lands (default `/`) when the start route was given no
    /// `return_to`: the default [`Hooks::installed`] redirects there.
    pub fn landing(mut self, url: &str) -> Self {
        self.0.landing = url.to_owned();
        self
    }

    /// The flow cookie's name (default `segment_flow`; `__Host-` is put before it over
    /// https).
    pub fn cookie_name(mut self, name: &str) -> Self {
        let cookie = &self.0.cookie;
        self.0.cookie = FlowCookie::new(name, cookie.key.clone(), cookie.https);
        self
    }

    /// Whether a browser that opened the start route on another origin than the redirect
    /// URL's is sent there first (default: on). The flow's cookie belongs to the host the
    /// browser used, and Segment sends the browser back to the redirect URL's host: without
    /// the move, a browser on `127.0.0.1` would come back to `localhost` without it. The move
    /// is logged; your login's cookie does not follow it either, so a user signed in on
    /// `127.0.0.1` arrives signed out and is told to sign in on the redirect URL's host
    /// ([`FlowError::SignInOnCallbackHost`]). Serve and open your app there. Which origin the
    /// browser used is [`Hooks::browser_origin`]'s to say.
    pub fn move_to_callback_host(mut self, on: bool) -> Self {
        let redirect = &self.0.segment.app().redirect_url;
        self.0.callback_origin = on.then(|| redirect.origin().ascii_serialization());
        self
    }

    /// The flow, ready to mount.
    pub fn build(self) -> EnableWithSegment<S, U, H> {
        EnableWithSegment {
            inner: Arc::new(self.0),
        }
    }
}

impl<S, U, H> EnableWithSegment<S, U, H> {
    /// The Segment client the flow uses.
    pub fn segment(&self) -> &SegmentClient {
        &self.inner.segment
    }

    /// The install store.
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// The start route's full path.
    pub fn start_path(&self) -> &str {
        &self.inner.start_path
    }

    /// The callback's full path (the redirect URL's).
    pub fn callback_path(&self) -> &str {
        &self.inner.callback_path
    }

    /// Where a finished install lands when the start route was given no `return_to`.
    pub fn landing(&self) -> &str {
        &self.inner.landing
    }

    /// `path` as routes see it: without the scope's path, if the routes are in one.
    fn route_path<'p>(&self, path: &'p str) -> &'p str {
        let Some(scope) = &self.inner.scope_path else {
            return path;
        };
        match path.strip_prefix(scope.as_str()) {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
            _ => {
                tracing::error!(
                    path,
                    scope,
                    "a route of Enable with Segment is not under the scope path it was given: it \
                     answers only if the scope is where it is mounted"
                );
                path
            }
        }
    }
}

impl<S, U, H> EnableWithSegment<S, U, H>
where
    U: Users,
    S: InstallStore<U::Id>,
    H: Hooks<U, S>,
{
    /// Mounts the start route and the callback (`GET`): on your `App`,
    /// `App::new().configure(|cfg| enable.configure(cfg))`, or in a `web::scope` whose path you
    /// gave the builder ([`Builder::scope_path`]).
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        let start = self.clone();
        let callback = self.clone();
        cfg.route(
            self.route_path(&self.inner.start_path),
            web::get().to(move |request: HttpRequest| {
                let enable = start.clone();
                async move { enable.start(&request).await }
            }),
        )
        .route(
            self.route_path(&self.inner.callback_path),
            web::get().to(move |request: HttpRequest| {
                let enable = callback.clone();
                async move { enable.callback(&request).await }
            }),
        );
    }
}

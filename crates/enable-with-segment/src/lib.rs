//! "Enable with Segment" for any actix-web app.
//!
//! One call mounts the install flow on your `App`: a start route that sends the customer to
//! Segment's consent screen, and the callback Segment sends them back to, where the code
//! becomes an install token stored for your signed-in user. The flow's `state` and PKCE
//! verifier ride in a sealed, single-use cookie bound to the browser, so the flow works across
//! instances and behind proxies with nothing shared; a denial, a provider error, "install
//! already exists" and a tampered or replayed callback each arrive at your failure hook as
//! their own [`FlowError`].
//!
//! The library is generic over what is yours:
//! - who is signed in: [`Users`] (the library never makes accounts);
//! - where installs live: [`InstallStore`] (save, fetch, delete, and an optional refresh lease
//!   so that a token is refreshed once across all your instances); [`MemoryStore`] for tests;
//! - what the customer sees: [`Hooks`] (before start, before save, installed, failed), with
//!   plain defaults ([`PlainPages`]) that carry no branding.
//!
//! A background job gets a Config API client for a user's install with
//! [`EnableWithSegment::config_api`]: no request, no session.
//!
//! The Segment side (identity service, Config API) is the `segment-client` crate, re-exported
//! here as [`segment`].
//!
//! # Example
//!
//! ```no_run
//! use actix_web::{App, HttpRequest, HttpServer, cookie::Key};
//! use enable_with_segment::{EnableWithSegment, MemoryStore, UserError, Users};
//! use enable_with_segment::segment::{AppCredentials, Limits, SegmentClient, SegmentScope, SegmentUrls};
//! use enable_with_segment::segment::secret::ClientSecret;
//!
//! /// Everyone is user 1 in this example; yours reads your own session.
//! struct OneUser;
//!
//! impl Users for OneUser {
//!     type Id = u64;
//!     async fn signed_in(&self, _request: &HttpRequest) -> Result<Option<u64>, UserError> {
//!         Ok(Some(1))
//!     }
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let url = |s: &str| url::Url::parse(s).unwrap();
//! let segment = SegmentClient::new(
//!     segment_client::http_client(&Limits::default())?,
//!     SegmentUrls {
//!         authorize_base: url("https://id.segmentapis.com"),
//!         token_base: url("https://id.segmentapis.com"),
//!         api_base: url("https://platform.segmentapis.com"),
//!     },
//!     AppCredentials {
//!         client_id: "your-client-id".into(),
//!         client_secret: ClientSecret::new("your-client-secret"),
//!         redirect_url: url("http://localhost:8080/auth/segment/callback"),
//!         scope: SegmentScope::parse("destination/your-destination")?,
//!         pkce: true,
//!     },
//!     &Limits::default(),
//! );
//! let enable = EnableWithSegment::builder(segment, MemoryStore::default(), OneUser, Key::generate())
//!     .landing("/connected")
//!     .build();
//! HttpServer::new(move || App::new().configure(|cfg| enable.configure(cfg)))
//!     .bind(("127.0.0.1", 8080))?
//!     .run()
//!     .await?;
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

mod cookie;
mod error;
mod flow;
mod hooks;
mod store;
mod tokens;
mod users;

use std::sync::Arc;

use actix_web::cookie::Key;
use actix_web::{HttpRequest, web};

pub use cookie::FLOW_LIFETIME;
pub use error::{FlowError, StoreError, TokenError};
pub use hooks::{Event, Hooks, PlainPages};
pub use segment_client as segment;
pub use store::{InstallStore, MemoryStore};
pub use tokens::{ConfigApi, REFRESH_LEASE, REFRESH_MARGIN};
pub use users::{UserError, Users};

use cookie::FlowCookie;
use segment_client::SegmentClient;
use tokens::Turns;

/// Enable with Segment, mounted on your app: the flow's two routes
/// ([`EnableWithSegment::configure`]) and tokens for stored installs
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
    landing: String,
    cookie: FlowCookie,
    /// `scheme://host[:port]` of the redirect URL, when a browser on another host is moved
    /// there before the flow starts.
    callback_origin: Option<String>,
    turns: Turns,
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
    /// between instances; `Key::generate()` for one process). By default the start route is
    /// `/auth/segment`, the callback the path of the App's redirect URL, and a finished install
    /// lands on `/`.
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
            start_path: "/auth/segment".to_owned(),
            callback_path,
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
            landing: inner.landing,
            cookie: inner.cookie,
            callback_origin: inner.callback_origin,
            turns: inner.turns,
        })
    }

    /// The start route's path (default `/auth/segment`): under a prefix such as
    /// `/integrations/segment`, say. The callback's path is always the App's redirect URL's.
    pub fn start_path(mut self, path: &str) -> Self {
        self.0.start_path = path.to_owned();
        self
    }

    /// Where a finished install lands (default `/`): the default [`Hooks::installed`]
    /// redirects there.
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

    /// Whether a browser that opened the start route on another host than the redirect URL's
    /// (`localhost` against `127.0.0.1`) is sent there first, judged by its `Host` header
    /// (default: on). Turn it off when a proxy rewrites `Host` and your
    /// [`Hooks::before_start`] moves the browser itself.
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

    /// The start route's path.
    pub fn start_path(&self) -> &str {
        &self.inner.start_path
    }

    /// The callback's path (the redirect URL's).
    pub fn callback_path(&self) -> &str {
        &self.inner.callback_path
    }

    /// Where a finished install lands.
    pub fn landing(&self) -> &str {
        &self.inner.landing
    }
}

impl<S, U, H> EnableWithSegment<S, U, H>
where
    U: Users,
    S: InstallStore<U::Id>,
    H: Hooks<U::Id>,
{
    /// Mounts the start route and the callback (`GET`) on an `App` or scope:
    /// `App::new().configure(|cfg| enable.configure(cfg))`.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        let start = self.clone();
        let callback = self.clone();
        cfg.route(
            &self.inner.start_path,
            web::get().to(move |request: HttpRequest| {
                let enable = start.clone();
                async move { enable.start(&request).await }
            }),
        )
        .route(
            &self.inner.callback_path,
            web::get().to(move |request: HttpRequest| {
                let enable = callback.clone();
                async move { enable.callback(&request).await }
            }),
        );
    }
}

#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

mod advice;
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

pub use advice::Advice;
pub use api::{ConfigApi, REFRESH_LEASE, REFRESH_MARGIN, refresh_lease};
pub use cookie::{FLOW_LIFETIME, SealedCookies, cookie_name, site_cookie};
pub use destination::{DestinationStatus, Enabled};
pub use error::{CallError, FlowError, FlowErrorOf};
pub use hooks::{Event, FlowOutcome, Hooks, PlainPages, RefreshOutcome};
#[doc(inline)]
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
        self.0.cookie = FlowCookie::new(name, cookie.sealed.key.clone(), cookie.sealed.https);
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

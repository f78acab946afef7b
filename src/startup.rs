//! Builds the running app from [`Settings`]: binds the listener (port 0 in tests), creates the
//! HTTP clients (one per thread) and the Segment client, mounts the sandbox in sandbox mode, and wires the
//! middleware. `main` only loads settings and awaits [`Application::run_until_stopped`].

use std::net::TcpListener;
use std::sync::Arc;

use actix_session::SessionMiddleware;
use actix_session::config::BrowserSession;
use actix_web::cookie::{SameSite, time::Duration as CookieDuration};
use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::web::Data;
use actix_web::{App, HttpServer, web};
use tracing_actix_web::TracingLogger;
#[cfg(feature = "sandbox")]
use url::Url;

use crate::config::{Mode, Settings};
use crate::crypto::MasterKey;
#[cfg(feature = "sandbox")]
use crate::sandbox::{self, Sandbox};
use crate::segment::{self, AppCredentials, SegmentClient, SegmentUrls};
use crate::store::{Migrations, RedisSessions, Sessions, Store, StoreError};
use crate::web::demo_login::{DemoAccounts, SignUpLimits};
use crate::web::enable::{Accounts, AppPages, Enable};
use crate::web::health::HealthCache;
use crate::web::login::{self, Login};
use crate::web::request_log::{self, RequestLog};
#[cfg(feature = "sandbox")]
use crate::web::state::DemoClock;
use crate::web::state::{Partner, Site};
use crate::web::{self as routes, error_page::error_pages, flash, security, session};
use enable_with_segment::EnableWithSegment;
use enable_with_segment::{SealedCookies, cookie_name};

/// Why the app could not start. Its `Display` is the one line printed before exiting.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: String,
        source: std::io::Error,
    },
    #[error("cannot build the HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
    #[error("cannot build a URL for the sandbox: {0}")]
    SandboxUrl(#[from] url::ParseError),
    #[error("the sandbox does not take SEGMENT_SCOPE: {0}")]
    SandboxScope(String),
    #[error("the database ({0})")]
    Store(#[from] StoreError),
    #[error("cannot reach {target} (REDIS_URL): {reason}")]
    Redis { target: String, reason: String },
}

pub struct Application {
    port: u16,
    server: Server,
    /// `/metrics`, on a listener of its own (`METRICS_ADDR`), and its port.
    metrics_server: Option<(Server, u16)>,
    #[cfg(feature = "sandbox")]
    sandbox: Option<Arc<Sandbox>>,
}

impl Application {
    /// Binds `HOST:PORT` and builds the app.
    pub async fn build(settings: Settings) -> Result<Application, StartupError> {
        let address = format!("{}:{}", settings.host, settings.port);
        let listener = TcpListener::bind(&address).map_err(|source| StartupError::Listen {
            address: address.clone(),
            source,
        })?;
        Application::build_with_listener(settings, listener).await
    }

    /// Builds the app on a listener that is already bound (tests bind port 0 first, so they
    /// know the address before the settings are made), with the demo's own login.
    pub async fn build_with_listener(
        settings: Settings,
        listener: TcpListener,
    ) -> Result<Application, StartupError> {
        let https = settings.redirect_url.scheme() == "https";
        let limits = SignUpLimits::per_hour(settings.signups_per_address, settings.signups_total);
        let login = Arc::new(DemoAccounts::new(https, limits));
        Application::build_with_login(settings, listener, login).await
    }

    /// Builds the app with `login` deciding who the partner's user on each request is (see
    /// `web::login`; `examples/proxy_login.rs` builds one this way).
    pub async fn build_with_login(
        settings: Settings,
        listener: TcpListener,
        login: Arc<dyn Login>,
    ) -> Result<Application, StartupError> {
        let (store, key) = open_store(&settings).await?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Listen {
                address: settings.host.clone(),
                source,
            })?
            .port();
        let metrics = crate::metrics::Metrics::new();
        let segment = segment_client(&settings, port)?.observed_by(Arc::new(metrics.clone()));
        #[cfg(feature = "sandbox")]
        let sandbox = mounted_sandbox(&settings, port)?;
        let sessions = session_store(&settings, &store, &key).await?;
        spawn_clean_up(store.clone(), sessions.clone());
        let https = settings.redirect_url.scheme() == "https";
        let cookie_key = key.cookie_key();
        let site = Data::new(Site::new(&settings));
        let login = Data::from(login);
        let enable = Data::new(enable_flow(
            &segment,
            &store,
            login.clone(),
            site.clone(),
            &metrics,
            cookie_key.clone(),
        ));
        let partner = Data::new(Partner::new(
            &settings,
            login.clone().into_inner(),
            store.clone(),
        ));
        #[cfg(feature = "sandbox")]
        if let Some(name) = sandbox
            .as_ref()
            .and_then(|s| s.catalog_display_name(settings.destination_slug.as_str()))
        {
            partner.learn_display_name(&name);
        }
        spawn_display_name_read(segment.clone(), store.clone(), partner.clone());
        let metrics_server = metrics_server(&settings, Data::new(metrics.clone()))?;
        let handed = Handed {
            segment: Data::new(segment),
            enable,
            store: Data::new(store),
            sessions: Data::new(sessions),
            metrics: Data::new(metrics),
            login,
            site,
            partner,
            health: Data::new(HealthCache::default()),
            seal: Data::new(SealedCookies {
                key: cookie_key.clone(),
                https,
            }),
        };
        let served = Served {
            cookie_key,
            https,
            session_limits: settings.sessions,
            body_timeout: settings.body_timeout,
            #[cfg(feature = "sandbox")]
            sandbox: sandbox.clone(),
        };
        let server = http_server(handed, served, listener, port)?;
        Ok(Application {
            port,
            server,
            metrics_server,
            #[cfg(feature = "sandbox")]
            sandbox,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port `/metrics` is served on, if it is.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_server.as_ref().map(|(_, port)| *port)
    }

    /// The mounted sandbox, in sandbox mode.
    #[cfg(feature = "sandbox")]
    pub fn sandbox(&self) -> Option<Arc<Sandbox>> {
        self.sandbox.clone()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let metrics = async {
            match self.metrics_server {
                Some((server, _)) => server.await,
                None => Ok(()),
            }
        };
        tokio::try_join!(self.server, metrics).map(|_| ())
    }
}

/// What handlers are given, one `web::Data` per dependency (see `web::state`).
#[derive(Clone)]
struct Handed {
    segment: Data<SegmentClient>,
    enable: Data<Enable>,
    store: Data<Store>,
    sessions: Data<Sessions>,
    metrics: Data<crate::metrics::Metrics>,
    login: Data<dyn Login>,
    site: Data<Site>,
    partner: Data<Partner>,
    health: Data<HealthCache>,
    seal: Data<SealedCookies>,
}

/// How requests are served: the session cookie's key and limits, https, the body deadline, and
/// the sandbox mounted beside the app, if any.
#[derive(Clone)]
struct Served {
    cookie_key: actix_web::cookie::Key,
    https: bool,
    session_limits: crate::config::SessionLimits,
    body_timeout: std::time::Duration,
    #[cfg(feature = "sandbox")]
    sandbox: Option<Arc<Sandbox>>,
}

/// The HTTP server: the app's routes behind its middleware, the mounted sandbox beside them.
fn http_server(
    handed: Handed,
    served: Served,
    listener: TcpListener,
    port: u16,
) -> Result<Server, StartupError> {
    #[cfg(feature = "sandbox")]
    let demo_clock = served.sandbox.clone().map(|sandbox| {
        Data::new(DemoClock(Arc::new(move |name: &str, by| {
            sandbox.age_destination(name, by)
        })))
    });
    let server = HttpServer::new(move || {
        let Served {
            cookie_key,
            https,
            session_limits,
            body_timeout,
            ..
        } = &served;
        let (https, body_timeout) = (*https, *body_timeout);
        let session = session_middleware(&handed.sessions, cookie_key, *session_limits, https);
        let app = App::new()
            .app_data(handed.segment.clone())
            .app_data(handed.enable.clone())
            .app_data(handed.store.clone())
            .app_data(handed.sessions.clone())
            .app_data(handed.metrics.clone())
            .app_data(handed.login.clone())
            .app_data(handed.site.clone())
            .app_data(handed.partner.clone())
            .app_data(handed.health.clone())
            .app_data(handed.seal.clone())
            .app_data(security::payload_config())
            .wrap(from_fn(error_pages))
            .wrap(security::headers(https))
            .wrap(from_fn(move |request, next| {
                security::body_deadline(request, next, body_timeout)
            }))
            .wrap(from_fn(request_log::echo_id))
            .wrap(TracingLogger::<RequestLog>::new());
        // The sandbox plays Segment, with its own pages and forms: it is mounted beside the
        // app's routes, outside their CSRF guard, and before them so its paths match first.
        #[cfg(feature = "sandbox")]
        let app = match (&served.sandbox, &demo_clock) {
            (Some(sandbox), Some(clock)) => app
                .app_data(clock.clone())
                .service(sandbox::scope(sandbox.clone())),
            _ => app,
        };
        // Sessions are the app's own: the sandbox (Segment) never sees or loads them.
        let (flash, flow) = ((**handed.seal).clone(), handed.enable.clone());
        app.service(
            web::scope("")
                .wrap(from_fn(login::middleware))
                .wrap(from_fn(security::guard))
                .wrap(from_fn(session::require_store))
                .wrap(session)
                .wrap(from_fn(move |request, next| {
                    flash::carry(flash.clone(), request, next)
                }))
                .configure(|cfg| routes::routes(cfg, &flow)),
        )
        .default_service(web::to(routes::not_found))
    })
    .listen(listener)
    .map_err(|source| StartupError::Listen {
        address: format!("port {port}"),
        source,
    })?
    .run();
    Ok(server)
}

/// The flow library, as the app mounts it (`web::enable`): installs in its store on the app's
/// database, for the login's accounts, with the app's pages. The flow's cookie keeps the app's
/// name, and a finished install lands on the destination page. The library moves a browser on
/// another origin to the public one, judged as the app's pages say (through trusted proxies).
fn enable_flow(
    segment: &SegmentClient,
    store: &Store,
    login: Data<dyn Login>,
    site: Data<Site>,
    metrics: &crate::metrics::Metrics,
    cookie_key: actix_web::cookie::Key,
) -> Enable {
    let accounts = Accounts {
        login,
        store: store.clone(),
        site: site.clone(),
    };
    let pages = AppPages {
        installs: store.installs().clone(),
        site,
        metrics: metrics.clone(),
    };
    EnableWithSegment::builder(
        segment.clone(),
        store.installs().clone(),
        accounts,
        cookie_key,
    )
    .cookie_name("partnerapp_flow")
    .landing("/destination")
    .hooks(pages)
    .build()
}

/// `/metrics` on a listener of its own (`METRICS_ADDR`, loopback by default), so that the
/// operators' numbers are never served to the public side by accident. A port chosen by
/// `METRICS_ADDR` that cannot be had stops the app; the default's only costs the metrics.
fn metrics_server(
    settings: &Settings,
    metrics: Data<crate::metrics::Metrics>,
) -> Result<Option<(Server, u16)>, StartupError> {
    let Some(wanted) = &settings.metrics else {
        return Ok(None);
    };
    let listener = match TcpListener::bind(wanted.address) {
        Ok(listener) => listener,
        Err(source) if wanted.chosen => {
            return Err(StartupError::Listen {
                address: format!("METRICS_ADDR {}", wanted.address),
                source,
            });
        }
        Err(error) => {
            tracing::warn!(
                address = %wanted.address,
                %error,
                "the metrics are not served: set METRICS_ADDR to a free host:port (or off)"
            );
            return Ok(None);
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(metrics.clone())
            .route("/metrics", web::get().to(routes::operations::metrics))
    })
    .workers(1)
    .listen(listener)
    .map_err(|source| StartupError::Listen {
        address: format!("METRICS_ADDR {}", wanted.address),
        source,
    })?
    .run();
    tracing::info!("metrics on http://{}:{port}/metrics", wanted.address.ip());
    Ok(Some((server, port)))
}

/// The client for Segment: the real one's URLs and the App's credentials, or, in sandbox mode,
/// the mounted sandbox (which the browser reaches where it reaches the app, at the redirect
/// URL's origin, and the app itself over loopback). Public for the load benchmark's floor
/// (`examples/flow_floor.rs`), which makes the same calls with the same client.
pub fn segment_client(settings: &Settings, port: u16) -> Result<SegmentClient, StartupError> {
    let (urls, client_id, client_secret) = match &settings.mode {
        Mode::Segment {
            client_id,
            client_secret,
            id_url,
            api_url,
        } => (
            SegmentUrls {
                authorize_base: id_url.clone(),
                token_base: id_url.clone(),
                api_base: api_url.clone(),
            },
            client_id.clone(),
            client_secret.clone(),
        ),
        #[cfg(feature = "sandbox")]
        Mode::Sandbox => {
            let public = Url::parse(&format!("{}/sandbox", settings.public_origin()))?;
            let local = Url::parse(&format!(
                "http://{}:{port}/sandbox",
                loopback_host(&settings.host)
            ))?;
            (
                SegmentUrls {
                    authorize_base: public,
                    token_base: local.clone(),
                    api_base: local,
                },
                sandbox::CLIENT_ID.to_owned(),
                crate::secret::ClientSecret::new(sandbox::CLIENT_SECRET.to_owned()),
            )
        }
    };
    #[cfg(not(feature = "sandbox"))]
    let _ = port;
    Ok(SegmentClient::new(
        segment::http_client(&settings.limits)?,
        urls,
        AppCredentials {
            client_id,
            client_secret,
            redirect_url: settings.redirect_url.clone(),
            scope: settings.scope.clone(),
            pkce: settings.pkce,
        },
        &settings.limits,
    ))
}

/// Reads the destination's display name from Segment's catalog once, in the background, so the
/// first page names it ("ClearBrain", not "clearbrain"): with the freshest install token the
/// store holds. Without one (a new deployment), or if Segment cannot be reached, pages use the
/// slug until a page reads the catalog or the destination. In sandbox mode the mounted sandbox
/// said it already.
fn spawn_display_name_read(segment: SegmentClient, store: Store, partner: Data<Partner>) {
    if partner.knows_display_name() {
        return;
    }
    tokio::spawn(async move {
        let token = match store.installs().any_good_token().await {
            Ok(Some(token)) => token,
            Ok(None) => return,
            Err(error) => {
                tracing::info!(%error, "no install token to read the catalog with at start-up");
                return;
            }
        };
        match segment
            .get_catalog_destination(&token.access_token, &partner.destination_slug)
            .await
        {
            Ok(catalog) => partner.learn_display_name(&catalog.display_name),
            Err(error) => {
                tracing::info!(%error, "the catalog could not be read at start-up: pages use the slug")
            }
        }
    });
}

/// In sandbox mode, the sandbox to mount at `/sandbox`, its App registered with the app's
/// redirect URL and scope.
#[cfg(feature = "sandbox")]
fn mounted_sandbox(settings: &Settings, port: u16) -> Result<Option<Arc<Sandbox>>, StartupError> {
    if !settings.mode.is_sandbox() {
        return Ok(None);
    }
    // The sandbox reads the scope its own way (it is Segment): a scope it does not take stops
    // start-up here.
    let scope =
        sandbox::Scope::parse(&settings.scope.to_string()).map_err(StartupError::SandboxScope)?;
    let sandbox = Sandbox::new(sandbox::demo_app(&settings.redirect_url, scope), "/sandbox");
    // Segment's credential test calls the partner's API: here, this app's own.
    sandbox.set_credential_test_url(&format!(
        "http://{}:{port}/api/v1/me",
        loopback_host(&settings.host)
    ));
    // Its server-to-server token endpoint is at /sandbox/token; assertions name it so.
    sandbox.set_machine_audience(&format!("{}/sandbox", settings.public_origin()));
    Ok(Some(sandbox))
}

/// Where the sessions are kept: Redis with `REDIS_URL`, else the store's database.
async fn session_store(
    settings: &Settings,
    store: &Store,
    key: &MasterKey,
) -> Result<Sessions, StartupError> {
    Ok(match &settings.redis_url {
        None => Sessions::Database(store.sessions(settings.sessions)),
        Some(url) => Sessions::Redis(
            RedisSessions::connect(url, key.sealer(), settings.sessions)
                .await
                .map_err(|e| StartupError::Redis {
                    target: crate::store::redis_sessions::describe(url),
                    // redis' errors name neither the URL nor its password.
                    reason: e.to_string(),
                })?,
        ),
    })
}

/// The session middleware: the cookie holds only the session's id (signed and encrypted with
/// `cookie_key`); its state is in `sessions`.
fn session_middleware(
    sessions: &Sessions,
    cookie_key: &actix_web::cookie::Key,
    limits: crate::config::SessionLimits,
    https: bool,
) -> SessionMiddleware<Sessions> {
    SessionMiddleware::builder(sessions.clone(), cookie_key.clone())
        .session_lifecycle(BrowserSession::default().state_ttl(CookieDuration::seconds(
            i64::try_from(limits.absolute.as_secs()).unwrap_or(i64::MAX),
        )))
        .cookie_name(cookie_name("partnerapp_session", https))
        .cookie_secure(https)
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Lax)
        .build()
}

/// The store, and the key everything is sealed and signed with: `SESSION_KEY`, or (sandbox
/// mode only; settings refuse a missing key otherwise) the demo's generated key.
async fn open_store(settings: &Settings) -> Result<(Store, MasterKey), StartupError> {
    let migrations = if settings.migrate_on_start {
        Migrations::Apply
    } else {
        Migrations::Require
    };
    match &settings.session_key {
        Some(key) => Ok((
            Store::open_with(&settings.database_url, key, migrations).await?,
            key.clone(),
        )),
        None => {
            tracing::warn!(
                "SESSION_KEY is not set: the sandbox demo uses a key it generated and keeps in its \
                 database, so its data at rest is not protected. Set SESSION_KEY \
                 (`openssl rand -base64 32`) for anything real"
            );
            Ok(Store::open_demo(&settings.database_url, migrations).await?)
        }
    }
}

/// How often expired sessions and unused demo accounts are removed.
const CLEAN_UP_EVERY: std::time::Duration = std::time::Duration::from_secs(10 * 60);
/// How long a demo account that never connected anything is kept.
pub const UNUSED_ACCOUNT_LIFETIME: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// Removes what has ended, at start-up and then every [`CLEAN_UP_EVERY`], for as long as the
/// runtime runs.
fn spawn_clean_up(store: Store, sessions: Sessions) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(CLEAN_UP_EVERY);
        loop {
            every.tick().await;
            match store.clean_up(&sessions, UNUSED_ACCOUNT_LIFETIME).await {
                Ok((0, 0)) => {}
                Ok((sessions, accounts)) => {
                    tracing::info!(
                        sessions,
                        accounts,
                        "removed ended sessions and unused demo accounts"
                    );
                }
                Err(error) => tracing::warn!(%error, "clean-up failed; trying again later"),
            }
        }
    });
}

/// Where the app reaches its own listener: a wildcard bind address is not a destination.
#[cfg(feature = "sandbox")]
fn loopback_host(host: &str) -> &str {
    match host {
        "0.0.0.0" | "" => "127.0.0.1",
        "::" | "[::]" => "[::1]",
        other => other,
    }
}

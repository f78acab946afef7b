//! Builds the running app from [`Settings`]: binds the listener (port 0 in tests), creates the
//! one HTTP client and the Segment client, mounts the sandbox in sandbox mode, and wires the
//! middleware. `main` only loads settings and awaits [`Application::run_until_stopped`].

use std::net::TcpListener;
#[cfg(feature = "sandbox")]
use std::sync::Arc;
use std::time::Instant;

use actix_session::SessionMiddleware;
use actix_session::storage::CookieSessionStore;
use actix_web::body::MessageBody;
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpServer, web};
#[cfg(feature = "sandbox")]
use url::Url;

use crate::accounts::{Store, StoreError};
use crate::config::{Mode, Settings};
#[cfg(feature = "sandbox")]
use crate::sandbox::{self, Sandbox};
use crate::segment::{self, AppCredentials, SegmentClient, SegmentUrls};
use crate::web::{self as routes, AppState, account, error::error_pages, security};

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
    #[error("SESSION_KEY cannot be used as a key: {0}")]
    SessionKey(String),
    #[error("cannot build a URL for the sandbox: {0}")]
    SandboxUrl(#[from] url::ParseError),
    #[error("the database ({0})")]
    Store(#[from] StoreError),
}

pub struct Application {
    port: u16,
    server: Server,
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
    /// know the address before the settings are made).
    pub async fn build_with_listener(
        settings: Settings,
        listener: TcpListener,
    ) -> Result<Application, StartupError> {
        let store = Store::open(&settings.database_url).await?;
        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Listen {
                address: settings.host.clone(),
                source,
            })?
            .port();
        let http = segment::http_client(&settings.limits)?;

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
                // The browser reaches the sandbox where it reaches the app (the redirect URL's
                // origin); the app itself calls it over loopback.
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
                    crate::secret::Secret::new(sandbox::CLIENT_SECRET),
                )
            }
        };
        let segment = SegmentClient::new(
            http,
            urls,
            AppCredentials {
                client_id,
                client_secret,
                redirect_url: settings.redirect_url.clone(),
                scope: settings.scope.clone(),
                pkce: settings.pkce,
            },
            &settings.limits,
        );

        #[cfg(feature = "sandbox")]
        let sandbox = settings.mode.is_sandbox().then(|| {
            let sandbox = Sandbox::new(
                sandbox::demo_app(&settings.redirect_url, settings.scope.clone()),
                "/sandbox",
            );
            // Segment's credential test calls the partner's API: here, this app's own.
            sandbox.set_credential_test_url(&format!(
                "http://{}:{port}/api/v1/me",
                loopback_host(&settings.host)
            ));
            // Its server-to-server token endpoint is at /sandbox/token; assertions name it so.
            sandbox.set_machine_audience(&format!("{}/sandbox", settings.public_origin()));
            sandbox
        });

        let key = session_key(&settings)?;
        let https = settings.redirect_url.scheme() == "https";
        let state = web::Data::new(AppState {
            segment,
            store,
            cookie_key: key.clone(),
            https,
            destination_slug: settings.destination_slug.clone(),
            destination_api_key: settings.destination_api_key.clone(),
            sandbox: settings.mode.is_sandbox(),
            tokens: Default::default(),
            public_origin: settings.public_origin(),
            public_host: settings.public_host(),
        });

        #[cfg(feature = "sandbox")]
        let mounted = sandbox.clone();
        let server = HttpServer::new(move || {
            let session = SessionMiddleware::builder(CookieSessionStore::default(), key.clone())
                .cookie_name(cookie_name(https))
                .cookie_secure(https)
                .cookie_http_only(true)
                .cookie_same_site(SameSite::Lax)
                .build();
            let app = App::new()
                .app_data(state.clone())
                .app_data(security::payload_config())
                .wrap(from_fn(error_pages))
                .wrap(session)
                .wrap(security::headers())
                .wrap(from_fn(log_requests));
            // The sandbox plays Segment, with its own pages and forms: it is mounted beside the
            // app's routes, outside their CSRF guard, and before them so its paths match first.
            #[cfg(feature = "sandbox")]
            let app = match &mounted {
                Some(sandbox) => app.service(sandbox::scope(sandbox.clone())),
                None => app,
            };
            app.service(
                web::scope("")
                    .wrap(from_fn(account::middleware))
                    .wrap(from_fn(security::guard))
                    .configure(routes::routes),
            )
            .default_service(web::to(routes::not_found))
        })
        .listen(listener)
        .map_err(|source| StartupError::Listen {
            address: format!("port {port}"),
            source,
        })?
        .run();

        Ok(Application {
            port,
            server,
            #[cfg(feature = "sandbox")]
            sandbox,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The mounted sandbox, in sandbox mode.
    #[cfg(feature = "sandbox")]
    pub fn sandbox(&self) -> Option<Arc<Sandbox>> {
        self.sandbox.clone()
    }

    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// `__Host-` makes the browser refuse the cookie unless it is Secure, host-only and for `/`;
/// only possible over https.
fn cookie_name(https: bool) -> String {
    if https {
        "__Host-partnerapp_session".to_owned()
    } else {
        "partnerapp_session".to_owned()
    }
}

fn session_key(settings: &Settings) -> Result<Key, StartupError> {
    match &settings.session_key {
        Some(secret) => Key::try_from(secret.expose().as_bytes())
            .map_err(|e| StartupError::SessionKey(e.to_string())),
        None => {
            tracing::warn!(
                "SESSION_KEY is not set: using a random key, so sessions end when the app restarts"
            );
            Ok(Key::generate())
        }
    }
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

/// One log line per request: method, path (never the query string, which holds codes), status
/// and time taken.
async fn log_requests(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.path().to_owned();
    let response = next.call(request).await?;
    tracing::info!(
        %method,
        %path,
        status = response.status().as_u16(),
        ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    Ok(response)
}

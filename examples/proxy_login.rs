//! A login a partner can deploy: an authenticating reverse proxy in front of the app (such as
//! oauth2-proxy) signs the user in and names them in `X-Forwarded-User` (or, without it,
//! `X-Forwarded-Email`). This login believes those headers only from the proxy's own address
//! (`TRUSTED_PROXIES`) and keeps one account per user id: the user's installs and API key.
//! Everything else is the app as it is; only the login differs:
//!
//! ```sh
//! TRUSTED_PROXIES=127.0.0.1 CLIENT_ID=… CLIENT_SECRET=… SESSION_KEY=… \
//!   cargo run --example proxy_login
//! ```
//!
//! The app must then be reachable only through the proxy (listen on a private address), or
//! anyone could name any user. `tests/proxy_login.rs` runs this file's [`ProxyLogin`].

use std::process::ExitCode;
use std::sync::Arc;

use actix_web::dev::ServiceRequest;
use segment_partnerapp::config::Settings;
use segment_partnerapp::segment::InstallName;
use segment_partnerapp::startup::Application;
use segment_partnerapp::store::{Store, StoreError};
use segment_partnerapp::web::login::{Answer, CurrentAccount, Login, Visitor};
use segment_partnerapp::web::proxy::TrustedProxies;

/// The user an authenticating proxy names, believed only from the proxy.
pub struct ProxyLogin {
    pub proxies: TrustedProxies,
}

/// The user id the proxy sent: `X-Forwarded-User`, else `X-Forwarded-Email` (at most 256
/// characters, no control characters). Nobody if the proxy's header is there but unusable (the
/// email is not tried then: a proxy that sends a user id always sends it), or if an identity
/// header comes twice (a proxy that adds one where the client had sent one already).
fn named_user(request: &ServiceRequest) -> Option<&str> {
    let headers = request.headers();
    let name = ["x-forwarded-user", "x-forwarded-email"]
        .into_iter()
        .find(|name| headers.contains_key(*name))?;
    let mut values = headers.get_all(name);
    let (Some(value), None) = (values.next(), values.next()) else {
        return None;
    };
    if name == "x-forwarded-user" && headers.get_all("x-forwarded-email").count() > 1 {
        return None;
    }
    let value = value.to_str().ok()?.trim();
    (!value.is_empty() && value.len() <= 256 && !value.chars().any(char::is_control))
        .then_some(value)
}

impl Login for ProxyLogin {
    fn visitor<'a>(
        &'a self,
        request: &'a ServiceRequest,
        store: &'a Store,
        in_use: Option<&'a InstallName>,
    ) -> Answer<'a, Result<Visitor, StoreError>> {
        Box::pin(async move {
            let from_proxy = self.proxies.trusts(request.peer_addr().map(|a| a.ip()));
            let account = match named_user(request).filter(|_| from_proxy) {
                Some(user) => {
                    let (account, in_use) = store.account_for_user(user, in_use).await?;
                    Some(CurrentAccount { account, in_use })
                }
                None => None,
            };
            Ok(Visitor {
                account,
                cookie: None,
            })
        })
    }
}

#[actix_web::main]
async fn main() -> ExitCode {
    if let Err(error) = dotenvy::dotenv()
        && !error.not_found()
    {
        eprintln!("error: .env cannot be read: {error}");
        return ExitCode::from(2);
    }
    segment_partnerapp::telemetry::init(segment_partnerapp::telemetry::LogFormat::Text);
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    if settings.trusted_proxies == TrustedProxies::default() {
        eprintln!("error: TRUSTED_PROXIES is not set: name the proxy that signs users in");
        return ExitCode::from(2);
    }
    let address = format!("{}:{}", settings.host, settings.port);
    let listener = match std::net::TcpListener::bind(&address) {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("error: cannot listen on {address}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let login = Arc::new(ProxyLogin {
        proxies: settings.trusted_proxies.clone(),
    });
    let application = match Application::build_with_login(settings, listener, login).await {
        Ok(application) => application,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!("serving on {address}, users named by the proxy");
    match application.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: the server stopped: {error}");
            ExitCode::FAILURE
        }
    }
}

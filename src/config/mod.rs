//! Settings, read once at start-up from the environment (and `.env`, loaded by `main`).
//!
//! Every value is parsed into the type the rest of the app uses, so a bad setting fails here,
//! with one line naming the variable, instead of on the first request. Nothing in this module
//! talks to the network.

use std::fmt;
use std::net::IpAddr;
use std::num::NonZeroU32;

use url::Url;

use std::time::Duration;

use crate::crypto::{KeyError, MasterKey};
use crate::secret::{ClientSecret, Secret};
use crate::segment::settings::{self as shared, SettingError};
use crate::segment::{DestinationSlug, Limits, SegmentScope};

mod session_limits;
pub use session_limits::SessionLimits;

/// Where the app's Segment calls go.
// Built once at start-up; the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Mode {
    /// Real Segment (or any service speaking its protocol) with the partner's App credentials.
    Segment {
        client_id: String,
        client_secret: ClientSecret,
        id_url: Url,
        api_url: Url,
    },
    /// The built-in sandbox, mounted under `/sandbox` on the app's own server.
    #[cfg(feature = "sandbox")]
    Sandbox,
}

impl Mode {
    pub fn is_sandbox(&self) -> bool {
        !matches!(self, Mode::Segment { .. })
    }
}

/// Everything the app is configured with.
#[derive(Debug, Clone)]
pub struct Settings {
    pub mode: Mode,
    /// The partner's destination, e.g. `clearbrain`.
    pub destination_slug: DestinationSlug,
    /// Pushed into the destination's `apiKey` setting by **Enable** instead of the visitor's
    /// own account key: an override for demos. Unset: each account's key.
    pub destination_api_key: Option<Secret>,
    /// The database of accounts, installs and (without Redis) sessions: `sqlite://…` or
    /// `postgres://…`.
    pub database_url: String,
    /// Sessions go to Redis (`redis://…` or `rediss://…`) when set, else to the database.
    pub redis_url: Option<String>,
    /// The scope the App was created with in Segment's Developer Center.
    pub scope: SegmentScope,
    /// Where Segment sends the browser back to; must be registered with the App.
    pub redirect_url: Url,
    pub host: String,
    pub port: u16,
    /// Every key the app uses is derived from it (cookies, data at rest). `None` (sandbox mode
    /// only): the demo generates one and keeps it in its database.
    pub session_key: Option<MasterKey>,
    /// How long a session lives.
    pub sessions: SessionLimits,
    /// Send a PKCE S256 challenge with the authorization request.
    pub pkce: bool,
    /// Timeouts and concurrency of the calls to Segment.
    pub limits: Limits,
    /// The reverse proxies whose `X-Forwarded-*` headers are believed (none by default).
    pub trusted_proxies: TrustedProxies,
    /// How long a request's body may take to arrive, whole (`REQUEST_BODY_TIMEOUT_MS`).
    pub body_timeout: Duration,
    /// Apply the database's migrations at start-up (`MIGRATE_ON_START`, default on); off, the
    /// app only checks that `segment-partnerapp migrate` applied them.
    pub migrate_on_start: bool,
    /// Where `/metrics` is served, on a listener of its own (`METRICS_ADDR`); `None`: nowhere.
    pub metrics: Option<MetricsAddr>,
    /// How many accounts the demo's login makes an hour for visitors nobody knows yet: per
    /// client address (`SIGNUPS_PER_ADDRESS`, 30) and in all (`SIGNUPS_TOTAL`, 600), per
    /// instance.
    pub signups_per_address: NonZeroU32,
    pub signups_total: NonZeroU32,
}

/// The metrics' listener: `METRICS_ADDR` (`host:port`), loopback by default, so the metrics
/// are never public by accident; `METRICS_ADDR=off` serves none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsAddr {
    pub address: std::net::SocketAddr,
    /// Set by `METRICS_ADDR` (then a port in use stops the app), or the default (then the app
    /// starts without metrics, and says so).
    pub chosen: bool,
}

/// Where the metrics are served when `METRICS_ADDR` is unset.
pub const DEFAULT_METRICS_ADDR: &str = "127.0.0.1:9464";

/// A setting that could not be used. Its `Display` is the one line printed at start-up.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[cfg_attr(
        feature = "sandbox",
        error(
            "{0} is set but {1} is not: set both to talk to Segment, or neither to use the sandbox"
        )
    )]
    #[cfg_attr(
        not(feature = "sandbox"),
        error("{0} is set but {1} is not: set both, to the App's credentials from Segment")
    )]
    HalfCredentials(&'static str, &'static str),
    /// A setting shared with the Segment client's own (`segment::settings`).
    #[error(transparent)]
    Shared(#[from] SettingError),
    #[error("{name} is not a valid URL ({value:?}): {reason}")]
    BadUrl {
        name: &'static str,
        value: String,
        reason: String,
    },
    #[error("{name} is not valid ({value:?}): {reason}")]
    BadValue {
        name: &'static str,
        value: String,
        reason: String,
    },
    #[error("SESSION_KEY {0}")]
    SessionKey(#[from] KeyError),
    #[error(
        "SESSION_KEY is required with CLIENT_ID/CLIENT_SECRET (real Segment): make one with `openssl rand -base64 32`, the same for every instance"
    )]
    SessionKeyRequired,
    #[error(
        "CLIENT_ID and CLIENT_SECRET are required: set them to the App's credentials from Segment's Developer Center"
    )]
    NoCredentials,
    #[error("{name} and {name}_FILE are both set: set one of them")]
    TwoSources { name: &'static str },
    #[error("{name}_FILE names {path:?}, which cannot be read: {reason}")]
    SecretFile {
        name: &'static str,
        path: String,
        reason: String,
    },
    #[error(
        "HOST={0} would serve the sandbox (a fake Segment, used because CLIENT_ID and CLIENT_SECRET are not set) beyond this machine: set them to talk to Segment, use a loopback HOST, or set SANDBOX_PUBLIC=1 for a shared demo server"
    )]
    PublicSandbox(String),
}

/// The settings that may come from a file instead, as container platforms hand out secrets:
/// `SESSION_KEY_FILE=/run/secrets/session_key` reads `SESSION_KEY` from that file (its trailing
/// newline dropped). Setting both a variable and its `_FILE` is an error.
pub const FILE_SETTINGS: [&str; 4] = ["SESSION_KEY", "CLIENT_SECRET", "DATABASE_URL", "REDIS_URL"];

/// The process environment, with the [`FILE_SETTINGS`] read from their files.
pub fn environment() -> Result<impl Fn(&str) -> Option<String>, ConfigError> {
    with_files(|name| std::env::var(name).ok(), read_secret_file)
}

/// A secret's file, as a `*_FILE` setting names it: a regular file only (a pipe or a device
/// would be waited on, or read without end, so it is refused before it is opened), with a
/// warning when every user of the machine may read it.
fn read_secret_file(path: &str) -> std::io::Result<String> {
    let metadata = std::fs::metadata(path)?;
    if !metadata.is_file() {
        return Err(std::io::Error::other(
            "it is not a regular file (a pipe or a device is refused rather than waited on)",
        ));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o004 != 0 {
            tracing::warn!(
                path,
                mode = %format!("{mode:o}"),
                "a secret's file is readable by every user of this machine: chmod o-r it \
                 (600, or 640 for a group the app runs in)"
            );
        }
    }
    std::fs::read_to_string(path)
}

/// `lookup`, with each of the [`FILE_SETTINGS`] whose `_FILE` is set read by `read`.
pub fn with_files(
    lookup: impl Fn(&str) -> Option<String>,
    read: impl Fn(&str) -> std::io::Result<String>,
) -> Result<impl Fn(&str) -> Option<String>, ConfigError> {
    let set = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
    let mut from_files = std::collections::HashMap::new();
    for name in FILE_SETTINGS {
        let Some(path) = set(&format!("{name}_FILE")) else {
            continue;
        };
        if set(name).is_some() {
            return Err(ConfigError::TwoSources { name });
        }
        let value = read(path.trim()).map_err(|error| ConfigError::SecretFile {
            name,
            path: path.trim().to_owned(),
            reason: error.to_string(),
        })?;
        from_files.insert(name, value.trim_end_matches(['\n', '\r']).to_owned());
    }
    Ok(move |name: &str| from_files.get(name).cloned().or_else(|| lookup(name)))
}

/// `DATABASE_URL` alone (for `segment-partnerapp migrate`, which needs nothing else), checked
/// as the app checks it.
pub fn database_url(lookup: impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    Ok(stores(&Vars(lookup))?.0)
}

pub const DEFAULT_REDIRECT_URL: &str = "http://localhost:8888/auth/segment/callback";
/// The route Segment sends the browser back to; `REDIRECT_URL` must end with it.
pub const CALLBACK_PATH: &str = "/auth/segment/callback";

/// `REDIRECT_URL` when it is not set: this machine, on `port`.
pub fn default_redirect_url(port: u16) -> String {
    format!("http://localhost:{port}{CALLBACK_PATH}")
}
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/partnerapp.db";

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Settings, ConfigError> {
        Settings::from_lookup(environment()?)
    }

    /// Reads settings through `lookup`, so tests can pass a map instead of touching the
    /// process environment. Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let vars = Vars(lookup);
        let (destination_slug, scope) = shared::destination_and_scope(&|name| vars.get(name))?;
        let (database_url, redis_url) = stores(&vars)?;
        // In the order they were always checked: the first bad one is the one reported.
        let redirect_url = redirect_url(&vars)?;
        let mode = mode(&vars)?;
        let host = vars.get("HOST").unwrap_or_else(|| "127.0.0.1".to_owned());
        // The sandbox is a fake Segment anyone who reaches it can drive: it stays on this
        // machine unless a shared demo server says otherwise.
        if mode.is_sandbox() {
            sandbox_may_listen(&host, vars.get("SANDBOX_PUBLIC").as_deref())?;
        }
        let port = vars.parsed("PORT", str::parse::<u16>, || 8888)?;
        let session_key = vars
            .get("SESSION_KEY")
            .map(|key| MasterKey::parse(&key))
            .transpose()?;
        if session_key.is_none() && !mode.is_sandbox() {
            return Err(ConfigError::SessionKeyRequired);
        }
        Ok(Settings {
            mode,
            destination_slug,
            destination_api_key: vars.get("DESTINATION_API_KEY").map(Secret::new),
            database_url,
            redis_url,
            scope,
            redirect_url,
            host,
            port,
            session_key,
            sessions: SessionLimits {
                idle: vars.minutes("SESSION_IDLE_MINUTES", SessionLimits::default().idle)?,
                absolute: vars.minutes(
                    "SESSION_LIFETIME_MINUTES",
                    SessionLimits::default().absolute,
                )?,
            },
            pkce: vars.parsed(
                "SEGMENT_PKCE",
                |value| parse_bool(value).ok_or("expected true or false"),
                || true,
            )?,
            limits: limits(&vars)?,
            body_timeout: vars.millis("REQUEST_BODY_TIMEOUT_MS", 10_000)?,
            migrate_on_start: vars.parsed(
                "MIGRATE_ON_START",
                |value| parse_bool(value).ok_or("expected true or false"),
                || true,
            )?,
            signups_per_address: vars.count("SIGNUPS_PER_ADDRESS", 30)?,
            signups_total: vars.count("SIGNUPS_TOTAL", 600)?,
            metrics: metrics_addr(&vars)?,
            trusted_proxies: vars.parsed(
                "TRUSTED_PROXIES",
                |value| {
                    TrustedProxies::parse(value).map_err(|reason| {
                        format!("{reason}: expected IP addresses separated by commas")
                    })
                },
                TrustedProxies::default,
            )?,
        })
    }

    /// The origin (scheme, host, port) the browser uses to reach this app, taken from the
    /// redirect URL: the sandbox's pages must be served from there too.
    pub fn public_origin(&self) -> String {
        self.redirect_url.origin().ascii_serialization()
    }
}

/// `REDIRECT_URL`, whose path must be the callback's; its default follows `PORT` (a bad
/// `PORT` is reported where `PORT` is read, as it always was).
fn redirect_url<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Result<Url, ConfigError> {
    let default_port = vars
        .get("PORT")
        .and_then(|port| port.parse::<u16>().ok())
        .unwrap_or(8888);
    let redirect_url = vars
        .get("REDIRECT_URL")
        .unwrap_or_else(|| default_redirect_url(default_port));
    let redirect_url = shared::http_url("REDIRECT_URL", &redirect_url)?;
    if redirect_url.path() != CALLBACK_PATH {
        return Err(ConfigError::BadUrl {
            name: "REDIRECT_URL",
            value: redirect_url.to_string(),
            reason: format!(
                "its path must be {CALLBACK_PATH}, the route Segment sends the browser back to"
            ),
        });
    }
    Ok(redirect_url)
}

/// The bounds on calls to Segment: `SEGMENT_CONNECT_TIMEOUT_MS`, `SEGMENT_TIMEOUT_MS`,
/// `SEGMENT_MAX_IN_FLIGHT`.
fn limits<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Result<Limits, ConfigError> {
    Ok(Limits {
        connect: vars.millis("SEGMENT_CONNECT_TIMEOUT_MS", 5_000)?,
        total: vars.millis("SEGMENT_TIMEOUT_MS", 15_000)?,
        max_in_flight: vars.parsed(
            "SEGMENT_MAX_IN_FLIGHT",
            |value| match value.parse::<usize>() {
                Ok(n) if (1..=10_000).contains(&n) => Ok(n),
                _ => Err("expected a whole number from 1 to 10000"),
            },
            || Limits::default().max_in_flight,
        )?,
    })
}

/// `METRICS_ADDR`: an address (a warning beyond loopback), `off`, or the default's.
fn metrics_addr<F: Fn(&str) -> Option<String>>(
    vars: &Vars<F>,
) -> Result<Option<MetricsAddr>, ConfigError> {
    vars.parsed(
        "METRICS_ADDR",
        |value| match value.trim() {
            "off" => Ok(None),
            address => address
                .parse::<std::net::SocketAddr>()
                .map(|address| {
                    if !address.ip().is_loopback() {
                        tracing::warn!(
                            %address,
                            "METRICS_ADDR serves /metrics beyond this machine, to anyone who \
                             reaches it: prefer a loopback address, or firewall it"
                        );
                    }
                    Some(MetricsAddr {
                        address,
                        chosen: true,
                    })
                })
                .map_err(|_| "expected host:port (an IP address and a port) or off"),
        },
        || {
            DEFAULT_METRICS_ADDR
                .parse()
                .ok()
                .map(|address| MetricsAddr {
                    address,
                    chosen: false,
                })
        },
    )
}

/// The variables, read through a lookup. Empty values count as unset.
struct Vars<F>(F);

impl<F: Fn(&str) -> Option<String>> Vars<F> {
    /// The whole number (from 1) `name` says, or `default`.
    fn count(&self, name: &'static str, default: u32) -> Result<NonZeroU32, ConfigError> {
        self.parsed(
            name,
            |value| {
                value
                    .trim()
                    .parse()
                    .map_err(|_| "expected a whole number from 1")
            },
            || NonZeroU32::new(default).unwrap_or(NonZeroU32::MIN),
        )
    }

    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// `name` read by `parse`, or `default()` when it is unset. A value `parse` refuses stops
    /// start-up with a line naming the variable, the value and the reason.
    fn parsed<T, E: fmt::Display>(
        &self,
        name: &'static str,
        parse: impl FnOnce(&str) -> Result<T, E>,
        default: impl FnOnce() -> T,
    ) -> Result<T, ConfigError> {
        match self.get(name) {
            None => Ok(default()),
            Some(value) => parse(&value).map_err(|reason| ConfigError::BadValue {
                name,
                reason: reason.to_string(),
                value,
            }),
        }
    }

    fn millis(&self, name: &'static str, default: u64) -> Result<Duration, ConfigError> {
        self.parsed(
            name,
            |value| match value.parse::<u64>() {
                Ok(ms) if ms > 0 => Ok(Duration::from_millis(ms)),
                _ => Err("expected a whole number of milliseconds above 0"),
            },
            || Duration::from_millis(default),
        )
    }

    fn minutes(&self, name: &'static str, default: Duration) -> Result<Duration, ConfigError> {
        self.parsed(
            name,
            |value| match value.parse::<u64>() {
                Ok(m) if (1..=366 * 24 * 60).contains(&m) => Ok(Duration::from_secs(m * 60)),
                _ => Err("expected a whole number of minutes, at least 1"),
            },
            || default,
        )
    }
}

/// `DATABASE_URL` (SQLite or Postgres) and `REDIS_URL`, checked for their scheme. A bad one is
/// printed without its password.
fn stores<F: Fn(&str) -> Option<String>>(
    vars: &Vars<F>,
) -> Result<(String, Option<String>), ConfigError> {
    let database_url = vars
        .get("DATABASE_URL")
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
    let scheme = database_url.split(':').next().unwrap_or_default();
    if !matches!(scheme, "sqlite" | "postgres" | "postgresql") {
        return Err(ConfigError::BadValue {
            name: "DATABASE_URL",
            value: without_password(&database_url),
            reason: "expected sqlite://PATH (such as sqlite://data/partnerapp.db) or \
                     postgres://USER:PASSWORD@HOST/DATABASE"
                .to_owned(),
        });
    }
    let redis_url = vars.get("REDIS_URL");
    if let Some(url) = &redis_url
        && !(url.starts_with("redis://") || url.starts_with("rediss://"))
    {
        return Err(ConfigError::BadValue {
            name: "REDIS_URL",
            value: without_password(url),
            reason: "expected redis://HOST:PORT (or rediss:// for TLS), such as \
                     redis://127.0.0.1:6379/0"
                .to_owned(),
        });
    }
    Ok((database_url, redis_url))
}

/// Real Segment with both `CLIENT_ID` and `CLIENT_SECRET`, the sandbox with neither.
fn mode<F: Fn(&str) -> Option<String>>(vars: &Vars<F>) -> Result<Mode, ConfigError> {
    let urls = shared::segment_urls(&|name| vars.get(name))?;
    let (id_url, api_url) = (urls.authorize_base, urls.api_base);
    match (vars.get("CLIENT_ID"), vars.get("CLIENT_SECRET")) {
        (Some(client_id), Some(secret)) => Ok(Mode::Segment {
            client_id,
            client_secret: ClientSecret::new(secret),
            id_url,
            api_url,
        }),
        (Some(_), None) => Err(ConfigError::HalfCredentials("CLIENT_ID", "CLIENT_SECRET")),
        (None, Some(_)) => Err(ConfigError::HalfCredentials("CLIENT_SECRET", "CLIENT_ID")),
        (None, None) => sandbox_mode(),
    }
}

/// The sandbox (a fake Segment anyone who reaches it can drive) listens on `host` only if that
/// is loopback, or if `SANDBOX_PUBLIC` (`sandbox_public`) says a shared demo server wants it
/// public. The app in sandbox mode and `segment-partnerapp sandbox` both ask.
pub fn sandbox_may_listen(host: &str, sandbox_public: Option<&str>) -> Result<(), ConfigError> {
    let public = sandbox_public.is_some_and(|v| parse_bool(v) == Some(true));
    if is_loopback(host) || public {
        Ok(())
    } else {
        Err(ConfigError::PublicSandbox(host.to_owned()))
    }
}

/// Whether `host` (an address to listen on) reaches only this machine.
pub fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(feature = "sandbox")]
fn sandbox_mode() -> Result<Mode, ConfigError> {
    Ok(Mode::Sandbox)
}

#[cfg(not(feature = "sandbox"))]
fn sandbox_mode() -> Result<Mode, ConfigError> {
    Err(ConfigError::NoCredentials)
}

/// A URL fit to print: its password masked (`postgres://app:********@db/partner`). Text that
/// is not a URL is not printed at all.
fn without_password(value: &str) -> String {
    match Url::parse(value) {
        Ok(mut url) => {
            if url.password().is_some() {
                let _ = url.set_password(Some("********"));
            }
            url.to_string()
        }
        Err(_) => "(not a URL)".to_owned(),
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mode::Segment {
                id_url, api_url, ..
            } => {
                write!(f, "Segment (identity {id_url}, Config API {api_url})")
            }
            #[cfg(feature = "sandbox")]
            Mode::Sandbox => write!(f, "sandbox"),
        }
    }
}

/// The addresses whose `X-Forwarded-*` headers are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpAddr>);

impl TrustedProxies {
    /// `TRUSTED_PROXIES`: IP addresses separated by commas (`127.0.0.1, ::1`).
    pub fn parse(list: &str) -> Result<TrustedProxies, String> {
        list.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse::<IpAddr>()
                    .map_err(|_| format!("{item:?} is not an IP address"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    /// Whether `peer` is one of the trusted proxies.
    pub fn trusts(&self, peer: Option<IpAddr>) -> bool {
        peer.is_some_and(|peer| self.0.contains(&peer.to_canonical()))
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_metrics_listen_on_loopback_unless_told_otherwise() {
        use super::*;
        // Against Segment, so that the build without the sandbox reads the same.
        let with = |value: Option<&'static str>| {
            Settings::from_lookup(move |name| match name {
                "METRICS_ADDR" => value.map(str::to_owned),
                "CLIENT_ID" => Some("id".to_owned()),
                "CLIENT_SECRET" => Some("secret".to_owned()),
                "SESSION_KEY" => Some(
                    "3f1c9a0e5b7d2468ace13579bdf02468a1b2c3d4e5f60718293a4b5c6d7e8f90".to_owned(),
                ),
                _ => None,
            })
        };
        let default = with(None).unwrap().metrics.unwrap();
        assert!(default.address.ip().is_loopback());
        assert!(!default.chosen);
        let chosen = with(Some("10.0.0.5:9100")).unwrap().metrics.unwrap();
        assert_eq!(chosen.address.to_string(), "10.0.0.5:9100");
        assert!(chosen.chosen);
        assert_eq!(with(Some("off")).unwrap().metrics, None);
        let error = with(Some("localhost")).unwrap_err().to_string();
        assert!(error.contains("METRICS_ADDR"), "{error}");
    }

    #[test]
    fn secrets_come_from_files_with_the_same_checks() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        let files = |path: &str| match path {
            "/run/secrets/key" => {
                Ok("3f1c9a0e5b7d2468ace13579bdf02468a1b2c3d4e5f60718293a4b5c6d7e8f90\n".to_owned())
            }
            "/run/secrets/short" => Ok("short\n".to_owned()),
            "/run/secrets/secret" => Ok("s3cr3t\n".to_owned()),
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "No such file or directory",
            )),
        };
        let lookup = with_files(
            env(&[
                ("SESSION_KEY_FILE", "/run/secrets/key"),
                ("CLIENT_ID", "id"),
                ("CLIENT_SECRET_FILE", "/run/secrets/secret"),
            ]),
            files,
        )
        .unwrap();
        assert_eq!(lookup("CLIENT_SECRET").as_deref(), Some("s3cr3t"));
        let settings = Settings::from_lookup(lookup).unwrap();
        assert!(settings.session_key.is_some());

        let short = with_files(
            env(&[
                ("SESSION_KEY_FILE", "/run/secrets/short"),
                ("CLIENT_ID", "a"),
                ("CLIENT_SECRET", "b"),
            ]),
            files,
        )
        .unwrap();
        let error = Settings::from_lookup(short).unwrap_err().to_string();
        assert!(error.starts_with("SESSION_KEY"), "{error}");
        assert!(!error.contains("short"), "{error}");

        let missing = with_files(env(&[("REDIS_URL_FILE", "/nowhere")]), files)
            .err()
            .unwrap();
        assert_eq!(
            missing.to_string(),
            "REDIS_URL_FILE names \"/nowhere\", which cannot be read: No such file or directory"
        );
        let both = with_files(
            env(&[
                ("DATABASE_URL", "sqlite://x.db"),
                ("DATABASE_URL_FILE", "/run/secrets/key"),
            ]),
            files,
        )
        .err()
        .unwrap();
        assert!(
            both.to_string()
                .starts_with("DATABASE_URL and DATABASE_URL_FILE"),
            "{both}"
        );
    }

    #[test]
    fn migrate_on_start_is_on_unless_turned_off() {
        assert!(with_credentials(&[]).unwrap().migrate_on_start);
        let off = with_credentials(&[("MIGRATE_ON_START", "false")]);
        assert!(!off.unwrap().migrate_on_start);
        let bad = with_credentials(&[("MIGRATE_ON_START", "later")]);
        assert!(bad.unwrap_err().to_string().starts_with("MIGRATE_ON_START"));
    }
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    const KEY: &str = "3f1c9a0e5b7d2468ace13579bdf02468a1b2c3d4e5f60718293a4b5c6d7e8f90";

    /// Settings with credentials, for checks that hold in either mode.
    /// `docs/settings.md` lists exactly the variables the app reads: every name
    /// `Settings::from_lookup` asks for (in sandbox mode, and with credentials and Redis), each
    /// `*_FILE` of [`FILE_SETTINGS`], and the two read before the settings (`LOG_FORMAT`, by
    /// `main`, and `RUST_LOG`, by the log filter).
    #[test]
    fn the_settings_page_lists_exactly_what_is_read() {
        use std::collections::BTreeSet;
        let read = std::cell::RefCell::new(BTreeSet::new());
        let real = [
            ("CLIENT_ID", "id"),
            ("CLIENT_SECRET", "secret"),
            ("SESSION_KEY", KEY),
            ("REDIS_URL", "redis://127.0.0.1:6379/0"),
        ];
        for vars in [&[][..], &real[..]] {
            let _ = Settings::from_lookup(|name| {
                read.borrow_mut().insert(name.to_owned());
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
            });
        }
        let mut read = read.into_inner();
        read.extend(FILE_SETTINGS.iter().map(|name| format!("{name}_FILE")));
        read.extend(["LOG_FORMAT".to_owned(), "RUST_LOG".to_owned()]);
        // The page describes the default build, whose sandbox reads this one.
        if !cfg!(feature = "sandbox") {
            read.insert("SANDBOX_PUBLIC".to_owned());
        }

        let page = include_str!("../../docs/settings.md");
        let listed: BTreeSet<String> = page
            .lines()
            .filter(|line| line.starts_with("| `"))
            .filter_map(|line| line.split('|').nth(1))
            .flat_map(|cell| cell.split('`').skip(1).step_by(2))
            .filter(|name| {
                name.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            })
            .map(str::to_owned)
            .collect();
        let missing: Vec<&String> = read.difference(&listed).collect();
        let unread: Vec<&String> = listed.difference(&read).collect();
        assert!(
            missing.is_empty(),
            "read, but not on docs/settings.md: {missing:?}"
        );
        assert!(
            unread.is_empty(),
            "on docs/settings.md, but never read: {unread:?}"
        );
    }

    fn with_credentials(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let mut all = vec![
            ("CLIENT_ID", "id"),
            ("CLIENT_SECRET", "secret"),
            ("SESSION_KEY", KEY),
        ];
        all.extend_from_slice(vars);
        settings(&all)
    }

    /// The sandbox listens on loopback only, unless a shared demo server says otherwise.
    #[cfg(feature = "sandbox")]
    #[test]
    fn the_sandbox_stays_on_this_machine_unless_told() {
        for host in ["127.0.0.1", "::1", "[::1]", "localhost", "127.0.0.2"] {
            assert!(settings(&[("HOST", host)]).is_ok(), "{host}");
        }
        for host in ["0.0.0.0", "::", "192.0.2.10"] {
            let error = settings(&[("HOST", host)]).unwrap_err().to_string();
            assert!(error.contains("SANDBOX_PUBLIC=1"), "{error}");
            assert!(settings(&[("HOST", host), ("SANDBOX_PUBLIC", "1")]).is_ok());
        }
        // With credentials there is no sandbox to keep in.
        assert!(with_credentials(&[("HOST", "0.0.0.0")]).is_ok());
    }

    /// With only PORT set, the redirect URL (and so the browser's way back) is on that port;
    /// a REDIRECT_URL that is not the callback route stops start-up.
    #[test]
    fn the_redirect_url_follows_the_port_and_names_the_callback() {
        let s = with_credentials(&[("PORT", "8891")]).unwrap();
        assert_eq!(
            s.redirect_url.as_str(),
            "http://localhost:8891/auth/segment/callback"
        );
        assert_eq!(s.public_origin(), "http://localhost:8891");
        for wrong in [
            "http://localhost:8888/",
            "http://localhost:8888/callback",
            "http://localhost:8888/auth/segment/callback/extra",
        ] {
            let error = with_credentials(&[("REDIRECT_URL", wrong)]).unwrap_err();
            let line = error.to_string();
            assert!(line.starts_with("REDIRECT_URL"), "{line}");
            assert!(line.contains("/auth/segment/callback"), "{line}");
        }
        // A bad PORT is still reported as a bad PORT.
        let error = with_credentials(&[("PORT", "eighty")]).unwrap_err();
        assert!(error.to_string().starts_with("PORT"), "{error}");
    }

    #[test]
    fn defaults_follow_segments_example() {
        let s = with_credentials(&[]).unwrap();
        assert_eq!(s.destination_slug.as_str(), "clearbrain");
        assert_eq!(s.sessions, SessionLimits::default());
        assert_eq!(s.scope.to_string(), "destination/clearbrain");
        assert_eq!(s.redirect_url.as_str(), DEFAULT_REDIRECT_URL);
        assert_eq!(s.port, 8888);
        assert!(s.destination_api_key.is_none());
        assert_eq!(s.database_url, DEFAULT_DATABASE_URL);
        assert!(s.pkce);
        assert!(!s.mode.is_sandbox());
    }

    #[test]
    fn scope_follows_the_slug() {
        let s = with_credentials(&[("DESTINATION_SLUG", "airship")]);
        assert_eq!(s.unwrap().scope.to_string(), "destination/airship");
    }

    #[test]
    fn half_credentials_name_the_missing_one() {
        let err = settings(&[("CLIENT_ID", "id")]).unwrap_err();
        assert_eq!(
            err,
            ConfigError::HalfCredentials("CLIENT_ID", "CLIENT_SECRET")
        );
        assert!(err.to_string().contains("CLIENT_SECRET is not"));
        let err = settings(&[("CLIENT_SECRET", "s")]).unwrap_err();
        assert_eq!(
            err,
            ConfigError::HalfCredentials("CLIENT_SECRET", "CLIENT_ID")
        );
    }

    #[test]
    fn bad_urls_name_the_variable() {
        for name in ["REDIRECT_URL", "SEGMENT_ID_URL", "SEGMENT_API_URL"] {
            let err = with_credentials(&[(name, "not a url")]).unwrap_err();
            assert!(err.to_string().starts_with(name), "{err}");
            let err = with_credentials(&[(name, "ftp://example.com")]).unwrap_err();
            assert!(err.to_string().starts_with(name), "{err}");
        }
    }

    #[test]
    fn scope_must_be_one_of_the_three_forms() {
        for bad in [
            "workspace:write",
            "destination/",
            "destinations/clearbrain",
            "admin",
        ] {
            let err = with_credentials(&[("SEGMENT_SCOPE", bad)]).unwrap_err();
            assert!(err.to_string().starts_with("SEGMENT_SCOPE"), "{bad}: {err}");
        }
        for good in [
            "workspace",
            "workspace:read",
            "destination/google-analytics",
        ] {
            assert_eq!(
                with_credentials(&[("SEGMENT_SCOPE", good)])
                    .unwrap()
                    .scope
                    .to_string(),
                good
            );
        }
    }

    #[test]
    fn session_key_is_checked_and_required_for_real_segment() {
        let err = with_credentials(&[("SESSION_KEY", "c2hvcnQ=")]).unwrap_err();
        assert_eq!(err, ConfigError::SessionKey(KeyError::Short(5)));
        assert!(
            err.to_string().starts_with("SESSION_KEY is too short"),
            "{err}"
        );
        let err = with_credentials(&[("SESSION_KEY", &"k".repeat(64))]).unwrap_err();
        assert!(
            err.to_string().starts_with("SESSION_KEY looks weak"),
            "{err}"
        );
        assert!(with_credentials(&[]).unwrap().session_key.is_some());
        let err = settings(&[("CLIENT_ID", "id"), ("CLIENT_SECRET", "secret")]).unwrap_err();
        assert_eq!(err, ConfigError::SessionKeyRequired);
        #[cfg(feature = "sandbox")]
        assert!(settings(&[]).unwrap().session_key.is_none());
    }

    #[test]
    fn session_limits_are_minutes() {
        let s = with_credentials(&[
            ("SESSION_IDLE_MINUTES", "5"),
            ("SESSION_LIFETIME_MINUTES", "60"),
        ])
        .unwrap();
        assert_eq!(s.sessions.idle, Duration::from_secs(300));
        assert_eq!(s.sessions.absolute, Duration::from_secs(3600));
        for bad in ["0", "-5", "ten"] {
            let err = with_credentials(&[("SESSION_IDLE_MINUTES", bad)]).unwrap_err();
            assert!(err.to_string().starts_with("SESSION_IDLE_MINUTES"), "{err}");
        }
    }

    #[test]
    fn bad_port_and_pkce_are_refused() {
        assert!(
            with_credentials(&[("PORT", "88888")])
                .unwrap_err()
                .to_string()
                .starts_with("PORT")
        );
        let err = with_credentials(&[("SEGMENT_PKCE", "maybe")]).unwrap_err();
        assert!(err.to_string().starts_with("SEGMENT_PKCE"));
        assert!(!with_credentials(&[("SEGMENT_PKCE", "false")]).unwrap().pkce);
    }

    #[test]
    fn timeouts_are_milliseconds() {
        let s = with_credentials(&[("SEGMENT_TIMEOUT_MS", "250")]).unwrap();
        assert_eq!(s.limits.total, Duration::from_millis(250));
        assert_eq!(s.limits.connect, Duration::from_secs(5));
        assert_eq!(s.limits.max_in_flight, 32);
        let s = with_credentials(&[("SEGMENT_MAX_IN_FLIGHT", "4")]).unwrap();
        assert_eq!(s.limits.max_in_flight, 4);
        let err = with_credentials(&[("SEGMENT_MAX_IN_FLIGHT", "0")]).unwrap_err();
        assert!(
            err.to_string().starts_with("SEGMENT_MAX_IN_FLIGHT"),
            "{err}"
        );
        for bad in ["0", "-1", "1.5s"] {
            let err = with_credentials(&[("SEGMENT_CONNECT_TIMEOUT_MS", bad)]).unwrap_err();
            assert!(
                err.to_string().starts_with("SEGMENT_CONNECT_TIMEOUT_MS"),
                "{err}"
            );
        }
    }

    #[test]
    fn postgres_and_redis_urls_are_taken_and_never_printed_with_their_password() {
        let taken = with_credentials(&[
            ("DATABASE_URL", "postgres://app:pw@db/partner"),
            ("REDIS_URL", "rediss://:pw@cache:6380/0"),
        ])
        .unwrap();
        assert_eq!(taken.database_url, "postgres://app:pw@db/partner");
        assert_eq!(
            taken.redis_url.as_deref(),
            Some("rediss://:pw@cache:6380/0")
        );
        assert_eq!(with_credentials(&[]).unwrap().redis_url, None);

        for (name, bad) in [
            ("DATABASE_URL", "mysql://app:hunter2-secret@db/partner"),
            ("REDIS_URL", "memcached://app:hunter2-secret@db/partner"),
        ] {
            let err = with_credentials(&[(name, bad)]).unwrap_err();
            let printed = err.to_string();
            assert!(printed.starts_with(name), "{printed}");
            assert!(printed.contains("db/partner"), "{printed}");
            assert!(!printed.contains("hunter2"), "{printed}");
        }
    }

    #[test]
    fn no_credentials_means_sandbox() {
        let result = settings(&[]);
        #[cfg(feature = "sandbox")]
        assert!(result.unwrap().mode.is_sandbox());
        #[cfg(not(feature = "sandbox"))]
        assert_eq!(result.unwrap_err(), ConfigError::NoCredentials);
    }

    #[test]
    fn debug_never_shows_secrets() {
        let s = settings(&[
            ("CLIENT_ID", "id"),
            ("CLIENT_SECRET", "very-secret-value"),
            ("DESTINATION_API_KEY", "partner-key-123456"),
            ("SESSION_KEY", KEY),
        ])
        .unwrap();
        let printed = format!("{s:?}");
        assert!(!printed.contains(&KEY[..8]), "{printed}");
        assert!(!printed.contains("very-secret-value"), "{printed}");
        assert!(!printed.contains("partner-key-123456"), "{printed}");
    }

    #[test]
    fn the_list_takes_ip_addresses_only() {
        assert!(TrustedProxies::parse("").unwrap().0.is_empty());
        assert_eq!(TrustedProxies::parse("::1").unwrap().0.len(), 1);
        assert!(TrustedProxies::parse("10.0.0.0/8").is_err());
        assert!(TrustedProxies::parse("proxy.internal").is_err());
    }
}

//! Starts the sandbox and the app on port 0, and drives them as a browser would: a cookie jar,
//! redirects followed one by one (at most ten), buttons and links found by their labels and
//! forms submitted with the fields the page put in them.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use scraper::{ElementRef, Html, Selector};
use segment_partnerapp::config::Settings;
use segment_partnerapp::crypto::MasterKey;
use segment_partnerapp::sandbox::{self, Sandbox};
use segment_partnerapp::startup::Application;
use segment_partnerapp::store::Store;
use segment_partnerapp::web::login::Login;
use serde_json::Value;
use url::Url;

/// The API key the tests' app pushes into destinations; long enough that the inspector's mask
/// shows its last four characters.
pub const API_KEY: &str = "partner-key-for-acme-0001";
const MAX_REDIRECTS: usize = 10;
/// The tests' `SESSION_KEY` (as `openssl rand -hex 32` prints one).
pub const SESSION_KEY: &str = "3f1c9a0e5b7d2468ace13579bdf02468a1b2c3d4e5f60718293a4b5c6d7e8f90";

pub struct TestApp {
    /// `http://127.0.0.1:PORT` of the app.
    pub address: String,
    /// Where the sandbox's inspector is (its own server, or `/sandbox` in the app).
    pub sandbox_url: String,
    /// The sandbox itself, to set up a test (token lifetime, faults); assertions read the
    /// inspector over HTTP.
    pub sandbox: Arc<Sandbox>,
    /// The settings the app was started with (to start it again).
    pub vars: Vec<(&'static str, String)>,
    /// The SQLite file the app was started on (none on Postgres), kept while the app is.
    pub database: Option<Arc<TestDatabase>>,
    pub browser: Browser,
    /// `http://127.0.0.1:PORT/metrics`: the metrics, on their own listener.
    pub metrics_url: String,
}

/// How to set the app and the sandbox up; the defaults are the happy path.
pub struct Options {
    /// The scope the app asks for (`SEGMENT_SCOPE`).
    pub app_scope: String,
    /// The scope the sandbox's App was created with.
    pub sandbox_scope: String,
    /// The partner's destination (`DESTINATION_SLUG`).
    pub slug: String,
    /// More settings, e.g. timeouts.
    pub extra: Vec<(&'static str, String)>,
    /// Push each account's own key (no DESTINATION_API_KEY override).
    pub account_keys: bool,
    /// The production stores: a new database on the Postgres server `DATABASE_TEST_URL` names,
    /// and sessions in the Redis of `REDIS_TEST_URL`.
    pub postgres_and_redis: bool,
    /// Another login than the demo's accounts.
    pub login: Option<Arc<dyn Login>>,
}

impl Default for Options {
    fn default() -> Self {
        Options::destination("clearbrain")
    }
}

impl Options {
    /// The app and the sandbox's App both on `destination/<slug>`.
    pub fn destination(slug: &str) -> Options {
        let scope = format!("destination/{slug}");
        Options {
            app_scope: scope.clone(),
            sandbox_scope: scope,
            slug: slug.to_owned(),
            extra: Vec::new(),
            account_keys: false,
            postgres_and_redis: false,
            login: None,
        }
    }

    /// The app and the sandbox's App both on `scope`, for the default destination.
    pub fn scope(scope: &str) -> Options {
        Options {
            app_scope: scope.to_owned(),
            sandbox_scope: scope.to_owned(),
            ..Options::default()
        }
    }
}

fn bind() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("local address").port();
    (listener, port)
}

/// A SQLite database of its own for each app a test starts: a file in a temp folder that is
/// removed, with the file's `-wal` and `-shm`, when the last app using it is dropped.
pub struct TestDatabase {
    folder: tempfile::TempDir,
}

impl TestDatabase {
    pub fn new() -> Arc<TestDatabase> {
        let folder = tempfile::Builder::new()
            .prefix("partnerapp-test-")
            .tempdir()
            .expect("a temp folder for the test database");
        Arc::new(TestDatabase { folder })
    }

    pub fn url(&self) -> String {
        format!("sqlite://{}", self.folder.path().join("app.db").display())
    }
}

/// A new, empty database on the Postgres server `DATABASE_TEST_URL` names, and its URL. (The
/// databases stay: CI's Postgres is a throw-away cluster.)
pub async fn postgres_test_database() -> String {
    use sqlx::Connection;
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let server = std::env::var("DATABASE_TEST_URL").expect("DATABASE_TEST_URL names a Postgres");
    let name = format!("partnerapp_api_{}_{n}", std::process::id());
    let mut conn = sqlx::PgConnection::connect(&server)
        .await
        .expect("the Postgres at DATABASE_TEST_URL answers");
    // `name` is made here of a fixed word and numbers.
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("a test database is created");
    let mut url = Url::parse(&server).expect("DATABASE_TEST_URL is a URL");
    url.set_path(&name);
    url.to_string()
}

/// Settings from `vars`, which name the database (never the developer's `data/`).
pub fn settings(vars: &[(&str, String)]) -> Settings {
    assert!(
        vars.iter().any(|(key, _)| *key == "DATABASE_URL"),
        "a test app names its own database"
    );
    Settings::from_lookup(|name| {
        vars.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
            // The metrics on a free port of their own, never the default's fixed one.
            .or_else(|| (name == "METRICS_ADDR").then(|| "127.0.0.1:0".to_owned()))
    })
    .expect("test settings are valid")
}

/// The app talking, as it would to Segment, to a sandbox on a listener of its own.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let (app_listener, app_port) = bind();
    let address = format!("http://127.0.0.1:{app_port}");
    let redirect_url = format!("{address}/auth/segment/callback");

    let (sandbox_listener, sandbox_port) = bind();
    let sandbox_url = format!("http://127.0.0.1:{sandbox_port}");
    let sandbox_scope = sandbox::Scope::parse(&options.sandbox_scope).expect("a valid scope");
    let redirect = Url::parse(&redirect_url).expect("a valid URL");
    let sandbox = Sandbox::new(sandbox::demo_app(&redirect, sandbox_scope), "");
    // Segment's credential test calls the partner's API: this app's.
    sandbox.set_credential_test_url(&format!("{address}/api/v1/me"));
    let server = sandbox::serve(sandbox.clone(), sandbox_listener).expect("the sandbox starts");
    tokio::spawn(server);

    let (database, database_url) = if options.postgres_and_redis {
        (None, postgres_test_database().await)
    } else {
        let database = TestDatabase::new();
        let url = database.url();
        (Some(database), url)
    };
    let mut vars = vec![
        ("DATABASE_URL", database_url),
        ("CLIENT_ID", sandbox::CLIENT_ID.to_owned()),
        ("CLIENT_SECRET", sandbox::CLIENT_SECRET.to_owned()),
        ("SEGMENT_ID_URL", sandbox_url.clone()),
        ("SEGMENT_API_URL", sandbox_url.clone()),
        ("SEGMENT_SCOPE", options.app_scope),
        ("DESTINATION_SLUG", options.slug),
        ("REDIRECT_URL", redirect_url),
        ("SESSION_KEY", SESSION_KEY.to_owned()),
    ];
    if !options.account_keys {
        vars.push(("DESTINATION_API_KEY", API_KEY.to_owned()));
    }
    if options.postgres_and_redis {
        let redis = std::env::var("REDIS_TEST_URL").expect("REDIS_TEST_URL names a Redis");
        vars.push(("REDIS_URL", redis));
    }
    // A setting in `extra` replaces the default.
    vars.retain(|(name, _)| !options.extra.iter().any(|(other, _)| other == name));
    vars.extend(options.extra);
    let mut app = start(
        settings(&vars),
        app_listener,
        address,
        sandbox_url,
        Some(sandbox),
        options.login,
    )
    .await;
    app.vars = vars;
    app.database = database;
    app
}

/// An app whose accounts push their own keys (so Segment's credential test passes), installed on
/// `javascript` with the destination enabled; and the page Enable landed on.
pub async fn app_with_enabled_destination() -> (TestApp, Page) {
    let app = spawn_app_with(Options {
        account_keys: true,
        ..Options::default()
    })
    .await;
    let page = app.install_on("javascript").await;
    let page = app.browser.click(&page, "Enable").await;
    assert!(page.text().contains("Enabled"), "{}", page.text());
    (app, page)
}

/// The app as `cargo run` starts it: no credentials, the sandbox mounted under `/sandbox`.
pub async fn spawn_app_in_sandbox_mode() -> TestApp {
    spawn_app_in_sandbox_mode_with(&[]).await
}

/// The app as `cargo run` starts it, with some more settings.
pub async fn spawn_app_in_sandbox_mode_with(extra: &[(&'static str, &str)]) -> TestApp {
    let database = TestDatabase::new();
    let mut vars = vec![
        ("DATABASE_URL", database.url()),
        ("DESTINATION_API_KEY", API_KEY.to_owned()),
    ];
    // A setting in `extra` replaces the default (an empty value unsets it).
    vars.retain(|(name, _)| !extra.iter().any(|(other, _)| other == name));
    vars.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    let mut app = start_in_sandbox_mode(vars).await;
    app.database = Some(database);
    app
}

/// Starts the app in sandbox mode on a new port with `vars` (and a REDIRECT_URL for the port).
async fn start_in_sandbox_mode(mut vars: Vec<(&'static str, String)>) -> TestApp {
    let (listener, port) = bind();
    let address = format!("http://127.0.0.1:{port}");
    vars.retain(|(k, _)| *k != "REDIRECT_URL");
    vars.push(("REDIRECT_URL", format!("{address}/auth/segment/callback")));
    let settings = settings(&vars);
    assert!(settings.mode.is_sandbox());
    let sandbox_url = format!("{address}/sandbox");
    let mut app = start(settings, listener, address, sandbox_url, None, None).await;
    app.vars = vars;
    app
}

/// Starts the app; `sandbox` is the sandbox it talks to, unless it mounts its own.
async fn start(
    settings: Settings,
    listener: TcpListener,
    address: String,
    sandbox_url: String,
    sandbox: Option<Arc<Sandbox>>,
    login: Option<Arc<dyn Login>>,
) -> TestApp {
    let application = match login {
        Some(login) => Application::build_with_login(settings, listener, login).await,
        None => Application::build_with_listener(settings, listener).await,
    }
    .expect("the app starts");
    let sandbox = sandbox
        .or_else(|| application.sandbox())
        .expect("a sandbox to talk to");
    let metrics_url = format!(
        "http://127.0.0.1:{}/metrics",
        application.metrics_port().expect("the metrics are served")
    );
    tokio::spawn(application.run_until_stopped());
    TestApp {
        address,
        sandbox_url,
        sandbox,
        vars: Vec::new(),
        database: None,
        browser: Browser::new(),
        metrics_url,
    }
}

impl TestApp {
    /// The same app and sandbox, seen by another visitor (a new browser: a new account).
    pub fn another_visitor(&self) -> TestApp {
        TestApp {
            address: self.address.clone(),
            sandbox_url: self.sandbox_url.clone(),
            sandbox: self.sandbox.clone(),
            vars: self.vars.clone(),
            database: self.database.clone(),
            browser: Browser::new(),
            metrics_url: self.metrics_url.clone(),
        }
    }

    /// The app started again on a new port with the same settings (the same database file and
    /// session key), talking to the same sandbox, with this visitor's browser.
    pub async fn restart(self) -> TestApp {
        let (listener, port) = bind();
        let address = format!("http://127.0.0.1:{port}");
        let mut vars = self.vars.clone();
        vars.retain(|(k, _)| *k != "REDIRECT_URL");
        vars.push(("REDIRECT_URL", format!("{address}/auth/segment/callback")));
        let mut app = start(
            settings(&vars),
            listener,
            address,
            self.sandbox_url.clone(),
            Some(self.sandbox.clone()),
            None,
        )
        .await;
        app.vars = vars;
        app.database = self.database;
        app.browser = self.browser;
        app
    }

    /// `cargo run` stopped and started again: the same settings and database file, on a new
    /// port, with a new sandbox (which, like any in-memory Segment, has forgotten everything),
    /// and this visitor's browser (cookies are per host, not per port).
    pub async fn restart_in_sandbox_mode(self) -> TestApp {
        let mut app = start_in_sandbox_mode(self.vars.clone()).await;
        app.database = self.database;
        app.browser = self.browser;
        app
    }

    /// The setting `name` the app was started with.
    fn var(&self, name: &str) -> Option<String> {
        self.vars
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    }

    /// The app's database, opened beside the app (as a second instance would).
    pub async fn store(&self) -> Store {
        let url = self
            .var("DATABASE_URL")
            .expect("the test app has its own database");
        match self.var("SESSION_KEY") {
            Some(key) => Store::open(&url, &MasterKey::parse(&key).expect("a good key"))
                .await
                .expect("the database opens"),
            None => {
                Store::open_demo(&url, segment_partnerapp::store::Migrations::Apply)
                    .await
                    .expect("the database opens")
                    .0
            }
        }
    }

    /// How many sessions the app's database holds.
    pub async fn session_count(&self) -> i64 {
        self.store()
            .await
            .sessions(Default::default())
            .count()
            .await
            .expect("sessions are counted")
    }

    /// Every session row the app's (SQLite) database holds, as stored: what a write changes.
    pub async fn session_rows(&self) -> Vec<(String, Vec<u8>, i64)> {
        use sqlx::Connection;
        let url = self
            .var("DATABASE_URL")
            .expect("the test app has its own database");
        let mut conn = sqlx::SqliteConnection::connect(&url)
            .await
            .expect("the SQLite database opens");
        sqlx::query_as("SELECT id_hash, state, last_seen_at FROM segment_sessions ORDER BY id_hash")
            .fetch_all(&mut conn)
            .await
            .expect("the sessions are read")
    }

    /// Makes this visitor's account from the account page (as "get your API key first" does),
    /// and returns the home page it lands on, which shows the key once.
    pub async fn make_account(&self) -> Page {
        let page = self.browser.get(&self.url("/account")).await;
        let home = self
            .browser
            .click(&page, "Make my account and show my API key")
            .await;
        assert_eq!(home.url.path(), "/", "{}", home.body);
        home
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// What Segment (the sandbox) holds now: the inspector's JSON.
    pub async fn segment_view(&self) -> Value {
        // Asked as a script (no sandbox cookie): the whole world, not one visitor's view.
        let response = reqwest::Client::new()
            .get(&self.sandbox_url)
            .header("Accept", "application/json")
            .send()
            .await
            .expect("the inspector answers");
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.expect("the inspector sends JSON")
    }

    /// This browser's CSRF token, as any page with forms shows it (the home page for a visitor
    /// with an account, the account page for one without).
    pub async fn csrf_token(&self) -> String {
        let token = |page: &Page| {
            let html = Html::parse_document(&page.body);
            let selector = Selector::parse("meta[name=csrf-token]").expect("selector");
            html.select(&selector)
                .next()
                .and_then(|m| m.value().attr("content"))
                .map(str::to_owned)
        };
        // The home page carries it for a visitor with an account (a visitor without one has no
        // session, and no token).
        let home = self.browser.get(&self.url("/")).await;
        token(&home).expect("the home page carries the CSRF token")
    }

    /// POSTs a form to `path` as a page of this app would: with the session's CSRF token.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let token = self.csrf_token().await;
        let mut fields = fields.to_vec();
        fields.push(("csrf_token", &token));
        self.browser.post(&self.url(path), &fields).await
    }

    /// Arms a fault in the sandbox, through its HTTP interface.
    pub async fn arm_fault(&self, fault: Value) {
        let response = self
            .browser
            .client
            .post(format!("{}/faults", self.sandbox_url))
            .json(&fault)
            .send()
            .await
            .expect("the sandbox answers");
        assert_eq!(response.status(), StatusCode::CREATED, "{fault}");
        let said: Value = response.json().await.expect("what the fault does");
        assert!(
            said["message"]
                .as_str()
                .unwrap_or_default()
                .starts_with("armed: the next"),
            "{said}"
        );
    }

    /// Disarms every fault that has not fired yet.
    pub async fn clear_faults(&self) {
        let response = self
            .browser
            .client
            .delete(format!("{}/faults", self.sandbox_url))
            .send()
            .await
            .expect("the sandbox answers");
        assert_eq!(response.status(), StatusCode::NO_CONTENT);
    }

    /// How many writes (POST, PATCH, DELETE on the Config API) Segment has answered.
    pub async fn write_count(&self) -> usize {
        self.segment_view().await["activity"]
            .as_array()
            .map_or(0, |activity| {
                activity
                    .iter()
                    .filter(|a| {
                        let what = a["what"].as_str().unwrap_or("");
                        ["POST /v1beta", "PATCH", "DELETE"]
                            .iter()
                            .any(|w| what.starts_with(w))
                    })
                    .count()
            })
    }

    /// How many install tokens Segment minted through the install token API.
    pub async fn refresh_count(&self) -> u64 {
        self.segment_view().await["refreshes"]
            .as_u64()
            .expect("the inspector counts refreshes")
    }

    /// Expires the install's tokens in Segment, as an hour going by would.
    pub async fn expire_tokens(&self) {
        let inspector = self.browser.get(&self.sandbox_url).await;
        if inspector.buttons().contains(&"Expire tokens".to_owned()) {
            self.browser.click(&inspector, "Expire tokens").await;
            return;
        }
        // Another visitor's install: the inspector offers this browser no button for it, so
        // "Segment" expires its tokens directly.
        for install in self.segment_view().await["installs"].as_array().unwrap() {
            let id = install["id"].as_u64().unwrap();
            self.sandbox.world().expire_tokens(id);
        }
    }

    /// The value of this browser's cookie `name` for the app, if it has one.
    pub fn cookie(&self, name: &str) -> Option<String> {
        let header = self.browser.cookie_header(&self.url("/"))?;
        header
            .split("; ")
            .filter_map(|c| c.split_once('='))
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_owned())
    }

    /// How many installs Segment (the sandbox) has.
    pub async fn install_count(&self) -> usize {
        self.segment_view().await["installs"]
            .as_array()
            .map_or(0, Vec::len)
    }

    /// Home → Enable with Segment → the consent page.
    pub async fn open_consent(&self) -> Page {
        let home = self.browser.get(&self.url("/")).await;
        let consent = self.browser.follow_link(&home, "Enable with Segment").await;
        assert_eq!(consent.status, 200, "{}", consent.body);
        assert!(consent.text().contains("Authorize"), "{}", consent.body);
        consent
    }

    /// Home → Enable with Segment → consent → Allow on `source`: the callback Segment sends the
    /// browser to, not followed yet.
    pub async fn callback_after_allow(&self, source: &str) -> Url {
        let consent = self.open_consent().await;
        self.browser
            .click_to_redirect(&consent, "Allow", &[("source", source)])
            .await
    }

    /// The whole install on `workspace` (when the sandbox has several): consent, pick the
    /// workspace and `source`, Allow, land on the destination page.
    pub async fn install_on_workspace(&self, workspace: &str, source: &str) -> Page {
        let consent = self.open_consent().await;
        let page = self
            .browser
            .click_with(
                &consent,
                "Allow",
                &[("workspace", workspace), ("source", source)],
            )
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(page.url.path(), "/destination", "{}", page.body);
        page
    }

    /// The whole install: consent, pick `source`, Allow, land on the destination page.
    pub async fn install_on(&self, source: &str) -> Page {
        let consent = self.open_consent().await;
        let page = self
            .browser
            .click_with(&consent, "Allow", &[("source", source)])
            .await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(page.url.path(), "/destination", "{}", page.body);
        page
    }
}

/// A page as the browser ended up on it.
pub struct Page {
    pub status: u16,
    pub url: Url,
    pub body: String,
}

impl Page {
    /// The visible text, whitespace folded.
    pub fn text(&self) -> String {
        let html = Html::parse_document(&self.body);
        let words: Vec<&str> = html
            .root_element()
            .text()
            .flat_map(str::split_whitespace)
            .collect();
        words.join(" ")
    }

    /// Where the link labelled `text` goes.
    pub fn link(&self, text: &str) -> Url {
        let html = Html::parse_document(&self.body);
        let selector = Selector::parse("a[href]").expect("selector");
        let link = html
            .select(&selector)
            .find(|a| label(a) == text)
            .unwrap_or_else(|| panic!("no link {text:?} on {}:\n{}", self.url, self.body));
        let href = link.value().attr("href").unwrap_or_default();
        self.url.join(href).expect("a valid link")
    }

    /// The labels of the page's buttons.
    pub fn buttons(&self) -> Vec<String> {
        let html = Html::parse_document(&self.body);
        let selector = Selector::parse("button").expect("selector");
        html.select(&selector).map(|b| label(&b)).collect()
    }

    /// What the form control named `name` shows: an input's value (or, for a checkbox,
    /// "checked"/"unchecked"; for a password, its placeholder), a textarea's text, a select's
    /// chosen option. `None` when there is no such control.
    pub fn control(&self, name: &str) -> Option<String> {
        let html = Html::parse_document(&self.body);
        let selector = Selector::parse(&format!("[name=\"{name}\"]")).expect("selector");
        let element = html.select(&selector).next()?;
        let node = element.value();
        Some(match node.name() {
            "textarea" => element.text().collect(),
            "select" => {
                let options = Selector::parse("option[selected]").expect("selector");
                element
                    .select(&options)
                    .next()
                    .and_then(|o| o.value().attr("value"))
                    .unwrap_or_default()
                    .to_owned()
            }
            _ => match node.attr("type") {
                Some("checkbox") if node.attr("checked").is_some() => "checked".to_owned(),
                Some("checkbox") => "unchecked".to_owned(),
                Some("password") => node.attr("placeholder").unwrap_or_default().to_owned(),
                _ => node.attr("value").unwrap_or_default().to_owned(),
            },
        })
    }

    /// The error message shown with the control named `name`, if any.
    pub fn field_error(&self, name: &str) -> Option<String> {
        let html = Html::parse_document(&self.body);
        let fields = Selector::parse(".field").expect("selector");
        let control = Selector::parse(&format!("[name=\"{name}\"]")).expect("selector");
        let error = Selector::parse(".field-error").expect("selector");
        html.select(&fields)
            .find(|f| f.select(&control).next().is_some())
            .and_then(|f| f.select(&error).next().map(|e| label(&e)))
    }

    /// The flash message, if the page shows one.
    pub fn flash(&self) -> Option<String> {
        let html = Html::parse_document(&self.body);
        let selector = Selector::parse(".flash").expect("selector");
        html.select(&selector).next().map(|f| label(&f))
    }
}

fn label(element: &ElementRef) -> String {
    element
        .text()
        .flat_map(str::split_whitespace)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A cookie-keeping client that follows redirects itself, so tests can also stop at one.
pub struct Browser {
    pub client: reqwest::Client,
    jar: Arc<reqwest::cookie::Jar>,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

/// A form ready to submit.
pub struct Submission {
    pub method: reqwest::Method,
    pub url: Url,
    pub fields: Vec<(String, String)>,
}

impl Browser {
    pub fn new() -> Browser {
        Browser::with_headers(reqwest::header::HeaderMap::new())
    }

    /// A browser whose every request carries `headers` (as if a proxy added them).
    pub fn with_headers(headers: reqwest::header::HeaderMap) -> Browser {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            // The app closes a connection idle for 5 s (actix-web's keep-alive); a browser stops
            // reusing one well before, so a request rarely meets a connection being closed.
            .pool_idle_timeout(Duration::from_secs(2))
            .build()
            .expect("a test client");
        Browser { client, jar }
    }

    /// Gives the browser a cookie (`name=value`) for `url`.
    pub fn set_cookie(&self, url: &str, cookie: &str) {
        let url = Url::parse(url).expect("a valid URL");
        self.jar.add_cookie_str(cookie, &url);
    }

    /// The `Cookie` header this browser sends to `url`, if any.
    pub fn cookie_header(&self, url: &str) -> Option<String> {
        use reqwest::cookie::CookieStore;
        let url = Url::parse(url).ok()?;
        let value = self.jar.cookies(&url)?;
        value.to_str().ok().map(str::to_owned)
    }

    pub async fn get(&self, url: &str) -> Page {
        let url = Url::parse(url).expect("a valid URL");
        self.follow(reqwest::Method::GET, url, Vec::new()).await
    }

    pub async fn post(&self, url: &str, fields: &[(&str, &str)]) -> Page {
        let url = Url::parse(url).expect("a valid URL");
        let fields = fields
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.follow(reqwest::Method::POST, url, fields).await
    }

    /// One request, no redirect followed.
    pub async fn send(
        &self,
        method: reqwest::Method,
        url: Url,
        fields: Vec<(String, String)>,
    ) -> reqwest::Response {
        let request = if method == reqwest::Method::GET {
            let mut url = url;
            if !fields.is_empty() {
                url.query_pairs_mut().extend_pairs(fields.iter());
            }
            self.client.get(url)
        } else {
            self.client.request(method, url).form(&fields)
        };
        // A kept-alive connection the server closed just as the request went out answers
        // nothing (hyper's IncompleteMessage); a browser then sends the request again on a new
        // connection, once or twice. A refused or timed-out request is not retried.
        let mut tries = 0;
        loop {
            let attempt = request
                .try_clone()
                .expect("a form or a GET can be sent again");
            match attempt.send().await {
                Ok(response) => return response,
                Err(error) if tries < 2 && error.is_request() && !error.is_timeout() => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(error) => panic!("the server answers: {error:?}"),
            }
        }
    }

    async fn follow(
        &self,
        method: reqwest::Method,
        url: Url,
        fields: Vec<(String, String)>,
    ) -> Page {
        let mut response = self.send(method, url, fields).await;
        for _ in 0..MAX_REDIRECTS {
            if !response.status().is_redirection() {
                let status = response.status().as_u16();
                let url = response.url().clone();
                let body = response.text().await.expect("a body");
                return Page { status, url, body };
            }
            let next = location(&response);
            response = self.send(reqwest::Method::GET, next, Vec::new()).await;
        }
        panic!("more than {MAX_REDIRECTS} redirects");
    }

    pub async fn follow_link(&self, page: &Page, text: &str) -> Page {
        let url = page.link(text);
        self.follow(reqwest::Method::GET, url, Vec::new()).await
    }

    /// Clicks the button labelled `text`, following redirects to the page it ends on.
    pub async fn click(&self, page: &Page, text: &str) -> Page {
        self.click_with(page, text, &[]).await
    }

    /// Clicks after setting some fields (a select's option, an input's value).
    pub async fn click_with(&self, page: &Page, text: &str, fields: &[(&str, &str)]) -> Page {
        let form = form_of(page, text, fields);
        self.follow(form.method, form.url, form.fields).await
    }

    /// Clicks, and returns where the server redirects to, without going there.
    pub async fn click_to_redirect(&self, page: &Page, text: &str, fields: &[(&str, &str)]) -> Url {
        let form = form_of(page, text, fields);
        let response = self.send(form.method, form.url, form.fields).await;
        assert!(response.status().is_redirection(), "{}", response.status());
        location(&response)
    }
}

fn location(response: &reqwest::Response) -> Url {
    let target = response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("a redirect has a Location");
    response.url().join(target).expect("a valid Location")
}

/// The form holding the button labelled `text`, with its fields as a browser would send them.
pub fn form_of(page: &Page, text: &str, overrides: &[(&str, &str)]) -> Submission {
    let html = Html::parse_document(&page.body);
    let forms = Selector::parse("form").expect("selector");
    let buttons = Selector::parse("button").expect("selector");
    let inputs = Selector::parse("input[name], select[name], textarea[name]").expect("selector");
    let options = Selector::parse("option").expect("selector");
    for form in html.select(&forms) {
        let Some(button) = form.select(&buttons).find(|b| label(b) == text) else {
            continue;
        };
        assert!(
            button.value().attr("disabled").is_none(),
            "the button {text:?} is disabled on {}",
            page.url
        );
        let mut fields: Vec<(String, String)> = Vec::new();
        for input in form.select(&inputs) {
            let element = input.value();
            let name = element.attr("name").unwrap_or_default().to_owned();
            let value = match element.name() {
                "select" => {
                    let mut choices = input.select(&options);
                    let chosen = input
                        .select(&options)
                        .find(|o| o.value().attr("selected").is_some())
                        .or_else(|| choices.next());
                    chosen
                        .and_then(|o| o.value().attr("value"))
                        .unwrap_or_default()
                        .to_owned()
                }
                "textarea" => label(&input),
                _ => match element.attr("type") {
                    Some("checkbox") | Some("radio") if element.attr("checked").is_none() => {
                        continue;
                    }
                    Some("checkbox") => element.attr("value").unwrap_or("on").to_owned(),
                    _ => element.attr("value").unwrap_or_default().to_owned(),
                },
            };
            fields.push((name, value));
        }
        for (name, value) in overrides {
            fields.retain(|(n, _)| n != name);
            fields.push((name.to_string(), value.to_string()));
        }
        if let Some(name) = button.value().attr("name") {
            let value = button.value().attr("value").unwrap_or_default();
            fields.push((name.to_owned(), value.to_owned()));
        }
        let method = match form
            .value()
            .attr("method")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("post") => reqwest::Method::POST,
            _ => reqwest::Method::GET,
        };
        let action = form.value().attr("action").unwrap_or("");
        let url = page.url.join(action).expect("a valid form action");
        return Submission {
            method,
            url,
            fields,
        };
    }
    panic!(
        "no button {text:?} in a form on {}:\n{}",
        page.url, page.body
    );
}

/// A client for the sandbox's pages as a script drives them: cookies kept (the consent form's
/// token is checked against a cookie), redirects not followed.
pub fn form_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .expect("a client")
}

/// Opens the sandbox's consent page at `authorize_url` with `client` and returns the token its
/// form carries (`sandbox_csrf`).
pub async fn consent_token(client: &reqwest::Client, authorize_url: &str) -> String {
    let page = client
        .get(authorize_url)
        .send()
        .await
        .expect("the consent page")
        .text()
        .await
        .expect("its HTML");
    let html = Html::parse_document(&page);
    let selector = Selector::parse("input[name=sandbox_csrf]").expect("selector");
    html.select(&selector)
        .next()
        .and_then(|input| input.value().attr("value"))
        .unwrap_or_else(|| panic!("no form token on the consent page: {page}"))
        .to_owned()
}

//! `examples/add_to_existing_app.rs`, the template a partner copies, as its users meet it
//! against the `segment-sandbox` binary (as another project's tests would run it): Ann and Bob
//! sign in with their names, each connects a workspace, Ann enables and disables the
//! destination, the app restarts (its installs kept in SQLite), and each still sees only their
//! own install; Disconnect brings back the Enable with Segment link.

#[path = "../examples/add_to_existing_app.rs"]
#[allow(dead_code)]
mod example;

use std::path::PathBuf;
use std::time::Duration;

use enable_with_segment::segment::AppSettings;
use reqwest::redirect::Policy;
use scraper::{Html, Selector};
use segment_sandbox::process::Process;

/// `segment-sandbox`, built beside this test by `cargo test` at the workspace's root.
fn sandbox_binary() -> PathBuf {
    let deps = std::env::current_exe().expect("the test's own path");
    let binary = deps
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join(format!("segment-sandbox{}", std::env::consts::EXE_SUFFIX)))
        .expect("the target folder");
    assert!(
        binary.exists(),
        "{} is not built: run `cargo test` at the workspace's root (or `cargo build -p segment-sandbox`)",
        binary.display()
    );
    binary
}

/// Starts the sandbox on a free port for an App whose redirect URL is `redirect`.
fn start_sandbox(redirect: &str) -> Process {
    let args = [
        "--port",
        "0",
        "--redirect-url",
        redirect,
        "--scope",
        "destination/clearbrain",
    ];
    Process::start(&sandbox_binary(), &args, Duration::from_secs(30))
        .expect("segment-sandbox announces its base URL")
}

/// The consent page's form, with its first workspace (the browser's own new one once the
/// shared one has the App) and source, and Allow.
fn allow(consent: &str) -> Vec<(String, String)> {
    let page = Html::parse_document(consent);
    let inputs = Selector::parse("form input[type=hidden]").unwrap();
    let first = |name: &str| {
        let select = Selector::parse(&format!("select[name={name}] option")).unwrap();
        page.select(&select)
            .next()
            .map(|o| (name.to_owned(), o.value().attr("value").unwrap().to_owned()))
    };
    page.select(&inputs)
        .map(|i| {
            let attr = |a| i.value().attr(a).unwrap_or_default().to_owned();
            (attr("name"), attr("value"))
        })
        .chain(first("workspace"))
        .chain(first("source"))
        .chain([("decision".to_owned(), "allow".to_owned())])
        .collect()
}

fn location(response: &reqwest::Response) -> String {
    let to = response.headers()["location"].to_str().unwrap();
    response.url().join(to).unwrap().to_string()
}

/// A browser of one of the app's users (cookies kept, redirects not followed).
struct Browser {
    client: reqwest::Client,
    app: String,
}

impl Browser {
    fn new(app: &str) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .redirect(Policy::none())
                .timeout(Duration::from_secs(10))
                // A connection of each request's own: one kept from before the restart would
                // lead to the stopped server.
                .pool_max_idle_per_host(0)
                .build()
                .unwrap(),
            app: app.to_owned(),
        }
    }

    async fn home(&self) -> String {
        let page = self
            .client
            .get(format!("{}/", self.app))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        page.text().await.unwrap()
    }

    /// Posts `form` to `path` and follows the redirect home.
    async fn post(&self, path: &str, form: &[(&str, &str)]) -> String {
        let answer = self
            .client
            .post(format!("{}{path}", self.app))
            .form(form)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 303, "{}", answer.text().await.unwrap());
        assert_eq!(location(&answer), format!("{}/", self.app));
        self.home().await
    }

    /// Enable with Segment, Allow on Segment's consent screen, and back: the home page.
    async fn connect(&self, segment: &str, redirect: &str) -> String {
        let home = self.home().await;
        assert!(
            home.contains(r#"<a href="/auth/segment">Enable with Segment</a>"#),
            "{home}"
        );
        let start = self
            .client
            .get(format!("{}/auth/segment", self.app))
            .send()
            .await
            .unwrap();
        assert_eq!(start.status(), 303);
        let consent_url = location(&start);
        assert!(
            consent_url.starts_with(&format!("{segment}/oauth2/auth?")),
            "{consent_url}"
        );
        let consent = self.client.get(consent_url).send().await.unwrap();
        let consent = consent.text().await.unwrap();
        let allowed = self
            .client
            .post(format!("{segment}/oauth2/auth"))
            .form(&allow(&consent))
            .send()
            .await
            .unwrap();
        let callback = location(&allowed);
        assert!(callback.starts_with(redirect), "{callback}");
        let landed = self.client.get(callback.clone()).send().await.unwrap();
        assert_eq!(landed.status(), 303, "{}", landed.text().await.unwrap());
        assert_eq!(location(&landed), format!("{}/", self.app));
        // The callback works once.
        let again = self.client.get(callback).send().await.unwrap();
        assert_eq!(again.status(), 400);
        self.home().await
    }
}

/// The value after `label` in the page (`<p>Workspace: acme</p>`).
fn shown(page: &str, label: &str) -> String {
    let start = page
        .find(&format!("<p>{label}: "))
        .unwrap_or_else(|| panic!("no {label} in {page}"));
    let rest = &page[start + label.len() + 5..];
    rest[..rest.find("</p>").unwrap()].to_owned()
}

/// The app as its `main` runs it, on `listener`, with its installs in `database_url`.
async fn start_app(
    listener: std::net::TcpListener,
    segment: &str,
    redirect: &str,
    database_url: &str,
) -> actix_web::dev::ServerHandle {
    let vars = [
        ("CLIENT_ID", "sandbox-partner-app"),
        ("CLIENT_SECRET", "sandbox-client-secret"),
        ("REDIRECT_URL", redirect),
        ("SEGMENT_ID_URL", segment),
        ("SEGMENT_API_URL", segment),
        ("DESTINATION_SLUG", "clearbrain"),
    ];
    let settings = AppSettings::from_lookup(|name| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap();
    let server = example::serve(listener, settings, database_url, "partner-key-12345".into())
        .await
        .expect("the example starts");
    let handle = server.handle();
    actix_web::rt::spawn(server);
    handle
}

#[actix_web::test]
async fn two_users_connect_their_own_installs_and_keep_them_across_a_restart() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = format!("http://127.0.0.1:{port}");
    let redirect = format!("{app}/auth/segment/callback");
    let sandbox = start_sandbox(&redirect);
    let segment = sandbox.base_url().to_owned();
    let data = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", data.path().join("example.db").display());
    let server = start_app(listener, &segment, &redirect, &database_url).await;

    // Signed out: the login form.
    let ann = Browser::new(&app);
    assert!(ann.home().await.contains(r#"action="/login""#));
    let home = ann.post("/login", &[("user", "ann")]).await;
    assert!(home.contains("Signed in as ann"), "{home}");
    let home = ann.connect(&segment, &redirect).await;
    let anns_workspace = shown(&home, "Workspace");
    assert!(shown(&home, "Source").starts_with("workspaces/"), "{home}");
    assert_eq!(shown(&home, "Destination"), "Not created");
    let home = ann.post("/enable", &[]).await;
    assert_eq!(shown(&home, "Destination"), "Enabled");
    let home = ann.post("/disable", &[]).await;
    assert_eq!(shown(&home, "Destination"), "Disabled");

    // Bob, in another browser: a workspace of his own, not Ann's.
    let bob = Browser::new(&app);
    bob.post("/login", &[("user", "bob")]).await;
    let home = bob.connect(&segment, &redirect).await;
    let bobs_workspace = shown(&home, "Workspace");
    assert_ne!(bobs_workspace, anns_workspace);
    assert_eq!(shown(&home, "Destination"), "Not created");

    // Restarted: both sign in again (the example's session key is made at each start), and
    // each finds their own install where they left it.
    server.stop(true).await;
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let server = start_app(listener, &segment, &redirect, &database_url).await;
    let home = ann.home().await;
    assert!(home.contains(r#"action="/login""#), "{home}");
    let home = ann.post("/login", &[("user", "ann")]).await;
    assert_eq!(shown(&home, "Workspace"), anns_workspace);
    assert_eq!(shown(&home, "Destination"), "Disabled");
    let home = bob.post("/login", &[("user", "bob")]).await;
    assert_eq!(shown(&home, "Workspace"), bobs_workspace);
    assert_eq!(shown(&home, "Destination"), "Not created");

    // Disconnect: the app forgets Ann's install (Segment keeps it); Bob's stays.
    let home = ann.post("/disconnect", &[]).await;
    assert!(home.contains("Enable with Segment"), "{home}");
    assert_eq!(shown(&bob.home().await, "Workspace"), bobs_workspace);
    server.stop(true).await;
}

/// The conformance kit against the template, in process, signing each browser in as a user of
/// its own: every scenario PASSED.
#[actix_web::test]
async fn the_template_passes_the_conformance_kit() {
    use segment_sandbox::conform::{Kit, Status, Target};
    use segment_sandbox::{Sandbox, Scope, demo_app, serve};
    use url::Url;

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let app = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let redirect = Url::parse(&format!("{app}/auth/segment/callback")).unwrap();
    let sandbox_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let segment = format!("http://{}", sandbox_listener.local_addr().unwrap());
    let sandbox = Sandbox::new(
        demo_app(&redirect, Scope::parse("destination/clearbrain").unwrap()),
        "",
    );
    let sandbox_server = serve(sandbox.clone(), sandbox_listener).unwrap();
    let sandbox_handle = sandbox_server.handle();
    actix_web::rt::spawn(sandbox_server);
    let data = tempfile::tempdir().unwrap();
    let database_url = format!("sqlite://{}", data.path().join("example.db").display());
    let server = start_app(listener, &segment, redirect.as_str(), &database_url).await;

    let at = |path: &str| Url::parse(&format!("{app}{path}")).unwrap();
    let target = Target {
        start: at("/auth/segment"),
        redirect_url: redirect.clone(),
        login: Some((at("/"), vec![("user".to_owned(), "{user}".to_owned())])),
        probe: Some(at("/")),
        timeout: Duration::from_secs(10),
    };
    let report = Kit::new(sandbox, Url::parse(&segment).unwrap(), target)
        .run(&[])
        .await;
    assert!(
        report.results.iter().all(|r| r.status == Status::Passed),
        "{}",
        report.table()
    );
    server.stop(true).await;
    sandbox_handle.stop(true).await;
}

//! The demo in a real browser: headless Chromium driven through WebDriver (chromedriver), against
//! the app in sandbox mode on a loopback port. It checks what a person sees, that the pages
//! work under the Content-Security-Policy (no console errors), and, with `SCREENSHOTS=1`,
//! saves a screenshot of each step to `docs/screenshots/` for the README and the guide.
//!
//! It also runs axe-core (Deque's accessibility engine, from npm) on seven pages at 1280 and
//! 375 px: no critical or serious violation is allowed.
//!
//! Reported as ignored unless `BROWSER_TESTS=1` (`.ci/run` installs Debian's `chromium` and
//! `chromium-driver`, and axe-core with npm, and turns it on). When it is on, a missing browser,
//! driver or axe-core fails the test: it never skips.
#![cfg(feature = "sandbox")]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;

/// Chromium's switches for a machine with no display and no internet.
const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1100,900",
];

fn find(program: &str, candidates: &[&str]) -> PathBuf {
    if let Ok(path) = std::env::var(program.to_ascii_uppercase().replace('-', "_")) {
        return PathBuf::from(path);
    }
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "BROWSER_TESTS=1 but {program} is not installed (looked at {candidates:?}). \
                 Install Debian's chromium and chromium-driver, as .ci/run does."
            )
        })
}

/// axe-core's script: `AXE_CORE_JS`, or where `.ci/run` installs it
/// (`npm install --prefix target/axe axe-core@4`).
fn axe_source() -> String {
    let path = std::env::var("AXE_CORE_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("target/axe/node_modules/axe-core/axe.min.js")
        });
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "BROWSER_TESTS=1 but axe-core is not at {} ({e}). Install it with \
             `npm install --prefix target/axe axe-core@4`, as .ci/run does, or set AXE_CORE_JS.",
            path.display()
        )
    })
}

/// chromedriver on a free loopback port; killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `tmp` becomes the TMPDIR of chromedriver and of the Chromium it starts: Chromium makes
/// `org.chromium.Chromium.scoped_dir.*` folders there and may not remove them when it is killed.
async fn start_driver(tmp: &Path) -> Driver {
    let binary = find(
        "chromedriver",
        &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"],
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(&binary)
        .arg(format!("--port={port}"))
        .env("TMPDIR", tmp)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
    let url = format!("http://127.0.0.1:{port}");
    let driver = Driver { child, url };
    let started = Instant::now();
    loop {
        if let Ok(response) = reqwest::get(format!("{}/status", driver.url)).await
            && response.status().is_success()
        {
            return driver;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "chromedriver did not start in 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn start_browser(driver: &Driver, profile: &Path) -> Client {
    let chromium = find(
        "chromium",
        &["/usr/bin/chromium", "/usr/bin/chromium-browser"],
    );
    let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| a.to_string()).collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("browserName".into(), json!("chrome"));
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({ "binary": chromium, "args": args }),
    );
    capabilities.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await
        .expect("a browser session")
}

/// chromedriver's console log (`POST /session/{id}/se/log`), which W3C WebDriver lacks.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }
    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

/// A walk through the demo: the browser, and where screenshots go (only when asked for).
struct Walk {
    browser: Client,
    shots: Option<PathBuf>,
}

impl Walk {
    async fn text(&self) -> String {
        self.browser
            .find(Locator::Css("body"))
            .await
            .expect("a body")
            .text()
            .await
            .expect("its text")
    }

    async fn path(&self) -> String {
        self.browser
            .current_url()
            .await
            .expect("a URL")
            .path()
            .to_owned()
    }

    /// Takes the screenshot `name` (if screenshots are wanted), and checks the console is
    /// clean (but for `allowed`).
    async fn step(&self, name: &str, allowed: &[&str]) {
        if let Some(shots) = &self.shots {
            let png = self.browser.screenshot().await.expect("a screenshot");
            std::fs::write(shots.join(format!("{name}.png")), png)
                .expect("the screenshot is saved");
        }
        self.console_is_clean(name, allowed).await;
    }

    /// Checks the console shows no error since the last look (but for `allowed`).
    async fn console_is_clean(&self, name: &str, allowed: &[&str]) {
        let log = self
            .browser
            .issue_cmd(BrowserLog)
            .await
            .expect("the console log");
        let errors: Vec<String> = log
            .as_array()
            .into_iter()
            .flatten()
            .filter(|entry| entry["level"] == "SEVERE")
            .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
            .filter(|message| !allowed.iter().any(|a| message.contains(a)))
            .collect();
        assert!(errors.is_empty(), "console errors on {name}: {errors:#?}");
    }

    async fn click_button(&self, label: &str) {
        let xpath = format!("//button[normalize-space()='{label}']");
        self.click(Locator::XPath(&xpath), label).await;
    }

    async fn click_link(&self, label: &str) {
        self.click(Locator::LinkText(label), label).await;
    }

    /// Clicks, then waits (at most 10 s) until the page it was on has been replaced.
    async fn click(&self, locator: Locator<'_>, label: &str) {
        let old_page = self
            .browser
            .find(Locator::Css("html"))
            .await
            .expect("a page");
        self.browser
            .find(locator)
            .await
            .unwrap_or_else(|e| panic!("nothing to click labelled {label:?}: {e}"))
            .click()
            .await
            .expect("a click");
        let started = Instant::now();
        while old_page.tag_name().await.is_ok() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "clicking {label:?} loaded no page"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn fill(&self, name: &str, value: &str) {
        let field = self
            .browser
            .find(Locator::Css(&format!("[name='{name}']")))
            .await
            .unwrap_or_else(|e| panic!("no field {name}: {e}"));
        field.clear().await.expect("cleared");
        field.send_keys(value).await.expect("typed");
    }

    /// axe-core's violations on the page shown, as "impact rule: nodes" lines, the serious
    /// and critical ones first.
    async fn accessibility(&self, axe: &str) -> (Vec<String>, Vec<String>) {
        // WebDriver's scripts are not bound by the page's Content-Security-Policy.
        self.browser
            .execute(&format!("{axe}\nreturn true;"), vec![])
            .await
            .expect("axe-core loads");
        let result = self
            .browser
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {resultTypes: ['violations']})
                   .then(r => done(r.violations.map(v => [v.impact, v.id,
                      v.nodes.map(n => n.target.join(' ')).slice(0, 5).join(', ')])))
                   .catch(e => done([['error', String(e), '']]));",
                vec![],
            )
            .await
            .expect("axe-core runs");
        let mut severe = Vec::new();
        let mut other = Vec::new();
        for violation in result.as_array().into_iter().flatten() {
            let impact = violation[0].as_str().unwrap_or("unknown");
            let line = format!(
                "{impact} {}: {}",
                violation[1].as_str().unwrap_or_default(),
                violation[2].as_str().unwrap_or_default()
            );
            if matches!(impact, "critical" | "serious" | "error") {
                severe.push(line);
            } else {
                other.push(line);
            }
        }
        (severe, other)
    }

    /// The discards table's headers, counts and reason codes each sit on one line ("Eve/nts",
    /// "43,/525" and "401 Unautho/rized" were broken); there is at least one reason row.
    async fn nothing_breaks_inside(&self, what: &str) {
        let lines = self
            .browser
            .execute(
                "return [...document.querySelectorAll('.reasons th, .reasons td.num, .reasons td code')]
                   .map(el => { const r = document.createRange(); r.selectNodeContents(el);
                                return [el.textContent.trim(), r.getClientRects().length]; });",
                vec![],
            )
            .await
            .expect("the table's cells");
        let cells = lines.as_array().cloned().unwrap_or_default();
        assert!(cells.len() > 3, "{what}: no discard reasons shown");
        let broken: Vec<_> = cells.iter().filter(|c| c[1].as_u64() != Some(1)).collect();
        assert!(broken.is_empty(), "{what}: broken inside: {broken:?}");
    }

    async fn choose(&self, name: &str, value: &str) {
        self.browser
            .find(Locator::Css(&format!("select[name='{name}']")))
            .await
            .unwrap_or_else(|e| panic!("no select {name}: {e}"))
            .select_by_value(value)
            .await
            .expect("an option");
    }
}

// `build.rs` sets `browser_tests` when BROWSER_TESTS=1; otherwise the test is reported as
// ignored (and still runs with `cargo test -- --ignored`).
#[cfg_attr(
    not(browser_tests),
    ignore = "set BROWSER_TESTS=1 to run it (needs chromium and chromium-driver)"
)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_in_a_real_browser() {
    // The committed screenshots change only when asked for: `SCREENSHOTS=1` writes them to
    // docs/screenshots/ (or SCREENSHOT_DIR).
    let shots = (std::env::var("SCREENSHOTS").as_deref() == Ok("1")).then(|| {
        let shots = std::env::var("SCREENSHOT_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots"));
        std::fs::create_dir_all(&shots).expect("the screenshot folder");
        shots
    });
    // Chromium's profile and its temp files, removed when the test is done (after the driver,
    // declared below).
    let folder = tempfile::Builder::new()
        .prefix("partnerapp-chromium-")
        .tempdir()
        .expect("a temp folder for Chromium");
    let (profile, tmp) = (folder.path().join("profile"), folder.path().join("tmp"));
    std::fs::create_dir_all(&tmp).expect("Chromium's temp folder");

    // As `cargo run` is: Enable pushes the account's own key, which the partner's API accepts.
    let app = helpers::spawn_app_in_sandbox_mode_with(&[
        ("DESTINATION_SLUG", "uservoice"),
        ("DESTINATION_API_KEY", ""),
    ])
    .await;
    let driver = start_driver(&tmp).await;
    let browser = start_browser(&driver, &profile).await;
    let walk = Walk {
        browser: browser.clone(),
        shots,
    };
    // The walk runs as a task of its own so that, when a step fails, Chromium is still closed
    // below before the test fails with that step's panic: killing chromedriver alone leaves
    // Chromium running, writing into its removed profile.
    let walked = tokio::spawn(async move {
        demo(&walk, &app).await;
        accessible(&walk, &app).await;
        // The same flow as a partner's build without the sandbox meets it: the app on Segment's
        // side of things (CLIENT_ID/CLIENT_SECRET), the sandbox on its own server, as
        // `cargo run -- sandbox` serves it.
        against_a_standalone_sandbox(&walk).await;
    })
    .await;
    let _ = browser.close().await;
    drop(driver);
    if let Err(failed) = walked {
        std::panic::resume_unwind(failed.into_panic());
    }
}

async fn demo(walk: &Walk, app: &helpers::TestApp) {
    // Home.
    walk.browser
        .goto(&app.url("/"))
        .await
        .expect("the home page");
    assert!(walk.text().await.contains("Enable with Segment"));
    assert!(walk.text().await.contains("Sandbox"));
    walk.step("01-home", &[]).await;
    // A new visitor's home page, with its Enable with Segment button.
    axe_at_both_widths(walk, &[("home, a new visitor", app.url("/"))]).await;

    // Segment's consent screen: pick a source, Allow.
    walk.click_link("Enable with Segment").await;
    assert!(walk.path().await.starts_with("/sandbox/oauth2/auth"));
    assert!(
        walk.text()
            .await
            .contains("Authorize Partner App (sandbox)")
    );
    walk.choose("source", "ios").await;
    walk.step("02-consent", &[]).await;
    walk.click_button("Allow").await;

    // Back on the destination page, connected.
    assert_eq!(walk.path().await, "/destination");
    let text = walk.text().await;
    assert!(text.contains("Connected to Segment"), "{text}");
    assert!(text.contains("workspaces/acme/sources/ios"), "{text}");
    assert!(text.contains("Not created"), "{text}");
    walk.step("03-connected", &[]).await;

    // Enable.
    walk.click_button("Enable").await;
    let text = walk.text().await;
    assert!(text.contains("was created on ios and enabled"), "{text}");
    assert!(text.contains("Enabled"), "{text}");
    walk.step("04-enabled", &[]).await;

    // Monitor, a day later (the inspector's "A day later" button does the same): what Segment
    // delivered, with the chart drawn on the server.
    assert!(app.sandbox.age_destination(
        "workspaces/acme/sources/ios/destinations/uservoice",
        chrono::Duration::hours(24)
    ));
    walk.click_link("Monitor").await;
    assert_eq!(walk.path().await, "/destination/monitor");
    let text = walk.text().await;
    assert!(text.contains("Delivered"), "{text}");
    assert!(text.contains("Success rate"), "{text}");
    let bars = walk
        .browser
        .find_all(Locator::Css("svg g.bucket"))
        .await
        .expect("the chart's bars");
    assert_eq!(bars.len(), 24, "one bar per hour");
    walk.browser
        .execute(
            "document.querySelector('.totals').scrollIntoView({block: 'start'})",
            vec![],
        )
        .await
        .expect("the totals");
    walk.step("10-monitor", &[]).await;
    walk.nothing_breaks_inside("the discards table").await;
    walk.browser
        .set_window_size(375, 812)
        .await
        .expect("a phone-sized window");
    walk.nothing_breaks_inside("the discards table at 375 px")
        .await;
    walk.browser
        .set_window_size(1100, 900)
        .await
        .expect("the window again");
    walk.browser
        .goto(&app.url("/destination"))
        .await
        .expect("the destination page");
    assert!(walk.text().await.contains("delivered in the last 24 h"));

    // Configure a few settings, one of them wrong first.
    walk.click_link("Configure").await;
    assert_eq!(walk.path().await, "/destination/configure");
    walk.fill("setting.forumId", "not-a-number").await;
    walk.fill("setting.accentColor", "#3b4cca").await;
    walk.choose("setting.mode", "smartvote").await;
    walk.click_button("Save settings").await;
    let text = walk.text().await;
    assert!(text.contains("nothing was sent to Segment"), "{text}");
    // Show the field with the error (WebDriver's scripts are not bound by the page's CSP).
    walk.browser
        .execute(
            "document.querySelector('.has-error').scrollIntoView({block: 'center'})",
            vec![],
        )
        .await
        .expect("a field with an error");
    walk.step("05-configure-error", &["status of 422"]).await;
    walk.fill("setting.forumId", "424242").await;
    walk.click_button("Save settings").await;
    let text = walk.text().await;
    assert!(text.contains("Saved"), "{text}");
    walk.step("06-configure-saved", &[]).await;

    // Disable, then Remove.
    walk.click_link("← Destination").await;
    walk.click_button("Disable").await;
    let text = walk.text().await;
    assert!(text.contains("is disabled"), "{text}");
    assert!(
        text.contains("424242"),
        "the saved setting is not shown: {text}"
    );
    walk.step("07-disabled", &[]).await;
    walk.click_link("Remove").await;
    assert!(walk.text().await.contains("its settings are lost"));
    walk.click_button("Remove the destination").await;
    let text = walk.text().await;
    assert!(text.contains("was removed"), "{text}");
    assert!(text.contains("Not created"), "{text}");

    // The sandbox inspector shows Segment's side.
    walk.browser
        .goto(&app.sandbox_url)
        .await
        .expect("the inspector");
    assert!(walk.text().await.contains("installs/"));
    walk.step("08-inspector", &[]).await;

    // Log out.
    walk.browser
        .goto(&app.url("/destination"))
        .await
        .expect("the destination page");
    walk.click_button("Log out").await;
    assert_eq!(walk.path().await, "/");
    assert!(walk.text().await.contains("Enable with Segment"));

    // Coming back: the stored install is resumed without Segment's consent screen.
    walk.click_link("Enable with Segment").await;
    assert_eq!(walk.path().await, "/destination");
    assert!(walk.text().await.contains("Welcome back"));

    // Deny, on another workspace: the error page explains, with a 403 the console reports.
    walk.browser
        .goto(&app.url("/"))
        .await
        .expect("the home page");
    walk.click_link("Connect another workspace").await;
    assert!(walk.path().await.starts_with("/sandbox/oauth2/auth"));
    walk.click_button("Deny").await;
    let text = walk.text().await;
    assert!(text.contains("Error 403"), "{text}");
    assert!(text.contains("access_denied"), "{text}");
    assert!(text.contains("chose Deny"), "{text}");
    walk.step("09-denied", &["status of 403"]).await;

    // On a phone (375 px wide), no page is wider than the screen, and Log out is on it.
    walk.browser
        .set_window_size(375, 812)
        .await
        .expect("a phone-sized window");
    // (Still connected: the install came back with "Welcome back" above.)
    for path in [
        "/",
        "/destination",
        "/destination/configure",
        "/destination/monitor",
        "/destination/remove",
        "/account",
        "/sandbox",
    ] {
        walk.browser.goto(&app.url(path)).await.expect("a page");
        let widths = walk
            .browser
            .execute(
                "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]",
                vec![],
            )
            .await
            .expect("the page's widths");
        let (scroll, client) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());

        assert!(
            scroll <= client,
            "{path} is {scroll} px wide on a {client} px screen"
        );
    }
    walk.browser
        .goto(&app.url("/destination"))
        .await
        .expect("the destination page");
    let log_out = walk
        .browser
        .find(Locator::XPath("//button[normalize-space()='Log out']"))
        .await
        .expect("Log out");
    let right = walk
        .browser
        .execute(
            "return arguments[0].getBoundingClientRect().right <= document.documentElement.clientWidth",
            vec![serde_json::to_value(&log_out).expect("the element")],
        )
        .await
        .expect("its place");
    assert_eq!(right, serde_json::Value::Bool(true), "Log out is cut off");
    // The inspector links back to the app.
    walk.browser
        .goto(&app.sandbox_url)
        .await
        .expect("the inspector");
    walk.click_link("Back to the app").await;
    assert_eq!(walk.path().await, "/");
}

/// axe-core on seven pages (home, Segment's consent, destination, configure, monitor, the
/// sandbox inspector, an error page) at a desktop's and a phone's width: no critical or serious
/// violation. Moderate and minor ones are printed, not failed.
async fn accessible(walk: &Walk, app: &helpers::TestApp) {
    let pages = [
        ("home", app.url("/")),
        ("consent", app.url("/auth/segment?new=1")),
        ("destination", app.url("/destination")),
        ("configure", app.url("/destination/configure")),
        ("monitor", app.url("/destination/monitor")),
        ("inspector", app.sandbox_url.clone()),
        ("error", app.url("/destination/monitor?range=5y")),
    ];
    axe_at_both_widths(walk, &pages).await;
}

/// axe-core on `pages` at 1280 and 375 px; the window is left at 1100 px.
async fn axe_at_both_widths(walk: &Walk, pages: &[(&str, String)]) {
    let axe = axe_source();
    let mut severe = Vec::new();
    for (width, height) in [(1280, 900), (375, 812)] {
        walk.browser
            .set_window_size(width, height)
            .await
            .expect("a window size");
        for (name, url) in pages {
            walk.browser.goto(url).await.expect("a page");
            let (bad, other) = walk.accessibility(&axe).await;
            for line in other {
                eprintln!("axe-core, {name} at {width} px: {line}");
            }
            severe.extend(
                bad.into_iter()
                    .map(|l| format!("{name} at {width} px: {l}")),
            );
        }
    }
    walk.browser
        .set_window_size(1100, 900)
        .await
        .expect("a window size");
    walk.console_is_clean("the accessibility pass", &["status of 400"])
        .await;
    assert!(
        severe.is_empty(),
        "axe-core found serious or critical violations:\n{}",
        severe.join("\n")
    );
}

async fn against_a_standalone_sandbox(walk: &Walk) {
    let app = helpers::spawn_app_with(helpers::Options::default()).await;
    walk.browser
        .goto(&app.url("/"))
        .await
        .expect("the home page");
    walk.click_link("Enable with Segment").await;
    assert!(
        walk.browser
            .current_url()
            .await
            .expect("a URL")
            .as_str()
            .starts_with(&app.sandbox_url),
        "not on the standalone sandbox"
    );
    walk.choose("source", "ios").await;
    walk.click_button("Allow").await;
    assert_eq!(walk.path().await, "/destination");
    let text = walk.text().await;
    assert!(text.contains("Connected to Segment"), "{text}");
    // No console error: the consent form's redirect back was allowed by the sandbox's policy.
    walk.console_is_clean("the standalone sandbox's consent", &[])
        .await;
    walk.click_button("Enable").await;
    assert!(walk.text().await.contains("Enabled"));
}

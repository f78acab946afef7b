//! Where the app's state lives, told as stories: sessions that end on the server, account
//! cookies that can be revoked, installs used only by the account that holds them, tokens
//! kept next to the install, a refused refresh that deletes nothing, and a demo that survives
//! a restart.

use crate::helpers::{
    Browser, Options, TestApp, spawn_app, spawn_app_in_sandbox_mode_with, spawn_app_with,
};
use enable_with_segment::InstallStore;

/// A browser holding exactly these cookies (`name=value`), for the app.
fn browser_with(app: &TestApp, cookies: &[(&str, String)]) -> Browser {
    let browser = Browser::new();
    for (name, value) in cookies {
        browser.set_cookie(&app.url("/"), &format!("{name}={value}"));
    }
    browser
}

#[tokio::test]
async fn a_session_cookie_copied_before_log_out_is_dead_after_it() {
    let app = spawn_app().await;
    let before_login = app.cookie("partnerapp_session");
    let page = app.install_on("javascript").await;
    let session = app.cookie("partnerapp_session").expect("a session cookie");
    assert_ne!(
        before_login,
        Some(session.clone()),
        "the id was not renewed at login"
    );
    let account = app.cookie("partnerapp_account").expect("an account cookie");
    let csrf = app.csrf_token().await;
    let copy = browser_with(
        &app,
        &[
            ("partnerapp_session", session),
            ("partnerapp_account", account),
        ],
    );
    // Before: the copy works like the original (that is what a stolen cookie is).
    let page_of_copy = copy.get(&app.url("/destination")).await;
    assert_eq!(page_of_copy.url.path(), "/destination");

    app.browser.click(&page, "Log out").await;
    let writes = app.write_count().await;
    let replay = copy
        .post(&app.url("/destination/enable"), &[("csrf_token", &csrf)])
        .await;
    assert_eq!(replay.status, 403, "{}", replay.text());
    assert_eq!(
        app.write_count().await,
        writes,
        "the replayed form reached Segment"
    );
}

#[tokio::test]
async fn signing_out_revokes_every_copy_of_the_account_cookie() {
    let app = spawn_app().await;
    app.install_on("ios").await;
    let copy = browser_with(
        &app,
        &[
            (
                "partnerapp_session",
                app.cookie("partnerapp_session").unwrap(),
            ),
            (
                "partnerapp_account",
                app.cookie("partnerapp_account").unwrap(),
            ),
        ],
    );
    let home = app.browser.get(&app.url("/")).await;
    let home = app.browser.click(&home, "Forget this account").await;
    assert!(
        home.flash()
            .unwrap()
            .contains("has forgotten the demo account"),
        "{}",
        home.text()
    );
    assert!(
        home.text().contains("You have no account with us yet"),
        "{}",
        home.text()
    );

    // An hour later (tokens expired), the copy opens nothing and mints nothing.
    app.expire_tokens().await;
    let refreshes = app.refresh_count().await;
    let page = copy.get(&app.url("/destination")).await;
    assert_eq!(page.url.path(), "/", "{}", page.text());
    let page = copy.get(&app.url("/auth/segment")).await;
    assert!(
        page.text().contains("Authorize"),
        "the copy resumed: {}",
        page.text()
    );
    assert_eq!(app.refresh_count().await, refreshes, "a token was minted");
    assert_eq!(app.install_count().await, 1);
}

#[tokio::test]
async fn another_accounts_cookie_with_this_session_pushes_nothing() {
    let app = spawn_app().await;
    app.sandbox
        .add_workspace("globex", "Globex")
        .expect("room for a workspace");
    let alice = app.another_visitor();
    alice.install_on_workspace("acme", "ios").await;
    let bob = app.another_visitor();
    bob.make_account().await;

    // Alice's session (and its form token) with Bob's account cookie.
    let mixed = browser_with(
        &app,
        &[
            (
                "partnerapp_session",
                alice.cookie("partnerapp_session").unwrap(),
            ),
            (
                "partnerapp_account",
                bob.cookie("partnerapp_account").unwrap(),
            ),
        ],
    );
    let csrf = alice.csrf_token().await;
    app.expire_tokens().await;
    let (writes, refreshes) = (app.write_count().await, app.refresh_count().await);
    let page = mixed.get(&app.url("/destination")).await;
    assert_eq!(page.url.path(), "/", "Bob saw Alice's destination");
    let page = mixed
        .post(&app.url("/destination/enable"), &[("csrf_token", &csrf)])
        .await;
    assert_ne!(page.url.path(), "/destination", "{}", page.text());
    assert_eq!(app.write_count().await, writes, "Bob's key was pushed");
    assert_eq!(
        app.refresh_count().await,
        refreshes,
        "a token was minted for Bob"
    );

    // Alice, with her own cookies, is still connected.
    let page = alice.browser.get(&app.url("/destination")).await;
    assert_eq!(page.url.path(), "/destination", "{}", page.text());
}

/// 5,000 cookie-less requests, to every GET route in turn (and HEAD now and then), leave the
/// store as it was: no account, no session. Only `/auth/segment` sets a cookie (the flow's,
/// which the browser holds); the rest set none.
#[tokio::test]
async fn five_thousand_cookieless_requests_to_every_get_route_store_nothing() {
    let app = spawn_app().await;
    cookieless_requests_store_nothing(&app).await;
    let store = app.store().await;
    assert_eq!(store.account_count().await.unwrap(), 0);
    assert_eq!(app.session_count().await, 0);

    // Asking for an account makes one.
    app.make_account().await;
    assert_eq!(store.account_count().await.unwrap(), 1);
}

/// The same on Postgres and Redis: no account row, and Redis' session keys as they were.
#[tokio::test]
#[cfg_attr(
    not(all(postgres_tests, redis_tests)),
    ignore = "set DATABASE_TEST_URL and REDIS_TEST_URL to run it on Postgres and Redis"
)]
async fn cookieless_requests_store_nothing_in_postgres_or_redis() {
    // A Redis database of this test's own (9): the sessions other tests make meanwhile, in the
    // Redis database REDIS_TEST_URL names, are not counted.
    let mut redis_url = reqwest::Url::parse(&std::env::var("REDIS_TEST_URL").unwrap()).unwrap();
    redis_url.set_path("/9");
    let redis_url = redis_url.to_string();
    let app = crate::helpers::spawn_app_with(crate::helpers::Options {
        postgres_and_redis: true,
        extra: vec![("REDIS_URL", redis_url.clone())],
        ..crate::helpers::Options::default()
    })
    .await;
    let session_keys = || async {
        let client = redis::Client::open(redis_url.as_str()).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("partnerapp:session:*")
            .query_async(&mut connection)
            .await
            .unwrap();
        keys.len()
    };
    let before = session_keys().await;
    cookieless_requests_store_nothing(&app).await;
    assert_eq!(
        session_keys().await,
        before,
        "a session was stored in Redis"
    );
    assert_eq!(app.store().await.account_count().await.unwrap(), 0);
    // The keys counted are this app's: an install makes its session there.
    app.install_on("javascript").await;
    assert_eq!(session_keys().await, before + 1);
}

/// 5,000 requests without cookies over every GET route of the app (and a made-up one).
async fn cookieless_requests_store_nothing(app: &crate::helpers::TestApp) {
    use segment_partnerapp::web::ROUTES;
    let client = Browser::new().client;
    let mut paths: Vec<&str> = ROUTES
        .iter()
        .filter(|route| route.method == "GET")
        .map(|route| route.path)
        .collect();
    paths.push("/no/such/page");
    for i in 0..5_000 {
        let path = paths[i % paths.len()];
        let url = app.url(path);
        let response = if i % 7 == 0 {
            client.head(&url).send().await
        } else {
            client.get(&url).send().await
        };
        let response = response.expect("the app answers");
        let cookies: Vec<&str> = response
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        if path == "/auth/segment" {
            assert!(
                cookies.iter().all(|c| c.starts_with("partnerapp_flow=")),
                "{path}: {cookies:?}"
            );
        } else {
            assert!(cookies.is_empty(), "{path} set {cookies:?}");
        }
    }
}

#[tokio::test]
async fn a_refused_refresh_keeps_the_install_and_a_good_one_clears_the_mark() {
    let app = spawn_app().await;
    app.install_on("javascript").await;
    // A mistyped CLIENT_SECRET, say: Segment refuses the next refresh.
    app.expire_tokens().await;
    app.arm_fault(serde_json::json!({"endpoint": "refresh", "kind": {"status": 401}, "count": 1}))
        .await;
    let page = app.browser.get(&app.url("/destination")).await;
    assert_eq!(page.status, 200, "{}", page.text());
    let text = page.text();
    assert!(text.contains("This install needs attention"), "{text}");
    assert!(text.contains("CLIENT_SECRET"), "{text}");

    let store = app.store().await;
    let (account, _) = store
        .account_by_login(
            &segment_partnerapp::store::LoginToken::parse(
                &app.cookie("partnerapp_account").unwrap(),
            )
            .unwrap(),
            None,
        )
        .await
        .unwrap()
        .unwrap();
    let installs = store.installs().installs(&account.id).await.unwrap();
    assert_eq!(installs.len(), 1, "the install was deleted");
    assert!(installs[0].refused.is_some());

    // Fixed: the next page mints a token, and the mark is gone.
    let page = app.browser.get(&app.url("/destination")).await;
    assert!(!page.text().contains("needs attention"), "{}", page.text());
    assert!(page.text().contains("Not created"));
    let installs = store.installs().installs(&account.id).await.unwrap();
    assert_eq!(installs[0].refused, None);
}

#[tokio::test]
async fn the_newest_token_is_shared_by_every_app_on_the_database() {
    the_newest_token_is_shared(Options::default()).await;
}

#[tokio::test]
#[cfg_attr(
    not(all(postgres_tests, redis_tests)),
    ignore = "set DATABASE_TEST_URL and REDIS_TEST_URL to run it on Postgres and Redis"
)]
async fn the_newest_token_is_shared_by_every_app_on_postgres_and_redis() {
    the_newest_token_is_shared(Options {
        postgres_and_redis: true,
        ..Options::default()
    })
    .await;
}

async fn the_newest_token_is_shared(options: Options) {
    let first = spawn_app_with(options).await;
    first.install_on("javascript").await;
    let first_address = first.address.clone();
    // A second app process on the same database (and the same Segment), same browser.
    let second = first.restart().await;
    second.expire_tokens().await;
    let page = second.browser.get(&second.url("/destination")).await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert_eq!(second.refresh_count().await, 1);

    // The first app reads the token the second stored: no refresh of its own.
    let page = second
        .browser
        .get(&format!("{first_address}/destination"))
        .await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.text().contains("Not created"));
    assert_eq!(
        second.refresh_count().await,
        1,
        "the first app refreshed again"
    );
}

#[tokio::test]
async fn thirty_requests_over_two_apps_on_an_expired_token_make_one_refresh() {
    thirty_requests_over_two_apps(Options::default()).await;
}

#[tokio::test]
#[cfg_attr(
    not(all(postgres_tests, redis_tests)),
    ignore = "set DATABASE_TEST_URL and REDIS_TEST_URL to run it on Postgres and Redis"
)]
async fn thirty_requests_over_two_apps_on_postgres_and_redis_make_one_refresh() {
    thirty_requests_over_two_apps(Options {
        postgres_and_redis: true,
        ..Options::default()
    })
    .await;
}

async fn thirty_requests_over_two_apps(options: Options) {
    let first = spawn_app_with(options).await;
    first.install_on("javascript").await;
    let first_address = first.address.clone();
    let second = first.restart().await;
    second.expire_tokens().await;
    // Segment answers refreshes slowly, so both apps are surely asking at the same time.
    second
        .arm_fault(
            serde_json::json!({"endpoint": "refresh", "kind": {"delay_ms": 300}, "count": 2}),
        )
        .await;

    let mut requests = tokio::task::JoinSet::new();
    for i in 0..30 {
        let base = if i % 2 == 0 {
            first_address.clone()
        } else {
            second.address.clone()
        };
        let client = second.browser.client.clone();
        requests.spawn(async move {
            let response = client.get(format!("{base}/destination")).send().await;
            response.map(|r| r.status().as_u16()).unwrap_or(0)
        });
    }
    let mut statuses = Vec::new();
    while let Some(status) = requests.join_next().await {
        statuses.push(status.expect("a request task"));
    }
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(second.refresh_count().await, 1, "each app refreshed");
}

#[tokio::test]
async fn a_restarted_demo_lets_new_and_returning_visitors_connect() {
    // `cargo run` as is: sandbox mode, no SESSION_KEY, a database file.
    let app = spawn_app_in_sandbox_mode_with(&[]).await;
    app.install_on("javascript").await;
    let returning_account = app.cookie("partnerapp_account").unwrap();
    let key_prefix = account_line(&app.browser.get(&app.url("/")).await.text());

    let app = app.restart_in_sandbox_mode().await;
    app.sandbox
        .add_workspace("globex", "Globex")
        .expect("room for a workspace");

    // A new visitor connects: no "connected to another account".
    let newcomer = app.another_visitor();
    newcomer.install_on_workspace("acme", "ios").await;

    // The returning visitor is still who they were (same account, same key), and connects.
    let returning = app.another_visitor();
    returning.browser.set_cookie(
        &app.url("/"),
        &format!("partnerapp_account={returning_account}"),
    );
    let home = returning.browser.get(&app.url("/")).await;
    assert_eq!(account_line(&home.text()), key_prefix);
    let page = returning.install_on_workspace("globex", "ios").await;
    assert!(page.text().contains("workspaces/globex/sources/ios"));
    let page = returning.browser.click(&page, "Enable").await;
    assert!(page.text().contains("Enabled"), "{}", page.text());
}

/// "Account #N · API key pak_XXXX…" from the home page.
fn account_line(text: &str) -> String {
    text.split("Account #")
        .nth(1)
        .and_then(|rest| rest.split('…').next())
        .unwrap_or_else(|| panic!("no account on the page: {text}"))
        .to_owned()
}

/// The page an install lands on shows its message and writes nothing to the session store:
/// the message came in a cookie of its own, and the form token was made at login.
#[tokio::test]
async fn the_page_an_install_lands_on_writes_nothing_to_the_sessions() {
    let app = spawn_app().await;
    let callback = app.callback_after_allow("javascript").await;
    let response = app
        .browser
        .send(reqwest::Method::GET, callback, Vec::new())
        .await;
    assert_eq!(response.status(), 303);
    let stored = app.session_rows().await;
    assert_eq!(stored.len(), 1, "one session, renewed at login");

    let page = app.browser.get(&app.url("/destination")).await;
    assert!(
        page.flash()
            .unwrap_or_default()
            .contains("Connected to Segment"),
        "{}",
        page.text()
    );
    assert!(page.body.contains("name=\"csrf_token\""), "{}", page.body);
    assert_eq!(
        app.session_rows().await,
        stored,
        "the landing page wrote the session"
    );

    // Shown once.
    let again = app.browser.get(&app.url("/destination")).await;
    assert_eq!(again.flash(), None, "{}", again.text());
}

/// A flash cookie that does not open (altered, or sealed under another key) shows nothing and
/// is removed, even by a response that shows no page.
#[tokio::test]
async fn a_flash_cookie_that_does_not_open_shows_nothing_and_goes() {
    let app = spawn_app().await;
    // {"kind":"Error","message":"Phishing"}, unsealed.
    let forged = "partnerapp_flash=eyJraW5kIjoiRXJyb3IiLCJtZXNzYWdlIjoiUGhpc2hpbmcifQ";
    app.browser.set_cookie(&app.url("/"), forged);
    let home = app.browser.get(&app.url("/")).await;
    assert!(!home.body.contains("Phishing"), "{}", home.body);
    assert_eq!(home.flash(), None, "{}", home.text());

    app.browser.set_cookie(&app.url("/"), forged);
    let response = app
        .browser
        .send(
            reqwest::Method::GET,
            app.url("/static/style.css").parse().unwrap(),
            Vec::new(),
        )
        .await;
    let removal = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("partnerapp_flash="))
        .map(str::to_owned)
        .expect("the flash cookie is removed");
    assert!(removal.contains("Max-Age=0"), "{removal}");
    assert!(app.cookie("partnerapp_flash").is_none());
}

/// One word for each thing: Log out ends the visit, and the home page then says so (the browser
/// keeps its demo account, which Enable with Segment logs back in to); Forget this account is
/// the other, separate thing.
#[tokio::test]
async fn the_home_page_says_whether_you_are_logged_in_out_or_a_stranger() {
    let app = spawn_app().await;
    let page = app.install_on("ios").await;
    let home = app.browser.get(&app.url("/")).await;
    assert!(home.text().contains("You are logged in"), "{}", home.text());

    let home = app.browser.click(&page, "Log out").await;
    assert_eq!(home.url.path(), "/");
    assert!(
        home.flash().unwrap().contains("You are logged out"),
        "{:?}",
        home.flash()
    );
    let text = home.text();
    assert!(text.contains("You are logged out."), "{text}");
    assert!(!text.contains("You are logged in"), "{text}");
    assert!(!text.contains("Sign out"), "a second word for it: {text}");
    assert!(
        !home.body.contains(">Log out<"),
        "Log out offered again: {text}"
    );

    // Enable with Segment logs back in, without Segment.
    let installs = app.install_count().await;
    let page = app.browser.follow_link(&home, "Enable with Segment").await;
    assert_eq!(page.url.path(), "/destination", "{}", page.text());
    assert_eq!(app.install_count().await, installs);
    let home = app.browser.get(&app.url("/")).await;
    assert!(home.text().contains("You are logged in"), "{}", home.text());

    let home = app.browser.click(&home, "Forget this account").await;
    assert!(
        home.text().contains("You have no account with us yet"),
        "{}",
        home.text()
    );
}

/// Anonymous visitors make a bounded number of accounts an hour: 30 from one address by default
/// (a room behind one router still fits; 20 here), then "Too many new accounts" (429) and
/// nothing made; 600 in all by default (200 here), from any number of addresses (told apart by a
/// trusted proxy's X-Forwarded-For).
#[tokio::test]
async fn anonymous_visitors_make_a_bounded_number_of_accounts() {
    let app = crate::helpers::spawn_app_with(crate::helpers::Options {
        extra: vec![
            ("TRUSTED_PROXIES", "127.0.0.1".into()),
            ("SIGNUPS_PER_ADDRESS", "20".into()),
            ("SIGNUPS_TOTAL", "200".into()),
        ],
        ..crate::helpers::Options::default()
    })
    .await;
    let store = app.store().await;
    let ask = |address: String| {
        Browser::new()
            .client
            .post(app.url("/account"))
            .header("x-forwarded-for", address)
            .form(&[("x", "y")])
            .send()
    };
    for i in 0..20 {
        let response = ask("203.0.113.7".into()).await.unwrap();
        assert_eq!(response.status(), 303, "account {i}");
    }
    let refused = ask("203.0.113.7".into()).await.unwrap();
    assert_eq!(refused.status(), 429);
    let text = refused.text().await.unwrap();
    assert!(text.contains("Too many new accounts"), "{text}");
    assert!(text.contains("from this address"), "{text}");
    assert_eq!(store.account_count().await.unwrap(), 20);

    // Other addresses still may, up to 200 in all.
    for i in 0..180 {
        let response = ask(format!("198.51.100.{}", i % 250)).await.unwrap();
        assert_eq!(response.status(), 303, "account {}", 20 + i);
    }
    let refused = ask("192.0.2.1".into()).await.unwrap();
    assert_eq!(refused.status(), 429);
    assert!(refused.text().await.unwrap().contains("on this server"));
    assert_eq!(store.account_count().await.unwrap(), 200);
}

/// A visitor past the sign-up limit is refused at the callback before the code is exchanged:
/// Segment installs nothing, so the workspace is not left with an install nobody here holds.
#[tokio::test]
async fn a_refused_sign_up_leaves_nothing_installed_in_segment() {
    let app = crate::helpers::spawn_app_with(crate::helpers::Options {
        extra: vec![("SIGNUPS_TOTAL", "1".into())],
        ..crate::helpers::Options::default()
    })
    .await;
    app.install_on("javascript").await;
    let other = app.another_visitor();
    let callback = other.callback_after_allow("ios").await;
    let mark = app.sandbox.journal_mark();
    let page = other.browser.get(callback.as_str()).await;
    assert_eq!(page.status, 429, "{}", page.text());
    assert!(
        page.text().contains("Too many new accounts"),
        "{}",
        page.text()
    );
    assert!(
        app.sandbox.calls_since(mark).is_empty(),
        "the code was exchanged for a visitor who could not get an account"
    );
    assert_eq!(
        app.install_count().await,
        1,
        "Segment holds only the first install"
    );
}

//! The partner's side: each visitor's own account and API key, the partner API Segment tests
//! credentials against, and installs that outlive sessions and restarts.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::helpers::{Browser, Options, TestApp, spawn_app_with};

fn own_keys() -> Options {
    Options {
        account_keys: true,
        ..Options::default()
    }
}

/// The visitor's API key, as the home page shows it once the account is made.
async fn first_visit_key(app: &TestApp) -> String {
    let home = app.make_account().await;
    let text = home.text();
    let key = text
        .split("Your API key: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no key shown on the first visit: {text}"))
        .to_owned();
    assert!(key.starts_with("pak_"), "{key}");
    let again = app.browser.get(&app.url("/")).await;
    assert!(!again.body.contains(&key), "the key was shown twice");
    key
}

async fn me(app: &TestApp, authorization: Option<String>) -> (u16, serde_json::Value) {
    let mut request = Browser::new().client.get(app.url("/api/v1/me"));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = request.send().await.expect("an answer");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test]
async fn the_partner_api_knows_a_key_by_bearer_or_basic() {
    let app = spawn_app_with(own_keys()).await;
    let key = first_visit_key(&app).await;

    let (status, account) = me(&app, Some(format!("Bearer {key}"))).await;
    assert_eq!(status, 200);
    assert!(account["id"].as_i64().is_some());
    assert_eq!(account["api_key_prefix"], key[..8]);
    let basic = STANDARD.encode(format!("{key}:"));
    assert_eq!(me(&app, Some(format!("Basic {basic}"))).await.0, 200);

    let wrong = format!("pak_{}", "x".repeat(40));
    assert_eq!(me(&app, Some(format!("Bearer {wrong}"))).await.0, 401);
    assert_eq!(me(&app, Some("Bearer nonsense".into())).await.0, 401);
    assert_eq!(me(&app, None).await.0, 401);
}

#[tokio::test]
async fn two_visitors_get_their_own_keys_into_their_own_destinations() {
    let alice = spawn_app_with(own_keys()).await;
    alice
        .sandbox
        .add_workspace("globex", "Globex")
        .expect("room for a workspace");
    let bob = alice.another_visitor();
    let alice_key = first_visit_key(&alice).await;
    let bob_key = first_visit_key(&bob).await;
    assert_ne!(alice_key, bob_key);

    let page = alice.install_on("javascript").await;
    let page = alice.browser.click(&page, "Enable").await;
    assert!(
        page.text().contains("Segment verified your API key"),
        "{}",
        page.text()
    );

    let page = bob.install_on_workspace("globex", "ios").await;
    let page = bob.browser.click(&page, "Enable").await;
    assert!(
        page.text().contains("Segment verified your API key"),
        "{}",
        page.text()
    );

    // Segment holds each visitor's key in that visitor's destination (the inspector shows the
    // last four characters).
    let segment = alice.segment_view().await;
    for (workspace, key) in [("acme", &alice_key), ("globex", &bob_key)] {
        let destination = segment["destinations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| {
                d["name"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("workspaces/{workspace}/"))
            })
            .unwrap_or_else(|| panic!("no destination on {workspace}"));
        let shown = destination["config"][0]["value"].as_str().unwrap();
        assert!(
            shown.ends_with(&key[key.len() - 4..]),
            "{workspace}: {shown}"
        );
        assert_eq!(destination["credential_test"], "passed");
    }
}

#[tokio::test]
async fn segments_credential_test_fails_after_the_key_is_replaced() {
    let app = spawn_app_with(own_keys()).await;
    let old_key = first_visit_key(&app).await;
    let page = app.install_on("javascript").await;
    app.browser.click(&page, "Enable").await;

    let home = app.browser.get(&app.url("/")).await;
    let home = app.browser.click(&home, "Replace API key").await;
    assert!(
        home.text().contains("Your API key:"),
        "the new key is not shown once"
    );
    assert_eq!(me(&app, Some(format!("Bearer {old_key}"))).await.0, 401);

    // Segment still holds the old key: its next test (on any change) fails.
    let page = app.browser.get(&app.url("/destination")).await;
    assert!(
        page.text().contains("not your current key"),
        "{}",
        page.text()
    );
    app.browser.click(&page, "Disable").await;
    let segment = app.segment_view().await;
    let test = segment["destinations"][0]["credential_test"]
        .as_str()
        .unwrap();
    assert!(test.starts_with("failed") && test.contains("401"), "{test}");

    // Enable pushes the current key, and the test passes again.
    let page = app.browser.get(&app.url("/destination")).await;
    let page = app.browser.click(&page, "Enable").await;
    assert!(
        page.text().contains("Segment verified your API key"),
        "{}",
        page.text()
    );
    assert_eq!(
        app.segment_view().await["destinations"][0]["credential_test"],
        "passed"
    );
}

/// A browser that holds only the account cookie of `browser` (its session expired).
fn only_the_account_cookie(app: &TestApp, browser: &Browser) -> Browser {
    let cookies = browser.cookie_header(&app.url("/")).unwrap_or_default();
    let account = cookies
        .split("; ")
        .find(|c| c.starts_with("partnerapp_account="))
        .expect("an account cookie")
        .to_owned();
    let fresh = Browser::new();
    fresh.set_cookie(&app.url("/"), &account);
    fresh
}

#[tokio::test]
async fn an_expired_session_resumes_from_the_store() {
    let app = spawn_app_with(own_keys()).await;
    app.install_on("ios").await;
    let returning = only_the_account_cookie(&app, &app.browser);
    let page = returning.get(&app.url("/destination")).await;
    assert_eq!(page.url.path(), "/destination", "{}", page.text());
    assert!(
        page.text().contains("workspaces/acme/sources/ios"),
        "{}",
        page.text()
    );
    assert_eq!(app.install_count().await, 1, "a second install was made");
}

#[tokio::test]
async fn a_restart_keeps_the_installs() {
    let app = spawn_app_with(own_keys()).await;
    app.install_on("node-server").await;
    let mut restarted = app.restart().await;
    restarted.browser = only_the_account_cookie(&restarted, &restarted.browser);
    let page = restarted.browser.get(&restarted.url("/destination")).await;
    assert_eq!(page.url.path(), "/destination", "{}", page.text());
    assert!(page.text().contains("workspaces/acme/sources/node-server"));
}

#[tokio::test]
async fn disconnect_forgets_the_install_here_and_keeps_it_in_segment() {
    let app = spawn_app_with(own_keys()).await;
    let page = app.install_on("javascript").await;
    let page = app.browser.click(&page, "Enable").await;
    let home = app.browser.click(&page, "Disconnect").await;
    assert_eq!(home.url.path(), "/");
    assert!(
        home.flash().unwrap().contains("still installed in Segment"),
        "{:?}",
        home.flash()
    );
    assert_eq!(app.install_count().await, 1);
    let page = app.browser.get(&app.url("/destination")).await;
    assert_eq!(page.url.path(), "/", "the install came back");
    // Connecting again meets Segment's one install per workspace: the account's disconnected
    // install is offered, and using it connects it again.
    let consent = app.open_consent().await;
    let page = app
        .browser
        .click_with(&consent, "Allow", &[("workspace", "acme")])
        .await;
    assert_eq!(page.status, 409, "{}", page.text());
    assert!(page.text().contains("(disconnected)"), "{}", page.text());
    let page = app.browser.click(&page, "Use this install").await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert_eq!(page.url.path(), "/destination");
    assert!(
        page.flash()
            .unwrap()
            .contains("your install on the acme workspace"),
        "{:?}",
        page.flash()
    );
    assert!(page.text().contains("Enabled"), "{}", page.text());
    assert_eq!(app.install_count().await, 1);
}

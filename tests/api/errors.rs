//! What the customer sees when the flow does not go as planned: each case of Segment's FAQ,
//! and each way the callback can be wrong.

use crate::helpers::{Browser, Options, spawn_app, spawn_app_with};

#[tokio::test]
async fn deny_shows_why_and_installs_nothing() {
    let app = spawn_app().await;
    let consent = app.open_consent().await;
    let page = app.browser.click(&consent, "Deny").await;
    assert_eq!(page.status, 403, "{}", page.body);
    let text = page.text();
    assert!(text.contains("access_denied"), "{text}");
    assert!(text.contains("chose Deny"), "no hint: {text}");
    assert!(text.contains("Connect with Segment again"), "{text}");
    assert_eq!(app.install_count().await, 0);
}

#[tokio::test]
async fn a_scope_the_app_was_not_created_with_is_refused() {
    let app = spawn_app_with(Options {
        app_scope: "workspace".into(),
        ..Options::default()
    })
    .await;
    let home = app.browser.get(&app.url("/")).await;
    let page = app.browser.follow_link(&home, "Enable with Segment").await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert_eq!(page.url.path(), "/auth/segment/callback");
    let text = page.text();
    assert!(text.contains("invalid_scope"), "{text}");
    assert!(text.contains("SEGMENT_SCOPE"), "no hint: {text}");
}

#[tokio::test]
async fn a_tampered_state_is_refused_and_the_code_is_never_exchanged() {
    let app = spawn_app().await;
    let consent = app.open_consent().await;
    let genuine = app.browser.click_to_redirect(&consent, "Allow", &[]).await;
    let mut callback = genuine.clone();
    let pairs: Vec<(String, String)> = callback
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "state" {
                format!("{v}x")
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    callback.query_pairs_mut().clear().extend_pairs(pairs);

    let page = app.browser.get(callback.as_str()).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.text().contains("state"), "{}", page.text());
    assert_eq!(app.install_count().await, 0);

    // A link with someone else's state does not cancel this browser's sign-in: the genuine
    // callback still works, once.
    let page = app.browser.get(genuine.as_str()).await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert_eq!(page.url.path(), "/destination");
    assert_eq!(app.install_count().await, 1);
    let again = app.browser.get(genuine.as_str()).await;
    assert_eq!(again.status, 400);
}

#[tokio::test]
async fn a_callback_used_twice_is_refused() {
    let app = spawn_app().await;
    let consent = app.open_consent().await;
    let callback = app.browser.click_to_redirect(&consent, "Allow", &[]).await;
    let first = app.browser.get(callback.as_str()).await;
    assert_eq!(first.url.path(), "/destination", "{}", first.body);

    let again = app.browser.get(callback.as_str()).await;
    assert_eq!(again.status, 400, "{}", again.body);
    assert!(
        again.text().contains("no sign-in in progress"),
        "{}",
        again.text()
    );

    // The same link in another browser, which never started a flow, is refused too.
    let other = Browser::new().get(callback.as_str()).await;
    assert_eq!(other.status, 400);
    assert_eq!(app.install_count().await, 1);
}

#[tokio::test]
async fn a_workspace_installed_by_another_account_is_explained() {
    let app = spawn_app().await;
    app.install_on("javascript").await;

    // Another partner account tries the same workspace: Segment says "install already exists".
    let stranger = app.another_visitor();
    let consent = stranger.open_consent().await;
    let page = stranger
        .browser
        .click_with(&consent, "Allow", &[("workspace", "acme")])
        .await;
    assert_eq!(page.status, 409, "{}", page.body);
    let text = page.text();
    assert!(
        text.contains("This workspace has the App already"),
        "{text}"
    );
    assert!(text.contains("another account here made it"), "{text}");
    assert!(
        text.contains("one install of this App per workspace"),
        "no hint: {text}"
    );
    assert_eq!(app.install_count().await, 1);

    // The stranger cannot uninstall it in "Segment" (the inspector shows it without a
    // button); whoever installed it can, and then the stranger can install.
    let inspector = stranger.browser.get(&app.sandbox_url).await;
    assert!(
        !inspector.buttons().contains(&"Uninstall".to_owned()),
        "{}",
        inspector.text()
    );
    let inspector = app.browser.get(&app.sandbox_url).await;
    let inspector = app.browser.click(&inspector, "Uninstall").await;
    assert!(
        inspector.text().contains("Installs (0)"),
        "{}",
        inspector.text()
    );
    let page = stranger.install_on("ios").await;
    assert!(page.text().contains("workspaces/acme/sources/ios"));
}

#[tokio::test]
async fn the_same_account_installing_again_gets_its_install_back() {
    let app = spawn_app().await;
    app.install_on("javascript").await;
    let page = app.browser.get(&app.url("/")).await;
    app.browser.click(&page, "Log out").await;

    // Enable with Segment skips the flow: the install is stored.
    let home = app.browser.get(&app.url("/")).await;
    let page = app.browser.follow_link(&home, "Enable with Segment").await;
    assert_eq!(page.url.path(), "/destination", "{}", page.text());
    assert!(
        page.flash().unwrap().contains("Welcome back"),
        "{:?}",
        page.flash()
    );

    // `?renew=1` (or anything but `new=1`) is not `new=1`: still skipped.
    let page = app.browser.get(&app.url("/auth/segment?renew=1")).await;
    assert_eq!(page.url.path(), "/destination", "{}", page.text());

    // Forcing the flow anyway meets "install already exists": the visitor's own installs are
    // offered (Segment does not say which workspace it was), and one click uses it.
    let consent = app.browser.get(&app.url("/auth/segment?new=1")).await;
    let page = app
        .browser
        .click_with(&consent, "Allow", &[("workspace", "acme")])
        .await;
    assert_eq!(page.status, 409, "{}", page.text());
    assert!(
        page.text().contains("already installed on that workspace"),
        "{}",
        page.text()
    );
    assert!(page.text().contains("acme"), "{}", page.text());
    let page = app.browser.click(&page, "Use this install").await;
    assert_eq!(page.url.path(), "/destination");
    assert!(
        page.flash()
            .unwrap()
            .contains("your install on the acme workspace"),
        "{:?}",
        page.flash()
    );
    assert_eq!(app.install_count().await, 1);
}

/// A visitor whose account holds workspace B's install, consenting on workspace A (installed by
/// someone else), is not told they were reconnected, and is not put on B.
#[tokio::test]
async fn already_installed_elsewhere_never_claims_another_workspace() {
    let app = spawn_app().await;
    app.install_on("javascript").await; // acme, by the first visitor
    app.sandbox
        .add_workspace("beta", "Beta Inc.")
        .expect("room for a workspace");
    let visitor = app.another_visitor();
    visitor.install_on_workspace("beta", "ios").await;

    let consent = visitor.browser.get(&app.url("/auth/segment?new=1")).await;
    let page = visitor
        .browser
        .click_with(
            &consent,
            "Allow",
            &[("workspace", "acme"), ("source", "ios")],
        )
        .await;
    assert_eq!(page.status, 409, "{}", page.text());
    let text = page.text();
    assert!(!text.contains("reconnected"), "{text}");
    assert!(text.contains("someone else connected it"), "{text}");
    assert!(
        text.contains("beta"),
        "the account's own install is offered: {text}"
    );
    // The visitor stays on the explanation; nothing lands them on beta's destination page.
    assert_eq!(page.url.path(), "/auth/segment/callback");

    // Somebody else's install cannot be picked by name.
    let acme = app.segment_view().await["installs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["workspace"] == "workspaces/acme")
        .unwrap()["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let page = visitor
        .post_form("/installs/use", &[("install", &acme)])
        .await;
    assert_eq!(page.status, 400, "{}", page.text());
}

/// The `state` of the flow this browser started (from the consent screen's Allow).
async fn own_state(app: &crate::helpers::TestApp) -> String {
    let consent = app.open_consent().await;
    let callback = app.browser.click_to_redirect(&consent, "Allow", &[]).await;
    callback
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap()
}

#[tokio::test]
async fn provider_errors_are_escaped() {
    let app = spawn_app().await;
    let state = own_state(&app).await;
    let payload = "<script>alert(1)</script>";
    let url = reqwest::Url::parse_with_params(
        &app.url("/auth/segment/callback"),
        &[
            ("error", payload),
            ("error_description", payload),
            ("error_hint", payload),
            ("state", &state),
        ],
    )
    .unwrap();
    let page = app.browser.get(url.as_str()).await;
    assert_eq!(page.status, 400);
    assert!(!page.body.contains(payload), "{}", page.body);
    assert!(page.body.contains("&lt;script&gt;") || page.body.contains("&#60;script&#62;"));
}

/// A link that carries an error for a flow that is not this browser's puts no text of its own
/// on the page, and the visitor's own sign-in still works after it.
#[tokio::test]
async fn a_provider_error_for_another_flow_says_nothing_and_cancels_nothing() {
    let app = spawn_app().await;
    let consent = app.open_consent().await;
    let words = "Call +1-555-0100 to unlock your account";
    for state in [None, Some("someone-elses-state")] {
        let mut query = vec![
            ("error", "server_error"),
            ("error_description", words),
            ("error_hint", words),
        ];
        if let Some(state) = state {
            query.push(("state", state));
        }
        let url =
            reqwest::Url::parse_with_params(&app.url("/auth/segment/callback"), &query).unwrap();
        let page = app.browser.get(url.as_str()).await;
        assert_eq!(page.status, 400, "{state:?}");
        assert!(page.text().contains("not valid"), "{}", page.text());
        assert!(!page.text().contains(words), "{state:?}: {}", page.text());
    }
    // The pending sign-in is intact: Allow still connects.
    let page = app
        .browser
        .click_with(&consent, "Allow", &[("source", "javascript")])
        .await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.flash().unwrap().contains("Connected to Segment"));
}

/// Known codes are told in our words, not Segment's.
#[tokio::test]
async fn known_provider_errors_are_in_our_words() {
    let app = spawn_app().await;
    let state = own_state(&app).await;
    let url = reqwest::Url::parse_with_params(
        &app.url("/auth/segment/callback"),
        &[
            ("error", "access_denied"),
            ("error_description", "Something Segment said"),
            ("state", &state),
        ],
    )
    .unwrap();
    let page = app.browser.get(url.as_str()).await;
    assert_eq!(page.status, 403);
    assert!(page.text().contains("chose Deny"), "{}", page.text());
    assert!(
        !page.text().contains("Something Segment said"),
        "{}",
        page.text()
    );
}

#[tokio::test]
async fn a_callback_without_a_flow_or_code_is_refused() {
    let app = spawn_app().await;
    let page = app
        .browser
        .get(&app.url("/auth/segment/callback?code=abc&state=xyz"))
        .await;
    assert_eq!(page.status, 400);
    assert!(page.text().contains("no sign-in in progress"));

    let consent = app.open_consent().await;
    let callback = app.browser.click_to_redirect(&consent, "Allow", &[]).await;
    let state = callback
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let page = app
        .browser
        .get(&app.url(&format!("/auth/segment/callback?state={state}")))
        .await;
    assert_eq!(page.status, 400);
    assert!(page.text().contains("without a code"), "{}", page.text());
}

/// A mistyped CLIENT_SECRET: the page says which settings to check, in sentences that end once.
#[tokio::test]
async fn a_wrong_client_secret_is_explained_once() {
    let app = crate::helpers::spawn_app_with(crate::helpers::Options {
        extra: vec![("CLIENT_SECRET", "not-the-secret".into())],
        ..Default::default()
    })
    .await;
    let consent = app.open_consent().await;
    let page = app
        .browser
        .click_with(&consent, "Allow", &[("source", "javascript")])
        .await;
    assert_eq!(page.status, 502, "{}", page.text());
    let text = page.text();
    assert!(text.contains("CLIENT_ID and CLIENT_SECRET"), "{text}");
    assert!(!text.contains(".."), "a double period: {text}");
    assert!(
        !text.contains("not-the-secret"),
        "the secret is shown: {text}"
    );
}

/// The flow's cookie as this browser holds it (`name=value`).
fn flow_cookie(app: &crate::helpers::TestApp) -> String {
    let value = app.cookie("partnerapp_flow").expect("a flow cookie");
    format!("partnerapp_flow={value}")
}

/// A copy of the flow's cookie taken before the callback, played back after it, with the same
/// callback or with a fresh code Segment issued for the same state: the state works once on the
/// server's side (the store remembers it, across instances), so neither reaches Segment.
#[tokio::test]
async fn a_replayed_flow_cookie_is_refused() {
    let app = spawn_app().await;
    let consent = app.open_consent().await;
    let captured = flow_cookie(&app);
    let callback = app
        .browser
        .click_to_redirect(&consent, "Allow", &[("source", "javascript")])
        .await;
    let first = app.browser.get(callback.as_str()).await;
    assert_eq!(first.url.path(), "/destination", "{}", first.text());
    assert!(
        app.cookie("partnerapp_flow").is_none(),
        "the callback clears the flow's cookie"
    );

    // A fresh code for the same state, on a workspace of its own (so Segment would take it).
    app.sandbox.add_workspace("globex", "Globex").unwrap();
    let redirect = app.url("/auth/segment/callback");
    let fresh = app
        .sandbox
        .world()
        .grant(&redirect, "globex", Some("javascript".into()), None);
    let state = callback
        .query_pairs()
        .find(|(name, _)| name == "state")
        .map(|(_, state)| state.into_owned())
        .unwrap();
    let mut fresh_callback = callback.clone();
    fresh_callback
        .query_pairs_mut()
        .clear()
        .append_pair("code", fresh.expose())
        .append_pair("state", &state);

    for replayed in [callback, fresh_callback] {
        let replay = app.another_visitor();
        replay.browser.set_cookie(&app.url("/"), &captured);
        let mark = app.sandbox.journal_mark();
        let page = replay.browser.get(replayed.as_str()).await;
        assert_eq!(page.status, 400, "{}", page.text());
        assert!(page.text().contains("already used"), "{}", page.text());
        assert!(
            app.sandbox.calls_since(mark).is_empty(),
            "a used state reached Segment"
        );
        assert!(
            replay.cookie("partnerapp_flow").is_none(),
            "a used flow's cookie goes"
        );
    }
    assert_eq!(app.store().await.account_count().await.unwrap(), 1);
    assert_eq!(app.install_count().await, 1);
}

/// A flow cookie sealed with another key (another app's, or an old `SESSION_KEY`), or altered,
/// opens nothing: the callback says this browser has no sign-in in progress, and Segment's
/// code is never exchanged.
#[tokio::test]
async fn a_foreign_or_tampered_flow_cookie_is_refused() {
    let app = spawn_app().await;
    let consent = app.open_consent().await;
    let genuine = flow_cookie(&app);
    let callback = app
        .browser
        .click_to_redirect(&consent, "Allow", &[("source", "javascript")])
        .await;
    let (name, value) = genuine.split_once('=').unwrap();
    let mut altered: Vec<u8> = value.bytes().collect();
    altered[10] = if altered[10] == b'A' { b'B' } else { b'A' };
    let foreign = forged_flow(
        &callback,
        "another app's key, 64 bytes long .......................",
        0,
    );
    for cookie in [
        format!("{name}={}", String::from_utf8(altered).unwrap()),
        foreign,
    ] {
        let visitor = app.another_visitor();
        visitor.browser.set_cookie(&app.url("/"), &cookie);
        let page = visitor.browser.get(callback.as_str()).await;
        assert_eq!(page.status, 400, "{}", page.text());
        assert!(
            page.text().contains("no sign-in in progress"),
            "{}",
            page.text()
        );
    }
    assert_eq!(app.install_count().await, 0);
    // The genuine one still works.
    let page = app.browser.get(callback.as_str()).await;
    assert_eq!(page.url.path(), "/destination", "{}", page.text());
}

/// A flow cookie sealed with the app's own key, for the callback's own `state`, but begun more
/// than 10 minutes ago (as a copy kept past its Max-Age would be).
#[tokio::test]
async fn an_expired_flow_cookie_is_refused() {
    let app = spawn_app().await;
    let callback = app.callback_after_allow("javascript").await;
    let old = forged_flow(&callback, crate::helpers::SESSION_KEY, 11);
    app.browser.set_cookie(&app.url("/"), &old);
    let page = app.browser.get(callback.as_str()).await;
    assert_eq!(page.status, 400, "{}", page.text());
    assert!(page.text().contains("expired"), "{}", page.text());
    assert_eq!(app.install_count().await, 0);
    assert_eq!(app.store().await.account_count().await.unwrap(), 0);
}

/// A flow cookie for `callback`'s state, sealed with the cookie key of `session_key`, begun
/// `minutes_ago`.
fn forged_flow(callback: &reqwest::Url, session_key: &str, minutes_ago: i64) -> String {
    use enable_with_segment::SealedCookies;
    use segment_partnerapp::crypto::MasterKey;
    let key = MasterKey::parse(session_key)
        .or_else(|_| MasterKey::from_bytes(session_key.as_bytes().to_vec()))
        .unwrap();
    let state = callback
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    let seal = SealedCookies {
        key: key.cookie_key(),
        https: false,
    };
    // The flow library's cookie: its JSON, sealed with the app's cookie key under its name.
    let flow = serde_json::json!({
        "state": state,
        "pkce_verifier": null,
        "started_at": chrono::Utc::now() - chrono::Duration::minutes(minutes_ago),
        "user": null,
    });
    let cookie = seal.seal(actix_web::cookie::Cookie::new(
        "partnerapp_flow",
        flow.to_string(),
    ));
    format!("{}={}", cookie.name(), cookie.value())
}

/// Opening Enable with Segment, and coming back denied, leave nothing behind: no account, no
/// session (a script that opens it thousands of times fills nothing).
#[tokio::test]
async fn a_flow_that_never_succeeds_makes_nothing() {
    let app = spawn_app().await;
    let client = Browser::new().client;
    for _ in 0..200 {
        let response = client.get(app.url("/auth/segment")).send().await.unwrap();
        assert_eq!(response.status(), 303);
    }
    let consent = app.open_consent().await;
    let page = app.browser.click(&consent, "Deny").await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(
        app.cookie("partnerapp_flow").is_none(),
        "a denied flow's cookie goes"
    );
    let store = app.store().await;
    assert_eq!(store.account_count().await.unwrap(), 0);
    assert_eq!(app.session_count().await, 0);
    // Allow is what makes the account (and its session).
    app.install_on("javascript").await;
    assert_eq!(store.account_count().await.unwrap(), 1);
    assert_eq!(app.session_count().await, 1);
}

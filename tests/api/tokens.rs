//! Install tokens that never go stale: refreshed before they expire, refreshed once when
//! Segment refuses them, one refresh per install however many requests need it.

use std::collections::HashSet;

use crate::helpers::{TestApp, spawn_app};

async fn refreshes(app: &TestApp) -> u64 {
    app.refresh_count().await
}

/// Refused Config API calls, the delivery metrics left out (the destination page asks for its
/// health summary beside the destination, with the same token).
async fn refused_calls(app: &TestApp) -> usize {
    app.segment_view().await["activity"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| {
            let what = a["what"].as_str().unwrap_or("");
            a["status"] == 401 && what.contains(" /v1beta/") && !what.contains("/metrics")
        })
        .count()
}

async fn expire_tokens(app: &TestApp) {
    app.expire_tokens().await;
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_and_the_page_works() {
    let app = spawn_app().await;
    app.install_on("javascript").await;
    expire_tokens(&app).await;

    let page = app.browser.get(&app.url("/destination")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.text().contains("Not created"));
    assert_eq!(refreshes(&app).await, 1);
    assert_eq!(
        refused_calls(&app).await,
        1,
        "one refused call, then the retry"
    );

    // The session kept the new token: no refresh, no refusal the next time.
    let page = app.browser.get(&app.url("/destination")).await;
    assert_eq!(page.status, 200);
    let page = app.browser.click(&page, "Enable").await;
    assert!(page.text().contains("Enabled"));
    assert_eq!(refreshes(&app).await, 1);
    assert_eq!(refused_calls(&app).await, 1);
}

#[tokio::test]
async fn a_token_about_to_expire_is_refreshed_before_the_call() {
    let app = spawn_app().await;
    app.sandbox.set_token_lifetime(30);
    app.install_on("ios").await;
    assert_eq!(
        refreshes(&app).await,
        1,
        "the landing page's call was made with a fresh token"
    );
    assert_eq!(
        refused_calls(&app).await,
        0,
        "Segment saw an expiring token"
    );

    app.sandbox.set_token_lifetime(3599);
    let page = app.browser.get(&app.url("/destination")).await;
    assert_eq!(page.status, 200);
    assert_eq!(refreshes(&app).await, 2);
    app.browser.get(&app.url("/destination")).await;
    assert_eq!(
        refreshes(&app).await,
        2,
        "a token good for an hour was refreshed"
    );
}

#[tokio::test]
async fn fifty_concurrent_requests_on_an_expired_session_refresh_once() {
    let app = spawn_app().await;
    app.install_on("javascript").await;
    expire_tokens(&app).await;

    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let client = app.browser.client.clone();
        let url = app.url("/destination");
        requests.spawn(async move {
            let response = client.get(url).send().await.expect("an answer");
            response.status().as_u16()
        });
    }
    let mut statuses = Vec::new();
    while let Some(status) = requests.join_next().await {
        statuses.push(status.expect("the request task"));
    }
    assert_eq!(
        statuses.iter().collect::<HashSet<_>>(),
        HashSet::from([&200]),
        "{statuses:?}"
    );
    assert_eq!(
        refreshes(&app).await,
        1,
        "more than one refresh for one install"
    );
}

#[tokio::test]
async fn a_removed_install_is_explained_on_the_destination_page() {
    let app = spawn_app().await;
    app.install_on("javascript").await;
    let inspector = app.browser.get(&app.sandbox_url).await;
    app.browser.click(&inspector, "Uninstall").await;

    let page = app.browser.get(&app.url("/destination")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let text = page.text();
    assert!(text.contains("This install needs attention"), "{text}");
    assert!(text.contains("uninstalled"), "{text}");
    assert!(
        text.contains("workspaces/acme/sources/javascript"),
        "{text}"
    );
    assert!(!page.buttons().contains(&"Enable".to_owned()), "{text}");

    // Connecting again works, and the new install replaces the old one in the store.
    let page = app
        .browser
        .follow_link(&page, "connect with Segment again")
        .await;
    let page = app
        .browser
        .click_with(&page, "Allow", &[("source", "ios")])
        .await;
    assert_eq!(page.url.path(), "/destination", "{}", page.text());
    assert!(page.text().contains("workspaces/acme/sources/ios"));
    assert!(!page.text().contains("needs attention"));
}

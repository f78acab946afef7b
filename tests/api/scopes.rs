//! The wider scopes: the token names no source, so the customer picks one; `workspace:read`
//! shows everything and changes nothing.

use crate::helpers::{Options, spawn_app_with};

#[tokio::test]
async fn with_the_workspace_scope_the_customer_picks_a_source() {
    let app = spawn_app_with(Options::scope("workspace")).await;
    let consent = app.open_consent().await;
    assert!(
        !consent.body.contains("name=\"source\""),
        "no source is asked for a workspace scope"
    );
    let page = app.browser.click(&consent, "Allow").await;
    assert_eq!(page.url.path(), "/destination");
    assert!(page.text().contains("Pick a source"), "{}", page.text());

    let page = app
        .browser
        .click_with(
            &page,
            "Manage this source",
            &[("source", "workspaces/acme/sources/node-server")],
        )
        .await;
    assert!(
        page.text().contains("workspaces/acme/sources/node-server"),
        "{}",
        page.text()
    );
    let page = app.browser.click(&page, "Enable").await;
    assert!(page.text().contains("Enabled"), "{}", page.body);
    assert_eq!(
        app.segment_view().await["destinations"][0]["name"],
        "workspaces/acme/sources/node-server/destinations/clearbrain"
    );

    // The customer can switch to another source.
    let page = app.browser.get(&app.url("/destination")).await;
    let picker = app.browser.follow_link(&page, "Change source").await;
    let page = app
        .browser
        .click_with(
            &picker,
            "Manage this source",
            &[("source", "workspaces/acme/sources/ios")],
        )
        .await;
    assert!(
        page.text().contains("workspaces/acme/sources/ios"),
        "{}",
        page.text()
    );
    assert!(page.text().contains("Not created"));

    // A source of another workspace is refused before Segment is asked.
    let page = app
        .post_form(
            "/destination/source",
            &[("source", "workspaces/other/sources/js")],
        )
        .await;
    assert_eq!(page.status, 400);
}

#[tokio::test]
async fn with_workspace_read_writes_are_refused_before_segment_is_called() {
    let app = spawn_app_with(Options::scope("workspace:read")).await;
    let consent = app.open_consent().await;
    let page = app.browser.click(&consent, "Allow").await;
    let page = app
        .browser
        .click_with(
            &page,
            "Manage this source",
            &[("source", "workspaces/acme/sources/ios")],
        )
        .await;
    assert!(page.text().contains("read-only"), "{}", page.text());
    assert!(
        page.body.contains("disabled>Enable</button>"),
        "{}",
        page.body
    );

    let calls_before = app.segment_view().await["activity"]
        .as_array()
        .unwrap()
        .len();
    let refused = app.post_form("/destination/enable", &[]).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.text().contains("read-only"));
    let calls_after = app.segment_view().await["activity"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(
        calls_before, calls_after,
        "Segment was called for a refused write"
    );
}

//! The customer's story, click by click: install, enable, disable, remove, log out.

use crate::helpers::{API_KEY, spawn_app, spawn_app_in_sandbox_mode};

#[tokio::test]
async fn a_customer_installs_enables_disables_and_removes_the_destination() {
    let app = spawn_app().await;

    // The home page says what this is and offers the button.
    let home = app.browser.get(&app.url("/")).await;
    assert_eq!(home.status, 200);
    assert!(home.text().contains("Enable with Segment"));

    // Segment's consent screen names the App and scope and asks for a source.
    let consent = app.open_consent().await;
    let text = consent.text();
    assert!(text.contains("Partner App (sandbox)"), "{text}");
    assert!(text.contains("destination/clearbrain"), "{text}");
    for source in ["javascript", "ios", "node-server"] {
        assert!(text.contains(source), "{source} missing from {text}");
    }
    assert_eq!(consent.buttons(), ["Allow", "Deny"]);

    // Allow, on the ios source: back on the destination page, connected.
    let page = app
        .browser
        .click_with(&consent, "Allow", &[("source", "ios")])
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.url.path(), "/destination");
    assert!(page.flash().unwrap().contains("Connected to Segment"));
    let text = page.text();
    assert!(text.contains("workspaces/acme/sources/ios"), "{text}");
    assert!(text.contains("Not created"), "{text}");
    assert!(!page.body.contains("access_token"));
    assert_eq!(page.buttons(), ["Log out", "Enable", "Disconnect"]);

    // Segment now has the install on that source.
    let segment = app.segment_view().await;
    assert_eq!(segment["installs"].as_array().unwrap().len(), 1);
    assert_eq!(
        segment["installs"][0]["source"],
        "workspaces/acme/sources/ios"
    );

    // Enable: created with the partner's API key and enabled.
    let page = app.browser.click(&page, "Enable").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.flash().unwrap().contains("created"),
        "{:?}",
        page.flash()
    );
    assert!(page.text().contains("Enabled"));
    assert!(!page.body.contains(API_KEY), "the API key is shown in full");
    // Segment's update time reads like the page's other times, not as an ISO timestamp.
    let updated = page
        .text()
        .split("Last updated ")
        .nth(1)
        .map(|rest| rest.chars().take(12).collect::<String>())
        .unwrap_or_default();
    assert!(
        updated.len() == 12 && updated.ends_with(" UTC") && updated.as_bytes()[2] == b':',
        "Last updated reads {updated:?}"
    );
    let segment = app.segment_view().await;
    let destination = &segment["destinations"][0];
    assert_eq!(
        destination["name"],
        "workspaces/acme/sources/ios/destinations/clearbrain"
    );
    assert_eq!(destination["enabled"], true);
    assert_eq!(destination["connection_mode"], "CLOUD");
    assert_eq!(destination["config"][0]["setting"], "apiKey");
    assert!(
        destination["config"][0]["value"]
            .as_str()
            .unwrap()
            .ends_with("0001"),
        "the partner's key did not arrive: {destination}"
    );

    // Disable: still there, not enabled.
    let page = app.browser.click(&page, "Disable").await;
    assert!(
        page.flash().unwrap().contains("disabled"),
        "{:?}",
        page.flash()
    );
    assert!(page.text().contains("Disabled"));
    assert_eq!(
        app.segment_view().await["destinations"][0]["enabled"],
        false
    );

    // Remove: gone from the source.
    // Remove asks first; Keep it changes nothing.
    let confirm = app.browser.follow_link(&page, "Remove").await;
    assert_eq!(confirm.url.path(), "/destination/remove");
    assert_eq!(
        confirm.url.as_str(),
        app.url("/destination/remove"),
        "no stray '?'"
    );
    assert!(
        confirm.text().contains("its settings are lost"),
        "{}",
        confirm.text()
    );
    let writes = app.write_count().await;
    let kept = app.browser.follow_link(&confirm, "Keep it").await;
    assert!(kept.text().contains("Disabled"));
    assert_eq!(app.write_count().await, writes, "asking removed nothing");
    let page = app.browser.click(&confirm, "Remove the destination").await;
    assert!(
        page.flash().unwrap().contains("removed"),
        "{:?}",
        page.flash()
    );
    assert!(page.text().contains("Not created"));
    assert_eq!(
        app.segment_view().await["destinations"],
        serde_json::json!([])
    );

    // Log out: the session is gone, the install stays in Segment.
    let home = app.browser.click(&page, "Log out").await;
    assert_eq!(home.url.path(), "/");
    assert!(home.text().contains("Enable with Segment"));
    assert_eq!(app.install_count().await, 1);

    // Another visitor (no account, no session) is not connected, and gets neither for looking.
    let stranger = app.another_visitor();
    let page = stranger.browser.get(&app.url("/destination")).await;
    assert_eq!(page.url.path(), "/");
    assert!(page.text().contains("Enable with Segment"));
    assert_eq!(stranger.browser.cookie_header(&app.url("/")), None);

    // The same visitor coming back gets the stored install, without a new flow.
    let page = app.browser.get(&app.url("/destination")).await;
    assert_eq!(page.url.path(), "/destination");
    assert!(
        page.text().contains("workspaces/acme/sources/ios"),
        "{}",
        page.text()
    );
}

#[tokio::test]
async fn enable_updates_a_destination_that_already_exists() {
    let app = spawn_app().await;
    let page = app.install_on("javascript").await;
    let page = app.browser.click(&page, "Enable").await;
    let page = app.browser.click(&page, "Disable").await;
    assert!(page.text().contains("Disabled"));

    // The second Enable finds the destination (it reads it first, for its required settings)
    // and updates it instead of creating it again.
    let page = app.browser.click(&page, "Enable").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.flash().unwrap().contains("already existed"),
        "{:?}",
        page.flash()
    );
    assert!(page.text().contains("Enabled"));

    let segment = app.segment_view().await;
    assert_eq!(segment["destinations"].as_array().unwrap().len(), 1);
    assert_eq!(segment["destinations"][0]["enabled"], true);
    let activity: Vec<String> = segment["activity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| format!("{} {}", a["status"], a["what"].as_str().unwrap()))
        .collect();
    let creates = activity
        .iter()
        .filter(|a| a.contains("POST /v1beta"))
        .count();
    let patches = activity
        .iter()
        .filter(|a| a.starts_with("200 PATCH"))
        .count();
    assert_eq!(
        creates, 1,
        "one create, for the first Enable: {activity:#?}"
    );
    assert_eq!(patches, 2, "Disable, then the second Enable: {activity:#?}");
}

/// A destination with required settings beyond the key is not turned on without them: Enable
/// says which are missing and takes the customer to them.
#[tokio::test]
async fn enable_asks_for_the_required_settings_first() {
    let app = crate::helpers::spawn_app_with(crate::helpers::Options::destination("airship")).await;
    let page = app.install_on("javascript").await;
    let page = app.browser.click(&page, "Enable").await;
    assert_eq!(page.url.path(), "/destination/configure", "{}", page.text());
    let flash = page.flash().unwrap();
    assert!(flash.contains("App Key"), "{flash}");
    assert!(flash.contains("stays disabled"), "{flash}");
    let segment = app.segment_view().await;
    assert_eq!(
        segment["destinations"][0]["enabled"], false,
        "never Enabled without it"
    );
    let destination = app.browser.get(&app.url("/destination")).await;
    assert!(
        !destination.text().contains("Enabled"),
        "{}",
        destination.text()
    );
    // Named as people know it, not by its slug.
    assert!(
        destination.text().contains("Your Airship destination"),
        "{}",
        destination.text()
    );

    // Filled in and saved, Enable turns it on.
    let page = app
        .browser
        .click_with(
            &page,
            "Save settings",
            &[("setting.appKey", "app-key-123456")],
        )
        .await;
    assert!(
        page.flash().unwrap().contains("Saved"),
        "{:?}",
        page.flash()
    );
    let destination = app.browser.get(&app.url("/destination")).await;
    let page = app.browser.click(&destination, "Enable").await;
    assert_eq!(page.url.path(), "/destination", "{}", page.text());
    assert!(page.text().contains("Enabled"), "{}", page.text());
    assert_eq!(app.segment_view().await["destinations"][0]["enabled"], true);
}

#[tokio::test]
async fn enable_works_for_a_destination_without_an_api_key() {
    let app =
        crate::helpers::spawn_app_with(crate::helpers::Options::destination("google-analytics"))
            .await;
    let page = app.install_on("ios").await;
    let page = app.browser.click(&page, "Enable").await;
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(page.text().contains("Enabled"), "{}", page.text());
    let segment = app.segment_view().await;
    assert_eq!(segment["destinations"][0]["config"], serde_json::json!([]));
}

#[tokio::test]
async fn the_sandbox_mode_app_runs_the_whole_flow_on_its_own_port() {
    let app = spawn_app_in_sandbox_mode().await;
    let home = app.browser.get(&app.url("/")).await;
    assert!(home.text().contains("Sandbox"), "no sandbox marker");

    let consent = app.open_consent().await;
    assert!(consent.url.path().starts_with("/sandbox/oauth2/auth"));
    let page = app.browser.click(&consent, "Allow").await;
    assert_eq!(page.url.path(), "/destination", "{}", page.body);
    assert!(page.text().contains("Sandbox"), "no sandbox marker");
    assert!(page.text().contains("workspaces/acme/sources/javascript"));

    let page = app.browser.click(&page, "Enable").await;
    assert!(page.text().contains("Enabled"), "{}", page.body);
    let inspector = app.browser.get(&app.sandbox_url).await;
    assert_eq!(inspector.status, 200);
    assert!(
        inspector
            .text()
            .contains("workspaces/acme/sources/javascript/destinations/clearbrain")
    );

    // In sandbox mode, a workspace another account installed on points at the inspector.
    let stranger = app.another_visitor();
    let consent = stranger.open_consent().await;
    let page = stranger
        .browser
        .click_with(&consent, "Allow", &[("workspace", "acme")])
        .await;
    assert_eq!(page.status, 409);
    assert!(
        page.text().contains("sandbox inspector (/sandbox)"),
        "{}",
        page.text()
    );
    assert!(
        !inspector.body.contains(API_KEY),
        "the inspector shows the API key in full"
    );
}

#[tokio::test]
async fn starting_on_another_host_name_still_completes_the_flow() {
    // REDIRECT_URL says 127.0.0.1; the customer typed localhost.
    let app = spawn_app().await;
    let other_host = app.url("/").replace("127.0.0.1", "localhost");
    let home = app.browser.get(&other_host).await;
    let consent = app.browser.follow_link(&home, "Enable with Segment").await;
    assert_eq!(consent.status, 200, "{}", consent.text());
    let page = app.browser.click(&consent, "Allow").await;
    assert_eq!(page.url.path(), "/destination", "{}", page.text());
    assert_eq!(page.url.host_str(), Some("127.0.0.1"));

    // "Connect another workspace" from the other host name still asks Segment, not the store.
    let consent = app
        .browser
        .get(&format!("{other_host}auth/segment?new=1"))
        .await;
    assert!(consent.text().contains("Authorize"), "{}", consent.text());
}

#[tokio::test]
async fn pages_need_a_connection_first() {
    let app = spawn_app().await;
    let page = app.browser.get(&app.url("/destination")).await;
    assert_eq!(page.url.path(), "/");
    app.make_account().await;
    let page = app.browser.get(&app.url("/destination")).await;
    assert_eq!(page.url.path(), "/");
    assert!(page.flash().unwrap().contains("Connect with Segment first"));

    for action in ["enable", "disable", "remove", "configure"] {
        let path = format!("/destination/{action}");
        let page = app.post_form(&path, &[]).await;
        assert_eq!(page.url.path(), "/", "{action}");
        assert!(
            page.flash()
                .is_some_and(|f| f.contains("Connect with Segment first")),
            "{action}: {}",
            page.text()
        );
    }
    let segment = app.segment_view().await;
    assert_eq!(
        segment["activity"],
        serde_json::json!([]),
        "Segment was called"
    );
}

#[tokio::test]
async fn health_and_unknown_pages() {
    let app = spawn_app().await;
    let health = app.browser.get(&app.url("/healthz")).await;
    assert_eq!(health.status, 200);
    assert!(health.body.contains("ok"));
    let ready = app.browser.get(&app.url("/readyz")).await;
    assert_eq!(ready.status, 200);
    assert!(ready.body.contains("ready"));

    let missing = app.browser.get(&app.url("/no/such/page")).await;
    assert_eq!(missing.status, 404);
    assert!(missing.text().contains("Page not found"));

    let css = app.browser.get(&app.url("/static/style.css")).await;
    assert_eq!(css.status, 200);
}

/// Ten people on one demo server: each gets a workspace of their own on the consent screen and
/// connects, and an Uninstall leaves the workspace clean for the next person.
#[tokio::test]
async fn a_room_of_visitors_each_connects_on_one_demo_server() {
    let app = crate::helpers::spawn_app_in_sandbox_mode_with(&[("DESTINATION_API_KEY", "")]).await;
    let mut workspaces = std::collections::BTreeSet::new();
    let mut visitors = Vec::new();
    for i in 0..10 {
        let visitor = app.another_visitor();
        let consent = visitor.open_consent().await;
        if i > 0 {
            assert!(
                consent.text().contains("A new workspace of my own"),
                "{}",
                consent.text()
            );
        }
        let page = visitor.browser.click(&consent, "Allow").await;
        assert_eq!(page.status, 200, "visitor {i}: {}", page.text());
        assert!(page.flash().unwrap().contains("Connected to Segment"));
        let workspace = page
            .text()
            .split("workspaces/")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| c == '/' || c.is_whitespace()).next())
            .unwrap()
            .to_owned();
        let page = visitor.browser.click(&page, "Enable").await;
        assert!(page.text().contains("Enabled"), "visitor {i}");
        workspaces.insert(workspace);
        visitors.push(visitor);
    }
    assert_eq!(workspaces.len(), 10, "{workspaces:?}");

    // In the inspector each visitor sees their own install in full, with its buttons, and the
    // others' without names or buttons.
    let inspector = visitors[3].browser.get(&app.sandbox_url).await;
    assert_eq!(
        inspector
            .buttons()
            .iter()
            .filter(|b| *b == "Uninstall")
            .count(),
        1
    );
    assert_eq!(
        inspector
            .text()
            .matches("another visitor's install")
            .count(),
        9
    );
    assert_eq!(
        inspector
            .text()
            .matches("another visitor's workspace")
            .count(),
        9
    );
    let named = workspaces
        .iter()
        .filter(|w| inspector.text().contains(&format!("workspaces/{w}")))
        .count();
    assert_eq!(named, 1, "{workspaces:?}");
    // Another visitor's install cannot be uninstalled from this browser, even by a forged form.
    let others = app.segment_view().await["installs"][0]["id"]
        .as_u64()
        .unwrap();
    let forged = crate::helpers::form_of(&inspector, "Uninstall", &[]);
    let forged_url = app.url(&format!("/sandbox/installs/{others}/uninstall"));
    let refused = visitors[3]
        .browser
        .send(
            forged.method,
            reqwest::Url::parse(&forged_url).unwrap(),
            forged.fields,
        )
        .await;
    assert_eq!(refused.status(), 403);
    assert_eq!(app.install_count().await, 10);

    // A newcomer's consent screen lists everyone's workspace (acme) and a new one of their
    // own, never another visitor's; picking one anyway is refused.
    let newcomer = app.another_visitor();
    let consent = newcomer.open_consent().await;
    assert!(
        !consent.text().contains("Demo workspace"),
        "{}",
        consent.text()
    );
    let taken = workspaces.iter().find(|w| w.starts_with("demo-")).unwrap();
    let page = newcomer
        .browser
        .click_with(&consent, "Allow", &[("workspace", taken.as_str())])
        .await;
    assert_eq!(page.status, 400, "{}", page.text());
    assert!(
        page.text().contains("Pick the workspace"),
        "{}",
        page.text()
    );

    // The first visitor uninstalls the App from acme; the next person to pick acme starts
    // clean, with no word about another account's key.
    let first = &visitors[0];
    let inspector = first.browser.get(&app.sandbox_url).await;
    let inspector = first.browser.click(&inspector, "Uninstall").await;
    assert!(
        inspector.text().contains("Installs (9)"),
        "{}",
        inspector.text()
    );
    let next = app.another_visitor();
    let consent = next.open_consent().await;
    let page = next
        .browser
        .click_with(&consent, "Allow", &[("workspace", "acme")])
        .await;
    assert_eq!(page.status, 200, "{}", page.text());
    let text = page.text();
    assert!(text.contains("Not created"), "{text}");
    assert!(!text.contains("not your current key"), "{text}");
}

/// The first page names the destination as the catalog does: in sandbox mode at once, and
/// after a restart against Segment with a stored install's token (read in the background at
/// start-up, before anyone asked); a new app with nothing to read it with says the slug.
#[tokio::test]
async fn the_first_page_names_the_destination_by_its_display_name() {
    let demo = spawn_app_in_sandbox_mode().await;
    let home = demo.browser.get(&demo.url("/")).await;
    assert!(
        home.text().contains("our ClearBrain destination"),
        "{}",
        home.text()
    );

    let app = spawn_app().await;
    let home = app.another_visitor().browser.get(&app.url("/")).await;
    assert!(
        home.text().contains("our clearbrain destination"),
        "{}",
        home.text()
    );
    app.install_on("ios").await;
    let app = app.restart().await;
    let stranger = app.another_visitor();
    // The read is in the background: a page a moment later has it (bounded: 5 s).
    let mut text = String::new();
    for _ in 0..50 {
        text = stranger.browser.get(&app.url("/")).await.text();
        if text.contains("our ClearBrain destination") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(text.contains("our ClearBrain destination"), "{text}");
}

//! The Configure page, for every destination in the sandbox's catalog: a control per setting,
//! valid values that round-trip through Segment (the sandbox) and back into the form, and
//! invalid values that never leave the app.

use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, spawn_app_with};

/// The catalog entries the sandbox serves, read from the same files.
fn catalog() -> Vec<(String, Value)> {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/segment-sandbox/src/catalog");
    let mut entries: Vec<(String, Value)> = std::fs::read_dir(dir)
        .expect("the catalog folder")
        .map(|entry| {
            let path = entry.expect("an entry").path();
            let slug = path.file_stem().unwrap().to_string_lossy().into_owned();
            let json = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            (slug, json)
        })
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(entries.len(), 7);
    entries
}

fn settings(entry: &Value) -> &Vec<Value> {
    entry["settings"].as_array().expect("settings")
}

fn name(setting: &Value) -> String {
    format!("setting.{}", setting["name"].as_str().unwrap())
}

/// Masked on the pages: PASSWORD settings, and the API key the partner pushes (`apiKey`); an
/// app key or a write key is shown.
fn is_secret(setting: &Value) -> bool {
    setting["type"] == "PASSWORD" || setting["name"] == "apiKey"
}

/// A value each setting accepts, as typed into the form.
fn valid_input(setting: &Value) -> String {
    let name = setting["name"].as_str().unwrap();
    let pattern = setting["string_validators"]["regexp"]
        .as_str()
        .unwrap_or("");
    match setting["type"].as_str().unwrap() {
        "STRING" | "PASSWORD" => match pattern {
            "" => format!("value-for-{name}"),
            "^.{8,}$" => "valid-key-0001".into(),
            "^UA-\\d+-\\d+$" => "UA-12345-6".into(),
            "^\\d+$" => "424242".into(),
            "^[a-zA-Z0-9]+$" => "abc123XYZ".into(),
            "^none$|^[a-zA-Z0-9_-]+\\.[.a-zA-Z0-9_-]+$" => "example.com".into(),
            other => panic!("no valid value known for the pattern {other:?} ({name}): add one"),
        },
        "MULTI_LINE_STRING" => "line one\nline two".into(),
        "COLOR" => "#3b4cca".into(),
        "BOOLEAN" => "true".into(),
        "NUMBER" => {
            let min = setting["number_validators"]["min"].as_f64().unwrap_or(0.0);
            let max = setting["number_validators"]["max"].as_f64().unwrap_or(0.0);
            if max > min {
                ((min + max) / 2.0).floor().to_string()
            } else {
                "42".into()
            }
        }
        "SELECT" => setting["select_validators"]["select_options"]
            .as_array()
            .and_then(|o| o.last())
            .and_then(Value::as_str)
            .expect("options")
            .to_owned(),
        "LIST" => "alpha\nbeta".into(),
        "MAP" => {
            let rules = &setting["map_validators"];
            let prefix = rules["map_prefix"].as_str().unwrap_or("");
            let first_option = rules["select_options"]
                .as_array()
                .and_then(|o| o.first())
                .and_then(Value::as_str);
            match (prefix, first_option) {
                ("", Some(option)) => format!("plan={option}"),
                ("", None) => "plan=gold\ncolor=blue".into(),
                (prefix, _) => format!("plan={prefix}2"),
            }
        }
        "MIXED" => {
            let children = setting["settings"].as_array().unwrap();
            if children.is_empty() {
                r#"{"key": "value"}"#.into()
            } else {
                let entry: serde_json::Map<String, Value> = children
                    .iter()
                    .map(|c| (c["name"].as_str().unwrap().to_owned(), json!("x")))
                    .collect();
                serde_json::to_string(&json!([entry])).unwrap()
            }
        }
        other => panic!("unknown setting type {other}"),
    }
}

/// A value the setting refuses, where its type has one.
fn invalid_input(setting: &Value) -> Option<&'static str> {
    let has_pattern = setting["string_validators"]["regexp"]
        .as_str()
        .is_some_and(|p| !p.is_empty());
    match setting["type"].as_str().unwrap() {
        "STRING" | "PASSWORD" if has_pattern => Some("!!"),
        "STRING" if setting["required"] == true && !is_secret(setting) => Some(""),
        "NUMBER" => Some("abc"),
        "SELECT" => Some("not-an-option"),
        "MAP" => Some("no equals sign"),
        "MIXED" => Some("{not json"),
        "BOOLEAN" => Some("maybe"),
        _ => None,
    }
}

async fn configure_page(app: &TestApp) -> crate::helpers::Page {
    let page = app.browser.get(&app.url("/destination/configure")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page
}

#[tokio::test]
async fn every_catalog_destination_can_be_configured_through_the_form() {
    for (slug, entry) in catalog() {
        let app = spawn_app_with(Options::destination(&slug)).await;
        let destination_page = app.install_on("javascript").await;
        let page = app
            .browser
            .follow_link(&destination_page, "Configure")
            .await;
        assert_eq!(page.status, 200, "{slug}: {}", page.body);

        // A control for every setting; descriptions shown, nested settings under their parent.
        for setting in settings(&entry) {
            assert!(
                page.control(&name(setting)).is_some(),
                "{slug}: no control for {}",
                name(setting)
            );
            for child in setting["settings"].as_array().unwrap() {
                let label = child["display_name"].as_str().unwrap();
                assert!(
                    page.text().contains(label),
                    "{slug}: nested {label} not shown"
                );
            }
        }

        // A full set of valid values: the destination is created with them. The API key is
        // typed too, so the box that confirms replacing the managed key is ticked.
        let mut form: Vec<(String, String)> = settings(&entry)
            .iter()
            .map(|s| (name(s), valid_input(s)))
            .collect();
        form.push(("replace_managed_key".into(), "yes".into()));
        let fields: Vec<(&str, &str)> =
            form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let saved = app.post_form("/destination/configure", &fields).await;
        assert_eq!(saved.status, 200, "{slug}: {}", saved.body);
        assert_eq!(saved.url.path(), "/destination/configure");
        assert!(
            saved.flash().unwrap_or_default().contains("created"),
            "{slug}: {:?}",
            saved.flash()
        );

        // The form now shows what Segment stored.
        for setting in settings(&entry) {
            let shown = saved.control(&name(setting)).unwrap();
            let typed = valid_input(setting);
            match setting["type"].as_str().unwrap() {
                _ if setting["name"] == "apiKey" => assert!(
                    shown.starts_with("Managed by this app."),
                    "{slug} {}: {shown}",
                    name(setting)
                ),
                _ if is_secret(setting) => assert!(
                    shown.starts_with("Set."),
                    "{slug} {}: {shown}",
                    name(setting)
                ),
                "BOOLEAN" => assert_eq!(shown, "checked", "{slug} {}", name(setting)),
                "MIXED" => assert_eq!(
                    serde_json::from_str::<Value>(&shown).unwrap(),
                    serde_json::from_str::<Value>(&typed).unwrap()
                ),
                "MAP" if typed.contains("plan=") && !typed.contains('\n') => {
                    assert_eq!(shown, typed, "{slug} {}", name(setting))
                }
                "MAP" => assert_eq!(shown, "color=blue\nplan=gold", "{slug} {}", name(setting)),
                _ => assert_eq!(shown, typed, "{slug} {}", name(setting)),
            }
        }

        // Segment holds typed JSON values, not strings.
        let segment = app.segment_view().await;
        let stored = &segment["destinations"][0]["config"];
        for (index, setting) in settings(&entry).iter().enumerate() {
            let kind = setting["type"].as_str().unwrap();
            let value = stored
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["setting"] == setting["name"])
                .unwrap_or_else(|| panic!("{slug}: setting {index} not stored"));
            let value = value["value"].as_str().unwrap();
            match kind {
                "BOOLEAN" => assert_eq!(value, "true"),
                "NUMBER" => assert!(value.parse::<f64>().is_ok(), "{value}"),
                "LIST" => assert_eq!(value, r#"["alpha","beta"]"#),
                "MAP" => assert!(value.starts_with('{'), "{value}"),
                _ => {}
            }
        }

        // Invalid values: each gets its message, the input is kept, nothing is sent.
        let before = app.write_count().await;
        let mut bad_fields = Vec::new();
        let mut typed_bad_field = None;
        let form: Vec<(String, String)> = settings(&entry)
            .iter()
            .map(|s| match invalid_input(s) {
                Some(bad) => {
                    if !bad.is_empty()
                        && !is_secret(s)
                        && matches!(
                            s["type"].as_str(),
                            Some("STRING" | "NUMBER" | "MAP" | "SELECT")
                        )
                    {
                        typed_bad_field.get_or_insert((name(s), bad));
                    }
                    bad_fields.push(name(s));
                    (name(s), bad.to_owned())
                }
                None => (name(s), valid_input(s)),
            })
            .collect();
        let fields: Vec<(&str, &str)> =
            form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let refused = app.post_form("/destination/configure", &fields).await;
        if bad_fields.is_empty() {
            assert_eq!(refused.status, 200, "{slug}");
            continue;
        }
        assert_eq!(refused.status, 422, "{slug}: {}", refused.body);
        assert!(
            refused.text().contains("nothing was sent to Segment"),
            "{slug}"
        );
        for field in &bad_fields {
            assert!(
                refused.field_error(field).is_some(),
                "{slug}: no error on {field}"
            );
        }
        let shown_errors = refused.body.matches("class=\"field-error\"").count();
        assert_eq!(
            shown_errors,
            bad_fields.len(),
            "{slug}: errors on valid fields"
        );
        if let Some((field, typed)) = typed_bad_field {
            assert_eq!(
                refused.control(&field).as_deref(),
                Some(typed),
                "{slug}: input not kept"
            );
        }
        assert_eq!(
            app.write_count().await,
            before,
            "{slug}: an invalid form reached Segment"
        );
    }
}

#[tokio::test]
async fn saving_sends_only_the_changes_and_keeps_a_blank_password() {
    let app = spawn_app_with(Options::destination("eloqua")).await;
    app.install_on("ios").await;
    let base: Vec<(&str, &str)> = vec![
        ("setting.companyName", "Acme"),
        ("setting.siteId", "site-1"),
        ("setting.username", "ada"),
        ("setting.password", "first-password-0001"),
    ];
    let page = app.post_form("/destination/configure", &base).await;
    assert!(
        page.flash().unwrap().contains("created"),
        "{:?}\n{}",
        page.flash(),
        page.body
    );
    assert!(
        !page.body.contains("first-password-0001"),
        "the password was echoed"
    );

    // Change the user name, leave the password blank.
    let page = app
        .post_form(
            "/destination/configure",
            &[
                ("setting.companyName", "Acme"),
                ("setting.siteId", "site-1"),
                ("setting.username", "grace"),
                ("setting.password", ""),
            ],
        )
        .await;
    assert_eq!(page.flash().as_deref(), Some("Saved 1 setting."));
    assert_eq!(page.control("setting.username").as_deref(), Some("grace"));
    let segment = app.segment_view().await;
    let config = segment["destinations"][0]["config"]
        .as_array()
        .unwrap()
        .clone();
    let password = config.iter().find(|c| c["setting"] == "password").unwrap();
    assert!(
        password["value"].as_str().unwrap().ends_with("0001"),
        "the password was overwritten"
    );
    let last_write = segment["activity"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["what"].as_str().unwrap().starts_with("PATCH"))
        .unwrap()
        .clone();
    assert_eq!(last_write["status"], 200);

    // The same values again: nothing to send.
    let before = app.write_count().await;
    let page = app
        .post_form(
            "/destination/configure",
            &[
                ("setting.companyName", "Acme"),
                ("setting.siteId", "site-1"),
                ("setting.username", "grace"),
                ("setting.password", ""),
            ],
        )
        .await;
    assert!(page.flash().unwrap().contains("Nothing changed"));
    assert_eq!(app.write_count().await, before);

    // And the destination page shows the saved values, the password masked.
    let destination = app.browser.get(&app.url("/destination")).await;
    assert!(destination.text().contains("grace"));
    assert!(!destination.body.contains("first-password-0001"));
}

#[tokio::test]
async fn descriptions_are_text_with_safe_links() {
    let app = spawn_app_with(Options::destination("google-analytics")).await;
    app.install_on("javascript").await;
    let page = configure_page(&app).await;
    assert!(page.body.contains(r#"<a href="https://support.google.com/analytics/answer/2763052?hl=en" rel="noopener noreferrer""#)
        || page.body.contains(r#"<a href="https://support.google.com/analytics/answer/2763052?hl&#61;en" rel="noopener noreferrer""#),
        "no link from the Markdown");
    assert!(!page.body.contains("](https://"), "raw Markdown shown");
}

#[tokio::test]
async fn workspace_read_shows_the_form_and_refuses_to_save() {
    let app = spawn_app_with(Options::scope("workspace:read")).await;
    let consent = app.open_consent().await;
    let page = app.browser.click(&consent, "Allow").await;
    app.browser
        .click_with(
            &page,
            "Manage this source",
            &[("source", "workspaces/acme/sources/ios")],
        )
        .await;
    let page = configure_page(&app).await;
    assert!(page.text().contains("read-only"));
    assert!(page.body.contains("<fieldset disabled>"));
    assert!(!page.buttons().contains(&"Save settings".to_owned()));

    let before = app.write_count().await;
    let refused = app
        .post_form(
            "/destination/configure",
            &[("setting.apiKey", "valid-key-0001")],
        )
        .await;
    assert_eq!(refused.status, 403);
    assert_eq!(app.write_count().await, before);
}

/// A value of the wrong form is told in words ("at least 8 characters long"), not as a pattern.
#[tokio::test]
async fn a_wrong_value_is_explained_in_words() {
    let app = crate::helpers::spawn_app().await;
    app.install_on("javascript").await;
    let page = app
        .post_form("/destination/configure", &[("setting.apiKey", "short")])
        .await;
    assert_eq!(page.status, 422, "{}", page.text());
    let error = page
        .field_error("setting.apiKey")
        .expect("an error on the key");
    assert_eq!(error, "Must be at least 8 characters long.");
    assert!(!page.text().contains("^.{8,}$"), "{}", page.text());
}

/// The API key is this app's to manage: Configure says whose key it is and that Segment holds
/// it; a blank form keeps it; another key is refused until the box confirms it, and then Push my
/// API key again puts the managed one back, from Configure and from the destination page.
#[tokio::test]
async fn the_managed_api_key_is_kept_unless_replacing_it_is_confirmed() {
    let (app, page) = crate::helpers::app_with_enabled_destination().await;
    // The sandbox's view masks the key as the pages do: "••••••••" and its last four.
    let key_in_segment = |view: &Value| {
        view["destinations"][0]["config"][0]["value"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let managed = key_in_segment(&app.segment_view().await);
    assert!(managed.starts_with("••••••••"), "{managed}");

    let configure = app.browser.follow_link(&page, "Configure").await;
    let text = configure.text();
    assert!(
        text.contains("This app manages the destination's API Key"),
        "{text}"
    );
    assert!(text.contains("your API key with us"), "{text}");
    assert!(text.contains("Segment holds this key."), "{text}");
    assert!(
        text.contains(&managed),
        "the key is not shown masked: {text}"
    );
    assert!(!text.contains("Push my API key again"), "{text}");

    // Saving the form as shown (blank key) changes nothing.
    let saved = app.browser.click(&configure, "Save settings").await;
    assert!(
        saved.flash().unwrap().contains("Nothing changed"),
        "{:?}",
        saved.flash()
    );
    assert_eq!(key_in_segment(&app.segment_view().await), managed);

    // Another key, unconfirmed: refused, nothing sent.
    let writes = app.write_count().await;
    let refused = app
        .browser
        .click_with(
            &configure,
            "Save settings",
            &[("setting.apiKey", "someone-elses-key")],
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.text());
    assert!(
        refused
            .text()
            .contains("This replaces the API key this app manages"),
        "{}",
        refused.text()
    );
    assert_eq!(app.write_count().await, writes);

    // Confirmed: Segment holds the other key, and both pages say so and offer it back.
    let saved = app
        .browser
        .click_with(
            &configure,
            "Save settings",
            &[
                ("setting.apiKey", "someone-elses-key"),
                ("replace_managed_key", "yes"),
            ],
        )
        .await;
    assert!(
        saved
            .flash()
            .unwrap()
            .contains("Push my API key again puts it back"),
        "{:?}",
        saved.flash()
    );
    assert_eq!(key_in_segment(&app.segment_view().await), "••••••••-key");
    assert!(
        saved.text().contains("Segment holds another key"),
        "{}",
        saved.text()
    );
    let destination = app.browser.get(&app.url("/destination")).await;
    assert!(
        destination.text().contains("Push my API key again"),
        "{}",
        destination.text()
    );

    let back = app.browser.click(&saved, "Push my API key again").await;
    assert_eq!(back.url.path(), "/destination/configure");
    assert!(
        back.flash().unwrap().contains("Your API key is back"),
        "{:?}",
        back.flash()
    );
    assert_eq!(key_in_segment(&app.segment_view().await), managed);
    assert!(
        back.text().contains("Segment holds this key."),
        "{}",
        back.text()
    );

    // From the destination page too.
    app.browser
        .click_with(
            &back,
            "Save settings",
            &[
                ("setting.apiKey", "another-key-0002"),
                ("replace_managed_key", "yes"),
            ],
        )
        .await;
    let destination = app.browser.get(&app.url("/destination")).await;
    let after = app
        .browser
        .click(&destination, "Push my API key again")
        .await;
    assert_eq!(after.url.path(), "/destination");
    assert_eq!(key_in_segment(&app.segment_view().await), managed);
    assert!(
        !after.text().contains("Push my API key again"),
        "{}",
        after.text()
    );
}

/// With the demo override (DESTINATION_API_KEY), the destination page also tells a replaced key
/// from the override, and puts the override back.
#[tokio::test]
async fn a_replaced_demo_override_is_offered_back() {
    let app = spawn_app_with(Options::default()).await;
    let page = app.install_on("javascript").await;
    let page = app.browser.click(&page, "Enable").await;
    assert!(
        page.text().contains("is the demo override"),
        "{}",
        page.text()
    );
    let configure = app.browser.follow_link(&page, "Configure").await;
    assert!(
        configure
            .text()
            .contains("the demo's key (DESTINATION_API_KEY)")
    );
    app.browser
        .click_with(
            &configure,
            "Save settings",
            &[
                ("setting.apiKey", "another-key-0003"),
                ("replace_managed_key", "yes"),
            ],
        )
        .await;
    let page = app.browser.get(&app.url("/destination")).await;
    assert!(
        page.text().contains("not the demo override"),
        "{}",
        page.text()
    );
    let page = app.browser.click(&page, "Push my API key again").await;
    assert!(
        page.text().contains("is the demo override"),
        "{}",
        page.text()
    );
}

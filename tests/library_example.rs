//! `examples/add_to_existing_app.rs`, a small actix-web app of its own that mounts Enable with
//! Segment with the library, taken through the whole flow against the `segment-sandbox` binary
//! (as another project's tests would run it): home, Enable with Segment, Segment's consent,
//! Allow, the callback, and a home page that names the workspace, the source and the
//! destination's status read through the Config API.

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

/// The consent page's form, with its first workspace and source, and Allow.
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

#[actix_web::test]
async fn the_example_completes_the_flow_against_the_sandbox_binary() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let app = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let redirect = format!("{app}/auth/segment/callback");
    let sandbox = start_sandbox(&redirect);
    let segment = sandbox.base_url().to_owned();
    let vars = [
        ("CLIENT_ID", "sandbox-partner-app"),
        ("CLIENT_SECRET", "sandbox-client-secret"),
        ("REDIRECT_URL", redirect.as_str()),
        ("SEGMENT_ID_URL", segment.as_str()),
        ("SEGMENT_API_URL", segment.as_str()),
        ("DESTINATION_SLUG", "clearbrain"),
    ];
    let settings = AppSettings::from_lookup(|name| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap();
    actix_web::rt::spawn(example::serve(listener, settings));

    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let get = |url: String| browser.get(url).send();
    let home = get(format!("{app}/")).await.unwrap().text().await.unwrap();
    assert!(home.contains(r#"href="/auth/segment""#), "{home}");

    let start = get(format!("{app}/auth/segment")).await.unwrap();
    assert_eq!(start.status(), 303);
    let consent_url = location(&start);
    assert!(
        consent_url.starts_with(&format!("{segment}/oauth2/auth?")),
        "{consent_url}"
    );
    let consent = get(consent_url.clone())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let allowed = browser
        .post(format!("{segment}/oauth2/auth"))
        .form(&allow(&consent))
        .send()
        .await
        .unwrap();
    let callback = location(&allowed);
    assert!(callback.starts_with(&redirect), "{callback}");
    let landed = get(callback.clone()).await.unwrap();
    assert_eq!(landed.status(), 303, "{}", landed.text().await.unwrap());
    assert_eq!(location(&landed), format!("{app}/"));

    let home = get(format!("{app}/")).await.unwrap().text().await.unwrap();
    assert!(home.contains("<p>Workspace: "), "{home}");
    assert!(home.contains("<p>Source: workspaces/"), "{home}");
    assert!(home.contains("<p>Destination: Not created</p>"), "{home}");
    // The callback works once.
    let again = get(callback).await.unwrap();
    assert_eq!(again.status(), 400);
}

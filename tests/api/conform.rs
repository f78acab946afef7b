//! The conformance kit (`segment-sandbox conform`) against this app, in process: every scenario
//! PASSED, through the sandbox the app talks to.

use std::time::Duration;

use segment_sandbox::conform::{Kit, Status, Target};
use url::Url;

use crate::helpers::spawn_app;

#[tokio::test]
async fn this_app_passes_every_scenario_of_the_kit() {
    let app = spawn_app().await;
    let at = |path: &str| Url::parse(&app.url(path)).unwrap();
    let target = Target {
        start: at("/auth/segment"),
        redirect_url: at("/auth/segment/callback"),
        login: None,
        probe: Some(at("/destination")),
        timeout: Duration::from_secs(10),
    };
    let kit = Kit::new(
        app.sandbox.clone(),
        Url::parse(&app.sandbox_url).unwrap(),
        target,
    );
    let report = kit.run(&[]).await;
    assert_eq!(report.results.len(), 12);
    assert!(
        report.results.iter().all(|r| r.status == Status::Passed),
        "{}",
        report.table()
    );
}

//! Many customers at once: 200 independent browsers run the whole flow concurrently against
//! the sandbox (loopback only, each doing a fixed handful of requests). Every one must end on
//! its own install and source, and see nobody else's.

use std::sync::Arc;

use tokio::task::JoinSet;

use crate::helpers::{Browser, Options, spawn_app_with};

const CUSTOMERS: usize = 200;
const SOURCES: [&str; 3] = ["javascript", "ios", "node-server"];

fn workspace(i: usize) -> String {
    format!("ws-{i:03}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_customers_install_at_once_and_each_gets_their_own() {
    // Two hundred new visitors from one address: more than the demo's sign-up limit allows.
    let app = Arc::new(
        spawn_app_with(Options {
            extra: vec![("SIGNUPS_PER_ADDRESS", "1000".into())],
            ..Options::default()
        })
        .await,
    );
    for i in 0..CUSTOMERS {
        app.sandbox
            .add_workspace(&workspace(i), &format!("Customer {i}"))
            .expect("room for a workspace");
    }

    let mut customers = JoinSet::new();
    for i in 0..CUSTOMERS {
        let app = app.clone();
        customers.spawn(async move {
            let browser = Browser::new();
            let (workspace, source) = (workspace(i), SOURCES[i % SOURCES.len()]);
            let home = browser.get(&app.url("/")).await;
            let consent = browser.follow_link(&home, "Enable with Segment").await;
            let page = browser
                .click_with(
                    &consent,
                    "Allow",
                    &[("workspace", &workspace), ("source", source)],
                )
                .await;
            assert_eq!(page.status, 200, "customer {i}: {}", page.text());
            let own = format!("workspaces/{workspace}/sources/{source}");
            assert!(
                page.text().contains(&own),
                "customer {i} is not on {own}: {}",
                page.text()
            );
            let page = browser.click(&page, "Enable").await;
            assert!(
                page.text().contains("Enabled"),
                "customer {i}: {}",
                page.text()
            );
            // Nobody else's workspace shows on this customer's pages.
            let others = page
                .text()
                .split("workspaces/")
                .skip(1)
                .filter(|rest| {
                    !rest.starts_with(&format!("{workspace}/"))
                        && !rest.starts_with(&format!("{workspace} "))
                })
                .count();
            assert_eq!(
                others,
                0,
                "customer {i} sees another workspace: {}",
                page.text()
            );
            (workspace, own)
        });
    }
    let mut finished = Vec::new();
    while let Some(result) = customers.join_next().await {
        finished.push(result.expect("a customer's flow panicked"));
    }
    assert_eq!(finished.len(), CUSTOMERS);

    // Segment has one install per customer, on the source that customer picked.
    let segment = app.segment_view().await;
    let installs = segment["installs"].as_array().unwrap();
    assert_eq!(installs.len(), CUSTOMERS);
    for (workspace, source) in &finished {
        let install = installs
            .iter()
            .find(|i| i["workspace"] == format!("workspaces/{workspace}"))
            .unwrap_or_else(|| panic!("no install on {workspace}"));
        assert_eq!(install["source"], source.as_str());
    }
    let destinations = segment["destinations"].as_array().unwrap();
    assert_eq!(destinations.len(), CUSTOMERS);
    assert!(destinations.iter().all(|d| d["enabled"] == true));
}

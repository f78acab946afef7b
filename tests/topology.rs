//! The production topology, as `deploy/` builds it: two app instances on Postgres and Redis,
//! behind nginx (round robin, no sticky sessions), with the sandbox playing Segment. The
//! instances and nginx are started by `deploy/local.sh` with `deploy/nginx.conf`, exactly as a
//! partner would, so the recipe cannot rot.
//!
//! Switched on by `TOPOLOGY_TESTS=1` (at build time); it then needs `DATABASE_TEST_URL` (a
//! Postgres server where it may create a database), `REDIS_TEST_URL` and nginx, and fails,
//! never skips, when one is missing. `.ci/run` sets all of it up.
#![cfg(feature = "sandbox")]

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::path::PathBuf;
use std::process::Command;

use helpers::{Browser, Page};
use segment_partnerapp::sandbox::{self, Sandbox};
use url::Url;

/// A free loopback port (bound, then let go for the process that will listen on it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct Topology {
    dir: PathBuf,
    env: Vec<(&'static str, String)>,
    /// `http://127.0.0.1:PORT` of nginx, and of each instance.
    public: String,
    instances: [String; 2],
    /// Each instance's `/metrics`, on its own listener.
    metrics: [String; 2],
    /// Where the sandbox is (its inspector at `/`, faults at `/faults`).
    segment: String,
}

impl Topology {
    async fn start() -> Topology {
        let (nginx, app1, app2) = (free_port(), free_port(), free_port());
        let (metrics1, metrics2) = (free_port(), free_port());
        let public = format!("http://127.0.0.1:{nginx}");
        let redirect = format!("{public}/auth/segment/callback");

        let sandbox_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let segment = format!("http://{}", sandbox_listener.local_addr().unwrap());
        let app = sandbox::demo_app(
            &Url::parse(&redirect).unwrap(),
            sandbox::Scope::parse("destination/clearbrain").unwrap(),
        );
        let sandbox = Sandbox::new(app, "");
        sandbox.set_credential_test_url(&format!("{public}/api/v1/me"));
        tokio::spawn(sandbox::serve(sandbox.clone(), sandbox_listener).unwrap());

        let dir = std::env::temp_dir().join(format!("partnerapp-topology-{nginx}"));
        std::fs::create_dir_all(&dir).unwrap();
        let redis = std::env::var("REDIS_TEST_URL").expect("REDIS_TEST_URL names a Redis");
        let env = vec![
            ("DEPLOY_DIR", dir.display().to_string()),
            (
                "APP_BIN",
                env!("CARGO_BIN_EXE_segment-partnerapp").to_owned(),
            ),
            ("NGINX_PORT", nginx.to_string()),
            ("APP1_PORT", app1.to_string()),
            ("APP2_PORT", app2.to_string()),
            ("APP1_METRICS_PORT", metrics1.to_string()),
            ("APP2_METRICS_PORT", metrics2.to_string()),
            ("DATABASE_URL", helpers::postgres_test_database().await),
            ("REDIS_URL", redis),
            ("SESSION_KEY", helpers::SESSION_KEY.to_owned()),
            ("CLIENT_ID", sandbox::CLIENT_ID.to_owned()),
            ("CLIENT_SECRET", sandbox::CLIENT_SECRET.to_owned()),
            ("SEGMENT_ID_URL", segment.clone()),
            ("SEGMENT_API_URL", segment.clone()),
            ("REDIRECT_URL", redirect),
            ("RUST_LOG", "warn,segment_partnerapp=info".to_owned()),
        ];
        let topology = Topology {
            dir,
            env,
            public,
            instances: [
                format!("http://127.0.0.1:{app1}"),
                format!("http://127.0.0.1:{app2}"),
            ],
            metrics: [
                format!("http://127.0.0.1:{metrics1}/metrics"),
                format!("http://127.0.0.1:{metrics2}/metrics"),
            ],
            segment,
        };
        topology.script(&["app", "1"]).await;
        topology.script(&["app", "2"]).await;
        topology.script(&["nginx"]).await;
        topology
    }

    /// Runs `deploy/local.sh ARGS` with this topology's settings; it must succeed.
    async fn script(&self, args: &[&str]) {
        let mut command = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/local.sh"));
        command
            .args(args)
            .env_clear()
            .envs(self.env.iter().cloned());
        command.env("PATH", std::env::var("PATH").unwrap_or_default());
        let what = args.join(" ");
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .unwrap()
            .expect("deploy/local.sh runs");
        assert!(
            output.status.success(),
            "deploy/local.sh {what} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.public)
    }

    /// How many requests instance `n` answered on `route` with `status`, from its own metrics.
    async fn answered(&self, n: usize, route: &str, status: u16) -> f64 {
        let text = reqwest::get(&self.metrics[n])
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let series = format!(
            "partnerapp_http_requests_total{{route=\"{route}\",method=\"GET\",status=\"{status}\"}}"
        );
        text.lines()
            .find_map(|line| line.strip_prefix(&series)?.trim().parse().ok())
            .unwrap_or(0.0)
    }

    /// How many install tokens Segment minted through the install token API.
    async fn refreshes(&self) -> u64 {
        let view: serde_json::Value = reqwest::Client::new()
            .get(&self.segment)
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        view["refreshes"]
            .as_u64()
            .expect("the inspector counts refreshes")
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for name in ["nginx", "app1", "app2"] {
            let _ = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/local.sh"))
                .args(["stop", name])
                .env_clear()
                .envs(self.env.iter().cloned())
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The API key a page shows in full, once (after Replace API key).
fn shown_key(page: &Page) -> String {
    let text = page.text();
    let key = text
        .split("Your API key: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no key shown: {text}"))
        .to_owned();
    assert!(key.starts_with("pak_"), "{key}");
    key
}

async fn me(base: &str, key: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(topology_tests),
    ignore = "set TOPOLOGY_TESTS=1 (with DATABASE_TEST_URL, REDIS_TEST_URL and nginx)"
)]
async fn two_instances_behind_nginx_serve_one_visitor_as_one_app() {
    let topology = Topology::start().await;
    let browser = Browser::new();

    // Requests alternate between the instances: no sticky sessions.
    let before = [
        topology.answered(0, "/healthz", 200).await,
        topology.answered(1, "/healthz", 200).await,
    ];
    for _ in 0..10 {
        assert_eq!(browser.get(&topology.url("/healthz")).await.status, 200);
    }
    for (n, before) in before.iter().enumerate() {
        let served = topology.answered(n, "/healthz", 200).await - before;
        assert!(served >= 4.0, "instance {} served {served} of 10", n + 1);
    }
    // The metrics stay off the public side, and off the instances' own ports.
    assert_eq!(browser.get(&topology.url("/metrics")).await.status, 404);
    for instance in &topology.instances {
        let status = reqwest::get(format!("{instance}/metrics"))
            .await
            .unwrap()
            .status();
        assert_eq!(status, 404, "{instance}");
    }

    // The install flow, through nginx and Segment's consent screen.
    let home = browser.get(&topology.url("/")).await;
    let consent = browser.follow_link(&home, "Enable with Segment").await;
    assert!(consent.text().contains("Authorize"), "{}", consent.body);
    let page = browser
        .click_with(&consent, "Allow", &[("source", "javascript")])
        .await;
    assert_eq!(page.url.path(), "/destination", "{}", page.body);
    assert!(
        page.text().contains("Connected to Segment"),
        "{}",
        page.text()
    );

    // Enable and Disable work, whichever instance takes each step.
    let page = browser.click(&page, "Enable").await;
    assert!(page.text().contains("Enabled"), "{}", page.text());
    let page = browser.click(&page, "Disable").await;
    assert!(page.text().contains("Disabled"), "{}", page.text());

    // An expired token, and a burst of 30 requests over both instances: one refresh.
    let inspector = browser.get(&topology.segment).await;
    browser.click(&inspector, "Expire tokens").await;
    let delay = serde_json::json!({"endpoint": "refresh", "kind": {"delay_ms": 300}, "count": 2});
    let armed = browser
        .client
        .post(format!("{}/faults", topology.segment))
        .json(&delay)
        .send()
        .await
        .unwrap();
    assert_eq!(armed.status(), 201, "the fault is armed");
    let refreshes = topology.refreshes().await;
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..30 {
        let (client, url) = (browser.client.clone(), topology.url("/destination"));
        burst.spawn(async move {
            let response = client.get(url).send().await;
            response.map(|r| r.status().as_u16()).unwrap_or(0)
        });
    }
    let statuses = burst.join_all().await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(
        topology.refreshes().await - refreshes,
        1,
        "more than one refresh"
    );

    // Segment failing for one customer is that customer's error page, not an outage: eight
    // destination pages answered 502 (Segment's 503) and 503 (its 429) leave both instances in
    // nginx's rotation, so everyone else (and /healthz) is still served by the app.
    for kind in [
        serde_json::json!({"status": 503}),
        serde_json::json!({"status": 429}),
    ] {
        let fault = serde_json::json!({"endpoint": "destinations", "kind": kind, "count": 40});
        let armed = browser
            .client
            .post(format!("{}/faults", topology.segment))
            .json(&fault)
            .send()
            .await
            .unwrap();
        assert_eq!(armed.status(), 201);
        for _ in 0..8 {
            let page = browser.get(&topology.url("/destination")).await;
            assert!([502, 503].contains(&page.status), "{kind}: {}", page.status);
            assert!(
                page.text().contains("Segment"),
                "the app's page, not nginx's: {}",
                page.text()
            );
        }
        let cleared = browser
            .client
            .delete(format!("{}/faults", topology.segment))
            .send()
            .await
            .unwrap();
        assert_eq!(cleared.status(), 204);
        let someone_else = Browser::new();
        for _ in 0..4 {
            let health = someone_else.get(&topology.url("/healthz")).await;
            assert_eq!(health.status, 200, "{kind}: an instance was taken out");
            let home = someone_else.get(&topology.url("/")).await;
            assert_eq!(home.status, 200, "{kind}: {}", home.text());
        }
    }

    // Both instances restart: the visitor is still connected (sessions in Redis, the install
    // and its token in Postgres).
    // (Each waits for nginx's idle connections to it to close: both at once.)
    tokio::join!(
        topology.script(&["stop", "app1"]),
        topology.script(&["stop", "app2"])
    );
    topology.script(&["app", "1"]).await;
    topology.script(&["app", "2"]).await;
    for _ in 0..4 {
        let page = browser.get(&topology.url("/destination")).await;
        assert_eq!(page.url.path(), "/destination", "{}", page.text());
        assert!(page.text().contains("Disabled"), "{}", page.text());
    }

    // A key replaced on one instance is refused by both at once, and the new one taken.
    let home = browser.get(&topology.url("/")).await;
    let old = shown_key(&browser.click(&home, "Replace API key").await);
    let home = browser.get(&topology.url("/")).await;
    let new = shown_key(&browser.click(&home, "Replace API key").await);
    assert_ne!(old, new);
    for instance in &topology.instances {
        assert_eq!(me(instance, &old).await, 401, "{instance} took the old key");
        assert_eq!(
            me(instance, &new).await,
            200,
            "{instance} refused the new key"
        );
    }

    // Logout on one instance is logout on both: a copy of the session (cookies and the form
    // token bound to it) works on the other instance before, and on neither after.
    let copy = Browser::new();
    let cookies = browser
        .cookie_header(&topology.url("/"))
        .expect("the browser has cookies");
    for cookie in cookies.split("; ") {
        copy.set_cookie(&topology.url("/"), cookie);
    }
    let page = browser.get(&topology.url("/destination")).await;
    let enable = helpers::form_of(&page, "Enable", &[]);
    let on = |instance: &str| Url::parse(&format!("{instance}{}", enable.url.path())).unwrap();
    let before = copy
        .send(
            enable.method.clone(),
            on(&topology.instances[1]),
            enable.fields.clone(),
        )
        .await;
    assert_eq!(before.status(), 303, "the copy did not work before");
    browser.click(&page, "Log out").await;
    for instance in &topology.instances {
        let after = copy
            .send(enable.method.clone(), on(instance), enable.fields.clone())
            .await;
        assert_eq!(after.status(), 403, "{instance} kept the session");
    }

    // Signing out of the account on one instance: the other sees it on its next request.
    for instance in &topology.instances {
        let home = copy.get(&format!("{instance}/")).await;
        assert!(home.text().contains("Account #"), "{}", home.text());
    }
    let home = browser.get(&topology.url("/")).await;
    browser.click(&home, "Forget this account").await;
    for instance in &topology.instances {
        let home = copy.get(&format!("{instance}/")).await;
        assert!(
            !home.text().contains("Account #"),
            "{instance} still knows the signed-out account"
        );
    }
}

//! Redis going away under a running app: nobody waits for it. A page that needs the session
//! answers a 503 ("Sign-in is unavailable") instead of hanging, a page that needs none keeps
//! working, `/readyz` says which service is missing, and once Redis is back the next request is
//! served at once.
//!
//! It runs a Redis server of its own (Debian's `redis-server`, on a free loopback port), so it
//! can stop it; switched on with the other Redis tests (`REDIS_TEST_URL`).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{Options, TestApp, spawn_app_with};

/// A Redis server on `port`, killed when dropped.
struct RedisServer(Child);

impl RedisServer {
    fn start(port: u16) -> RedisServer {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("REDIS_TEST_URL is set, so redis-server must be installed (apt-get install redis-server)");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        RedisServer(child)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The destination page (which needs the session) answers 503 "Sign-in is unavailable" with
/// Try again, and does not wait for Redis. (The bound is for a hang, not a speed target: the
/// app's own limit is 3 s.)
async fn destination_is_unavailable(app: &TestApp) {
    let asked = Instant::now();
    let page = app.browser.get(&app.url("/destination")).await;
    assert!(
        asked.elapsed() < Duration::from_secs(15),
        "it waited for Redis"
    );
    assert_eq!(page.status, 503, "{}", page.text());
    assert!(
        page.text().contains("Sign-in is unavailable"),
        "{}",
        page.text()
    );
    assert_eq!(page.link("Try again").path(), "/destination");
}

#[tokio::test]
#[cfg_attr(
    not(redis_tests),
    ignore = "set REDIS_TEST_URL to run it (needs redis-server)"
)]
async fn redis_stopping_gives_a_clear_503_never_a_hang() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let redis = RedisServer::start(port);
    let app = spawn_app_with(Options {
        extra: vec![("REDIS_URL", format!("redis://127.0.0.1:{port}/0"))],
        ..Options::default()
    })
    .await;
    app.install_on("javascript").await;

    // Redis stops answering (a hung server, or a network that drops packets): the app's time
    // limit, not Redis, decides when the visitor hears.
    let signal = |which: &str| {
        let pid = redis.0.id().to_string();
        let status = Command::new("kill").args([which, &pid]).status();
        assert!(status.is_ok_and(|s| s.success()), "kill {which}");
    };
    signal("-STOP");
    destination_is_unavailable(&app).await;
    signal("-CONT");
    let page = app.browser.get(&app.url("/destination")).await;
    assert_eq!(page.status, 200, "{}", page.text());

    // Redis is gone.
    drop(redis);

    // A page that needs the session: a 503 with a clear page, not a hang.
    destination_is_unavailable(&app).await;

    // A visitor without a session is served; /readyz names Redis.
    let stranger = app.another_visitor();
    let home = stranger.browser.get(&app.url("/")).await;
    assert_eq!(home.status, 200, "{}", home.text());
    let ready = reqwest::get(app.url("/readyz")).await.expect("an answer");
    assert_eq!(ready.status(), 503);
    let body: serde_json::Value = ready.json().await.expect("JSON");
    assert_ne!(body["redis"], "ok", "{body}");

    // Redis is back (empty: its sessions are gone): the next request is served at once (the
    // account cookie still names the visitor's install).
    let _redis = RedisServer::start(port);
    let asked = Instant::now();
    let page = app.browser.get(&app.url("/destination")).await;
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "slow after Redis came back"
    );
    assert_eq!(page.status, 200, "{}", page.text());
    assert!(!page.text().contains("Sign-in is unavailable"));
}

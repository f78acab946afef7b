//! The load benchmark: the release binary in sandbox mode, measured from outside over loopback.
//! Run it with `bench/run.sh` (or `cargo bench --bench load`); it prints a Markdown table.
//! `BENCH_SECONDS` sets how long each load level runs (default 5).
//!
//! What it measures, in order:
//! 1. time from process start to the first answered request (median of 5 starts);
//! 2. the destination page with a valid session, at 1, 16 and 64 connections;
//! 3. the sandbox's own destination GET alone under the same load (the upstream call of that
//!    page), so the app's own cost per page can be read off;
//! 4. upstream calls per destination page (counted by the sandbox);
//! 5. whole install flows per second (authorize, consent, callback, destination page);
//! 6. Enable/Disable cycles per second;
//! 7. resident memory idle, and at peak with 1,000 sessions loading pages at once.
//!
//! With `BENCH_TOPOLOGY=1` (`bench/run.sh --topology`) it measures the production topology
//! instead (`deploy/local.sh up`: nginx, two instances, Postgres, Redis, the sandbox in its own
//! process): pages through nginx, install flows, refreshes per expired-token burst, memory.
//!
//! Every loop is bounded in time or count, and all traffic stays on 127.0.0.1.

#[cfg(feature = "sandbox")]
#[allow(dead_code)]
#[path = "../tests/api/helpers.rs"]
mod helpers;

#[cfg(not(feature = "sandbox"))]
fn main() {
    eprintln!("the load benchmark runs the app in sandbox mode: build with the `sandbox` feature");
}

#[cfg(feature = "sandbox")]
fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` runs this binary without it, and a
    // test run must not start a minutes-long benchmark.
    if !std::env::args().any(|a| a == "--bench") {
        println!("the load benchmark runs with `cargo bench --bench load` (or bench/run.sh)");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    if std::env::var("BENCH_TOPOLOGY").as_deref() == Ok("1") {
        runtime.block_on(bench::run_topology());
    } else if std::env::var("BENCH_ONLY").as_deref() == Ok("flows") {
        runtime.block_on(bench::run_flows_only());
    } else {
        runtime.block_on(bench::run());
    }
}

#[cfg(feature = "sandbox")]
mod bench {
    use std::net::TcpListener;
    use std::process::{Child, Command, Stdio};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    use segment_partnerapp::sandbox;
    use serde_json::{Value, json};
    use tokio::task::JoinSet;

    use super::helpers::{Browser, Page};

    const LEVELS: [usize; 3] = [1, 16, 64];
    /// The Monitor page's ranges.
    const RANGES: [&str; 3] = ["1h", "24h", "7d"];
    /// Install flows measured (`BENCH_FLOWS` for more, e.g. to profile them).
    fn flows() -> usize {
        std::env::var("BENCH_FLOWS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(200)
    }
    const FLOW_CONCURRENCY: usize = 16;
    const CYCLE_SESSIONS: usize = 16;
    /// `BENCH_PEAK_SESSIONS` overrides it (to see how memory grows with sessions).
    fn peak_sessions() -> usize {
        std::env::var("BENCH_PEAK_SESSIONS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1_000usize)
            .clamp(1, 5_000)
    }
    const SLUG: &str = "clearbrain";

    fn seconds() -> Duration {
        let secs = std::env::var("BENCH_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(5u64);
        Duration::from_secs(secs.clamp(1, 60))
    }

    /// The app's release binary, running on its own port; killed when dropped.
    struct App {
        child: Child,
        base: String,
        /// Where Segment (a sandbox) is, when it is not mounted in the app.
        sandbox: Option<String>,
        /// The folder of its SQLite database, removed after the app is killed.
        _folder: Option<tempfile::TempDir>,
    }

    impl Drop for App {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// A process's memory figure (`VmRSS:` now, `VmHWM:` its peak) in KiB.
    fn memory_kib(pid: u32, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// CPU time a process has used so far (user + system, from `/proc/<pid>/stat`; Linux
    /// counts it in ticks of 1/100 s for user space).
    fn cpu_of(pid: u32) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The fields after the command name, which is in parentheses and may hold spaces.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, rest)| rest)
            .split_whitespace()
            .collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
        Duration::from_millis((ticks(11) + ticks(12)) * 10)
    }

    impl App {
        fn rss_kib(&self) -> u64 {
            memory_kib(self.child.id(), "VmRSS:")
        }

        fn cpu(&self) -> Duration {
            cpu_of(self.child.id())
        }

        fn url(&self, path: &str) -> String {
            format!("{}{path}", self.base)
        }

        /// A URL of the sandbox: its own server, or `/sandbox` in the app.
        fn sandbox_url(&self, path: &str) -> String {
            match &self.sandbox {
                Some(base) => format!("{base}{path}"),
                None => self.url(&format!("/sandbox{path}")),
            }
        }
    }

    fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port()
    }

    /// Starts the binary in sandbox mode (as `cargo run` does) and waits for its first answer;
    /// returns it with the time that took.
    async fn start() -> (App, Duration) {
        start_on(free_port(), &[]).await
    }

    /// The app alone: Segment is played by a sandbox in this (the benchmark's) process, so the
    /// app's memory is the app's, as in production.
    async fn start_against_own_sandbox() -> App {
        start_alone(&[]).await
    }

    /// The same, with more settings (`DATABASE_URL`, `REDIS_URL`, …).
    async fn start_alone(settings: &[(&str, String)]) -> App {
        let port = free_port();
        let segment = own_sandbox(&format!("http://127.0.0.1:{port}/auth/segment/callback"));
        let mut env = segment_settings(&segment);
        env.extend(settings.iter().cloned());
        let (mut app, _) = start_on(port, &env).await;
        app.sandbox = Some(segment);
        app
    }

    /// A sandbox in this process playing Segment for an App whose redirect URI is `redirect`;
    /// returns its base URL.
    fn own_sandbox(redirect: &str) -> String {
        let redirect = url::Url::parse(redirect).expect("a URL");
        let scope = sandbox::Scope::parse(&format!("destination/{SLUG}")).expect("a scope");
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port for the sandbox");
        let segment = format!("http://{}", listener.local_addr().expect("an address"));
        let sandbox = sandbox::Sandbox::new(sandbox::demo_app(&redirect, scope), "");
        // A workspace per flow: more than a demo server keeps.
        sandbox.set_max_workspaces(100_000);
        tokio::spawn(sandbox::serve(sandbox, listener).expect("the sandbox starts"));
        segment
    }

    /// What an app needs to use the Segment at `segment`.
    fn segment_settings(segment: &str) -> Vec<(&'static str, String)> {
        vec![
            ("CLIENT_ID", sandbox::CLIENT_ID.to_owned()),
            ("CLIENT_SECRET", sandbox::CLIENT_SECRET.to_owned()),
            ("SEGMENT_ID_URL", segment.to_owned()),
            ("SEGMENT_API_URL", segment.to_owned()),
        ]
    }

    async fn start_on(port: u16, env: &[(&str, String)]) -> (App, Duration) {
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        // `BENCH_BIN` among the settings runs another build (an earlier commit's, to compare).
        let binary = env
            .iter()
            .find(|(k, _)| *k == "BENCH_BIN")
            .map_or(env!("CARGO_BIN_EXE_segment-partnerapp"), |(_, v)| {
                v.as_str()
            });
        // A database of its own (unless `env` names one), in a folder removed with the app.
        let folder = tempfile::Builder::new()
            .prefix("partnerapp-bench-")
            .tempdir()
            .expect("a temp folder");
        let child = Command::new(binary)
            .env_clear()
            .env("PORT", port.to_string())
            .env("HOST", "127.0.0.1")
            .env("REDIRECT_URL", format!("{base}/auth/segment/callback"))
            .env("DESTINATION_SLUG", SLUG)
            .env("DESTINATION_API_KEY", "bench-partner-key-0001")
            // Every flow is a new visitor from 127.0.0.1: the demo's sign-up limits would stop
            // them; the metrics on a free port.
            .env("SIGNUPS_PER_ADDRESS", "1000000")
            .env("SIGNUPS_TOTAL", "1000000")
            .env("METRICS_ADDR", "127.0.0.1:0")
            .env(
                "SESSION_KEY",
                "9b1de4c07a3f58e26d0c4b7a1f3e5d9c2b8a6f4e1d7c3b9a5e2f8d4c6b1a7e3f",
            )
            .env(
                "DATABASE_URL",
                format!("sqlite://{}/app.db", folder.path().display()),
            )
            // Allocator tuning to try (e.g. MALLOC_ARENA_MAX) passes through.
            .envs(std::env::vars().filter(|(k, _)| k.starts_with("MALLOC_") || k == "RUST_LOG"))
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .current_dir(std::env::temp_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the app binary starts");
        let app = App {
            child,
            base,
            sandbox: None,
            _folder: Some(folder),
        };
        let client = reqwest::Client::new();
        loop {
            if let Ok(response) = client.get(app.url("/healthz")).send().await
                && response.status().is_success()
            {
                return (app, started.elapsed());
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the app did not answer in 10 s"
            );
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
    }

    async fn sandbox_view(app: &App) -> Value {
        inspector(&app.url("/sandbox")).await
    }

    /// What the sandbox's inspector at `url` shows, as JSON.
    async fn inspector(url: &str) -> Value {
        reqwest::Client::new()
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .expect("the inspector")
            .json()
            .await
            .expect("JSON")
    }

    async fn add_workspaces(app: &App, names: impl Iterator<Item = String>) {
        let client = reqwest::Client::new();
        for slug in names {
            let response = client
                .post(app.sandbox_url("/workspaces"))
                .json(&json!({"slug": slug, "display_name": slug}))
                .send()
                .await
                .expect("the sandbox answers");
            assert!(response.status().is_success());
        }
    }

    /// The Monitor page of an app alone (its own process; the sandbox here), for each of
    /// [`RANGES`] at one connection, on a destination with a week of history: the latencies, the
    /// app's CPU per page (from `/proc`) and the upstream calls per page.
    async fn monitor_alone(duration: Duration) -> Vec<(Stats, Duration, f64)> {
        let app = start_against_own_sandbox().await;
        let (browser, page) = install(&app, "acme").await;
        let page = browser.click(&page, "Enable").await;
        assert!(page.text().contains("Enabled"), "{}", page.text());
        // The inspector's "A week later" (its forms carry the page's token).
        let inspector_page = browser.get(&app.sandbox_url("/")).await;
        let aged = browser.click(&inspector_page, "A week later").await;
        assert_eq!(aged.status, 200, "{}", aged.text());
        let mut results = Vec::new();
        for range in RANGES {
            let url = app.url(&format!("/destination/monitor?range={range}"));
            let page = browser.get(&url).await;
            assert!(page.body.contains("class=\"bucket\""), "{}", page.text());
            let calls = || async { inspector(&app.sandbox_url("")).await["api_calls"].as_u64() };
            let before = calls().await.unwrap_or(0);
            for _ in 0..20 {
                assert_eq!(browser.get(&url).await.status, 200);
            }
            let per_page = (calls().await.unwrap_or(0) - before) as f64 / 20.0;
            let client = browser.client.clone();
            let request: Arc<dyn Fn() -> reqwest::RequestBuilder + Send + Sync> =
                Arc::new(move || client.get(&url));
            let cpu_before = app.cpu();
            let stats = load(1, duration, request).await;
            let cpu = (app.cpu() - cpu_before) / stats.requests.max(1) as u32;
            results.push((stats, cpu, per_page));
        }
        results
    }

    /// [`flows`] whole install flows on `app`, `clients` at a time, each on a workspace of its
    /// own (`{prefix}-{i}`): flows per second, the app's CPU per flow in ms (from `/proc`; in
    /// sandbox mode it includes the mounted sandbox), and the browsers, on their destination
    /// pages.
    async fn run_flows(
        app: &Arc<App>,
        prefix: &str,
        clients: usize,
    ) -> (f64, f64, Vec<(Browser, Page)>) {
        add_workspaces(app, (0..flows()).map(|i| format!("{prefix}-{i}"))).await;
        let started = Instant::now();
        let cpu_before = app.cpu();
        let next = Arc::new(AtomicU64::new(0));
        let mut tasks = JoinSet::new();
        for _ in 0..clients {
            let (app, next, prefix) = (app.clone(), next.clone(), prefix.to_owned());
            tasks.spawn(async move {
                let mut sessions = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    if i >= flows() {
                        return sessions;
                    }
                    sessions.push(install(&app, &format!("{prefix}-{i}")).await);
                }
            });
        }
        let mut sessions = Vec::new();
        while let Some(result) = tasks.join_next().await {
            sessions.extend(result.expect("a flow task"));
        }
        let per_second = flows() as f64 / started.elapsed().as_secs_f64();
        // What the flow costs the app, whatever the load generator (which shares the cores,
        // parsing every page) costs.
        let cpu = app.cpu().saturating_sub(cpu_before).as_secs_f64() * 1000.0 / flows() as f64;
        (per_second, cpu, sessions)
    }

    /// A browser that has run the whole install flow on `workspace`, ending on the destination
    /// page.
    async fn install(app: &App, workspace: &str) -> (Browser, Page) {
        install_at(&app.base, workspace).await
    }

    /// The same, on the app at `base`.
    async fn install_at(base: &str, workspace: &str) -> (Browser, Page) {
        let browser = Browser::new();
        let consent = browser.get(&format!("{base}/auth/segment")).await;
        let page = browser
            .click_with(
                &consent,
                "Allow",
                &[("workspace", workspace), ("source", "javascript")],
            )
            .await;
        assert_eq!(
            page.status,
            200,
            "the install flow on {workspace} failed: {}",
            page.text()
        );
        (browser, page)
    }

    /// The session cookie a browser holds for the app, as a `Cookie` header value.
    async fn session_cookie(browser: &Browser, app: &App) -> String {
        browser
            .cookie_header(&app.url("/"))
            .expect("the browser holds a session cookie")
    }

    struct Stats {
        requests: usize,
        errors: usize,
        elapsed: Duration,
        p50: Duration,
        p99: Duration,
    }

    impl Stats {
        fn rps(&self) -> f64 {
            self.requests as f64 / self.elapsed.as_secs_f64()
        }
    }

    fn ms(d: Duration) -> String {
        format!("{:.3}", d.as_secs_f64() * 1000.0)
    }

    /// `connections` tasks each send `request()` back to back for `duration`.
    async fn load(
        connections: usize,
        duration: Duration,
        request: Arc<dyn Fn() -> reqwest::RequestBuilder + Send + Sync>,
    ) -> Stats {
        let started = Instant::now();
        let deadline = started + duration;
        let mut tasks = JoinSet::new();
        for _ in 0..connections {
            let request = request.clone();
            tasks.spawn(async move {
                let mut latencies = Vec::new();
                let mut errors = 0;
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    match request().send().await {
                        Ok(response) if response.status().is_success() => {
                            let _ = response.bytes().await;
                            latencies.push(sent.elapsed());
                        }
                        _ => errors += 1,
                    }
                }
                (latencies, errors)
            });
        }
        let mut latencies = Vec::new();
        let mut errors = 0;
        while let Some(result) = tasks.join_next().await {
            let (l, e) = result.expect("a load task");
            latencies.extend(l);
            errors += e;
        }
        let elapsed = started.elapsed();
        latencies.sort();
        let at = |q: f64| {
            latencies
                .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
                .copied()
                .unwrap_or_default()
        };
        Stats {
            requests: latencies.len(),
            errors,
            elapsed,
            p50: at(0.50),
            p99: at(0.99),
        }
    }

    /// The page at `url`, as `browser` sees it, under load at each of [`LEVELS`].
    async fn pages_under_load(browser: &Browser, url: String, duration: Duration) -> Vec<Stats> {
        let client = browser.client.clone();
        let request: Arc<dyn Fn() -> reqwest::RequestBuilder + Send + Sync> =
            Arc::new(move || client.get(&url));
        let mut stats = Vec::new();
        for connections in LEVELS {
            stats.push(load(connections, duration, request.clone()).await);
        }
        stats
    }

    fn machine() -> String {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        let memory = std::fs::read_to_string("/proc/meminfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:").map(|v| v.trim().to_owned()))
            .unwrap_or_default();
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        format!(
            "{cores} cores ({cpu}), {memory} memory, Linux {}",
            kernel.trim()
        )
    }

    pub async fn run() {
        let duration = seconds();
        println!("# Load benchmark: release build, sandbox mode, loopback\n");
        println!("Machine: {}  ", machine());
        println!(
            "Each load level runs {} s; the load generator shares the machine.\n",
            duration.as_secs()
        );

        // 1. Start-up.
        let mut starts = Vec::new();
        for _ in 0..5 {
            let (app, took) = start().await;
            starts.push(took);
            drop(app);
        }
        starts.sort();
        let (app, _) = start().await;
        let idle_rss = app.rss_kib();

        // A connected session with an enabled destination.
        let (browser, page) = install(&app, "acme").await;
        let page = browser.click(&page, "Enable").await;
        assert!(page.text().contains("Enabled"), "{}", page.text());

        // 4. Upstream calls per destination page.
        let before = sandbox_view(&app).await["api_calls"].as_u64().unwrap_or(0);
        for _ in 0..100 {
            let page = browser.get(&app.url("/destination")).await;
            assert_eq!(page.status, 200);
        }
        let after = sandbox_view(&app).await["api_calls"].as_u64().unwrap_or(0);
        let calls_per_page = (after - before) as f64 / 100.0;

        // 2. The destination page under load.
        let page_stats = pages_under_load(&browser, app.url("/destination"), duration).await;
        // `BENCH_ONLY=pages`: the page and flow figures only, for a quick before/after.
        let quick = std::env::var("BENCH_ONLY").as_deref() == Ok("pages");
        if quick {
            for (connections, stats) in LEVELS.iter().zip(&page_stats) {
                println!(
                    "destination page, {connections} connections: {:.0}/s, p50 {} ms, p99 {} ms",
                    stats.rps(),
                    ms(stats.p50),
                    ms(stats.p99)
                );
            }
        }

        // 3. The sandbox's destination GET alone, with a token of its own (minting it retires the
        // session's, which is why the page was measured first).
        let install_name = sandbox_view(&app).await["installs"][0]["name"]
            .as_str()
            .expect("the install")
            .to_owned();
        let token: Value = reqwest::Client::new()
            .get(app.url(&format!("/sandbox/v1beta/{install_name}/token")))
            .basic_auth(sandbox::CLIENT_ID, Some(sandbox::CLIENT_SECRET))
            .send()
            .await
            .expect("a token")
            .json()
            .await
            .expect("JSON");
        let bearer = token["access_token"]
            .as_str()
            .expect("an access token")
            .to_owned();
        let upstream_url = app.url(&format!(
            "/sandbox/v1beta/workspaces/acme/sources/javascript/destinations/{SLUG}"
        ));
        let upstream_client = reqwest::Client::new();
        let upstream_bearer = bearer.clone();
        let upstream_request: Arc<dyn Fn() -> reqwest::RequestBuilder + Send + Sync> =
            Arc::new(move || {
                upstream_client
                    .get(&upstream_url)
                    .bearer_auth(&upstream_bearer)
            });
        let mut upstream_stats = Vec::new();
        for connections in LEVELS {
            upstream_stats.push(load(connections, duration, upstream_request.clone()).await);
        }

        // 6. The Monitor page, the app alone (Segment played by a sandbox in this process, so
        // the app's CPU is its own), at one connection for each range, on a week of history.
        let monitor_stats = monitor_alone(duration).await;
        if quick {
            for (range, (stats, cpu, calls)) in RANGES.iter().zip(&monitor_stats) {
                println!(
                    "monitor page ({range}), 1 connection: p50 {} ms, p99 {} ms, app CPU {:.3} ms per page, {calls:.2} upstream calls",
                    ms(stats.p50),
                    ms(stats.p99),
                    cpu.as_secs_f64() * 1000.0
                );
            }
        }

        // 5. Whole install flows.
        let app = Arc::new(app);
        let (flows_per_second, cpu_per_flow, sessions) =
            run_flows(&app, "flow", FLOW_CONCURRENCY).await;

        // 5b. The same flows on the app alone (Segment in this process): the app's own CPU per
        // flow, at 1 and at 8 clients (issue 15's measure).
        let mut alone_flows = Vec::new();
        for clients in [1, 8] {
            let alone = Arc::new(start_against_own_sandbox().await);
            let (per_second, cpu, _) = run_flows(&alone, "alone", clients).await;
            alone_flows.push((clients, per_second, cpu, alone.rss_kib()));
        }
        if quick {
            println!(
                "install flows: {flows_per_second:.0}/s, app CPU {cpu_per_flow:.2} ms per flow"
            );
            for (clients, per_second, cpu, rss) in &alone_flows {
                println!(
                    "install flows, app alone, {clients} clients: {per_second:.0}/s, app CPU {cpu:.3} ms per flow, RSS {} MiB",
                    rss / 1024
                );
            }
            return;
        }

        // 6. Enable/Disable cycles, each session on its own destination.
        let cycles = Arc::new(AtomicU64::new(0));
        let cycles_started = Instant::now();
        let deadline = cycles_started + duration;
        let mut tasks = JoinSet::new();
        for (browser, page) in sessions.into_iter().take(CYCLE_SESSIONS) {
            let cycles = cycles.clone();
            tasks.spawn(async move {
                let mut page = page;
                while Instant::now() < deadline {
                    page = browser.click(&page, "Enable").await;
                    page = browser.click(&page, "Disable").await;
                    assert_eq!(page.status, 200, "{}", page.text());
                    cycles.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        while let Some(result) = tasks.join_next().await {
            result.expect("a cycle task");
        }
        let cycles_per_second =
            cycles.load(Ordering::Relaxed) as f64 / cycles_started.elapsed().as_secs_f64();

        let sandbox_mode_rss = app.rss_kib();
        drop(app);

        // 7. Peak memory with 1,000 sessions loading their pages at once, of the app alone:
        // in sandbox mode, Segment's state and pages (1,000 installs, consent pages listing
        // 1,000 workspaces) would count as the app's.
        let app = Arc::new(start_against_own_sandbox().await);
        let alone_idle_rss = app.rss_kib();
        add_workspaces(&app, (0..peak_sessions()).map(|i| format!("peak-{i}"))).await;
        let mut browsers = Vec::new();
        for chunk in (0..peak_sessions()).collect::<Vec<_>>().chunks(50) {
            let mut tasks = JoinSet::new();
            for &i in chunk {
                let app = app.clone();
                tasks.spawn(async move { install(&app, &format!("peak-{i}")).await.0 });
            }
            while let Some(browser) = tasks.join_next().await {
                browsers.push(browser.expect("an install"));
            }
        }
        let before_peak_rss = app.rss_kib();
        let sampling = Arc::new(AtomicBool::new(true));
        let peak = Arc::new(AtomicU64::new(0));
        let sampler = {
            let (app, sampling, peak) = (app.clone(), sampling.clone(), peak.clone());
            tokio::spawn(async move {
                while sampling.load(Ordering::Relaxed) {
                    peak.fetch_max(app.rss_kib(), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        };
        let peak_deadline = Instant::now() + duration;
        let mut tasks = JoinSet::new();
        for browser in browsers {
            let url = app.url("/destination");
            tasks.spawn(async move {
                let mut ok = 0u64;
                while Instant::now() < peak_deadline {
                    if let Ok(r) = browser.client.get(&url).send().await
                        && r.status().is_success()
                    {
                        let _ = r.bytes().await;
                        ok += 1;
                    }
                }
                ok
            });
        }
        let mut peak_pages = 0;
        while let Some(result) = tasks.join_next().await {
            peak_pages += result.expect("a peak task");
        }
        sampling.store(false, Ordering::Relaxed);
        let _ = sampler.await;
        let peak_rss = peak.load(Ordering::Relaxed);

        // The same sessions through 64 connections, as a reverse proxy would bring them, on a
        // fresh app process (so the peak above does not linger in the allocator).
        let pooled_app = Arc::new(start_against_own_sandbox().await);
        add_workspaces(
            &pooled_app,
            (0..peak_sessions()).map(|i| format!("pool-{i}")),
        )
        .await;
        let mut cookies = Vec::new();
        for chunk in (0..peak_sessions()).collect::<Vec<_>>().chunks(16) {
            let mut tasks = JoinSet::new();
            for &i in chunk {
                let app = pooled_app.clone();
                tasks.spawn(async move {
                    let (browser, _) = install(&app, &format!("pool-{i}")).await;
                    session_cookie(&browser, &app).await
                });
            }
            while let Some(cookie) = tasks.join_next().await {
                cookies.push(cookie.expect("an install"));
            }
        }
        let pooled_before = pooled_app.rss_kib();
        let cookies = Arc::new(cookies);
        let pooled_peak = Arc::new(AtomicU64::new(0));
        let sampling = Arc::new(AtomicBool::new(true));
        let sampler = {
            let (app, sampling, peak) = (pooled_app.clone(), sampling.clone(), pooled_peak.clone());
            tokio::spawn(async move {
                while sampling.load(Ordering::Relaxed) {
                    peak.fetch_max(app.rss_kib(), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        };
        let next = Arc::new(AtomicU64::new(0));
        let pooled_url = pooled_app.url("/destination");
        let pooled_client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a client");
        let pooled_request: Arc<dyn Fn() -> reqwest::RequestBuilder + Send + Sync> = {
            let cookies = cookies.clone();
            Arc::new(move || {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize % cookies.len();
                pooled_client.get(&pooled_url).header("cookie", &cookies[i])
            })
        };
        let pooled = load(64, duration, pooled_request).await;
        sampling.store(false, Ordering::Relaxed);
        let _ = sampler.await;
        let pooled_peak = pooled_peak.load(Ordering::Relaxed);

        // The table.
        println!("| measure | 1 connection | 16 connections | 64 connections |");
        println!("|---|---|---|---|");
        let row = |name: &str, stats: &[Stats], f: &dyn Fn(&Stats) -> String| {
            let cells: Vec<String> = stats.iter().map(f).collect();
            println!("| {name} | {} |", cells.join(" | "));
        };
        row("destination page, requests/s", &page_stats, &|s| {
            format!("{:.0}", s.rps())
        });
        row("destination page, p50 ms", &page_stats, &|s| ms(s.p50));
        row("destination page, p99 ms", &page_stats, &|s| ms(s.p99));
        row(
            "sandbox destination GET alone, requests/s",
            &upstream_stats,
            &|s| format!("{:.0}", s.rps()),
        );
        row(
            "sandbox destination GET alone, p50 ms",
            &upstream_stats,
            &|s| ms(s.p50),
        );
        row(
            "sandbox destination GET alone, p99 ms",
            &upstream_stats,
            &|s| ms(s.p99),
        );
        // Signed: under load the two runs queue differently, and the difference can go below 0.
        let diff = |a: Duration, b: Duration| {
            format!("{:.3}", (a.as_secs_f64() - b.as_secs_f64()) * 1000.0)
        };
        let own = |f: &dyn Fn(&Stats) -> Duration| -> String {
            page_stats
                .iter()
                .zip(&upstream_stats)
                .map(|(p, u)| diff(f(p), f(u)))
                .collect::<Vec<_>>()
                .join(" | ")
        };
        println!("| page minus upstream, p50 ms | {} |", own(&|s| s.p50));
        println!("| page minus upstream, p99 ms | {} |", own(&|s| s.p99));
        let errors: usize = page_stats
            .iter()
            .chain(&upstream_stats)
            .chain(monitor_stats.iter().map(|(s, _, _)| s))
            .map(|s| s.errors)
            .sum();
        println!(
            "\n| Monitor page, the app alone, 1 connection, a week of history | 1h | 24h | 7d |"
        );
        println!("|---|---|---|---|");
        let cells = |f: &dyn Fn(&(Stats, Duration, f64)) -> String| {
            monitor_stats.iter().map(f).collect::<Vec<_>>().join(" | ")
        };
        println!("| page p50 ms | {} |", cells(&|(s, _, _)| ms(s.p50)));
        println!("| page p99 ms | {} |", cells(&|(s, _, _)| ms(s.p99)));
        println!(
            "| app CPU per page (user + system) ms | {} |",
            cells(&|(_, cpu, _)| format!("{:.3}", cpu.as_secs_f64() * 1000.0))
        );
        println!(
            "| upstream calls per page | {} |",
            cells(&|(_, _, calls)| format!("{calls:.2}"))
        );
        println!("\n| measure | result |");
        println!("|---|---|");
        println!("| upstream calls per destination page | {calls_per_page:.2} |");
        println!(
            "| whole install flows per second ({FLOW_CONCURRENCY} at once) | {flows_per_second:.0} |"
        );
        println!(
            "| app CPU per install flow (user + system, sandbox included) | {cpu_per_flow:.2} ms |"
        );
        for (clients, per_second, cpu, rss) in &alone_flows {
            println!(
                "| install flows, the app alone, {clients} clients: flows/s, app CPU per flow, RSS after | {per_second:.0}, {cpu:.3} ms, {} MiB |",
                rss / 1024
            );
        }
        println!(
            "| Enable/Disable cycles per second ({CYCLE_SESSIONS} sessions; a cycle is two clicks, each a POST and the page it redirects to) | {cycles_per_second:.0} |"
        );
        let mib = |kib: u64| kib as f64 / 1024.0;
        println!(
            "| resident memory, idle after start (sandbox mode) | {:.1} MiB |",
            mib(idle_rss)
        );
        println!(
            "| resident memory after the {} install flows and loads above (sandbox mode: Segment's state and pages count too) | {:.1} MiB |",
            flows() + 1,
            mib(sandbox_mode_rss)
        );
        println!(
            "| resident memory of the app alone, idle after start | {:.1} MiB |",
            mib(alone_idle_rss)
        );
        println!(
            "| resident memory of the app alone after {} install flows | {:.1} MiB |",
            peak_sessions(),
            mib(before_peak_rss)
        );
        println!(
            "| resident memory of the app alone, peak with {} sessions loading pages at once | {:.1} MiB ({peak_pages} pages served) |",
            peak_sessions(),
            mib(peak_rss)
        );
        println!(
            "| time from process start to the first answered request | median {} ms, max {} ms (5 starts) |",
            ms(starts[2]),
            ms(starts[4])
        );
        println!(
            "| resident memory of the app alone, {} sessions through 64 connections: before, peak | {:.1} MiB, {:.1} MiB ({:.0} pages/s, p50 {} ms, p99 {} ms) |",
            peak_sessions(),
            mib(pooled_before),
            mib(pooled_peak),
            pooled.rps(),
            ms(pooled.p50),
            ms(pooled.p99)
        );
        println!(
            "| failed requests under load | {} |",
            errors + pooled.errors
        );
    }

    /// Segment's Node partnerapp (a copy prepared by hand in `dir`, see BENCHMARKS.md), on its
    /// fixed port 8888, against a sandbox in this process; the same harness as this app's.
    async fn start_node(dir: &str) -> App {
        let base = "http://localhost:8888".to_owned();
        let segment = own_sandbox(&format!("{base}/auth/segment/callback"));
        let child = Command::new("node")
            .arg("index.js")
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(segment_settings(&segment))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node starts (is Node.js installed?)");
        let app = App {
            child,
            base,
            sandbox: Some(segment),
            _folder: None,
        };
        let client = reqwest::Client::new();
        let started = Instant::now();
        // Any answer will do: the Node app has no health endpoint.
        while client.get(app.url("/")).send().await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the Node app did not answer on port 8888 in 10 s"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        app
    }

    /// `BENCH_ONLY=flows` (`bench/run.sh --flows`): issue 15's measure alone. The app's CPU per
    /// install flow, Segment played by a sandbox in this process: on the embedded default; on
    /// Postgres + Redis when `BENCH_DATABASE_URL` and `BENCH_REDIS_URL` are set; and Segment's
    /// Node partnerapp, measured the same way in the same run, when `BENCH_NODE_APP` names a
    /// prepared copy of it. `BENCH_BASE_BIN` adds an earlier build of this app (embedded), for
    /// a before/after in the same run.
    pub async fn run_flows_only() {
        println!("# Install flows: app CPU per flow\n");
        println!("Machine: {}  ", machine());
        println!(
            "{} flows per figure, after {WARM_UP} to warm up; each figure the mean of {ROUNDS} \
             rounds, the set-ups in turn forwards and backwards; each app in its own process, \
             the sandbox as Segment and the load generator in the benchmark's; CPU is user + \
             system from /proc/<pid>/stat.\n",
            flows()
        );
        let mut set_ups: Vec<(&str, Vec<(&str, String)>)> = Vec::new();
        if let Ok(base) = std::env::var("BENCH_BASE_BIN") {
            set_ups.push((
                "this app before (BENCH_BASE_BIN), embedded",
                vec![("BENCH_BIN", base)],
            ));
        }
        set_ups.push(("this app, embedded", vec![]));
        // The floor: the same HTTP exchanges with this app's server and Segment client and
        // nothing else (`examples/flow_floor.rs`, which `bench/run.sh --flows` builds).
        if let Ok(floor) = std::env::var("BENCH_FLOOR_BIN") {
            set_ups.push((
                "the floor (examples/flow_floor.rs: server + Segment client, no store)",
                vec![("BENCH_BIN", floor)],
            ));
        }
        if let (Ok(db), Ok(redis)) = (
            std::env::var("BENCH_DATABASE_URL"),
            std::env::var("BENCH_REDIS_URL"),
        ) {
            set_ups.push((
                "this app, Postgres + Redis",
                vec![("DATABASE_URL", db), ("REDIS_URL", redis)],
            ));
        }
        let mut set_ups: Vec<(&str, Subject)> = set_ups
            .into_iter()
            .map(|(name, settings)| (name, Subject::ThisApp(settings)))
            .collect();
        if let Ok(dir) = std::env::var("BENCH_NODE_APP") {
            set_ups.push(("Segment's Node partnerapp", Subject::Node(dir)));
        }
        println!("| app CPU per install flow | 1 client | 8 clients | peak RSS |");
        println!("|---|---|---|---|");
        // Each figure is the mean of ROUNDS, in turn forwards and backwards (A B C, C B A): the
        // same binary measured twice in a row came out 7 to 13% dearer the second time, so a
        // fixed order would favour whatever runs first.
        let mut sums = vec![[(0.0, 0.0); 2]; set_ups.len()];
        let mut peaks = vec![0; set_ups.len()];
        for round in 0..ROUNDS {
            let mut order: Vec<usize> = (0..set_ups.len()).collect();
            if round % 2 == 1 {
                order.reverse();
            }
            for i in order {
                for (cell, clients) in [1, 8].into_iter().enumerate() {
                    let app = Arc::new(match &set_ups[i].1 {
                        Subject::ThisApp(settings) => start_alone(settings).await,
                        Subject::Node(dir) => start_node(dir).await,
                    });
                    let (cpu, per_second) = measure_flows(&app, clients).await;
                    sums[i][cell].0 += cpu / ROUNDS as f64;
                    sums[i][cell].1 += per_second / ROUNDS as f64;
                    peaks[i] = peaks[i].max(memory_kib(app.child.id(), "VmHWM:"));
                }
            }
        }
        let rows: Vec<_> = set_ups
            .into_iter()
            .zip(sums)
            .zip(peaks)
            .map(|(((name, _), cells), peak)| (name.to_owned(), cells, peak))
            .collect();
        for (name, cells, peak) in &rows {
            let cells: Vec<String> = cells
                .iter()
                .map(|(cpu, per_second)| format!("{cpu:.3} ms ({per_second:.0} flows/s)"))
                .collect();
            println!(
                "| {name} | {} | {:.0} MiB |",
                cells.join(" | "),
                *peak as f64 / 1024.0
            );
        }
        if let Some((_, node_cells, _)) = rows.iter().find(|(n, _, _)| n.contains("Node")) {
            println!();
            for (name, cells, _) in rows
                .iter()
                .filter(|(n, _, _)| !n.contains("Node") && !n.contains("floor"))
            {
                let name = name.replace(" (BENCH_BASE_BIN)", "");
                println!(
                    "Node's CPU per flow over {name}'s: {:.1}× at 1 client, {:.1}× at 8.  ",
                    node_cells[0].0 / cells[0].0,
                    node_cells[1].0 / cells[1].0
                );
            }
        }
    }

    /// How many times `--flows` measures each set-up (see `run_flows_only`).
    const ROUNDS: usize = 2;

    /// What `--flows` measures: this app (a build, with its settings) or Segment's Node app (a
    /// prepared copy's folder).
    enum Subject {
        ThisApp(Vec<(&'static str, String)>),
        Node(String),
    }

    /// Flows run first on a fresh app and not counted: connections, caches and the allocator
    /// warm up.
    const WARM_UP: usize = 40;

    /// The app's CPU per flow (ms) and flows per second, over [`flows`] flows at `clients` at a
    /// time, after [`WARM_UP`] flows.
    async fn measure_flows(app: &Arc<App>, clients: usize) -> (f64, f64) {
        add_workspaces(app, (0..WARM_UP).map(|i| format!("warm-{i}"))).await;
        for i in 0..WARM_UP {
            install(app, &format!("warm-{i}")).await;
        }
        let (per_second, cpu, _) = run_flows(app, "flow", clients).await;
        (cpu, per_second)
    }

    /// The production topology as `deploy/local.sh up` starts it: Postgres, Redis, the sandbox
    /// as Segment in its own process, two instances and nginx; stopped when dropped.
    struct Deploy {
        env: Vec<(&'static str, String)>,
        dir: std::path::PathBuf,
    }

    const NGINX: &str = "http://127.0.0.1:18180";
    const SEGMENT: &str = "http://127.0.0.1:18190";

    impl Deploy {
        fn up() -> Deploy {
            let dir = std::env::temp_dir().join("partnerapp-bench-topology");
            let _ = std::fs::remove_dir_all(&dir);
            let env = vec![
                ("DEPLOY_DIR", dir.display().to_string()),
                (
                    "APP_BIN",
                    env!("CARGO_BIN_EXE_segment-partnerapp").to_owned(),
                ),
                ("PG_PORT", "55440".to_owned()),
                ("REDIS_PORT", "56390".to_owned()),
                ("SANDBOX_PORT", "18190".to_owned()),
                ("APP1_PORT", "18181".to_owned()),
                ("APP2_PORT", "18182".to_owned()),
                ("APP1_METRICS_PORT", "19181".to_owned()),
                ("APP2_METRICS_PORT", "19182".to_owned()),
                ("NGINX_PORT", "18180".to_owned()),
                ("REDIRECT_URL", format!("{NGINX}/auth/segment/callback")),
                ("DESTINATION_API_KEY", "bench-partner-key-0001".to_owned()),
                ("SIGNUPS_PER_ADDRESS", "1000000".to_owned()),
                ("SIGNUPS_TOTAL", "1000000".to_owned()),
            ];
            let deploy = Deploy { env, dir };
            deploy.script(&["up"]);
            deploy
        }

        fn script(&self, args: &[&str]) {
            let status = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/local.sh"))
                .args(args)
                .envs(self.env.iter().cloned())
                .stdout(Stdio::null())
                .status()
                .expect("deploy/local.sh runs");
            assert!(status.success(), "deploy/local.sh {args:?} failed");
        }

        fn pid(&self, name: &str) -> u32 {
            std::fs::read_to_string(self.dir.join(format!("{name}.pid")))
                .ok()
                .and_then(|pid| pid.trim().parse().ok())
                .unwrap_or_else(|| panic!("no pid for {name}"))
        }

        /// CPU used so far by both instances together.
        fn instances_cpu(&self) -> Duration {
            cpu_of(self.pid("app1")) + cpu_of(self.pid("app2"))
        }
    }

    impl Drop for Deploy {
        fn drop(&mut self) {
            let _ = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/local.sh"))
                .arg("down")
                .envs(self.env.iter().cloned())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }

    async fn segment_view() -> Value {
        inspector(SEGMENT).await
    }

    /// `BENCH_TOPOLOGY=1` (`bench/run.sh --topology`): the same page and flow figures through
    /// nginx in front of two instances on Postgres and Redis, plus token refreshes per burst on
    /// an expired token and each instance's memory.
    pub async fn run_topology() {
        let duration = seconds();
        println!("# Load benchmark: the production topology on one machine\n");
        println!("Machine: {}  ", machine());
        println!(
            "deploy/local.sh up: nginx (round robin) in front of two release instances, Postgres \
             and Redis, the sandbox as Segment in its own process; everything and the load \
             generator on this machine. Each load level runs {} s.\n",
            duration.as_secs()
        );
        let deploy = Deploy::up();
        let idle = [
            memory_kib(deploy.pid("app1"), "VmRSS:"),
            memory_kib(deploy.pid("app2"), "VmRSS:"),
        ];

        // A connected session with an enabled destination, through nginx.
        let (browser, page) = install_at(NGINX, "acme").await;
        let page = browser.click(&page, "Enable").await;
        assert!(page.text().contains("Enabled"), "{}", page.text());

        let page_stats = pages_under_load(&browser, format!("{NGINX}/destination"), duration).await;

        // Whole install flows, each on a workspace of its own.
        let client = reqwest::Client::new();
        for i in 0..flows() {
            let response = client
                .post(format!("{SEGMENT}/workspaces"))
                .json(&json!({"slug": format!("flow-{i}"), "display_name": "flow"}))
                .send()
                .await
                .expect("the sandbox answers");
            assert!(response.status().is_success());
        }
        let cpu_before = deploy.instances_cpu();
        let started = Instant::now();
        let next = Arc::new(AtomicU64::new(0));
        let mut tasks = JoinSet::new();
        for _ in 0..FLOW_CONCURRENCY {
            let next = next.clone();
            tasks.spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                    if i >= flows() {
                        return;
                    }
                    install_at(NGINX, &format!("flow-{i}")).await;
                }
            });
        }
        while let Some(result) = tasks.join_next().await {
            result.expect("a flow task");
        }
        let flows_per_second = flows() as f64 / started.elapsed().as_secs_f64();
        let cpu_per_flow =
            (deploy.instances_cpu() - cpu_before).as_secs_f64() * 1000.0 / flows() as f64;

        // Bursts of 30 requests on an expired token, spread over both instances by nginx.
        let mut refreshes = Vec::new();
        let mut burst_errors = 0;
        for _ in 0..BURSTS {
            let inspector = browser.get(SEGMENT).await;
            browser.click(&inspector, "Expire tokens").await;
            let before = segment_view().await["refreshes"].as_u64().unwrap_or(0);
            let mut tasks = JoinSet::new();
            for _ in 0..30 {
                let (client, url) = (browser.client.clone(), format!("{NGINX}/destination"));
                tasks.spawn(async move {
                    let response = client.get(url).send().await;
                    response.map(|r| r.status().as_u16()).unwrap_or(0)
                });
            }
            burst_errors += tasks.join_all().await.iter().filter(|s| **s != 200).count();
            let after = segment_view().await["refreshes"].as_u64().unwrap_or(0);
            refreshes.push(after - before);
        }
        let peak = [
            memory_kib(deploy.pid("app1"), "VmHWM:"),
            memory_kib(deploy.pid("app2"), "VmHWM:"),
        ];

        println!("| measure | 1 connection | 16 connections | 64 connections |");
        println!("|---|---|---|---|");
        let row = |name: &str, f: &dyn Fn(&Stats) -> String| {
            let cells: Vec<String> = page_stats.iter().map(f).collect();
            println!("| {name} | {} |", cells.join(" | "));
        };
        row("destination pages/s through nginx", &|s| {
            format!("{:.0}", s.rps())
        });
        row("p50 latency (ms)", &|s| ms(s.p50));
        row("p99 latency (ms)", &|s| ms(s.p99));
        row("failed requests", &|s| s.errors.to_string());
        println!();
        println!("| measure | value |");
        println!("|---|---|");
        println!(
            "| install flows/s ({} flows, {FLOW_CONCURRENCY} at a time) | {flows_per_second:.0} |",
            flows()
        );
        println!("| CPU of both instances per install flow | {cpu_per_flow:.2} ms |");
        println!(
            "| refreshes per burst of 30 requests on an expired token ({BURSTS} bursts) | {} |",
            refreshes
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!("| failed requests in the bursts | {burst_errors} |");
        println!(
            "| resident memory per instance, idle | {:.1} MiB, {:.1} MiB |",
            idle[0] as f64 / 1024.0,
            idle[1] as f64 / 1024.0
        );
        println!(
            "| resident memory per instance, peak | {:.1} MiB, {:.1} MiB |",
            peak[0] as f64 / 1024.0,
            peak[1] as f64 / 1024.0
        );
    }

    const BURSTS: usize = 5;
}

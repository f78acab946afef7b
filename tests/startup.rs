//! The binary refuses bad settings at start-up with one line naming the problem, before it
//! binds a port.

use std::process::Command;
use std::time::{Duration, Instant};

/// Runs the app with only `vars` set (from an empty directory, so no `.env` is read) and returns
/// its exit code and standard error. Unless `vars` names a PORT, the app is given port 0 (any
/// free one): a check that gets as far as listening must not need 8888, which `cargo run`'s demo
/// may be holding.
fn run_with(vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let scratch = scratch("startup");
    let dir = scratch.path();
    let mut command = Command::new(env!("CARGO_BIN_EXE_segment-partnerapp"));
    command.current_dir(dir).env_clear().env("RUST_LOG", "off");
    if !vars.iter().any(|(key, _)| *key == "PORT") {
        command.env("PORT", "0");
    }
    // The metrics on a free port too (the default's, 9464, may be the demo's).
    if !vars.iter().any(|(key, _)| *key == "METRICS_ADDR") {
        command.env("METRICS_ADDR", "127.0.0.1:0");
    }
    for (key, value) in vars {
        command.env(key, value);
    }
    let started = Instant::now();
    let output = command.output().expect("the binary runs");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "start-up checks took too long"
    );
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn bad_settings_stop_the_app_with_one_line_naming_them() {
    let good_key = "3f1c9a0e5b7d2468ace13579bdf02468a1b2c3d4e5f60718293a4b5c6d7e8f90";
    let weak_key = "k".repeat(64);
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("CLIENT_ID", "id")], "CLIENT_SECRET"),
        (&[("CLIENT_SECRET", "s3cr3t-value")], "CLIENT_ID"),
        (&[("REDIRECT_URL", "not a url")], "REDIRECT_URL"),
        (
            &[("REDIRECT_URL", "http://localhost:8888/callback")],
            "/auth/segment/callback",
        ),
        (
            &[
                ("SEGMENT_API_URL", "ftp://x"),
                ("CLIENT_ID", "a"),
                ("CLIENT_SECRET", "b"),
            ],
            "SEGMENT_API_URL",
        ),
        (&[("SEGMENT_SCOPE", "admin")], "SEGMENT_SCOPE"),
        (
            &[
                ("SESSION_KEY", "short"),
                ("CLIENT_ID", "a"),
                ("CLIENT_SECRET", "b"),
            ],
            "SESSION_KEY",
        ),
        (
            &[
                ("SESSION_KEY", &weak_key),
                ("CLIENT_ID", "a"),
                ("CLIENT_SECRET", "b"),
            ],
            "SESSION_KEY",
        ),
        (
            &[("CLIENT_ID", "a"), ("CLIENT_SECRET", "s3cr3t-value")],
            "SESSION_KEY",
        ),
        (
            &[
                ("PORT", "eighty"),
                ("SESSION_KEY", good_key),
                ("CLIENT_ID", "a"),
                ("CLIENT_SECRET", "b"),
            ],
            "PORT",
        ),
    ];
    for (vars, named) in cases {
        let (code, stderr) = run_with(vars);
        assert_eq!(code, Some(2), "{vars:?}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{vars:?}: {stderr}");
        assert!(lines[0].starts_with("error: "), "{stderr}");
        assert!(
            lines[0].contains(named),
            "{vars:?} should name {named}: {stderr}"
        );
        assert!(
            !stderr.contains("s3cr3t-value"),
            "a secret was printed: {stderr}"
        );
    }
}

#[test]
fn a_port_in_use_is_one_clear_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("address").port().to_string();
    let (code, stderr) = run_with(&[
        ("PORT", &port),
        ("CLIENT_ID", "a"),
        ("CLIENT_SECRET", "b"),
        (
            "SESSION_KEY",
            "3f1c9a0e5b7d2468ace13579bdf02468a1b2c3d4e5f60718293a4b5c6d7e8f90",
        ),
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{stderr}"
    );
}

#[test]
fn an_unreachable_postgres_or_redis_is_one_line_without_the_password() {
    // Nothing listens on port 1 of the loopback address: refused at once.
    let key = "3f1c9a0e5b7d2468ace13579bdf02468a1b2c3d4e5f60718293a4b5c6d7e8f90";
    let credentials = [
        ("CLIENT_ID", "a"),
        ("CLIENT_SECRET", "b"),
        ("SESSION_KEY", key),
    ];
    let cases: [(&str, &str, &str); 2] = [
        (
            "DATABASE_URL",
            "postgres://partnerapp:hunter2-secret@127.0.0.1:1/partner",
            "Postgres database \"partner\" on 127.0.0.1:1",
        ),
        (
            "REDIS_URL",
            "redis://:hunter2-secret@127.0.0.1:1/0",
            "Redis at 127.0.0.1:1/0",
        ),
    ];
    for (name, url, named) in cases {
        let folder = scratch("startup-db");
        let database = format!("sqlite://{}/app.db", folder.path().display());
        let mut vars = credentials.to_vec();
        vars.push(("DATABASE_URL", &database));
        vars.retain(|(k, _)| *k != name);
        vars.push((name, url));
        let (code, stderr) = run_with(&vars);
        assert_eq!(code, Some(1), "{name}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(
            stderr.contains(named),
            "{name} should name {named}: {stderr}"
        );
        assert!(
            !stderr.contains("hunter2"),
            "a password was printed: {stderr}"
        );
    }
}

/// A valid `SESSION_KEY`, for runs in real mode.
const KEY: &str = "3f1c9a0e5b7d2468ace13579bdf02468a1b2c3d4e5f60718293a4b5c6d7e8f90";

/// A Postgres URL that does not parse (a port that is not a number) is still a Postgres URL:
/// `serve`, `migrate` and `DATABASE_URL_FILE` say so, and never print it (it holds the
/// password).
#[test]
fn a_mistyped_postgres_url_is_never_printed() {
    let mistyped = "postgres://app:hunter2-secret@db.example:notaport/partner";
    let folder = scratch("startup-mistyped");
    let file = folder.path().join("database-url");
    std::fs::write(&file, mistyped).unwrap();
    let file = file.display().to_string();
    let runs: [(&[&str], &str, &str); 3] = [
        (&[], "DATABASE_URL", mistyped),
        (&["migrate"], "DATABASE_URL", mistyped),
        (&[], "DATABASE_URL_FILE", &file),
    ];
    for (args, name, value) in runs {
        let output = Command::new(env!("CARGO_BIN_EXE_segment-partnerapp"))
            .args(args)
            .current_dir(folder.path())
            .env_clear()
            .env("RUST_LOG", "off")
            .env("PORT", "0")
            .env("METRICS_ADDR", "127.0.0.1:0")
            .env("CLIENT_ID", "a")
            .env("CLIENT_SECRET", "b")
            .env("SESSION_KEY", KEY)
            .env(name, value)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?} {name}: {stderr}");
        assert!(
            !stderr.contains("hunter2"),
            "a password was printed: {stderr}"
        );
        assert!(!stderr.contains("SQLite"), "{stderr}");
        assert!(stderr.contains("Postgres"), "{stderr}");
    }
}

/// One HTTP/1.1 GET over loopback: the status line and headers of the answer.
#[cfg(feature = "sandbox")]
fn get_head(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(
        answer
            .split("\r\n\r\n")
            .next()
            .unwrap_or_default()
            .to_owned(),
    )
}

/// With only PORT set, the demo says where it is and sends the browser back to that port.
#[cfg(feature = "sandbox")]
#[test]
fn the_demo_follows_its_port() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let scratch = scratch("port");
    let dir = scratch.path();
    let mut child = Command::new(env!("CARGO_BIN_EXE_segment-partnerapp"))
        .current_dir(dir)
        .env_clear()
        .env("RUST_LOG", "info")
        .env("PORT", port.to_string())
        .env(
            "DATABASE_URL",
            format!("sqlite://{}/demo.db", dir.display()),
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let started = Instant::now();
    let mut ready = false;
    while started.elapsed() < Duration::from_secs(20) {
        if get_head(port, "/healthz").is_some_and(|head| head.starts_with("HTTP/1.1 200")) {
            ready = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let head = get_head(port, "/auth/segment");
    let _ = child.kill();
    let output = child.wait_with_output().expect("the output");
    let log = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(ready, "the demo did not answer: {log}");
    assert!(
        log.contains(&format!("open http://localhost:{port} in a browser")),
        "{log}"
    );
    let head = head.expect("an answer to /auth/segment");
    let location = head
        .lines()
        .find_map(|line| line.strip_prefix("location: "))
        .unwrap_or_else(|| panic!("no redirect: {head}"));
    assert!(
        location.starts_with(&format!("http://localhost:{port}/")),
        "the browser is sent to another port: {location}"
    );
}

/// Without credentials the app is a fake Segment: it does not listen beyond this machine unless
/// a shared demo server says so.
#[cfg(feature = "sandbox")]
#[test]
fn the_sandbox_is_not_served_to_the_network_by_accident() {
    let (code, stderr) = run_with(&[("HOST", "0.0.0.0")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("SANDBOX_PUBLIC=1"), "{stderr}");

    // The sandbox on its own, the same rule.
    let sandbox = |public: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_segment-partnerapp"));
        command
            .env_clear()
            .env("RUST_LOG", "off")
            .args(["sandbox", "--host", "0.0.0.0", "--port", "0"]);
        if let Some(public) = public {
            command.env("SANDBOX_PUBLIC", public);
        }
        command
    };
    let output = sandbox(None).output().expect("the binary runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--host 0.0.0.0"), "{stderr}");
    assert!(stderr.contains("SANDBOX_PUBLIC=1"), "{stderr}");
    // With SANDBOX_PUBLIC=1 it listens (and is stopped here).
    let mut child = sandbox(Some("1"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    std::thread::sleep(Duration::from_millis(500));
    let still_running = child.try_wait().expect("a status").is_none();
    let _ = child.kill();
    let _ = child.wait();
    assert!(still_running, "the public sandbox did not start");
}

/// A partner's production build (no sandbox) neither offers nor mentions the sandbox.
#[cfg(not(feature = "sandbox"))]
#[test]
fn a_build_without_the_sandbox_never_mentions_it() {
    let help = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_segment-partnerapp"))
            .args(args)
            .output()
            .expect("the binary runs");
        String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr)
    };
    for args in [&["--help"][..], &["serve", "--help"], &["token", "--help"]] {
        let text = help(args);
        assert!(!text.to_lowercase().contains("sandbox"), "{args:?}: {text}");
    }
    for vars in [&[][..], &[("CLIENT_ID", "a")], &[("CLIENT_SECRET", "b")]] {
        let (code, stderr) = run_with(vars);
        assert_eq!(code, Some(2), "{stderr}");
        assert!(
            !stderr.to_lowercase().contains("sandbox"),
            "{vars:?}: {stderr}"
        );
    }
}

/// The binary serving, with `vars` only, from an empty folder, on a free port; stopped (and its
/// standard error returned) by [`Served::stop`].
#[cfg(feature = "sandbox")]
struct Served {
    child: std::process::Child,
    port: u16,
}

#[cfg(feature = "sandbox")]
impl Served {
    fn start(dir: &std::path::Path, vars: &[(&str, &str)]) -> Served {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_segment-partnerapp"));
        command
            .current_dir(dir)
            .env_clear()
            .env("PORT", port.to_string())
            .env("METRICS_ADDR", "127.0.0.1:0")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (key, value) in vars {
            command.env(key, value);
        }
        let child = command.spawn().expect("the binary runs");
        let served = Served { child, port };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if get_head(port, "/healthz").is_some_and(|head| head.starts_with("HTTP/1.1 200")) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        served
    }

    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let output = self.child.wait_with_output().expect("the output");
        String::from_utf8_lossy(&output.stderr).into_owned()
    }
}

/// An empty folder of its own for one test, removed when the test is done.
fn scratch(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("partnerapp-{name}-"))
        .tempdir()
        .expect("a temp folder")
}

/// `LOG_FORMAT=json`: every line is one JSON object, and a request's line has its time, level,
/// message, request id, route, status and duration.
#[cfg(feature = "sandbox")]
#[test]
fn json_logs_are_one_object_per_line() {
    let scratch = scratch("json-logs");
    let dir = scratch.path();
    let database = format!("sqlite://{}/demo.db", dir.display());
    let served = Served::start(
        dir,
        &[
            ("LOG_FORMAT", "json"),
            ("RUST_LOG", "info"),
            ("DATABASE_URL", &database),
        ],
    );
    let head = get_head(served.port, "/destination/monitor");
    let log = served.stop();
    assert!(head.is_some(), "no answer: {log}");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    assert!(lines.len() > 2, "{log}");
    let request = lines
        .iter()
        .find(|l| l["message"] == "request" && l["path"] == "/destination/monitor")
        .unwrap_or_else(|| panic!("no request line: {log}"));
    assert_eq!(request["level"], "INFO");
    assert!(request["timestamp"].is_string(), "{request}");
    assert_eq!(request["route"], "/destination/monitor");
    assert_eq!(request["status"], 303);
    assert!(request["ms"].is_number(), "{request}");
    // The request's id (a UUID, made by tracing-actix-web).
    assert_eq!(
        request["span"]["id"].as_str().map(str::len),
        Some(36),
        "{request}"
    );

    let (code, stderr) = run_with(&[("LOG_FORMAT", "yaml")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.starts_with("error: LOG_FORMAT"), "{stderr}");
}

/// `migrate` brings a database up to date and stops; with `MIGRATE_ON_START=false` the app
/// refuses a database that was not, and serves one that was.
#[cfg(feature = "sandbox")]
#[test]
fn migrate_once_then_start_without_migrating() {
    let scratch = scratch("migrate");
    let dir = scratch.path();
    let database = format!("sqlite://{}/app.db", dir.display());
    let (code, stderr) = run_with(&[("MIGRATE_ON_START", "false"), ("DATABASE_URL", &database)]);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("segment-partnerapp migrate"), "{stderr}");

    let output = Command::new(env!("CARGO_BIN_EXE_segment-partnerapp"))
        .arg("migrate")
        .current_dir(dir)
        .env_clear()
        .env("DATABASE_URL", &database)
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("is up to date"), "{stdout}");

    let served = Served::start(
        dir,
        &[("MIGRATE_ON_START", "false"), ("DATABASE_URL", &database)],
    );
    let head = get_head(served.port, "/healthz");
    let log = served.stop();
    assert!(head.is_some_and(|h| h.starts_with("HTTP/1.1 200")), "{log}");
}

/// Secrets from files (`*_FILE`): the value is read from the file, and a file that cannot be
/// read, or a variable set twice, is one line naming it.
#[test]
fn secrets_can_come_from_files() {
    let scratch = scratch("secret-files");
    let dir = scratch.path();
    let url_file = dir.join("database_url");
    std::fs::write(
        &url_file,
        "postgres://partnerapp:hunter2-secret@127.0.0.1:1/from_file\n",
    )
    .expect("a file");
    let key_file = dir.join("session_key");
    std::fs::write(
        &key_file,
        "3f1c9a0e5b7d2468ace13579bdf02468a1b2c3d4e5f60718293a4b5c6d7e8f90\n",
    )
    .expect("a file");
    let (url_file, key_file) = (
        url_file.display().to_string(),
        key_file.display().to_string(),
    );
    // The URL came from its file: the app tried that database.
    let (code, stderr) = run_with(&[
        ("CLIENT_ID", "a"),
        ("CLIENT_SECRET", "b"),
        ("SESSION_KEY_FILE", &key_file),
        ("DATABASE_URL_FILE", &url_file),
    ]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("\"from_file\" on 127.0.0.1:1"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");

    let (code, stderr) = run_with(&[("CLIENT_SECRET_FILE", "/nonexistent/secret")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("error: CLIENT_SECRET_FILE"), "{stderr}");

    let (code, stderr) = run_with(&[("SESSION_KEY", "x"), ("SESSION_KEY_FILE", &key_file)]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("SESSION_KEY and SESSION_KEY_FILE"),
        "{stderr}"
    );
}

/// A port chosen for the metrics that is taken stops the app with one line.
#[cfg(feature = "sandbox")]
#[test]
fn a_metrics_port_in_use_is_one_clear_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let address = taken.local_addr().unwrap().to_string();
    let (code, stderr) = run_with(&[("METRICS_ADDR", &address)]);
    assert_ne!(code, Some(0), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("METRICS_ADDR"), "{stderr}");
    let (code, stderr) = run_with(&[("METRICS_ADDR", "not-an-address")]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("METRICS_ADDR"), "{stderr}");
}

/// What an operator is warned of, or stopped by, at start: a secret's file any user may read
/// (a warning), a `*_FILE` that is a pipe (refused at once, never waited on), and metrics served
/// beyond loopback (a warning).
#[cfg(unix)]
#[test]
fn risky_secret_files_and_metrics_addresses_are_called_out() {
    use std::os::unix::fs::PermissionsExt;
    let scratch = scratch("risky");
    let dir = scratch.path();
    // Within `limit`, or killed: a start that waits on a pipe must fail this test, not hang it.
    let run = |args: &[&str], vars: &[(&str, String)], limit: Duration| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_segment-partnerapp"));
        command
            .args(args)
            .current_dir(dir)
            .env_clear()
            .env("RUST_LOG", "warn")
            .env("PORT", "0")
            // Real mode (a build without the sandbox has no other).
            .env("CLIENT_ID", "a")
            .env("CLIENT_SECRET", "b")
            .env("SESSION_KEY", KEY)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for (name, value) in vars {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("the binary runs");
        let started = Instant::now();
        while child.try_wait().unwrap().is_none() && started.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let output = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        (output.status.code(), text)
    };

    let url_file = dir.join("database_url");
    std::fs::write(&url_file, format!("sqlite://{}/app.db\n", dir.display())).unwrap();
    std::fs::set_permissions(&url_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let file = url_file.display().to_string();
    let (code, text) = run(
        &["migrate"],
        &[("DATABASE_URL_FILE", file.clone())],
        Duration::from_secs(30),
    );
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("readable by every user"), "{text}");
    std::fs::set_permissions(&url_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (code, text) = run(
        &["migrate"],
        &[("DATABASE_URL_FILE", file)],
        Duration::from_secs(30),
    );
    assert_eq!(code, Some(0), "{text}");
    assert!(!text.contains("readable by every user"), "{text}");

    let pipe = dir.join("database_url_pipe");
    let made = Command::new("mkfifo")
        .arg(&pipe)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let (code, text) = run(
        &[],
        &[("DATABASE_URL_FILE", pipe.display().to_string())],
        Duration::from_secs(10),
    );
    assert_eq!(code, Some(2), "waited on the pipe? {text}");
    assert!(text.contains("not a regular file"), "{text}");

    let (_, text) = run(
        &[],
        &[
            ("METRICS_ADDR", "0.0.0.0:0".to_owned()),
            ("DATABASE_URL", format!("sqlite://{}/app.db", dir.display())),
        ],
        Duration::from_secs(3),
    );
    assert!(
        text.contains("METRICS_ADDR serves /metrics beyond this machine"),
        "{text}"
    );
}

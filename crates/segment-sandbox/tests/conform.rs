//! `segment-sandbox conform`, as a partner runs it in CI: against a small partner app written in
//! Python's standard library (`conform/partner_app.py`), first careful, then with each of the
//! usual mistakes switched on, then misbehaving; and with the wrong options. The Python tests
//! need `python3` and run with `PYTHON_TESTS=1`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

/// A port nothing listens on now, for the partner app (which takes a fixed `PORT`, as most do).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `segment-sandbox conform ARGS`, with its output; killed (and the test failed) if it has not
/// finished in two minutes.
fn conform(args: &[&str]) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_segment-sandbox"))
        .arg("conform")
        .args(args)
        .env("RUST_LOG", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("segment-sandbox runs");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || send.send(child.wait_with_output()));
    match receive.recv_timeout(Duration::from_secs(120)) {
        Ok(output) => output.expect("its output"),
        Err(_) => {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            panic!("segment-sandbox conform {args:?} did not finish in 120 s");
        }
    }
}

fn partner_app() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conform/partner_app.py")
}

/// The kit against the Python app with `mistake` switched on: its exit code and JSON report.
fn against_python(mistake: &str, extra: &[&str]) -> (Option<i32>, Value) {
    let port = free_port();
    let app = format!("http://127.0.0.1:{port}");
    let folder = tempfile::tempdir().unwrap();
    let json = folder.path().join("report.json");
    let junit = folder.path().join("report.xml");
    let command = format!(
        "PORT={port} MISTAKE={mistake} exec python3 {}",
        partner_app().display()
    );
    let mut args = vec![
        "--exec".to_owned(),
        command,
        "--start".to_owned(),
        format!("{app}/start"),
        "--probe".to_owned(),
        format!("{app}/probe"),
        "--json".to_owned(),
        json.display().to_string(),
        "--junit".to_owned(),
        junit.display().to_string(),
    ];
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = conform(&args);
    let table = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}): {table}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    }))
    .unwrap();
    // The three reports tell the same story.
    let junit = std::fs::read_to_string(&junit).unwrap();
    let failed = report["counts"]["failed"].as_u64().unwrap();
    assert!(junit.contains(&format!("failures=\"{failed}\"")), "{junit}");
    for scenario in report["scenarios"].as_array().unwrap() {
        let line = format!(
            "{}  {}",
            scenario["id"].as_str().unwrap(),
            scenario["status"].as_str().unwrap()
        );
        assert!(
            table.lines().any(|l| l
                .split_whitespace()
                .collect::<Vec<_>>()
                .join("  ")
                .starts_with(&line)),
            "{line} not in {table}"
        );
    }
    (output.status.code(), report)
}

/// Each scenario's status in `report`.
fn statuses(report: &Value) -> Vec<(String, String)> {
    report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

#[test]
#[cfg_attr(not(python_tests), ignore = "needs python3: set PYTHON_TESTS=1")]
fn a_careful_partner_app_passes_every_scenario() {
    let (code, report) = against_python("none", &[]);
    let statuses = statuses(&report);
    assert_eq!(statuses.len(), 12, "{report}");
    assert!(
        statuses.iter().all(|(_, status)| status == "PASSED"),
        "{report:#}"
    );
    assert_eq!(code, Some(0));
    assert_eq!(report["counts"]["passed"], 12);
}

#[test]
#[cfg_attr(not(python_tests), ignore = "needs python3: set PYTHON_TESTS=1")]
fn each_usual_mistake_turns_its_scenario() {
    for (mistake, scenario, status, code) in [
        ("no-state-check", "state-mismatch", "FAILED", 1),
        ("one-state", "state-reused", "FAILED", 1),
        ("no-pkce", "pkce", "WARNING", 0),
        ("double-exchange", "callback-replay", "FAILED", 1),
        ("secret-in-form", "install", "FAILED", 1),
    ] {
        let (exit, report) = against_python(mistake, &[]);
        let statuses = statuses(&report);
        let turned: Vec<&(String, String)> =
            statuses.iter().filter(|(_, s)| s != "PASSED").collect();
        assert!(
            turned.contains(&&(scenario.to_owned(), status.to_owned())),
            "{mistake}: {report:#}"
        );
        assert_eq!(exit, Some(code), "{mistake}: {report:#}");
        // The mistake is caught where it is: the install itself works, unless it is the
        // mistake, and then the detail names it.
        let install = &report["scenarios"][0];
        if scenario == "install" {
            assert!(
                install["detail"].as_str().unwrap().contains("HTTP Basic"),
                "{report:#}"
            );
            let pkce = &report["scenarios"][1]["detail"];
            assert!(
                pkce.as_str().unwrap().contains("client authentication"),
                "{report:#}"
            );
        } else {
            assert_eq!(install["status"], "PASSED", "{mistake}");
        }
    }
}

#[test]
#[cfg_attr(not(python_tests), ignore = "needs python3: set PYTHON_TESTS=1")]
fn a_misbehaving_app_gets_a_report_not_a_crash() {
    for (mistake, says) in [
        ("hang", "got no answer in 1 s (--timeout)"),
        ("error-500", "answered 500"),
        ("redirect-loop", "a redirect loop"),
        ("no-cookies", "without exchanging the code"),
    ] {
        let (exit, report) = against_python(
            mistake,
            &["--timeout", "1", "--only", "install,token-expired"],
        );
        assert_eq!(exit, Some(1), "{mistake}: {report:#}");
        let install = &report["scenarios"][0];
        assert_eq!(install["status"], "FAILED", "{mistake}: {report:#}");
        assert!(
            install["detail"].as_str().unwrap().contains(says),
            "{mistake}: {report:#}"
        );
        assert_eq!(report["scenarios"].as_array().unwrap().len(), 2);
    }
}

#[test]
fn wrong_options_are_one_line_and_exit_2() {
    for (args, says) in [
        (
            vec!["--start", "http://127.0.0.1:9/start"],
            "--exec \"COMMAND\"",
        ),
        (
            vec![
                "--start",
                "http://127.0.0.1:9/start",
                "--sandbox-port",
                "0",
                "--only",
                "nope",
            ],
            "--only nope: no such scenario",
        ),
        (
            vec!["--start", "http://127.0.0.1:9/start", "--exec", "exit 3"],
            "the app exited (exit status: 3)",
        ),
        (
            vec![
                "--start",
                "http://127.0.0.1:9/start",
                "--exec",
                "sleep 30",
                "--exec-wait",
                "1",
            ],
            "nothing listened on 127.0.0.1:9",
        ),
    ] {
        let output = conform(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}");
    }
}

#[test]
#[cfg_attr(not(python_tests), ignore = "needs python3: set PYTHON_TESTS=1")]
fn an_interrupted_run_stops_the_app_it_started() {
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_segment-sandbox"))
        .args(["conform", "--timeout", "30", "--only", "install", "--start"])
        .arg(format!("http://127.0.0.1:{port}/start"))
        .arg("--exec")
        .arg(format!(
            "PORT={port} MISTAKE=hang exec python3 {}",
            partner_app().display()
        ))
        .env("RUST_LOG", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let listening = || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
    let started = std::time::Instant::now();
    while !listening() && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(listening(), "the app never listened");
    // The kit is now waiting on the app's hanging start page; Ctrl-C.
    std::thread::sleep(Duration::from_millis(300));
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).unwrap();
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || send.send(child.wait_with_output()));
    let output = receive
        .recv_timeout(Duration::from_secs(20))
        .expect("the kit stops when interrupted")
        .unwrap();
    assert_eq!(output.status.code(), Some(130));
    assert!(String::from_utf8_lossy(&output.stderr).contains("interrupted; stopping the app"));
    assert!(!listening(), "the app outlived the kit");
}

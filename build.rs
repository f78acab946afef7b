//! Turns the switches of the tests that need a real service into cfgs, so that a plain
//! `cargo test` reports those tests as ignored rather than passed:
//! - `BROWSER_TESTS=1`: `browser_tests` (headless Chromium, `tests/browser.rs`);
//! - `DATABASE_TEST_URL` set: `postgres_tests` (the store's tests also on Postgres);
//! - `REDIS_TEST_URL` set: `redis_tests` (the session tests also on Redis);
//! - `TOPOLOGY_TESTS=1`: `topology_tests` (two instances behind nginx, `tests/topology.rs`).

fn main() {
    let switch = |name: &str| std::env::var(name).is_ok_and(|value| !value.trim().is_empty());
    let on = |name: &str| {
        std::env::var(name).is_ok_and(|value| value == "1" || value.eq_ignore_ascii_case("true"))
    };
    for (cfg, variable, set) in [
        ("browser_tests", "BROWSER_TESTS", on("BROWSER_TESTS")),
        (
            "postgres_tests",
            "DATABASE_TEST_URL",
            switch("DATABASE_TEST_URL"),
        ),
        ("redis_tests", "REDIS_TEST_URL", switch("REDIS_TEST_URL")),
        ("topology_tests", "TOPOLOGY_TESTS", on("TOPOLOGY_TESTS")),
    ] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        println!("cargo::rerun-if-env-changed={variable}");
        if set {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}

//! Turns `BROWSER_TESTS=1` into the `browser_tests` cfg, so that a plain `cargo test` reports the
//! browser test as ignored rather than passed (see `tests/browser.rs`).

fn main() {
    println!("cargo::rustc-check-cfg=cfg(browser_tests)");
    println!("cargo::rerun-if-env-changed=BROWSER_TESTS");
    let on = std::env::var("BROWSER_TESTS")
        .is_ok_and(|value| value == "1" || value.eq_ignore_ascii_case("true"));
    if on {
        println!("cargo::rustc-cfg=browser_tests");
    }
}

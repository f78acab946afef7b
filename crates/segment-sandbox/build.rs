//! `PYTHON_TESTS=1` turns on the `python_tests` cfg: the conformance kit's tests against the
//! small Python partner app (`tests/conform/partner_app.py`), which need `python3`. Without it,
//! `cargo test` reports them as ignored.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(python_tests)");
    println!("cargo::rerun-if-env-changed=PYTHON_TESTS");
    if std::env::var("PYTHON_TESTS")
        .is_ok_and(|value| value == "1" || value.eq_ignore_ascii_case("true"))
    {
        println!("cargo::rustc-cfg=python_tests");
    }
}

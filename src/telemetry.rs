//! Logging: `tracing` to stderr, filtered by `RUST_LOG` (default: this app at info, the rest at
//! warn). Secrets never reach it: their types print masked, and requests are logged by path
//! only, never with their query strings.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,segment_partnerapp=info"));
    // A second init (tests) is not an error worth stopping for.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

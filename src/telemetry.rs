//! Logging: `tracing` to stderr, filtered by `RUST_LOG` (default: this app at info, the rest at
//! warn). Secrets never reach it: their types print masked, and requests are logged by path
//! only, never with their query strings.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

pub fn init() {
    init_with_writer(std::io::stderr, "warn,segment_partnerapp=info");
}

/// Logs to `writer` (tests capture logs this way), filtered by `RUST_LOG`, else `default`.
pub fn init_with_writer<W>(writer: W, default: &str)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    // A second init (tests) is not an error worth stopping for.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(writer)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

//! `segment-sandbox`: Segment's identity service and Config API, played on a port of its own,
//! for another project's tests (as projects run stripe-mock). `--port 0` picks a free port; the
//! first line of standard output is the base URL, the second the App's client id and secret.
//! `POST /reset` starts it over; `/faults` arms failures; `/` is the inspector.

use std::process::ExitCode;

use clap::Parser;
use segment_sandbox::standalone::{self, Options};
use tracing_subscriber::EnvFilter;

/// A stand-in for Segment (its OAuth service and Config API) that any project's tests can run.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    options: Options,
}

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logs go to standard error (standard output is the announcement); RUST_LOG filters them.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    standalone::run(cli.options).await
}

//! `segment-sandbox`: Segment's identity service and Config API, played on a port of its own,
//! for another project's tests (as projects run stripe-mock). `--port 0` picks a free port; the
//! first line of standard output is the base URL, the second the App's client id and secret.
//! `POST /reset` starts it over; `/faults` arms failures; `/` is the inspector.
//!
//! `segment-sandbox conform` runs the conformance kit against a partner's app (see
//! `segment_sandbox::conform`).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use segment_sandbox::conform;
use segment_sandbox::standalone::{self, Options};
use tracing_subscriber::EnvFilter;

/// A stand-in for Segment (its OAuth service and Config API) that any project's tests can run.
#[derive(Parser)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    options: Options,
}

#[derive(Subcommand)]
enum Command {
    /// Plays Segment's behaviours against your "Enable with Segment" app, in any language, and
    /// reports each scenario as PASSED, FAILED, WARNING or SKIPPED.
    Conform(conform::Options),
}

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Logs go to standard error (standard output is the announcement, or the report);
    // RUST_LOG filters them.
    // The kit's dropped connections are on purpose: actix's own error line for each is noise.
    let quiet = if cli.command.is_some() {
        "warn,actix_http::h1::dispatcher=off"
    } else {
        "info"
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| quiet.into()))
        .init();
    match cli.command {
        Some(Command::Conform(options)) => conform::run(options).await,
        None => standalone::run(cli.options).await,
    }
}

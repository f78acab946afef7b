//! `segment-sandbox`: Segment's identity service and Config API, played on a port of its own,
//! for another project's tests (as projects run stripe-mock). `--port 0` picks a free port; the
//! first line of standard output is the base URL, the second the App's client id and secret.
//! `POST /reset` starts it over; `/faults` arms failures; `/` is the inspector.

use std::process::ExitCode;

use clap::Parser;
use segment_partnerapp::sandbox::standalone::{self, Options};
use segment_partnerapp::telemetry::{self, LogFormat};

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
    telemetry::init(LogFormat::Text);
    standalone::run(cli.options).await
}

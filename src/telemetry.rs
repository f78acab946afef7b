//! Logging: `tracing` to stderr, filtered by `RUST_LOG` (default: this app at info, the rest at
//! warn), as text or, with `LOG_FORMAT=json`, one JSON object per line for log shippers
//! (tracing-subscriber's own JSON format: `timestamp`, `level`, the event's fields flattened, among
//! them `message`, and `span` with the request's `id`). Secrets never reach it: their types print
//! masked, and requests are logged by path only, never with their query strings.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

const DEFAULT_FILTER: &str = "warn,segment_partnerapp=info";

/// How log lines are written (`LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// For a person at a terminal (the default).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// `LOG_FORMAT`: `text` (or unset) or `json`; anything else is a one-line error.
    pub fn parse(value: Option<&str>) -> Result<LogFormat, String> {
        match value.map(str::trim).unwrap_or_default() {
            "" | "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!(
                "LOG_FORMAT is not valid ({other:?}): expected text or json"
            )),
        }
    }
}

pub fn init(format: LogFormat) {
    init_with_writer(std::io::stderr, DEFAULT_FILTER, format);
}

/// Logs to `writer` (tests capture logs this way), filtered by `RUST_LOG`, else `default`.
pub fn init_with_writer<W>(writer: W, default: &str, format: LogFormat)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(writer);
    // A second init (tests) is not an error worth stopping for.
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
}

//! The sandbox on a server of its own: what the `segment-sandbox` binary and
//! `segment-partnerapp sandbox` run. Another project's tests start it the way projects start
//! stripe-mock: `segment-sandbox --port 0` picks a free port and prints its base URL as the
//! first line of standard output (the App's client id and secret on the next); logs go to
//! standard error.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use super::{CLIENT_ID, CLIENT_SECRET, Sandbox, Scope, demo_app, serve};

/// Where the sandbox listens, and how its one App is registered.
#[derive(Args, Debug)]
pub struct Options {
    /// The address to listen on (loopback unless SANDBOX_PUBLIC=1).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// The port; 0 picks a free one (the first line of standard output says which).
    #[arg(long, default_value_t = 8890)]
    pub port: u16,
    /// The redirect URL its App is registered with (the partner app's REDIRECT_URL).
    #[arg(long, default_value = "http://localhost:8888/auth/segment/callback")]
    pub redirect_url: String,
    /// The scope its App was created with (the partner app's SEGMENT_SCOPE).
    #[arg(long, default_value = "destination/clearbrain")]
    pub scope: String,
    /// Where Segment's credential test calls the partner's API (the app's /api/v1/me).
    #[arg(long)]
    pub credential_test_url: Option<String>,
    /// Another host name its pages and control endpoints answer on (repeat for more). Loopback
    /// names, --host and the redirect URL's host always are; any other is refused (DNS
    /// rebinding).
    #[arg(long, value_name = "NAME")]
    pub allow_host: Vec<String>,
}

/// Serves the sandbox at the root of its own listener until stopped. Bad options are one line
/// on standard error and exit code 2.
pub async fn run(options: Options) -> ExitCode {
    let usage = |message: String| {
        eprintln!("error: {message}");
        ExitCode::from(2)
    };
    let redirect = match url::Url::parse(&options.redirect_url) {
        Ok(url) => url,
        Err(e) => return usage(format!("--redirect-url {:?}: {e}", options.redirect_url)),
    };
    let scope = match Scope::parse(&options.scope) {
        Ok(scope) => scope,
        Err(e) => return usage(format!("--scope {:?}: {e}", options.scope)),
    };
    let public = std::env::var("SANDBOX_PUBLIC").is_ok_and(|v| is_yes(&v));
    if !(is_loopback(&options.host) || public) {
        return usage(format!(
            "--host {} would serve the sandbox (a fake Segment anyone who reaches it can drive) \
             beyond this machine: use a loopback --host, or set SANDBOX_PUBLIC=1 for a shared \
             demo server",
            options.host
        ));
    }
    let address = format!("{}:{}", options.host, options.port);
    let listener = match std::net::TcpListener::bind(&address) {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("error: cannot listen on {address}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let port = listener
        .local_addr()
        .map(|a| a.port())
        .unwrap_or(options.port);
    let world = Sandbox::new(demo_app(&redirect, scope), "");
    if let Some(url) = &options.credential_test_url {
        world.set_credential_test_url(url);
    }
    for host in options.allow_host.iter().chain([&options.host]) {
        world.allow_host(host.trim_start_matches('[').trim_end_matches(']'));
    }
    let server = match serve(world, listener) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("error: the sandbox cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The first line is the base URL (a test reads it to find the port), then the App.
    let base = base_url(&options.host, port);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{base}");
    let _ = writeln!(out, "client_id={CLIENT_ID} client_secret={CLIENT_SECRET}");
    let _ = out.flush();
    drop(out);
    tracing::info!("the sandbox plays Segment on {base} (inspector at /, reset with POST /reset)");
    match server.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: the sandbox stopped: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The base URL of a sandbox listening on `host` and `port` (an IPv6 address in brackets).
fn base_url(host: &str, port: u16) -> String {
    match host.trim_start_matches('[').trim_end_matches(']').parse() {
        Ok(std::net::IpAddr::V6(ip)) => format!("http://[{ip}]:{port}"),
        _ => format!("http://{host}:{port}"),
    }
}

/// Whether `host` (an address to listen on) reaches only this machine.
pub fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `SANDBOX_PUBLIC`'s yes, spelled as the app's settings spell it.
fn is_yes(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_announced_url_brackets_ipv6() {
        assert_eq!(base_url("::1", 8890), "http://[::1]:8890");
        assert_eq!(base_url("[::1]", 8890), "http://[::1]:8890");
        assert_eq!(base_url("127.0.0.1", 8890), "http://127.0.0.1:8890");
        assert_eq!(base_url("localhost", 1), "http://localhost:1");
    }
}

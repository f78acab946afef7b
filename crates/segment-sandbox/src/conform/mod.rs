//! The conformance kit: Segment's behaviours, played against any partner's "Enable with
//! Segment" app (in any language), each judged from what reached the sandbox and what the app
//! answered. `segment-sandbox conform` runs it (see [`Options`] and [`run`]); a Rust test can
//! run a [`Kit`] on a sandbox of its own.
//!
//! The kit drives the app as a browser would ([`browser`]: a cookie jar, redirects, forms, no
//! JavaScript). The sandbox consents by itself ([`crate::AutoConsent`]), one workspace per
//! scenario so that each starts clean; `install` also submits the real consent form. It shares
//! nothing with the Segment client or the flow library, so it can disagree with them.

pub mod browser;
mod exec;
mod flow;
mod probe;
pub mod report;
mod scenarios;
mod steps;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use url::Url;

pub use report::{Counts, Outcome, Report, Status};
pub use scenarios::SCENARIOS;

use actix_web::HttpServer;

use super::{CLIENT_ID, CLIENT_SECRET, Sandbox, Scope, demo_app};
use browser::Browser;

/// `segment-sandbox conform`: where the app is, how to start it, what to run and where to
/// write the reports.
#[derive(Args, Debug, Clone)]
pub struct Options {
    /// The app's URL that starts the flow (where its "Enable with Segment" button leads).
    #[arg(long, value_name = "URL")]
    pub start: Url,
    /// Runs the app with this shell command, with CLIENT_ID, CLIENT_SECRET, SEGMENT_ID_URL,
    /// SEGMENT_API_URL and REDIRECT_URL in its environment, and stops it at the end.
    #[arg(long, value_name = "COMMAND", conflicts_with = "sandbox_port")]
    pub exec: Option<String>,
    /// The sandbox's port, for an app started beforehand with SEGMENT_ID_URL and
    /// SEGMENT_API_URL set to http://127.0.0.1:PORT (and the sandbox's client id and secret).
    #[arg(long, value_name = "PORT")]
    pub sandbox_port: Option<u16>,
    /// The redirect URL the App is registered with [default: the start URL's origin +
    /// /auth/segment/callback].
    #[arg(long, value_name = "URL")]
    pub redirect_url: Option<Url>,
    /// The scope the App was created with.
    #[arg(long, default_value = "destination/clearbrain")]
    pub scope: String,
    /// A login page to sign in at first (its form is read, and --login-form's fields set).
    #[arg(long, value_name = "URL", requires = "login_form")]
    pub login: Option<Url>,
    /// The login form's fields; `{user}` in a value becomes a new user's name per browser.
    #[arg(long, value_name = "NAME=VALUE", num_args = 1.., requires = "login")]
    pub login_form: Vec<String>,
    /// A page that calls Segment with the signed-in user's install (for token-expired,
    /// token-revoked, rate-limited and unavailable).
    #[arg(long, value_name = "URL")]
    pub probe: Option<Url>,
    /// Runs only these scenarios (comma-separated ids).
    #[arg(long, value_name = "ID,…", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Writes the results as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Writes the results as JUnit XML to FILE.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// How long one request to the app may take, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10)]
    pub timeout: u64,
    /// How long --exec's app may take to start listening, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub exec_wait: u64,
}

/// The app under test, as the kit reaches it.
#[derive(Debug, Clone)]
pub struct Target {
    /// The URL that starts the flow.
    pub start: Url,
    /// The App's registered redirect URL (the sandbox's App has only this one).
    pub redirect_url: Url,
    /// Sign in first: the login page and the fields to set (`{user}` per browser).
    pub login: Option<(Url, Vec<(String, String)>)>,
    /// A page that calls Segment with the signed-in user's install.
    pub probe: Option<Url>,
    /// How long one request may take.
    pub timeout: Duration,
}

/// The scenarios, run against one app through one sandbox.
pub struct Kit {
    sandbox: Arc<Sandbox>,
    /// The sandbox's base URL, as the app was told it.
    base: Url,
    target: Target,
    /// Browsers and workspaces made so far (each gets a new number).
    made: AtomicUsize,
}

/// How long one scenario may run in all.
const SCENARIO_LIMIT: Duration = Duration::from_secs(90);

impl Kit {
    /// A kit for `target`, whose sandbox is `sandbox` at `base`.
    pub fn new(sandbox: Arc<Sandbox>, base: Url, target: Target) -> Kit {
        Kit {
            sandbox,
            base,
            target,
            made: AtomicUsize::new(0),
        }
    }

    /// Runs the scenarios named in `only` (every one when empty), in the order of
    /// [`SCENARIOS`].
    pub async fn run(&self, only: &[String]) -> Report {
        let mut report = Report::default();
        for scenario in SCENARIOS {
            if !only.is_empty() && !only.iter().any(|id| id == scenario.id) {
                continue;
            }
            let started = Instant::now();
            let verdict = tokio::time::timeout(SCENARIO_LIMIT, self.play(scenario.id))
                .await
                .unwrap_or_else(|_| {
                    scenarios::Verdict::failed(format!(
                        "did not finish in {} s",
                        SCENARIO_LIMIT.as_secs()
                    ))
                });
            // Whatever the scenario armed ends with it.
            {
                let mut world = self.sandbox.world();
                world.auto_consent = None;
                world.faults.clear();
            }
            report.results.push(Outcome {
                id: scenario.id,
                status: verdict.status,
                detail: verdict.detail,
                criterion: scenario.criterion,
                seconds: started.elapsed().as_secs_f64(),
            });
        }
        report
    }

    /// A new browser (an empty cookie jar), and its number.
    fn browser(&self) -> (Browser, usize) {
        let n = self.made.fetch_add(1, Ordering::Relaxed) + 1;
        (Browser::new(self.target.timeout), n)
    }
}

/// `segment-sandbox conform`: starts the sandbox on a free port (or `--sandbox-port`), the app
/// if `--exec` says how, runs the scenarios, prints the table, writes the reports, stops both.
/// Exit status 0 when nothing FAILED, 1 when something did, 2 when the kit could not run.
pub async fn run(options: Options) -> ExitCode {
    match run_or_say_why(&options).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

/// [`run`], with whatever stops the kit from running as its one-line reason.
async fn run_or_say_why(options: &Options) -> Result<ExitCode, String> {
    let (target, scope) = target(options)?;
    let (sandbox, base, server) = start_sandbox(options.sandbox_port, &target.redirect_url, scope)?;
    let app = match &options.exec {
        Some(command) => Some(start_app(command, options, &base, &target.redirect_url).await?),
        None => None,
    };
    let kit = Kit::new(sandbox, base, target);
    let report = tokio::select! {
        report = kit.run(&options.only) => report,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("conform: interrupted; stopping the app");
            drop(app);
            return Ok(ExitCode::from(130));
        }
    };
    drop(app);
    server.stop(false).await;

    print!("{}", report.table());
    for (file, text) in [
        (&options.json, report.json()),
        (&options.junit, report.junit()),
    ] {
        if let Some(file) = file {
            std::fs::write(file, text)
                .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        }
    }
    Ok(if report.counts().failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The app as the options describe it, and the App's scope; or why they do not.
fn target(options: &Options) -> Result<(Target, Scope), String> {
    let known: Vec<&str> = SCENARIOS.iter().map(|s| s.id).collect();
    if let Some(unknown) = options.only.iter().find(|id| !known.contains(&id.as_str())) {
        return Err(format!(
            "--only {unknown}: no such scenario (there are {})",
            known.join(", ")
        ));
    }
    if options.exec.is_none() && options.sandbox_port.is_none() {
        return Err(
            "say how the app reaches the sandbox: --exec \"COMMAND\" (the kit starts the \
                    app with the sandbox's settings) or --sandbox-port N (an app you started \
                    with SEGMENT_ID_URL and SEGMENT_API_URL at http://127.0.0.1:N)"
                .to_owned(),
        );
    }
    let scope =
        Scope::parse(&options.scope).map_err(|e| format!("--scope {:?}: {e}", options.scope))?;
    let redirect_url = match &options.redirect_url {
        Some(url) => url.clone(),
        None => options
            .start
            .join("/auth/segment/callback")
            .map_err(|e| format!("--start {}: {e}", options.start))?,
    };
    let login_form = options
        .login_form
        .iter()
        .map(|field| {
            field
                .split_once('=')
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .ok_or_else(|| format!("--login-form {field:?}: write it as NAME=VALUE"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let target = Target {
        start: options.start.clone(),
        redirect_url,
        login: options.login.clone().map(|url| (url, login_form)),
        probe: options.probe.clone(),
        timeout: Duration::from_secs(options.timeout.max(1)),
    };
    Ok((target, scope))
}

/// The sandbox, serving on loopback at `port` (0: a free one), its base URL, and the handle
/// that stops it. Ctrl-C is the kit's to handle (it stops the partner's app too), not the
/// server's.
fn start_sandbox(
    port: Option<u16>,
    redirect_url: &Url,
    scope: Scope,
) -> Result<(Arc<Sandbox>, Url, actix_web::dev::ServerHandle), String> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", port.unwrap_or(0)))
        .map_err(|e| format!("the sandbox cannot listen: {e}"))?;
    let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
    let base = Url::parse(&format!("http://127.0.0.1:{port}")).expect("a loopback URL parses");
    let sandbox = Sandbox::new(demo_app(redirect_url, scope), "");
    let served = sandbox.clone();
    let server =
        HttpServer::new(move || actix_web::App::new().service(crate::scope(served.clone())))
            .workers(1)
            .disable_signals()
            .listen(listener)
            .map_err(|e| format!("the sandbox cannot start: {e}"))?
            .run();
    let handle = server.handle();
    tokio::spawn(server);
    eprintln!("conform: the sandbox plays Segment on {base} (client id {CLIENT_ID})");
    Ok((sandbox, base, handle))
}

/// `--exec`'s app, started with the sandbox's settings and listening where `--start` points.
async fn start_app(
    command: &str,
    options: &Options,
    base: &Url,
    redirect_url: &Url,
) -> Result<exec::PartnerApp, String> {
    let base = base.as_str().trim_end_matches('/');
    let vars = [
        ("CLIENT_ID", CLIENT_ID.to_owned()),
        ("CLIENT_SECRET", CLIENT_SECRET.to_owned()),
        ("SEGMENT_ID_URL", base.to_owned()),
        ("SEGMENT_API_URL", base.to_owned()),
        ("REDIRECT_URL", redirect_url.to_string()),
    ];
    let mut app = exec::PartnerApp::start(command, &vars)
        .map_err(|e| format!("--exec {command:?} cannot start: {e}"))?;
    eprintln!(
        "conform: started the app ({command}); waiting for {}",
        options.start
    );
    app.wait_for(&options.start, Duration::from_secs(options.exec_wait))
        .await?;
    Ok(app)
}

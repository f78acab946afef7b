//! `cargo run`: loads `.env` and the environment, then serves the app (on the sandbox when no
//! Segment credentials are set).

use std::process::ExitCode;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use segment_partnerapp::config::{self, Settings};
use segment_partnerapp::segment::machine::{
    self, MachineClient, MachineConfig, MachineError, Region, SigningKey,
};
use segment_partnerapp::startup::Application;
use segment_partnerapp::telemetry;

/// Segment's "Enable with Segment" partner app. With no command, it serves the app.
#[derive(Parser)]
#[cfg_attr(
    feature = "sandbox",
    command(
        version,
        about = "Segment's \"Enable with Segment\" partner app, with a built-in sandbox that plays Segment."
    )
)]
#[cfg_attr(
    not(feature = "sandbox"),
    command(version, about = "Segment's \"Enable with Segment\" partner app.")
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    #[cfg_attr(
        feature = "sandbox",
        doc = "Serve the app (the default): on the sandbox unless CLIENT_ID/CLIENT_SECRET are set."
    )]
    #[cfg_attr(
        not(feature = "sandbox"),
        doc = "Serve the app (the default), with the App's CLIENT_ID and CLIENT_SECRET."
    )]
    Serve,
    /// Apply the database's migrations (DATABASE_URL) and stop: for deployments that migrate
    /// once before rolling out, with MIGRATE_ON_START=false on the app.
    Migrate,
    /// Mint a server-to-server access token from a signed JWT, and print it.
    Token(TokenArgs),
    /// Serve the sandbox alone, as "Segment" for app instances started with
    /// CLIENT_ID=sandbox-partner-app CLIENT_SECRET=sandbox-client-secret and SEGMENT_ID_URL /
    /// SEGMENT_API_URL pointing here (deploy/local.sh does this).
    #[cfg(feature = "sandbox")]
    Sandbox(segment_partnerapp::sandbox::standalone::Options),
}

#[derive(Args)]
struct TokenArgs {
    /// The RSA private key (PEM) whose public key is registered with the OAuth application.
    #[arg(long)]
    key: PathBuf,
    /// The id Segment gave that public key.
    #[arg(long)]
    key_id: String,
    /// The OAuth application's id.
    #[arg(long)]
    app_id: String,
    /// us (Oregon) or eu (Dublin).
    #[arg(long, default_value = "us")]
    region: String,
    /// tracking_api:write, functions:write or public_api:read_write.
    #[arg(long)]
    scope: String,
    /// Print the whole answer as JSON, not just the access token.
    #[arg(long)]
    json: bool,
    /// Another token endpoint than the region's (e.g. a test server's).
    #[arg(long)]
    url: Option<String>,
    /// The JWT's aud, when --url is given (default: the URL without /token).
    #[arg(long)]
    audience: Option<String>,
}

/// `token`: one line on stdout (the token, or the JSON answer); one line on stderr on failure.
async fn token(args: TokenArgs) -> ExitCode {
    let exit = |error: MachineError| {
        eprintln!("error: {error}");
        ExitCode::from(if matches!(error, MachineError::Usage(_)) {
            2
        } else {
            1
        })
    };
    let config = (|| {
        let scope = machine::parse_scope(&args.scope)?;
        let region = Region::parse(&args.region)?;
        let key = SigningKey::from_file(&args.key, &args.key_id)?;
        let mut config = MachineConfig::for_region(&args.app_id, key, scope, region);
        if let Some(url) = &args.url {
            config.token_url = url::Url::parse(url)
                .map_err(|e| MachineError::Usage(format!("--url {url:?} is not a URL: {e}")))?;
            config.audience = args.audience.clone().unwrap_or_else(|| {
                url.trim_end_matches('/')
                    .trim_end_matches("/token")
                    .to_owned()
            });
        }
        Ok(config)
    })();
    let config = match config {
        Ok(config) => config,
        Err(error) => return exit(error),
    };
    let http = match segment_partnerapp::segment::http_client(&Default::default()) {
        Ok(http) => http,
        Err(error) => return exit(MachineError::Unreachable(error.to_string())),
    };
    match MachineClient::new(http, config).token().await {
        Ok(token) if args.json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&token.raw).unwrap_or_default()
            );
            ExitCode::SUCCESS
        }
        Ok(token) => {
            println!("{}", token.access_token.expose());
            ExitCode::SUCCESS
        }
        Err(error) => exit(error),
    }
}

/// `LOG_FORMAT`, or the one-line error that stops start-up.
fn log_format() -> Result<telemetry::LogFormat, ExitCode> {
    telemetry::LogFormat::parse(std::env::var("LOG_FORMAT").ok().as_deref()).map_err(|error| {
        eprintln!("error: {error}");
        ExitCode::from(2)
    })
}

/// `migrate`: brings the database `DATABASE_URL` (or `DATABASE_URL_FILE`) names up to date.
async fn migrate() -> ExitCode {
    let url = match config::environment().and_then(config::database_url) {
        Ok(url) => url,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let database = segment_partnerapp::store::describe_database(&url);
    match segment_partnerapp::store::Store::migrate(&url).await {
        Ok(()) => {
            println!("the {database} is up to date");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

#[actix_web::main]
async fn main() -> ExitCode {
    let command = Cli::parse().command;
    // `token` takes its arguments only (it has no settings in .env).
    if let Some(Command::Token(args)) = command {
        return token(args).await;
    }
    if let Err(error) = dotenvy::dotenv()
        && !error.not_found()
    {
        eprintln!("error: .env cannot be read: {error}");
        return ExitCode::from(2);
    }
    let format = match log_format() {
        Ok(format) => format,
        Err(code) => return code,
    };
    match command {
        Some(Command::Migrate) => {
            telemetry::init(format);
            return migrate().await;
        }
        #[cfg(feature = "sandbox")]
        Some(Command::Sandbox(args)) => {
            telemetry::init(format);
            return segment_partnerapp::sandbox::standalone::run(args).await;
        }
        // Serve, and `token` (answered above).
        _ => {}
    }
    telemetry::init(format);

    let settings = match Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let origin = settings.public_origin();
    if settings.mode.is_sandbox() {
        tracing::warn!(
            "SANDBOX MODE: no CLIENT_ID/CLIENT_SECRET set, so Segment is simulated in this process. \
             Watch what each click does at {origin}/sandbox"
        );
    } else {
        tracing::info!(mode = %settings.mode, "talking to Segment");
    }
    tracing::info!(
        destination = %settings.destination_slug,
        scope = %settings.scope,
        redirect_url = %settings.redirect_url,
        "configured"
    );

    let application = match Application::build(settings).await {
        Ok(application) => application,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(1);
        }
    };
    tracing::info!("open {origin} in a browser");
    match application.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: the server stopped: {error}");
            ExitCode::FAILURE
        }
    }
}

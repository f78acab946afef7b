//! `cargo run`: loads `.env` and the environment, then serves the app (on the sandbox when no
//! Segment credentials are set).

use std::process::ExitCode;

use segment_partnerapp::config::Settings;
use segment_partnerapp::startup::Application;
use segment_partnerapp::telemetry;

#[actix_web::main]
async fn main() -> ExitCode {
    if let Err(error) = dotenvy::dotenv()
        && !error.not_found()
    {
        eprintln!("error: .env cannot be read: {error}");
        return ExitCode::from(2);
    }
    telemetry::init();

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

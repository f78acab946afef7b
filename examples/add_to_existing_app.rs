//! Enable with Segment added to an actix-web app of your own, with the `enable-with-segment`
//! library: your login (here, one fixed user), your store (here, in memory), your home page.
//!
//! Run it against the sandbox binary (README: "Add Enable with Segment to your own actix-web
//! app"): `cargo run -p segment-sandbox -- --port 8890 --redirect-url
//! http://localhost:8080/auth/segment/callback`, then `CLIENT_ID=sandbox-partner-app
//! CLIENT_SECRET=sandbox-client-secret REDIRECT_URL=http://localhost:8080/auth/segment/callback
//! SEGMENT_ID_URL=http://127.0.0.1:8890 SEGMENT_API_URL=http://127.0.0.1:8890 PORT=8080
//! cargo run --example add_to_existing_app`, and open http://localhost:8080.

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, cookie::Key, web};
use enable_with_segment::segment::{AppSettings, DestinationSlug};
use enable_with_segment::{EnableWithSegment, MemoryStore, UserError, Users};

/// This app's notion of the signed-in user: everyone is `demo-user`, so anyone can run it.
pub struct OneUser;

impl Users for OneUser {
    type Id = String;
    async fn signed_in(&self, _: &HttpRequest) -> Result<Option<String>, UserError> {
        Ok(Some("demo-user".to_owned()))
    }
}

type Enable = EnableWithSegment<MemoryStore<String>, OneUser>;

/// The home page: Enable with Segment, or the connected workspace, source and destination.
async fn home(enable: web::Data<Enable>, slug: web::Data<DestinationSlug>) -> HttpResponse {
    let page = match enable.config_api(&"demo-user".to_owned()).await {
        Ok(None) => r#"<a href="/auth/segment">Enable with Segment</a>"#.to_owned(),
        Ok(Some(mut api)) => {
            let status = match api.destination(&slug).await {
                Ok(None) => "Not created",
                Ok(Some(destination)) if destination.enabled => "Enabled",
                Ok(Some(_)) => "Disabled",
                Err(_) => "unknown: Segment did not answer",
            };
            // Workspace and source names are slugs (checked when the token was read): no HTML.
            let install = api.install();
            let source = install.source().map_or("none", |s| s.as_str());
            let workspace = install.workspace_slug();
            format!(
                "<p>Workspace: {workspace}</p><p>Source: {source}</p><p>Destination: {status}</p>"
            )
        }
        Err(error) => format!("<p>The install cannot be read: {error}</p>"),
    };
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(page)
}

/// Serves the app on `listener` (a test passes one on a free port).
pub async fn serve(listener: std::net::TcpListener, settings: AppSettings) -> std::io::Result<()> {
    let segment = settings.client().map_err(std::io::Error::other)?;
    let enable = EnableWithSegment::new(segment, MemoryStore::default(), OneUser, Key::generate());
    let (data, slug) = (
        web::Data::new(enable.clone()),
        web::Data::new(settings.destination),
    );
    HttpServer::new(move || {
        let app = App::new().app_data(data.clone()).app_data(slug.clone());
        app.configure(|cfg| enable.configure(cfg))
            .route("/", web::get().to(home))
    })
    .listen(listener)?
    .run()
    .await
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let settings = AppSettings::from_env()?;
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    serve(std::net::TcpListener::bind(("127.0.0.1", port))?, settings).await?;
    Ok(())
}

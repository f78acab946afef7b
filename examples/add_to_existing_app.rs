//! The template to copy: "Enable with Segment" in an actix-web app of your own, with the
//! `enable-with-segment` library. Everything but the flow is the app's: its login (any user
//! name, kept in actix-session's cookie store), its page, its API key for the destination.
//! The library brings the flow (`/auth/segment`, and the callback at REDIRECT_URL), the installs
//! in SQLite (`DATABASE_URL`), and the destination's actions.
//!
//! Run it against the sandbox binary (docs/library.md):
//! `cargo run -p segment-sandbox -- --port 8890 --redirect-url
//! http://localhost:8080/auth/segment/callback`, then `CLIENT_ID=sandbox-partner-app
//! CLIENT_SECRET=sandbox-client-secret REDIRECT_URL=http://localhost:8080/auth/segment/callback
//! SEGMENT_ID_URL=http://127.0.0.1:8890 SEGMENT_API_URL=http://127.0.0.1:8890
//! DATABASE_URL=sqlite://data/example.db API_KEY=my-api-key PORT=8080 cargo run --example
//! add_to_existing_app`, and open http://localhost:8080.

use actix_session::{Session, SessionExt, SessionMiddleware, storage::CookieSessionStore};
use actix_web::error::ErrorInternalServerError;
use actix_web::web::{Html, Redirect};
use actix_web::{App, HttpRequest, HttpServer, cookie::Key, dev::Server, web};
use askama::Template;
use enable_with_segment::segment::{AppSettings, DestinationSlug, InstallToken};
use enable_with_segment::sql::{SealKey, SqlStore};
use enable_with_segment::{EnableWithSegment, Users};

/// Your users, as your login knows them: the name `POST /login` put in the session.
pub struct SessionUsers;

impl Users for SessionUsers {
    type Id = String;
    type Error = actix_session::SessionGetError;
    async fn signed_in(&self, request: &HttpRequest) -> Result<Option<String>, Self::Error> {
        request.get_session().get("user")
    }
}

/// What the handlers share: the flow, and your destination and its API key.
struct Partner {
    enable: EnableWithSegment<SqlStore, SessionUsers>,
    destination: DestinationSlug,
    api_key: String,
}

/// The one page: sign in; then Enable with Segment; then the install and the destination.
#[derive(Template)]
#[template(
    ext = "html",
    source = r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Acme</title></head><body>
{% if let Some(user) = user %}<p>Signed in as {{ user }}</p>
{% if let Some((install, status)) = install %}<p>Workspace: {{ install.workspace_slug() }}</p>
<p>Source: {% if let Some(source) = install.source() %}{{ source }}{% endif %}</p><p>Destination: {{ status }}</p>{% for action in ["Enable", "Disable", "Disconnect"] %}
<form method="post" action="/{{ action|lower }}"><button>{{ action }}</button></form>{% endfor %}
{% else %}<p><a href="/auth/segment">Enable with Segment</a></p>{% endif %}
{% else %}<form method="post" action="/login"><label>Your name <input name="user" required></label>
<button>Sign in</button></form>{% endif %}</body></html>"#
)]
struct Home {
    user: Option<String>,
    install: Option<(InstallToken, &'static str)>,
}

async fn home(partner: web::Data<Partner>, session: Session) -> actix_web::Result<Html> {
    let user: Option<String> = session.get("user")?;
    let mut install = None;
    if let Some(user) = &user
        && let Some(mut api) = partner.enable.config_api(user).await?
    {
        let status = api.destination_status(&partner.destination).await?;
        install = Some((api.install().clone(), status.label()));
    }
    let page = Home { user, install }
        .render()
        .map_err(ErrorInternalServerError)?;
    Ok(Html::new(page))
}

#[derive(serde::Deserialize)]
struct Login {
    user: String,
}

/// Your login: here anyone is whoever they say (a real app checks a password).
async fn login(session: Session, form: web::Form<Login>) -> actix_web::Result<Redirect> {
    session.renew();
    session.insert("user", form.user.trim())?;
    Ok(Redirect::to("/").see_other())
}

/// `POST /enable`, `/disable` and `/disconnect`: one library call each.
async fn act(
    partner: web::Data<Partner>,
    session: Session,
    action: web::Path<String>,
) -> actix_web::Result<Redirect> {
    let Some(user) = session.get::<String>("user")? else {
        return Ok(Redirect::to("/").see_other());
    };
    let Some(mut api) = partner.enable.config_api(&user).await? else {
        return Ok(Redirect::to("/").see_other());
    };
    let (slug, key) = (&partner.destination, Some(partner.api_key.as_str()));
    match action.as_str() {
        "enable" => _ = api.enable_destination(slug, key).await?,
        "disable" => _ = api.disable_destination(slug).await?,
        _ => {
            _ = partner
                .enable
                .uninstall(&user, &api.install().install_name)
                .await?
        }
    }
    Ok(Redirect::to("/").see_other())
}

/// The app on `listener` (a test passes one on a free port), its installs in the database at
/// `database_url`, pushing `api_key` into the destination.
pub async fn serve(
    listener: std::net::TcpListener,
    settings: AppSettings,
    database_url: &str,
    api_key: String,
) -> Result<Server, Box<dyn std::error::Error>> {
    // Made at each start: users sign in again after a restart, and stored tokens are minted
    // anew (the installs stay). Load a fixed 64-byte key (`Key::from`) to keep both.
    let key = Key::generate();
    let store = SqlStore::connect(database_url, &SealKey::derive_from(&key)).await?;
    let enable = EnableWithSegment::new(settings.client()?, store, SessionUsers, key.clone());
    let partner = web::Data::new(Partner {
        enable: enable.clone(),
        destination: settings.destination,
        api_key,
    });
    // actix-session's cookie is `Secure` by default, which curl and scripts do not send back
    // over plain http: secure over https only.
    let https = settings.app.redirect_url.scheme() == "https";
    let server = HttpServer::new(move || {
        let sessions = SessionMiddleware::builder(CookieSessionStore::default(), key.clone())
            .cookie_secure(https)
            .build();
        App::new()
            .wrap(sessions)
            .app_data(partner.clone())
            .configure(|cfg| enable.configure(cfg))
            .route("/", web::get().to(home))
            .route("/login", web::post().to(login))
            .route("/{action:enable|disable|disconnect}", web::post().to(act))
    })
    .listen(listener)?;
    Ok(server.run())
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let settings = AppSettings::from_env()?;
    let var = |name: &str| std::env::var(name).map_err(|_| format!("{name} is not set"));
    let port: u16 = var("PORT").unwrap_or_else(|_| "8080".into()).parse()?;
    let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
    let server = serve(listener, settings, &var("DATABASE_URL")?, var("API_KEY")?).await?;
    Ok(server.await?)
}

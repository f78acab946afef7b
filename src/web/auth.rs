//! The install flow's routes: `GET /auth/segment` sends the visitor to Segment's consent
//! screen, `GET /auth/segment/callback` brings them back with a code that becomes an install
//! token (both the flow library's, `web::enable`), `POST /logout` ends the session, and
//! `POST /installs/use` picks one of the account's installs.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::enable::Enable;
use super::error::WebError;
use super::installs;
use super::login::CurrentAccount;
use super::pages::see_other;
use super::session::{FlashKind, TypedSession};
use crate::store::Store;

/// `GET /auth/segment`: the flow library's start route (`web::enable` holds the app's side:
/// the move to the public origin, "welcome back", sign in first).
pub async fn start(enable: web::Data<Enable>, request: HttpRequest) -> HttpResponse {
    enable.start(&request).await
}

/// `GET /auth/segment/callback`: the flow library's callback (the code exchanged, the install
/// stored for the account that started the flow, then the destination page).
pub async fn callback(enable: web::Data<Enable>, request: HttpRequest) -> HttpResponse {
    enable.callback(&request).await
}

/// `POST /logout`: ends the session (on the server: a copy of its cookie is worth nothing). The
/// install stays in Segment and with the account.
pub async fn logout(session: TypedSession) -> Result<HttpResponse, WebError> {
    session.log_out();
    session.flash(
        FlashKind::Info,
        "You are logged out. This browser still remembers your demo account: Enable with Segment \
         logs you in again; Forget this account (below) if this is not your browser.",
    )?;
    Ok(see_other("/"))
}

/// The form of `POST /installs/use`.
#[derive(Debug, Deserialize)]
pub struct UseInstall {
    install: String,
}

/// `POST /installs/use`: uses one of the account's own installs (offered after Segment's
/// "already installed"), connected again if it was disconnected.
pub async fn use_install(
    store: web::Data<Store>,
    session: TypedSession,
    account: CurrentAccount,
    form: web::Form<UseInstall>,
) -> Result<HttpResponse, WebError> {
    let name = crate::segment::InstallName::parse(&form.install)
        .map_err(|reason| WebError::BadRequest(format!("install: {reason}")))?;
    let Some(install) = installs::choose(&store, &session, &account, &name).await? else {
        return Err(WebError::BadRequest(
            "that install is not one of your account's".into(),
        ));
    };
    let workspace = install.workspace_slug();
    session.flash(
        FlashKind::Success,
        format!("You are using your install on the {workspace} workspace."),
    )?;
    Ok(see_other("/destination"))
}

//! What the app does around the install flow besides the flow itself (whose two routes,
//! `GET /auth/segment` and `GET /auth/segment/callback`, the flow library mounts: see
//! `web::enable`): `POST /logout` ends the session, and `POST /installs/use` picks one of the
//! account's installs.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::enable::Enable;
use super::error::WebError;
use super::login::CurrentAccount;
use super::pages::see_other;
use super::session::{FlashKind, TypedSession};

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
    enable: web::Data<Enable>,
    session: TypedSession,
    account: CurrentAccount,
    form: web::Form<UseInstall>,
) -> Result<HttpResponse, WebError> {
    let name = crate::segment::InstallName::parse(&form.install)
        .map_err(|reason| WebError::BadRequest(format!("install: {reason}")))?;
    // The flow library's reconnect: the account's own install only, connected again if it
    // was disconnected.
    let Some(install) = enable
        .reconnect(&account.id(), &name)
        .await
        .map_err(WebError::installs)?
    else {
        tracing::warn!(install = %name, account = account.id(), "asked to use an install this account does not hold");
        return Err(WebError::BadRequest(
            "that install is not one of your account's".into(),
        ));
    };
    session.log_in(install.name())?;
    tracing::info!(install = %install.name(), account = account.id(), "the visitor picked their install");
    let workspace = install.token.workspace_slug();
    session.flash(
        FlashKind::Success,
        format!("You are using your install on the {workspace} workspace."),
    )?;
    Ok(see_other("/destination"))
}

//! The home page: what this app is, and Enable with Segment.

use actix_web::{HttpResponse, web};

use enable_with_segment::InstallStore;

use super::enable::Enable;
use super::error::WebError;
use super::login::CurrentAccount;
use super::pages::{AccountView, HomePage, Layout, render};
use super::session::TypedSession;
use super::state::{Partner, Site};
use crate::segment::SegmentClient;

/// `GET /`: what this app is, and the button that starts the install. Viewing it makes
/// nothing: no account, and no session for a visitor without one.
pub async fn show(
    segment: web::Data<SegmentClient>,
    enable: web::Data<Enable>,
    partner: web::Data<Partner>,
    site: web::Data<Site>,
    session: TypedSession,
    account: Option<CurrentAccount>,
) -> Result<HttpResponse, WebError> {
    let (account, connected_workspace) = match account {
        None => (None, None),
        Some(account) => {
            let installs = enable
                .store()
                .installs(&account.id())
                .await
                .map_err(WebError::installs)?;
            // The install the session names, if the account holds it.
            let in_use = session.install_name()?;
            let connected_workspace = installs
                .iter()
                .find(|install| Some(install.name()) == in_use.as_ref() && install.is_connected())
                .map(|install| install.token.workspace_slug().to_owned());
            let view = AccountView {
                id: account.id(),
                key_prefix: account.account.api_key_prefix.clone(),
                new_key: session.take_new_api_key().map(|k| k.expose().to_owned()),
                has_installs: !installs.is_empty(),
            };
            (Some(view), connected_workspace)
        }
    };
    let layout = if account.is_some() {
        Layout::with_forms(site.sandbox, &session)
    } else {
        Layout::without_forms(site.sandbox, &session)
    };
    render(&HomePage {
        layout,
        account,
        display_name: partner.display_name(),
        scope: segment.scope().to_string(),
        connected_workspace,
    })
}

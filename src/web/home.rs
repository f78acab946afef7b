//! The home page: what this app is, and Enable with Segment.

use actix_web::{HttpResponse, web};

use super::error::WebError;
use super::login::CurrentAccount;
use super::pages::{AccountView, HomePage, Layout, render};
use super::session::TypedSession;
use super::state::{Partner, Site};
use crate::segment::SegmentClient;
use crate::store::Store;

/// `GET /`: what this app is, and the button that starts the install. Viewing it makes
/// nothing: no account, and no session for a visitor without one.
pub async fn show(
    segment: web::Data<SegmentClient>,
    store: web::Data<Store>,
    partner: web::Data<Partner>,
    site: web::Data<Site>,
    session: TypedSession,
    account: Option<CurrentAccount>,
) -> Result<HttpResponse, WebError> {
    let (account, connected_workspace) = match account {
        None => (None, None),
        Some(account) => {
            let installs = store
                .installs(account.id())
                .await
                .map_err(WebError::store)?;
            // The install the session names, if the account holds it (looked up with it).
            let connected_workspace = account
                .in_use
                .as_ref()
                .filter(|install| install.is_connected())
                .map(|install| install.workspace_slug().to_owned());
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

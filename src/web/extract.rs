//! What a destination handler starts from, as extractors, so that each handler opens with its
//! action instead of the same resolve-the-install-and-target steps:
//! - [`Connected`]: the visitor's account and the install in use;
//! - [`DestinationTarget`]: that, plus the source and destination the page is about;
//! - [`WritableTarget`]: the same, for a write (a read-only install is refused before anything
//!   is sent to Segment).
//!
//! A visitor who is not connected is sent to the home page ("Connect with Segment first.");
//! other failures are the usual error page. [`resolve`] is the same, for `GET /destination`,
//! which shows the source picker instead.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::InternalError;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};

use enable_with_segment::FlowError;

use super::enable::{Api, Enable};
use super::error::WebError;
use super::installs;
use super::login::CurrentAccount;
use super::pages::see_other;
use super::session::{FlashKind, TypedSession};
use super::state::Partner;
use crate::segment::{DestinationName, DestinationSlug, InstallToken, SourceName};
use crate::store::SqlStore;

type Extracted<T> = Pin<Box<dyn Future<Output = Result<T, actix_web::Error>>>>;

/// The visitor's account and the install in use (whatever source is picked).
pub struct Connected {
    pub account: CurrentAccount,
    pub install: InstallToken,
}

/// The account, install, source and destination a destination page is about. With a wider
/// scope and no source picked yet, the visitor is sent to the destination page to pick one.
pub struct DestinationTarget(pub Target);

/// The same, for a write: a read-only install (`workspace:read`) is refused with 403, and a
/// write with no source picked is a bad request.
pub struct WritableTarget(pub Target);

/// The visitor's account, the install in use, and the source whose destination is managed.
pub struct Target {
    pub account: CurrentAccount,
    pub install: InstallToken,
    pub source: SourceName,
    pub destination: DestinationName,
}

impl Target {
    /// The Config API for the install, on the source: every Segment call for the target goes
    /// through it (the flow library's token handling).
    pub fn api<'a>(&self, enable: &'a Enable) -> Api<'a> {
        enable
            .config_api_with(&self.account.id(), self.install.clone())
            .on_source(self.source.clone())
    }
}

/// Where a request for a destination page leads.
pub enum Resolved {
    Target(Box<Target>),
    /// Not connected: back to the home page.
    NotConnected,
    /// A wider scope with no source picked yet.
    PickSource(Box<(CurrentAccount, InstallToken)>),
}

/// The install and source a request is about: the session's install if the account holds it,
/// else the account's stored one (a returning visitor, an expired session, a restarted app).
pub async fn resolve(
    store: &SqlStore,
    slug: &DestinationSlug,
    session: &TypedSession,
    account: Option<CurrentAccount>,
) -> Result<Resolved, WebError> {
    let Some((account, install)) = installed(store, session, account).await? else {
        return Ok(Resolved::NotConnected);
    };
    let source = match install.source().cloned() {
        Some(source) => source,
        None if install.scope.names_a_source() => {
            let scope = install.scope.to_string();
            return Err(WebError::flow(FlowError::MissingSource(scope)));
        }
        None => match session.picked_source()? {
            Some(source) => source,
            None => return Ok(Resolved::PickSource(Box::new((account, install)))),
        },
    };
    let destination = source.destination(slug);
    Ok(Resolved::Target(Box::new(Target {
        account,
        install,
        source,
        destination,
    })))
}

/// Back to the home page. A visitor who has a session is told why; one who has none gets no
/// session for it.
pub fn not_connected(session: &TypedSession) -> Result<HttpResponse, WebError> {
    if !session.is_empty() {
        session.flash(FlashKind::Info, "Connect with Segment first.")?;
    }
    Ok(see_other("/"))
}

/// The account and the install in use, whatever source is picked. `None`: not connected.
pub async fn installed(
    store: &SqlStore,
    session: &TypedSession,
    account: Option<CurrentAccount>,
) -> Result<Option<(CurrentAccount, InstallToken)>, WebError> {
    let Some(account) = account else {
        return Ok(None);
    };
    let Some(stored) = installs::current(store, session, &account).await? else {
        return Ok(None);
    };
    Ok(Some((account, stored.token)))
}

/// The destination a Monitor page is about: the partner's destination on the source in use
/// (as [`DestinationTarget`]), or, with `?destination=<full name>`, that destination of the
/// install's workspace (the workspace view links there; a `destination/<slug>` install may
/// name only its own destination).
pub struct MonitorTarget {
    pub target: Target,
    /// The page was asked about a destination by name.
    pub named: bool,
}

/// The `destination` parameter of a query string, if it has one.
fn named_destination(query: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "destination")
        .map(|(_, value)| value.into_owned())
}

impl FromRequest for MonitorTarget {
    type Error = actix_web::Error;
    type Future = Extracted<MonitorTarget>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let Some(named) = named_destination(request.query_string()) else {
            let target = DestinationTarget::from_request(request, payload);
            return Box::pin(async move {
                Ok(MonitorTarget {
                    target: target.await?.0,
                    named: false,
                })
            });
        };
        let parts = parts(request);
        Box::pin(async move {
            let destination = DestinationName::parse(&named)
                .map_err(|reason| WebError::BadRequest(format!("destination: {reason}")))?;
            let parts = parts?;
            let Some((account, install)) =
                installed(parts.enable.store(), &parts.session, parts.account).await?
            else {
                return Err(go_home(&parts.session));
            };
            let source = destination.source();
            if Some(&source.workspace()) != install.workspace() {
                return Err(WebError::BadRequest(
                    "that destination is not on the installed workspace".into(),
                )
                .into());
            }
            let own = install
                .source()
                .map(|s| s.destination(&parts.partner.destination_slug));
            if install.scope.names_a_source() && own.as_ref() != Some(&destination) {
                return Err(WebError::OneDestinationOnly(install.scope.to_string()).into());
            }
            Ok(MonitorTarget {
                target: Target {
                    account,
                    install,
                    source,
                    destination,
                },
                named: true,
            })
        })
    }
}

/// What every extractor here needs from the request.
struct Parts {
    enable: web::Data<Enable>,
    partner: web::Data<Partner>,
    session: TypedSession,
    account: Option<CurrentAccount>,
}

fn parts(request: &HttpRequest) -> Result<Parts, actix_web::Error> {
    let missing = || WebError::Session("the app's state is missing".into());
    Ok(Parts {
        enable: request.app_data().cloned().ok_or_else(missing)?,
        partner: request.app_data().cloned().ok_or_else(missing)?,
        session: TypedSession::from_request(request, &mut Payload::None).into_inner()?,
        account: request.extensions().get::<CurrentAccount>().cloned(),
    })
}

/// Not connected: the home page, with the reason when the visitor has a session.
fn go_home(session: &TypedSession) -> actix_web::Error {
    match not_connected(session) {
        Ok(redirect) => InternalError::from_response("not connected", redirect).into(),
        Err(error) => error.into(),
    }
}

impl FromRequest for Connected {
    type Error = actix_web::Error;
    type Future = Extracted<Connected>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let parts = parts(request);
        Box::pin(async move {
            let parts = parts?;
            match installed(parts.enable.store(), &parts.session, parts.account).await? {
                Some((account, install)) => Ok(Connected { account, install }),
                None => Err(go_home(&parts.session)),
            }
        })
    }
}

/// The target the request is about: `None` while a wider scope has no source picked yet. A
/// visitor who is not connected is sent home.
async fn target(
    parts: Result<Parts, actix_web::Error>,
) -> Result<Option<Target>, actix_web::Error> {
    let Parts {
        enable,
        partner,
        session,
        account,
    } = parts?;
    match resolve(enable.store(), &partner.destination_slug, &session, account).await? {
        Resolved::Target(target) => Ok(Some(*target)),
        Resolved::NotConnected => Err(go_home(&session)),
        Resolved::PickSource(..) => Ok(None),
    }
}

impl FromRequest for DestinationTarget {
    type Error = actix_web::Error;
    type Future = Extracted<DestinationTarget>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let parts = parts(request);
        Box::pin(async move {
            match target(parts).await? {
                Some(target) => Ok(DestinationTarget(target)),
                // The destination page shows the source picker.
                None => Err(InternalError::from_response(
                    "no source picked",
                    see_other("/destination"),
                )
                .into()),
            }
        })
    }
}

impl FromRequest for WritableTarget {
    type Error = actix_web::Error;
    type Future = Extracted<WritableTarget>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let parts = parts(request);
        Box::pin(async move {
            let target = target(parts).await?.ok_or_else(|| {
                WebError::BadRequest("pick a source on the destination page first".into())
            })?;
            if !target.install.scope.can_write() {
                return Err(WebError::ReadOnly(target.install.scope.to_string()).into());
            }
            Ok(WritableTarget(target))
        })
    }
}

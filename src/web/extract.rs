//! What a destination handler starts from, as extractors, so that each handler opens with its
//! action instead of the same resolve-the-install-and-target steps:
//! - [`Connected`]: the visitor's account and the install in use;
//! - [`DestinationTarget`]: that, plus the source and destination the page is about;
//! - [`WritableTarget`]: the same, for a write (a read-only install is refused before anything
//!   is sent to Segment).
//!
//! A visitor who is not connected is sent to the home page ("Connect with Segment first.");
//! other failures are the usual error page.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::error::InternalError;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};

use super::AppState;
use super::account::CurrentAccount;
use super::destination::{Resolved, Target, installed, not_connected, resolve};
use super::error::WebError;
use super::see_other;
use super::session::TypedSession;
use crate::segment::InstallToken;

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

/// What every extractor here needs from the request.
fn parts(
    request: &HttpRequest,
) -> Result<(web::Data<AppState>, TypedSession, Option<CurrentAccount>), actix_web::Error> {
    let state = request
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| WebError::Session("the app's state is missing".into()))?;
    let session = TypedSession::from_request(request, &mut Payload::None).into_inner()?;
    let account = request.extensions().get::<CurrentAccount>().cloned();
    Ok((state, session, account))
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
            let (state, session, account) = parts?;
            match installed(&state, &session, account).await? {
                Some((account, install)) => Ok(Connected { account, install }),
                None => Err(go_home(&session)),
            }
        })
    }
}

/// The target the request is about: `None` while a wider scope has no source picked yet. A
/// visitor who is not connected is sent home.
async fn target(
    parts: Result<(web::Data<AppState>, TypedSession, Option<CurrentAccount>), actix_web::Error>,
) -> Result<Option<Target>, actix_web::Error> {
    let (state, session, account) = parts?;
    match resolve(&state, &session, account).await? {
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

//! Who your signed-in user is: the [`Users`] trait. The library never makes accounts; it asks
//! you who is signed in, carries that user through the flow, and stores the install for them.

use std::fmt::Debug;
use std::future::Future;

use actix_web::HttpRequest;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A failure of your login (a database that did not answer, say), passed on to
/// [`Hooks::failed`](crate::Hooks::failed) as [`FlowError::Users`](crate::FlowError::Users):
/// your hook can downcast it back to your own error type.
pub type UserError = Box<dyn std::error::Error + Send + Sync>;

/// Your notion of the signed-in user.
///
/// The flow starts for the user [`Users::signed_in`] names and finishes only for that same
/// user: their id rides in the flow's sealed cookie (so it must serialize), and the callback
/// checks it against who is signed in then.
pub trait Users: 'static {
    /// Your user's id: a database key, a tenant and user pair, an email.
    type Id: Clone + PartialEq + Debug + Serialize + DeserializeOwned + 'static;

    /// The user signed in on `request`, if anyone. An `Err` is a failure of your login.
    fn signed_in(
        &self,
        request: &HttpRequest,
    ) -> impl Future<Output = Result<Option<Self::Id>, UserError>>;

    /// Whether a visitor nobody is signed in as may start the flow, to be given a user by
    /// [`Users::sign_up`] when Segment says yes. Default: no (the flow answers
    /// [`FlowError::SignInFirst`](crate::FlowError::SignInFirst) at once).
    fn signs_up(&self) -> bool {
        false
    }

    /// Segment said yes to a visitor nobody is signed in as: the user who holds the install,
    /// if you make one now. Called only when [`Users::signs_up`] is true. Default: nobody.
    fn sign_up(
        &self,
        _request: &HttpRequest,
    ) -> impl Future<Output = Result<Option<Self::Id>, UserError>> {
        async { Ok(None) }
    }
}

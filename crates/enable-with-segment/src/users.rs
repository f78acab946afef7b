//! Who your signed-in user is: the [`Users`] trait. The library never makes accounts; it asks
//! you who is signed in, carries that user through the flow, and stores the install for them.

use std::fmt::Debug;
use std::future::Future;

use actix_web::HttpRequest;
use actix_web::cookie::Cookie;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Your notion of the signed-in user.
///
/// The flow starts for the user [`Users::signed_in`] names and finishes only for that same
/// user: their id rides in the flow's sealed cookie (so it must serialize), and the callback
/// checks it against who is signed in then.
pub trait Users: Send + Sync + 'static {
    /// Your user's id: a database key, a tenant and user pair, an email. The library's
    /// `sql::SqlStore` keys installs by its `Display`.
    type Id: Clone + PartialEq + Debug + Serialize + DeserializeOwned + Send + Sync + 'static;

    /// A failure of your login (a database that did not answer, say): it reaches
    /// [`Hooks::failed`](crate::Hooks::failed) as [`FlowError::Users`](crate::FlowError::Users).
    /// [`std::convert::Infallible`] if yours cannot fail.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The user signed in on `request`, if anyone.
    fn signed_in(
        &self,
        request: &HttpRequest,
    ) -> impl Future<Output = Result<Option<Self::Id>, Self::Error>>;

    /// Whether a visitor nobody is signed in as may start the flow, to be given a user by
    /// [`Users::sign_up`] when Segment says yes. Default: no (the flow answers
    /// [`FlowError::SignInFirst`](crate::FlowError::SignInFirst) at once).
    fn signs_up(&self) -> bool {
        false
    }

    /// Whether [`Users::sign_up`] may make a user for this visitor: asked at the callback
    /// before the code is exchanged, so that a refusal (a limit on new users, say) leaves
    /// nothing installed in Segment. An `Err` ends the flow with
    /// [`FlowError::Users`](crate::FlowError::Users). Called only when [`Users::signs_up`] is
    /// true. Default: yes.
    fn may_sign_up(&self, _request: &HttpRequest) -> impl Future<Output = Result<(), Self::Error>> {
        async { Ok(()) }
    }

    /// Segment said yes to a visitor nobody is signed in as: the user who holds the install,
    /// if you make one now (with a cookie for the response, if your login needs one). Called
    /// only when [`Users::signs_up`] is true. Default: nobody.
    fn sign_up(
        &self,
        _request: &HttpRequest,
    ) -> impl Future<Output = Result<Option<NewUser<Self::Id>>, Self::Error>> {
        async { Ok(None) }
    }
}

/// A user [`Users::sign_up`] made at the callback.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NewUser<Id> {
    /// Their id: the install is stored for them.
    pub id: Id,
    /// A cookie that signs them in, set on the callback's response whatever it is.
    pub cookie: Option<Cookie<'static>>,
}

impl<Id> NewUser<Id> {
    /// The user `id`, signed in by your session (no cookie of the library's to set).
    pub fn new(id: Id) -> NewUser<Id> {
        NewUser { id, cookie: None }
    }

    /// The user `id`, with `cookie` set on the callback's response.
    pub fn with_cookie(id: Id, cookie: Cookie<'static>) -> NewUser<Id> {
        NewUser {
            id,
            cookie: Some(cookie),
        }
    }
}

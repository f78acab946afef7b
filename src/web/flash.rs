//! The flash message: one sentence shown once, on the next page ("Connected to Segment…",
//! "Saved 1 setting."). It rides in a cookie of its own, encrypted and signed with the cookie
//! key like the session's id (actix-web's private cookies), rather than in the server session:
//! the page that shows it then writes nothing to the session store. Kept in the session, every
//! page after an action (and the page an install lands on) was a session write, only to take
//! the message out (one database write per install flow less: BENCHMARKS.md).
//!
//! Why not actix-web-flash-messages (the crate for this): its middleware `unwrap()`s a failure of
//! its cookie store, so a message too long for a cookie panics the worker, and it adds a removal
//! cookie to every response it wraps, where `/healthz` and `/readyz` must set none.
//!
//! [`carry`] (the middleware, around the app's pages) reads the cookie into the request's
//! [`Mailbox`]; handlers put and take messages through `TypedSession::flash` and
//! `TypedSession::take_flash`; the response sets the cookie for a new message, or removes it
//! once its message was shown. A cookie that does not open (altered, or another key) is
//! removed and shows nothing.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use actix_web::HttpMessage;
use actix_web::body::MessageBody;
use actix_web::cookie::Cookie;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use serde::{Deserialize, Serialize};

use enable_with_segment::{SealedCookies, cookie_name, site_cookie};

const COOKIE: &str = "partnerapp_flash";
/// A longer message is cut here (with "…"): the cookie stays well under a browser's 4 KiB.
pub const MAX_CHARS: usize = 1000;

/// A message shown once, on the next page.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Flash {
    pub kind: FlashKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum FlashKind {
    Success,
    Info,
    Error,
}

impl FlashKind {
    /// The CSS class of the message box.
    pub fn class(&self) -> &'static str {
        match self {
            FlashKind::Success => "success",
            FlashKind::Info => "info",
            FlashKind::Error => "error",
        }
    }
}

/// One request's flash messages: the one that came in (until a page takes it) and the one to
/// send (the last one put wins).
#[derive(Debug, Default)]
pub struct Mailbox {
    incoming: RefCell<Option<Flash>>,
    outgoing: RefCell<Option<Flash>>,
    /// A page asked for the incoming message: its cookie goes.
    taken: Cell<bool>,
}

impl Mailbox {
    /// The mailbox of a request (put there by [`carry`]).
    pub fn of(request: &impl HttpMessage) -> Option<Rc<Mailbox>> {
        request.extensions().get::<Rc<Mailbox>>().cloned()
    }

    /// Sends `flash` with the response, instead of any message put before.
    pub fn put(&self, mut flash: Flash) {
        if let Some((cut, _)) = flash.message.char_indices().nth(MAX_CHARS) {
            flash.message.truncate(cut);
            flash.message.push('…');
        }
        *self.outgoing.borrow_mut() = Some(flash);
    }

    /// The message that came in, taken out: it shows once.
    pub fn take(&self) -> Option<Flash> {
        self.taken.set(true);
        self.incoming.borrow_mut().take()
    }
}

/// The middleware: the request's [`Mailbox`] in, the cookie out.
pub async fn carry(
    config: SealedCookies,
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let name = cookie_name(COOKIE, config.https);
    let cookie = request.cookie(&name);
    let incoming = cookie.as_ref().and_then(|c| open(&config, c));
    let unreadable = cookie.is_some() && incoming.is_none();
    let mailbox = Rc::new(Mailbox {
        incoming: RefCell::new(incoming),
        ..Mailbox::default()
    });
    request.extensions_mut().insert(mailbox.clone());
    let mut response = next.call(request).await?;
    let outgoing = mailbox.outgoing.borrow_mut().take();
    let set = match outgoing {
        Some(flash) => Some(seal(&config, &name, &flash)),
        None if cookie.is_some() && (unreadable || mailbox.taken.get()) => {
            Some(config.removal(COOKIE))
        }
        None => None,
    };
    if let Some(cookie) = set {
        response
            .response_mut()
            .add_cookie(&cookie)
            .map_err(actix_web::error::ErrorInternalServerError)?;
    }
    Ok(response)
}

/// The flash cookie holding `flash`, sealed, with the attributes of the app's other cookies.
fn seal(config: &SealedCookies, name: &str, flash: &Flash) -> Cookie<'static> {
    // A struct of a string and an enum always serializes.
    let json = serde_json::to_string(flash).unwrap_or_default();
    config.seal(site_cookie(name.to_owned(), json, config.https).finish())
}

fn open(config: &SealedCookies, cookie: &Cookie<'_>) -> Option<Flash> {
    serde_json::from_str(&config.open(cookie)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::cookie::Key;

    fn config() -> SealedCookies {
        SealedCookies {
            key: Key::generate(),
            https: false,
        }
    }

    #[test]
    fn a_sealed_flash_opens_with_its_key_only() {
        let config = config();
        let flash = Flash {
            kind: FlashKind::Success,
            message: "Saved 1 setting.".to_owned(),
        };
        let sealed = seal(&config, COOKIE, &flash);
        assert!(!sealed.value().contains("Saved"), "{}", sealed.value());
        assert_eq!(open(&config, &sealed), Some(flash));
        assert_eq!(open(&self::config(), &sealed), None);
        let mut altered = sealed.clone();
        altered.set_value(format!("A{}", sealed.value()));
        assert_eq!(open(&config, &altered), None);
    }

    #[test]
    fn a_long_message_is_cut() {
        let mailbox = Mailbox::default();
        mailbox.put(Flash {
            kind: FlashKind::Error,
            message: "é".repeat(5000),
        });
        let sent = mailbox.outgoing.borrow().clone().unwrap();
        assert_eq!(sent.message.chars().count(), MAX_CHARS + 1);
        assert!(sent.message.ends_with('…'));
        let sealed = seal(&config(), COOKIE, &sent);
        assert!(
            sealed.to_string().len() < 4000,
            "{}",
            sealed.to_string().len()
        );
    }
}

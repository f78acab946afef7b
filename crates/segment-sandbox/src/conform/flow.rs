//! The scenarios of the flow itself: the install, PKCE, the state, a replayed callback, a
//! denial and an install that exists.

use url::Url;

use super::Kit;
use super::browser::{Browser, Landing, Page};
use super::report::Status;
use super::scenarios::{
    ALREADY, DENIAL, Step, Verdict, after_hops, deliver, refused_by_segment, refused_on_redirect,
    with_param,
};
use crate::journal::ClientAuth;
use crate::{AutoConsent, pkce_s256};

impl Kit {
    pub(super) async fn install(&self) -> Step<Verdict> {
        let (browser, user) = self.browser();
        let authorize = self.begin(&browser, user).await?;
        let callback = self
            .allow_on_the_consent_screen(&browser, &authorize)
            .await?;
        let mark = self.sandbox.journal_mark();
        let page = deliver(&browser, &callback).await?;
        let exchanges = self.token_calls(mark);
        let Some(exchange) = exchanges.first().and_then(|call| call.exchange.as_ref()) else {
            return Ok(Verdict::failed(format!(
                "the callback answered {} without exchanging the code",
                page.status.as_u16()
            )));
        };
        if exchanges.len() > 1 {
            return Ok(Verdict::failed(format!(
                "{} token calls for one code",
                exchanges.len()
            )));
        }
        match exchange.client_auth {
            ClientAuth::Basic => {}
            ClientAuth::Form => {
                return Ok(Verdict::failed(
                    "the token call sent client_secret in the form; Segment takes the client id \
                     and secret in an HTTP Basic Authorization header",
                ));
            }
            ClientAuth::Missing => {
                return Ok(Verdict::failed(
                    "the token call did not authenticate the client",
                ));
            }
        }
        let registered = self.target.redirect_url.as_str();
        if exchange.redirect_uri.as_deref() != Some(registered) {
            return Ok(Verdict::failed(format!(
                "the token call's redirect_uri is {:?}, not the registered {registered:?}",
                exchange.redirect_uri.as_deref().unwrap_or("(none)")
            )));
        }
        let status = exchanges[0].status;
        if status != 200 {
            return Ok(Verdict::failed(format!(
                "Segment refused the code exchange ({status})"
            )));
        }
        if page.status.as_u16() >= 400 {
            return Ok(Verdict::failed(format!(
                "the code was exchanged, then the callback answered {}",
                page.status.as_u16()
            )));
        }
        Ok(Verdict::passed(format!(
            "1 token call (HTTP Basic, redirect_uri as registered); the callback answered {}{}",
            page.status.as_u16(),
            after_hops(&page)
        )))
    }

    /// The real consent screen, as a browser gets it: Allow, on a new workspace (and source).
    /// The callback Segment sends the browser to.
    async fn allow_on_the_consent_screen(
        &self,
        browser: &Browser,
        authorize: &super::scenarios::Authorize,
    ) -> Step<Url> {
        // The real consent screen, as a browser gets it.
        let landing = browser
            .open(&authorize.url, |url| self.is_callback(url))
            .await
            .map_err(|e| Verdict::failed(format!("Segment's consent screen: {e}")))?;
        let consent = match landing {
            Landing::Page(page) if page.status.is_success() => page,
            Landing::Page(page) => return Err(refused_by_segment(&page)),
            Landing::Stopped(callback) => return Err(refused_on_redirect(&callback)),
        };
        let (workspace, source) = self.workspace();
        let mut choice = vec![
            ("workspace".to_owned(), workspace),
            ("decision".to_owned(), "allow".to_owned()),
        ];
        choice.extend(source.map(|source| ("source".to_owned(), source)));
        let form = consent
            .form(&choice)
            .ok_or_else(|| Verdict::failed("the consent screen has no form"))?;
        match browser
            .submit(&form, |url| self.is_callback(url))
            .await
            .map_err(|e| Verdict::failed(format!("Allow on the consent screen: {e}")))?
        {
            Landing::Stopped(callback) => Ok(callback),
            Landing::Page(page) => Err(refused_by_segment(&page)),
        }
    }

    pub(super) async fn pkce(&self) -> Step<Verdict> {
        let (browser, user) = self.browser();
        let authorize = self.begin(&browser, user).await?;
        let challenge = authorize.params.get("code_challenge");
        let method = authorize
            .params
            .get("code_challenge_method")
            .map(String::as_str);
        if challenge.is_none() {
            return Ok(Verdict::warning(
                "no code_challenge in the authorization request: with PKCE (S256) a stolen code \
                 is useless to whoever stole it",
            ));
        }
        if method != Some("S256") {
            return Ok(Verdict::failed(format!(
                "code_challenge_method is {:?}; Segment takes S256",
                method.unwrap_or("(none, meaning plain)")
            )));
        }
        let callback = self.allowed(&browser, &authorize).await?;
        let mark = self.sandbox.journal_mark();
        deliver(&browser, &callback).await?;
        let exchanges = self.token_calls(mark);
        match exchanges.first() {
            None => Ok(Verdict::failed("the code was not exchanged")),
            Some(call) if !call.exchange.as_ref().is_some_and(|e| e.code_verifier) => Ok(
                Verdict::failed("the token call sent no code_verifier for the S256 challenge"),
            ),
            Some(call) if call.status == 401 => Ok(Verdict::failed(
                "the token call's client authentication was refused (401), so the verifier was \
                 never checked: see install",
            )),
            Some(call) if call.status != 200 => Ok(Verdict::failed(format!(
                "the token call got {}: the code_verifier does not match the S256 challenge",
                call.status
            ))),
            Some(_) => Ok(Verdict::passed(
                "an S256 code_challenge, and its verifier at the token call",
            )),
        }
    }

    /// Delivers the flow's callback changed by `change` (given the callback and the flow's
    /// state): the app must refuse it with a 4xx page, and not exchange the code.
    pub(super) async fn refused_callback(
        &self,
        how: &str,
        change: impl Fn(&Url, &str) -> Url,
    ) -> Step<Verdict> {
        let (browser, user) = self.browser();
        let authorize = self.begin(&browser, user).await?;
        let Some(state) = authorize.state().map(str::to_owned) else {
            return Ok(Verdict::failed(
                "the authorization request carries no state",
            ));
        };
        let callback = self.allowed(&browser, &authorize).await?;
        let mark = self.sandbox.journal_mark();
        let page = deliver(&browser, &change(&callback, &state)).await?;
        Ok(self.judge_refusal(mark, &page, &format!("a callback {how}")))
    }

    /// A refused callback: no token call since `mark`, and a 4xx page.
    pub(super) fn judge_refusal(&self, mark: u64, page: &Page, what: &str) -> Verdict {
        let status = page.status.as_u16();
        if !self.token_calls(mark).is_empty() {
            return Verdict::failed(format!(
                "the app exchanged the code of {what} (the callback answered {status})"
            ));
        }
        if !(400..500).contains(&status) {
            return Verdict::failed(format!(
                "no token call, but the callback answered {status}; refusing {what} is a 4xx page"
            ));
        }
        Verdict::passed(format!(
            "no token call; the callback answered {status}{}",
            after_hops(page)
        ))
    }

    pub(super) async fn state_reused(&self) -> Step<Verdict> {
        // The first browser starts a flow and gets its code, and goes no further.
        let (first, user) = self.browser();
        let authorize = self.begin(&first, user).await?;
        let Some(first_state) = authorize.state().map(str::to_owned) else {
            return Ok(Verdict::failed(
                "the authorization request carries no state",
            ));
        };
        // A second browser starts its own flow; its callback comes back with the first state.
        let (second, user) = self.browser();
        let authorize = self.begin(&second, user).await?;
        let same = authorize.state() == Some(first_state.as_str());
        let callback = self.allowed(&second, &authorize).await?;
        let mark = self.sandbox.journal_mark();
        let page = deliver(&second, &with_param(&callback, "state", Some(&first_state))).await?;
        let verdict = self.judge_refusal(mark, &page, "a callback with another browser's state");
        if verdict.status != Status::Failed || self.token_calls(mark).is_empty() {
            return Ok(verdict);
        }
        Ok(Verdict::failed(if same {
            "both browsers' flows got the same state, so the second browser's callback carrying \
             it was exchanged: make a state per flow, kept with the browser that started it"
        } else {
            "another browser's state was taken and the code exchanged: keep each flow's state \
             with the browser that started it (a cookie or its session)"
        }))
    }

    pub(super) async fn callback_replay(&self) -> Step<Verdict> {
        let (browser, user) = self.browser();
        let authorize = self.begin(&browser, user).await?;
        let callback = self.allowed(&browser, &authorize).await?;
        let code = callback
            .query_pairs()
            .find(|(name, _)| name == "code")
            .map(|(_, code)| pkce_s256(&code));
        // What an attacker could keep: a copy of the browser's cookies as the callback found
        // them.
        let saved = browser.cookies_for(&callback);
        let mark = self.sandbox.journal_mark();
        let first = deliver(&browser, &callback).await?;
        if first.status.as_u16() >= 400 {
            return Ok(Verdict::failed(format!(
                "the first callback answered {}",
                first.status.as_u16()
            )));
        }
        let again = deliver(&browser, &callback).await?;
        // And with the saved copy of the cookies, in another browser.
        let copy = match &saved {
            Some(cookies) => Browser::with_cookies(self.target.timeout, &callback, cookies),
            None => Browser::new(self.target.timeout),
        };
        let replayed = deliver(&copy, &callback).await?;
        let exchanges = self.token_calls(mark);
        let of_this_code = exchanges
            .iter()
            .filter(|call| call.exchange.as_ref().and_then(|e| e.code_hash.clone()) == code)
            .count();
        let status = again.status.as_u16();
        if of_this_code > 1 {
            return Ok(Verdict::failed(format!(
                "the callback, reloaded or replayed with a saved copy of its cookies, exchanged \
                 the same code again ({of_this_code} token calls; Segment refuses a used code): \
                 make each state work once on the server's side"
            )));
        }
        if exchanges.len() > 1 {
            return Ok(Verdict::failed(format!(
                "{} token calls for one callback, its reload and its replay",
                exchanges.len()
            )));
        }
        let copied = replayed.status.as_u16();
        if status >= 500 || copied >= 500 {
            return Ok(Verdict::failed(format!(
                "one token call, but the reload answered {status} and the saved copy {copied}"
            )));
        }
        Ok(Verdict::passed(format!(
            "one token call; the reload answered {status}{} and a saved copy of the cookies \
             {copied}, without calling Segment",
            after_hops(&again)
        )))
    }

    pub(super) async fn consent_denied(&self) -> Step<Verdict> {
        let (browser, user) = self.browser();
        let authorize = self.begin(&browser, user).await?;
        let callback = self
            .consent(&browser, &authorize, AutoConsent::Deny)
            .await?;
        let mark = self.sandbox.journal_mark();
        let page = deliver(&browser, &callback).await?;
        let calls = self.sandbox.calls_since(mark);
        let status = page.status.as_u16();
        if let Some(call) = calls.first() {
            return Ok(Verdict::failed(format!(
                "after a denial the app called Segment: {} {} ({} calls)",
                call.method,
                call.path,
                calls.len()
            )));
        }
        if status >= 500 {
            return Ok(Verdict::failed(format!(
                "no call to Segment, but the page answered {status}"
            )));
        }
        if !page.says(&DENIAL) {
            return Ok(Verdict::warning(format!(
                "no call to Segment; the page ({status}) does not say the owner declined"
            )));
        }
        Ok(Verdict::passed(format!(
            "no call to Segment; the page ({status}) says the owner declined"
        )))
    }

    pub(super) async fn install_exists(&self) -> Step<Verdict> {
        let (workspace, source) = self.workspace();
        // Someone installed the App on this workspace before.
        self.sandbox
            .world()
            .install_earlier(&workspace, source.clone());
        let (browser, user) = self.browser();
        let authorize = self.begin(&browser, user).await?;
        let callback = self
            .consent(
                &browser,
                &authorize,
                AutoConsent::Allow { workspace, source },
            )
            .await?;
        let mark = self.sandbox.journal_mark();
        let page = deliver(&browser, &callback).await?;
        let status = page.status.as_u16();
        let exchanges = self.token_calls(mark);
        if exchanges.is_empty() {
            return Ok(Verdict::failed(format!(
                "the code was not exchanged (the callback answered {status})"
            )));
        }
        if status >= 500 {
            return Ok(Verdict::failed(format!(
                "Segment answered \"install already exists\" and the app answered {status}: it \
                 is the customer's situation to explain, not an outage"
            )));
        }
        if !page.says(&ALREADY) {
            return Ok(Verdict::warning(format!(
                "\"install already exists\": the page ({status}) does not explain that the App \
                 is installed on the workspace already"
            )));
        }
        Ok(Verdict::passed(format!(
            "\"install already exists\": the page ({status}) explains"
        )))
    }
}

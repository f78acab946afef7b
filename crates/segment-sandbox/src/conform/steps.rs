//! The steps scenarios are made of: sign in, start the flow, let Segment consent, deliver the
//! callback, make an install.

use url::Url;

use super::Kit;
use super::browser::{Browser, Landing, Page, path};
use super::scenarios::{Authorize, Installed, Step, Verdict, deliver, refused_by_segment};
use crate::AutoConsent;
use crate::faults::Endpoint;
use crate::journal::Call;

impl Kit {
    /// Whether `url` is the sandbox's authorization endpoint.
    pub(super) fn is_authorize(&self, url: &Url) -> bool {
        url.origin() == self.base.origin() && url.path() == "/oauth2/auth"
    }

    /// Whether `url` is the App's redirect URL (the callback), whatever its query.
    pub(super) fn is_callback(&self, url: &Url) -> bool {
        let registered = &self.target.redirect_url;
        url.origin() == registered.origin() && url.path() == registered.path()
    }

    /// A new workspace (one per scenario: the App installs once per workspace), and the source
    /// to pick when the scope names one.
    pub(super) fn workspace(&self) -> (String, Option<String>) {
        let n = self.made.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let slug = format!("conform-{n}");
        let _ = self
            .sandbox
            .add_workspace(&slug, &format!("Conformance workspace {n}"));
        let source = self
            .sandbox
            .world()
            .app
            .scope
            .names_a_source()
            .then(|| "javascript".to_owned());
        (slug, source)
    }

    /// Signs the browser in (when the app has a login), then opens the start URL and follows
    /// the app's redirects to Segment's authorization endpoint.
    pub(super) async fn begin(&self, browser: &Browser, user: usize) -> Step<Authorize> {
        if let Some((login, fields)) = &self.target.login {
            self.sign_in(browser, login, fields, user).await?;
        }
        let stop = |url: &Url| self.is_authorize(url) || self.is_callback(url);
        let landing = browser
            .open(&self.target.start, stop)
            .await
            .map_err(|e| Verdict::failed(format!("the start URL: {e}")))?;
        let url = match landing {
            Landing::Stopped(url) if self.is_authorize(&url) => url,
            Landing::Stopped(url) => {
                return Err(Verdict::failed(format!(
                    "the start URL sent the browser to {} rather than to Segment",
                    path(&url)
                )));
            }
            // A page with the button: a link to Segment, or a form that starts the flow.
            Landing::Page(page) => self.through_button(browser, page).await?,
        };
        let params = url.query_pairs().into_owned().collect();
        Ok(Authorize { url, params })
    }

    /// From a page (the start URL answered one), on to Segment through its link or its form.
    pub(super) async fn through_button(&self, browser: &Browser, page: Page) -> Step<Url> {
        if !page.status.is_success() {
            return Err(Verdict::failed(format!(
                "the start URL answered {} ({})",
                page.status.as_u16(),
                path(&page.url)
            )));
        }
        if let Some(link) = page.targets().into_iter().find(|t| self.is_authorize(t)) {
            return Ok(link);
        }
        let stop = |url: &Url| self.is_authorize(url) || self.is_callback(url);
        if let Some(form) = page.form(&[])
            && let Ok(Landing::Stopped(url)) = browser.submit(&form, stop).await
            && self.is_authorize(&url)
        {
            return Ok(url);
        }
        Err(Verdict::failed(format!(
            "the start URL answered {} with a page that does not lead to Segment",
            page.status.as_u16()
        )))
    }

    /// Signs in at `login` with `fields` (`{user}` becomes this browser's user).
    pub(super) async fn sign_in(
        &self,
        browser: &Browser,
        login: &Url,
        fields: &[(String, String)],
        user: usize,
    ) -> Step<()> {
        let fields: Vec<(String, String)> = fields
            .iter()
            .map(|(name, value)| {
                (
                    name.clone(),
                    value.replace("{user}", &format!("conform-user-{user}")),
                )
            })
            .collect();
        let fail = |what: String| Verdict::failed(format!("signing in at {}: {what}", path(login)));
        let page = browser.page(login).await.map_err(fail)?;
        let form = page
            .form(&fields)
            .ok_or_else(|| fail("the page has no form".to_owned()))?;
        match browser.submit(&form, |_| false).await.map_err(fail)? {
            Landing::Page(page) if page.status.as_u16() < 400 => Ok(()),
            Landing::Page(page) => Err(fail(format!("the form answered {}", page.status.as_u16()))),
            Landing::Stopped(_) => Ok(()),
        }
    }

    /// Opens the authorization request with the sandbox consenting by itself (`consent`), and
    /// returns the callback Segment sends the browser to.
    pub(super) async fn consent(
        &self,
        browser: &Browser,
        authorize: &Authorize,
        consent: AutoConsent,
    ) -> Step<Url> {
        self.sandbox.world().auto_consent = Some(consent);
        let landing = browser
            .open(&authorize.url, |url| self.is_callback(url))
            .await;
        self.sandbox.world().auto_consent = None;
        match landing.map_err(|e| Verdict::failed(format!("Segment's consent: {e}")))? {
            Landing::Stopped(callback) => Ok(callback),
            Landing::Page(page) => Err(refused_by_segment(&page)),
        }
    }

    /// The sandbox allows the authorization request, on a new workspace (and source): the
    /// callback it sends the browser to.
    pub(super) async fn allowed(&self, browser: &Browser, authorize: &Authorize) -> Step<Url> {
        let (workspace, source) = self.workspace();
        self.consent(browser, authorize, AutoConsent::Allow { workspace, source })
            .await
    }

    /// A browser that went through the flow (the sandbox allowing, on a new workspace), with
    /// the install the app made.
    pub(super) async fn installed(&self) -> Step<Installed> {
        let (browser, user) = self.browser();
        let authorize = self.begin(&browser, user).await?;
        let callback = self.allowed(&browser, &authorize).await?;
        let mark = self.sandbox.journal_mark();
        let page = deliver(&browser, &callback).await?;
        let exchange = self
            .sandbox
            .calls_since(mark)
            .into_iter()
            .find(|call| call.endpoint == Endpoint::Token && call.status == 200);
        match exchange.and_then(|call| call.install) {
            Some(install) if page.status.as_u16() < 400 => Ok(Installed { browser, install }),
            Some(_) => Err(Verdict::failed(format!(
                "the callback answered {} after the code was exchanged",
                page.status.as_u16()
            ))),
            None => Err(Verdict::failed(format!(
                "the callback answered {} and no code exchange succeeded",
                page.status.as_u16()
            ))),
        }
    }

    /// The token endpoint's calls since `mark`.
    pub(super) fn token_calls(&self, mark: u64) -> Vec<Call> {
        self.sandbox
            .calls_since(mark)
            .into_iter()
            .filter(|call| call.endpoint == Endpoint::Token)
            .collect()
    }
}

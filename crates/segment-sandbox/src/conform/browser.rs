//! The kit's user agent: a cookie jar, redirects followed one by one (at most [`MAX_HOPS`]),
//! every request bounded in time and every body in size, and forms read from pages and
//! submitted as a browser would. No JavaScript, no browser.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::cookie::Jar;
use reqwest::{Method, StatusCode, header};
use scraper::{ElementRef, Html, Selector};
use url::Url;

/// How many redirects one click may follow before it is called a loop.
pub const MAX_HOPS: usize = 10;
/// How much of a page is read.
const MAX_BODY: usize = 1 << 20;

/// One browser: its own cookies.
pub struct Browser {
    http: reqwest::Client,
    jar: Arc<Jar>,
    timeout: Duration,
}

/// A page the browser landed on.
#[derive(Debug, Clone)]
pub struct Page {
    /// Where it was answered from (after the redirects).
    pub url: Url,
    /// Its status.
    pub status: StatusCode,
    /// Its body (the first MiB), as text.
    pub body: String,
    /// From the first request to the answer, redirects included.
    pub elapsed: Duration,
    /// How many redirects led to it.
    pub hops: usize,
}

/// A form as a browser sends it: where, how, and its fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    /// GET or POST.
    pub method: Method,
    /// Its action, resolved against the page's URL.
    pub action: Url,
    /// Its fields, in the page's order.
    pub fields: Vec<(String, String)>,
}

/// Where a click ended.
#[derive(Debug)]
pub enum Landing {
    /// On a page.
    Page(Page),
    /// At a redirect the kit stops at (to Segment, or to the app's callback), not followed.
    Stopped(Url),
}

impl Browser {
    /// A browser with an empty cookie jar, whose requests each wait at most `timeout`.
    pub fn new(timeout: Duration) -> Browser {
        let jar = Arc::new(Jar::default());
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .timeout(timeout)
            .user_agent(concat!(
                "segment-sandbox-conform/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .unwrap_or_default();
        Browser { http, jar, timeout }
    }

    /// The cookies it would send to `url` (`a=1; b=2`), to copy into another browser.
    pub fn cookies_for(&self, url: &Url) -> Option<String> {
        use reqwest::cookie::CookieStore;
        let cookies = self.jar.cookies(url)?;
        cookies.to_str().ok().map(str::to_owned)
    }

    /// A new browser holding a copy of `cookies` (as [`Browser::cookies_for`] gave them) for
    /// `url`: a saved copy of another browser's cookies.
    pub fn with_cookies(timeout: Duration, url: &Url, cookies: &str) -> Browser {
        let browser = Browser::new(timeout);
        for cookie in cookies.split("; ") {
            browser
                .jar
                .add_cookie_str(&format!("{cookie}; Path=/"), url);
        }
        browser
    }

    /// Opens `url` and follows its redirects, stopping before any whose target `stop` picks.
    pub async fn open(&self, url: &Url, stop: impl Fn(&Url) -> bool) -> Result<Landing, String> {
        self.go(Method::GET, url.clone(), None, stop).await
    }

    /// Opens `url` and follows every redirect to a page.
    pub async fn page(&self, url: &Url) -> Result<Page, String> {
        match self.open(url, |_| false).await? {
            Landing::Page(page) => Ok(page),
            Landing::Stopped(url) => Err(format!("stopped at {}", path(&url))),
        }
    }

    /// Submits `form`, then follows as [`Browser::open`].
    pub async fn submit(
        &self,
        form: &Form,
        stop: impl Fn(&Url) -> bool,
    ) -> Result<Landing, String> {
        if form.method == Method::GET {
            let mut url = form.action.clone();
            url.query_pairs_mut().clear().extend_pairs(&form.fields);
            return self.go(Method::GET, url, None, stop).await;
        }
        self.go(
            form.method.clone(),
            form.action.clone(),
            Some(&form.fields),
            stop,
        )
        .await
    }

    async fn go(
        &self,
        mut method: Method,
        mut url: Url,
        mut form: Option<&[(String, String)]>,
        stop: impl Fn(&Url) -> bool,
    ) -> Result<Landing, String> {
        let started = Instant::now();
        for hops in 0..=MAX_HOPS {
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .header(header::ACCEPT, "text/html,*/*;q=0.8");
            if let Some(fields) = form {
                request = request.form(fields);
            }
            let response = request
                .send()
                .await
                .map_err(|e| describe(&method, &url, e, self.timeout))?;
            let status = response.status();
            if status.is_redirection()
                && let Some(location) = response.headers().get(header::LOCATION)
            {
                let next = location
                    .to_str()
                    .ok()
                    .and_then(|l| url.join(l).ok())
                    .ok_or_else(|| {
                        format!(
                            "{method} {} redirected to an unreadable Location",
                            path(&url)
                        )
                    })?;
                if stop(&next) {
                    return Ok(Landing::Stopped(next));
                }
                // As browsers do: a 303 (and a 301/302 after a POST) becomes a GET.
                if status == StatusCode::SEE_OTHER || method == Method::POST {
                    method = Method::GET;
                    form = None;
                }
                url = next;
                continue;
            }
            let body = read_body(response)
                .await
                .map_err(|e| describe(&method, &url, e, self.timeout))?;
            return Ok(Landing::Page(Page {
                url,
                status,
                body,
                elapsed: started.elapsed(),
                hops,
            }));
        }
        Err(format!(
            "more than {MAX_HOPS} redirects from {} (a redirect loop?)",
            path(&url)
        ))
    }
}

/// The body, at most [`MAX_BODY`] of it.
async fn read_body(mut response: reqwest::Response) -> Result<String, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        body.extend_from_slice(&chunk);
        if body.len() >= MAX_BODY {
            body.truncate(MAX_BODY);
            break;
        }
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// A request that got no answer, in one line (its path only: a query may hold a code).
fn describe(method: &Method, url: &Url, error: reqwest::Error, timeout: Duration) -> String {
    let what = if error.is_timeout() {
        format!("got no answer in {} s (--timeout)", timeout.as_secs())
    } else if error.is_connect() {
        "could not connect".to_owned()
    } else {
        format!("failed ({})", error.without_url())
    };
    format!("{method} {} {what}", path(url))
}

/// A URL without its query, for reports.
pub fn path(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.to_string()
}

impl Page {
    /// The page's text (tags dropped, white space collapsed).
    pub fn text(&self) -> String {
        let html = Html::parse_document(&self.body);
        let words: Vec<&str> = html
            .root_element()
            .text()
            .flat_map(str::split_whitespace)
            .collect();
        words.join(" ")
    }

    /// Whether its text says any of `words` (any case).
    pub fn says(&self, words: &[&str]) -> bool {
        let text = self.text().to_lowercase();
        words.iter().any(|w| text.contains(w))
    }

    /// The targets of its links and forms, resolved against its URL.
    pub fn targets(&self) -> Vec<Url> {
        let html = Html::parse_document(&self.body);
        let mut targets = Vec::new();
        for (selector, attribute) in [("a[href]", "href"), ("form[action]", "action")] {
            let Ok(selector) = Selector::parse(selector) else {
                continue;
            };
            targets.extend(
                html.select(&selector)
                    .filter_map(|e| e.value().attr(attribute))
                    .filter_map(|target| self.url.join(target).ok()),
            );
        }
        targets
    }

    /// Its first form that has a field of each name in `fields` (or its first POST form), with
    /// `fields` set over the form's own values.
    pub fn form(&self, fields: &[(String, String)]) -> Option<Form> {
        let html = Html::parse_document(&self.body);
        let forms = Selector::parse("form").ok()?;
        let forms: Vec<ElementRef> = html.select(&forms).collect();
        let has_all = |form: &ElementRef| {
            let own = form_fields(form);
            fields
                .iter()
                .all(|(name, _)| own.iter().any(|(n, _)| n == name))
        };
        let is_post = |form: &ElementRef| {
            form.value()
                .attr("method")
                .is_some_and(|m| m.eq_ignore_ascii_case("post"))
        };
        let form = forms
            .iter()
            .find(|f| has_all(f))
            .or_else(|| forms.iter().find(|f| is_post(f)))?;
        let method = if is_post(form) {
            Method::POST
        } else {
            Method::GET
        };
        let action = match form.value().attr("action") {
            Some(action) if !action.is_empty() => self.url.join(action).ok()?,
            _ => self.url.clone(),
        };
        let mut values = form_fields(form);
        for (name, value) in fields {
            match values.iter_mut().find(|(n, _)| n == name) {
                Some(slot) => slot.1 = value.clone(),
                None => values.push((name.clone(), value.clone())),
            }
        }
        Some(Form {
            method,
            action,
            fields: values,
        })
    }
}

/// A form's fields as a browser would send them without a click: inputs (checked boxes only,
/// no buttons), text areas, and each select's chosen (or first) option.
fn form_fields(form: &ElementRef) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    let Ok(controls) = Selector::parse("input[name], select[name], textarea[name]") else {
        return fields;
    };
    for control in form.select(&controls) {
        let element = control.value();
        let Some(name) = element.attr("name") else {
            continue;
        };
        let value = match element.name() {
            "select" => {
                let Ok(options) = Selector::parse("option") else {
                    continue;
                };
                let options: Vec<ElementRef> = control.select(&options).collect();
                let chosen = options
                    .iter()
                    .find(|o| o.value().attr("selected").is_some())
                    .or(options.first());
                chosen.map(|o| {
                    o.value()
                        .attr("value")
                        .map(str::to_owned)
                        .unwrap_or_else(|| o.text().collect())
                })
            }
            "textarea" => Some(control.text().collect()),
            _ => {
                let kind = element.attr("type").unwrap_or("text").to_ascii_lowercase();
                match kind.as_str() {
                    "submit" | "button" | "image" | "reset" | "file" => None,
                    "checkbox" | "radio" if element.attr("checked").is_none() => None,
                    "checkbox" | "radio" => Some(element.attr("value").unwrap_or("on").to_owned()),
                    _ => Some(element.attr("value").unwrap_or_default().to_owned()),
                }
            }
        };
        if let Some(value) = value {
            fields.push((name.to_owned(), value));
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(body: &str) -> Page {
        Page {
            url: Url::parse("http://127.0.0.1:9/login").unwrap(),
            status: StatusCode::OK,
            body: body.to_owned(),
            elapsed: Duration::ZERO,
            hops: 0,
        }
    }

    #[test]
    fn a_form_is_sent_with_its_hidden_fields_and_the_values_given() {
        let login = page(
            r#"<form method="get" action="/search"><input name="q"></form>
               <form method="post" action="/session">
                 <input type="hidden" name="csrf" value="t0k">
                 <input name="user"><input type="checkbox" name="remember">
                 <select name="team"><option value="a">A</option><option value="b" selected>B</option></select>
                 <button type="submit" name="go" value="1">Sign in</button>
               </form>"#,
        );
        let form = login.form(&[("q".to_owned(), "x".to_owned())]).unwrap();
        assert_eq!((form.method, form.action.path()), (Method::GET, "/search"));
        assert_eq!(form.fields, [("q".to_owned(), "x".to_owned())]);
        let form = login
            .form(&[("user".to_owned(), "ann".to_owned())])
            .unwrap();
        assert_eq!(
            (&form.method, form.action.path()),
            (&Method::POST, "/session")
        );
        let expected: Vec<(String, String)> = [("csrf", "t0k"), ("user", "ann"), ("team", "b")]
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .into();
        assert_eq!(
            form.fields, expected,
            "hidden fields kept, no button, no unchecked box"
        );
    }

    #[test]
    fn a_page_knows_its_text_and_targets() {
        let page = page(
            "<h1>Access   denied</h1><p>Try <a href=\"/auth/segment\">again</a>.</p>\
             <form action=\"https://other.example/x\"></form>",
        );
        assert_eq!(page.text(), "Access denied Try again .");
        assert!(page.says(&["denied"]));
        assert!(!page.says(&["segment"]), "an address is not text");
        let targets: Vec<String> = page.targets().iter().map(Url::to_string).collect();
        assert_eq!(
            targets,
            ["http://127.0.0.1:9/auth/segment", "https://other.example/x"]
        );
    }
}

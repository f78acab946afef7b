//! What the library's tests share: the partner's app as a partner mounts the library (in a
//! `web::scope` of their own, for their own users, named here by an `x-user` header, with
//! hooks that count what happened and can refuse an install), against the sandbox in this
//! process on a free port; and a browser's way through Segment's consent screen.

#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::cookie::{Cookie, Key};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::test::{TestRequest, call_service, init_service};
use actix_web::{App, HttpRequest, HttpResponse, web};
use enable_with_segment::segment::{AppSettings, DestinationSlug, InstallToken};
use enable_with_segment::{
    EnableWithSegment, Event, FlowErrorOf, Hooks, InstallStore, MemoryStore, NewUser, PlainPages,
    Users,
};
use scraper::{Html, Selector};
use segment_sandbox::{Sandbox, Scope, demo_app, serve};

pub const ORIGIN: &str = "http://127.0.0.1:1";
pub const REDIRECT: &str = "http://127.0.0.1:1/integrations/segment/callback";
pub const SCOPE: &str = "/integrations/segment";

/// The user the `x-user` header names; without one, a visitor who is signed up as `newcomer`
/// when `sign_up` is set.
#[derive(Default)]
pub struct HeaderUser {
    pub sign_up: bool,
    /// Sign-ups are refused (a limit reached), before the code is exchanged.
    pub full: bool,
}

impl Users for HeaderUser {
    type Id = String;
    type Error = std::io::Error;

    async fn signed_in(&self, request: &HttpRequest) -> Result<Option<String>, Self::Error> {
        Ok(request
            .headers()
            .get("x-user")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned))
    }

    fn signs_up(&self) -> bool {
        self.sign_up
    }

    async fn may_sign_up(&self, _: &HttpRequest) -> Result<(), Self::Error> {
        if self.full {
            Err(std::io::Error::other("no more sign-ups this hour"))
        } else {
            Ok(())
        }
    }

    async fn sign_up(&self, _: &HttpRequest) -> Result<Option<NewUser<String>>, Self::Error> {
        let cookie = Cookie::new("who", "newcomer");
        Ok(Some(NewUser::with_cookie("newcomer".to_owned(), cookie)))
    }
}

pub type Store = MemoryStore<String>;

/// Counts events and failures; refuses installs while `refuse` is set.
#[derive(Clone, Default)]
pub struct Recorder {
    pub events: Arc<Mutex<Vec<Event>>>,
    pub failures: Arc<Mutex<Vec<String>>>,
    pub refuse: Arc<AtomicBool>,
}

impl Recorder {
    pub fn count(&self, event: Event) -> usize {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| **e == event)
            .count()
    }
}

impl Hooks<HeaderUser, Store> for Recorder {
    async fn before_save(
        &self,
        _: &HttpRequest,
        _: &String,
        _: &InstallToken,
    ) -> Result<(), String> {
        if self.refuse.load(Ordering::SeqCst) {
            Err("this workspace is not on your plan".to_owned())
        } else {
            Ok(())
        }
    }

    async fn failed(
        &self,
        _: &HttpRequest,
        _: Option<&String>,
        error: FlowErrorOf<HeaderUser, Store>,
    ) -> HttpResponse {
        self.failures.lock().unwrap().push(format!("{error:?}"));
        PlainPages::failure(&error)
    }

    fn event(&self, event: Event) {
        self.events.lock().unwrap().push(event);
    }
}

pub type Enable = EnableWithSegment<Store, HeaderUser, Recorder>;

/// The sandbox on a free port, and the flow for its App (scope `destination/{slug}`), to be
/// mounted in the scope `/integrations/segment`.
pub fn setup_with(users: HeaderUser, slug: &str) -> (Arc<Sandbox>, Enable, Recorder) {
    let scope = Scope::parse(&format!("destination/{slug}")).unwrap();
    let sandbox = Sandbox::new(demo_app(&url::Url::parse(REDIRECT).unwrap(), scope), "");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    actix_web::rt::spawn(serve(sandbox.clone(), listener).unwrap());
    let vars = [
        ("CLIENT_ID", segment_sandbox::CLIENT_ID),
        ("CLIENT_SECRET", segment_sandbox::CLIENT_SECRET),
        ("REDIRECT_URL", REDIRECT),
        ("SEGMENT_ID_URL", &base),
        ("SEGMENT_API_URL", &base),
        ("DESTINATION_SLUG", slug),
    ];
    let settings = AppSettings::from_lookup(|name| {
        vars.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap();
    let recorder = Recorder::default();
    let enable = EnableWithSegment::builder(
        settings.client().unwrap(),
        MemoryStore::default(),
        users,
        Key::generate(),
    )
    .scope_path(SCOPE)
    .landing("/integrations/done")
    .hooks(recorder.clone())
    .build();
    (sandbox, enable, recorder)
}

pub fn setup() -> (Arc<Sandbox>, Enable, Recorder) {
    setup_with(HeaderUser::default(), "clearbrain")
}

/// The partner's app: the flow in its scope, beside a page of the partner's own there.
pub async fn app(
    enable: &Enable,
) -> impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error> {
    init_service(
        App::new().service(
            web::scope(SCOPE)
                .configure(|cfg| enable.configure(cfg))
                .route("/settings", web::get().to(HttpResponse::Ok)),
        ),
    )
    .await
}

pub fn clearbrain() -> DestinationSlug {
    DestinationSlug::parse("clearbrain").unwrap()
}

pub fn location(response: &ServiceResponse) -> String {
    response
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

pub async fn body(response: ServiceResponse) -> String {
    let bytes = actix_web::body::to_bytes(response.into_body())
        .await
        .unwrap();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Opens `path` (the start route, with a query) as `user`, on the redirect URL's host.
pub async fn start(
    app: &impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
    path: &str,
    user: Option<&str>,
) -> ServiceResponse {
    let mut request = TestRequest::get()
        .uri(path)
        .insert_header(("host", "127.0.0.1:1"));
    if let Some(user) = user {
        request = request.insert_header(("x-user", user));
    }
    call_service(app, request.to_request()).await
}

/// Start (`path`) as `user`, then Segment's consent screen answered with `decision`: the
/// callback URL Segment sends the browser to, and the flow's cookie.
pub async fn consent_from(
    app: &impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
    path: &str,
    user: Option<&str>,
    decision: &str,
) -> (String, String) {
    let start = start(app, path, user).await;
    assert_eq!(start.status(), 303);
    let cookie = start
        .response()
        .cookies()
        .next()
        .expect("the flow's cookie")
        .to_string();
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = browser
        .get(location(&start))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let html = Html::parse_document(&page);
    let form = Selector::parse("form").unwrap();
    let action = html
        .select(&form)
        .next()
        .unwrap()
        .value()
        .attr("action")
        .unwrap()
        .to_owned();
    let mut fields: Vec<(String, String)> = html
        .select(&Selector::parse("input[type=hidden]").unwrap())
        .map(|i| {
            let attr = |a| i.value().attr(a).unwrap_or_default().to_owned();
            (attr("name"), attr("value"))
        })
        .collect();
    fields.push(("source".into(), "javascript".into()));
    fields.push(("decision".into(), decision.into()));
    let url = reqwest::Url::parse(&location(&start))
        .unwrap()
        .join(&action)
        .unwrap();
    let answer = browser.post(url).form(&fields).send().await.unwrap();
    let callback = answer.headers()["location"].to_str().unwrap().to_owned();
    (callback, cookie)
}

pub async fn consent(
    app: &impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
    user: &str,
    decision: &str,
) -> (String, String) {
    consent_from(app, SCOPE, Some(user), decision).await
}

/// The callback, as `user`'s browser with `cookie` arrives at it.
pub async fn come_back(
    app: &impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
    callback: &str,
    user: Option<&str>,
    cookie: &str,
) -> ServiceResponse {
    let path = callback.trim_start_matches(ORIGIN);
    let mut request = TestRequest::get().uri(path);
    if let Some(user) = user {
        request = request.insert_header(("x-user", user));
    }
    let (name, value) = cookie.split(';').next().unwrap().split_once('=').unwrap();
    request = request.cookie(Cookie::new(name.to_owned(), value.to_owned()));
    call_service(app, request.to_request()).await
}

/// Connects `user` through the app.
pub async fn connect(
    app: &impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
    user: &str,
) {
    let (callback, cookie) = consent(app, user, "allow").await;
    let landed = come_back(app, &callback, Some(user), &cookie).await;
    assert_eq!(landed.status(), 303, "{}", body(landed).await);
}

/// Makes `user`'s stored token one that expired a minute ago.
pub async fn expire(enable: &Enable, user: &String) {
    let mut stale = enable.installs(user).await.unwrap().remove(0).token;
    stale.expires_at = chrono::Utc::now() - chrono::Duration::minutes(1);
    assert!(enable.store().save_token(user, &stale).await.unwrap());
}

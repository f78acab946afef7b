//! The library as a partner mounts it: under a prefix of their own, for their own users (named
//! here by an `x-user` header), with hooks that count what happened and can refuse an install,
//! against the sandbox (in this process, on a free port).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actix_web::cookie::Key;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::test::{TestRequest, call_service, init_service};
use actix_web::{App, HttpRequest, HttpResponse};
use enable_with_segment::segment::{AppSettings, DestinationSlug, InstallToken};
use enable_with_segment::{
    EnableWithSegment, Event, FlowError, Hooks, InstallStore, MemoryStore, PlainPages, UserError,
    Users,
};
use scraper::{Html, Selector};
use segment_sandbox::{Sandbox, Scope, demo_app, serve};

const REDIRECT: &str = "http://127.0.0.1:1/integrations/segment/callback";

/// The user the `x-user` header names.
struct HeaderUser;

impl Users for HeaderUser {
    type Id = String;
    async fn signed_in(&self, request: &HttpRequest) -> Result<Option<String>, UserError> {
        Ok(request
            .headers()
            .get("x-user")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned))
    }
}

/// Counts events and failures; refuses installs while `refuse` is set.
#[derive(Clone, Default)]
struct Recorder {
    events: Arc<Mutex<Vec<Event>>>,
    failures: Arc<Mutex<Vec<String>>>,
    refuse: Arc<AtomicBool>,
}

impl Hooks<String> for Recorder {
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

    async fn failed(&self, _: &HttpRequest, _: Option<&String>, error: FlowError) -> HttpResponse {
        self.failures.lock().unwrap().push(format!("{error:?}"));
        PlainPages::failure(&error)
    }

    fn event(&self, event: Event) {
        self.events.lock().unwrap().push(event);
    }
}

type Enable = EnableWithSegment<MemoryStore<String>, HeaderUser, Recorder>;

/// The sandbox on a free port, and the flow for its App, mounted under `/integrations/segment`.
fn setup() -> (Arc<Sandbox>, String, Enable, Recorder) {
    let scope = Scope::parse("destination/clearbrain").unwrap();
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
        HeaderUser,
        Key::generate(),
    )
    .start_path("/integrations/segment")
    .landing("/integrations/done")
    .hooks(recorder.clone())
    .build();
    (sandbox, base, enable, recorder)
}

/// Whether `user` holds an install in the store.
async fn holds(enable: &Enable, user: &str) -> bool {
    enable
        .store()
        .fetch(&user.to_owned())
        .await
        .unwrap()
        .is_some()
}

fn location(response: &ServiceResponse) -> String {
    response
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

/// Start as `user`, then Segment's consent screen answered with `decision`: the callback URL
/// Segment sends the browser to, and the flow's cookie.
async fn consent(
    app: &impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
    user: &str,
    decision: &str,
) -> (String, String) {
    let start = call_service(
        app,
        TestRequest::get()
            .uri("/integrations/segment")
            .insert_header(("x-user", user))
            .insert_header(("host", "127.0.0.1:1"))
            .to_request(),
    )
    .await;
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
    let mut fields: Vec<(String, String)> = Html::parse_document(&page)
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

/// The callback, as `user`'s browser with `cookie` arrives at it.
async fn come_back(
    app: &impl Service<actix_http::Request, Response = ServiceResponse, Error = actix_web::Error>,
    callback: &str,
    user: &str,
    cookie: &str,
) -> ServiceResponse {
    let path = callback.trim_start_matches("http://127.0.0.1:1");
    let mut request = TestRequest::get().uri(path).insert_header(("x-user", user));
    let (name, value) = cookie.split(';').next().unwrap().split_once('=').unwrap();
    request = request.cookie(actix_web::cookie::Cookie::new(
        name.to_owned(),
        value.to_owned(),
    ));
    call_service(app, request.to_request()).await
}

#[actix_web::test]
async fn the_flow_works_under_a_prefix_and_lands_where_asked() {
    let (_sandbox, _, enable, recorder) = setup();
    assert_eq!(enable.callback_path(), "/integrations/segment/callback");
    let app = init_service(App::new().configure(|cfg| enable.configure(cfg))).await;
    let (callback, cookie) = consent(&app, "ann", "allow").await;
    let landed = come_back(&app, &callback, "ann", &cookie).await;
    assert_eq!(landed.status(), 303);
    assert_eq!(location(&landed), "/integrations/done");
    let removal = landed
        .response()
        .cookies()
        .next()
        .expect("the flow's cookie goes");
    assert_eq!(removal.value(), "");
    let install = enable
        .store()
        .fetch(&"ann".to_owned())
        .await
        .unwrap()
        .expect("stored");
    assert!(install.source().is_some());
    assert_eq!(
        recorder.events.lock().unwrap()[..2],
        [Event::FlowStarted, Event::FlowEnded("installed")]
    );
    // Uninstalled (the partner's Disconnect): the store forgets it.
    let name = enable
        .store()
        .fetch(&"ann".to_owned())
        .await
        .unwrap()
        .unwrap()
        .install_name;
    enable.uninstall(&"ann".to_owned(), &name).await.unwrap();
    assert!(!holds(&enable, "ann").await);
    // The callback works once: the browser's flow is gone, and a kept copy of its cookie
    // brings a code Segment takes once.
    let replayed = come_back(&app, &callback, "ann", &cookie).await;
    assert_eq!(replayed.status(), 400);
    assert!(recorder.failures.lock().unwrap()[0].contains("Segment"));
    let request = TestRequest::get().uri(callback.trim_start_matches("http://127.0.0.1:1"));
    let again = call_service(&app, request.insert_header(("x-user", "ann")).to_request()).await;
    assert_eq!(again.status(), 400);
    assert!(recorder.failures.lock().unwrap()[1].contains("NoFlow"));
}

#[actix_web::test]
async fn a_denial_reaches_the_failure_hook_and_stores_nothing() {
    let (_sandbox, _, enable, recorder) = setup();
    let app = init_service(App::new().configure(|cfg| enable.configure(cfg))).await;
    let (callback, cookie) = consent(&app, "ann", "deny").await;
    let page = come_back(&app, &callback, "ann", &cookie).await;
    assert_eq!(page.status(), 403);
    assert!(recorder.failures.lock().unwrap()[0].contains("access_denied"));
    assert_eq!(
        recorder.events.lock().unwrap()[1],
        Event::FlowEnded("denied")
    );
    assert!(!holds(&enable, "ann").await);
}

#[actix_web::test]
async fn the_install_goes_to_the_user_who_started_it_or_to_nobody() {
    let (_sandbox, _, enable, recorder) = setup();
    let app = init_service(App::new().configure(|cfg| enable.configure(cfg))).await;
    let (callback, cookie) = consent(&app, "ann", "allow").await;
    // Bob arrives with Ann's flow (her cookie and Segment's link): refused.
    let page = come_back(&app, &callback, "bob", &cookie).await;
    assert_eq!(page.status(), 400);
    assert!(recorder.failures.lock().unwrap()[0].contains("NoFlow"));
    for user in ["ann", "bob"] {
        assert!(!holds(&enable, user).await);
    }
    // Nobody signed in: "sign in first", before Segment is asked anything.
    let start = call_service(
        &app,
        TestRequest::get().uri("/integrations/segment").to_request(),
    )
    .await;
    assert_eq!(start.status(), 401);
}

#[actix_web::test]
async fn before_save_can_refuse_an_install() {
    let (_sandbox, _, enable, recorder) = setup();
    recorder.refuse.store(true, Ordering::SeqCst);
    let app = init_service(App::new().configure(|cfg| enable.configure(cfg))).await;
    let (callback, cookie) = consent(&app, "ann", "allow").await;
    let page = come_back(&app, &callback, "ann", &cookie).await;
    assert_eq!(page.status(), 403);
    let body = actix_web::body::to_bytes(page.into_body()).await.unwrap();
    assert!(String::from_utf8_lossy(&body).contains("not on your plan"));
    assert!(!holds(&enable, "ann").await);
}

/// Twenty calls at once, from no request at all (as a background job), with a token that has
/// expired: one refresh; every call uses its token.
#[actix_web::test]
async fn a_stale_token_is_refreshed_once_however_many_calls_ask() {
    let (sandbox, _, enable, recorder) = setup();
    let app = init_service(App::new().configure(|cfg| enable.configure(cfg))).await;
    let (callback, cookie) = consent(&app, "ann", "allow").await;
    come_back(&app, &callback, "ann", &cookie).await;
    let ann = "ann".to_owned();
    let mut stale = enable.store().fetch(&ann).await.unwrap().unwrap();
    stale.expires_at = chrono::Utc::now() - chrono::Duration::minutes(1);
    enable.store().save(&ann, &stale).await.unwrap();
    let calls = AtomicUsize::new(0);
    let clearbrain = DestinationSlug::parse("clearbrain").unwrap();
    let results = futures_util::future::join_all((0..20).map(|_| async {
        let mut api = enable
            .config_api(&ann)
            .await
            .unwrap()
            .expect("ann's install");
        calls.fetch_add(1, Ordering::SeqCst);
        api.destination(&clearbrain).await
    }))
    .await;
    assert_eq!(calls.load(Ordering::SeqCst), 20);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let refreshes = recorder
        .events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| **e == Event::Refresh("refreshed"))
        .count();
    assert_eq!(refreshes, 1);
    assert_eq!(sandbox.world().snapshot(None).refreshes, 1);
}

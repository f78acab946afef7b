//! The install flow as a partner mounts the library (`common`): in a scope, landing where asked,
//! once per browser, for the user who started it, with its failures told apart.

mod common;

use std::sync::atomic::Ordering;

use actix_web::test::{TestRequest, call_service};
use common::*;
use enable_with_segment::{Event, FlowOutcome};

#[actix_web::test]
async fn the_flow_works_in_a_scope_and_lands_where_asked() {
    let (sandbox, enable, recorder) = setup();
    assert_eq!(enable.start_path(), SCOPE, "the redirect URL's folder");
    assert_eq!(enable.callback_path(), "/integrations/segment/callback");
    let app = app(&enable).await;
    let (callback, cookie) = consent(&app, "ann", "allow").await;
    let landed = come_back(&app, &callback, Some("ann"), &cookie).await;
    assert_eq!(landed.status(), 303);
    assert_eq!(location(&landed), "/integrations/done");
    let removal = landed
        .response()
        .cookies()
        .next()
        .expect("the flow's cookie goes");
    assert_eq!(removal.value(), "");
    let ann = "ann".to_owned();
    let installs = enable.installs(&ann).await.unwrap();
    assert_eq!(installs.len(), 1);
    assert!(installs[0].token.source().is_some());
    assert!(enable.installs(&"bob".to_owned()).await.unwrap().is_empty());
    assert_eq!(
        recorder.events.lock().unwrap()[..2],
        [Event::FlowStarted, Event::FlowEnded(FlowOutcome::Installed)]
    );
    // The partner's own route in the same scope still answers.
    let settings = call_service(
        &app,
        TestRequest::get()
            .uri("/integrations/segment/settings")
            .to_request(),
    )
    .await;
    assert_eq!(settings.status(), 200);

    // The callback works once: the browser's flow is gone, and a kept copy of its cookie is
    // refused by the used state the store remembers, before Segment is called.
    let mark = sandbox.journal_mark();
    let replayed = come_back(&app, &callback, Some("ann"), &cookie).await;
    assert_eq!(replayed.status(), 400);
    assert!(recorder.failures.lock().unwrap()[0].contains("NoFlow"));
    assert!(
        sandbox.calls_since(mark).is_empty(),
        "the code went to Segment again"
    );
    let request = TestRequest::get().uri(callback.trim_start_matches(ORIGIN));
    let again = call_service(&app, request.insert_header(("x-user", "ann")).to_request()).await;
    assert_eq!(again.status(), 400);
    assert!(recorder.failures.lock().unwrap()[1].contains("NoFlow"));
}

#[actix_web::test]
async fn a_return_to_path_rides_through_the_flow_and_no_other_origin_does() {
    let (_sandbox, enable, _recorder) = setup();
    let app = app(&enable).await;
    let path =
        "/integrations/segment?return_to=%2Fintegrations%2Fsegment%2Fsettings%3Ftab%3Dsegment";
    let (callback, cookie) = consent_from(&app, path, Some("ann"), "allow").await;
    let landed = come_back(&app, &callback, Some("ann"), &cookie).await;
    assert_eq!(landed.status(), 303);
    assert_eq!(
        location(&landed),
        "/integrations/segment/settings?tab=segment"
    );

    for elsewhere in [
        "%2F%2Fevil.example",
        "https%3A%2F%2Fevil.example%2F",
        "%2F%5Cevil.example",
    ] {
        let refused = start(
            &app,
            &format!("/integrations/segment?return_to={elsewhere}"),
            Some("ann"),
        )
        .await;
        assert_eq!(refused.status(), 400, "{elsewhere}");
        assert!(
            refused.response().cookies().next().is_none(),
            "a flow started"
        );
    }
}

#[actix_web::test]
async fn a_denial_reaches_the_failure_hook_and_stores_nothing() {
    let (_sandbox, enable, recorder) = setup();
    let app = app(&enable).await;
    let (callback, cookie) = consent(&app, "ann", "deny").await;
    let page = come_back(&app, &callback, Some("ann"), &cookie).await;
    assert_eq!(page.status(), 403);
    assert!(recorder.failures.lock().unwrap()[0].contains("access_denied"));
    assert_eq!(
        recorder.events.lock().unwrap()[1],
        Event::FlowEnded(FlowOutcome::Denied)
    );
    assert!(enable.installs(&"ann".to_owned()).await.unwrap().is_empty());
}

#[actix_web::test]
async fn the_install_goes_to_the_user_who_started_it_or_to_nobody() {
    let (_sandbox, enable, recorder) = setup();
    let app = app(&enable).await;
    let (callback, cookie) = consent(&app, "ann", "allow").await;
    // Bob arrives with Ann's flow (her cookie and Segment's link): refused.
    let page = come_back(&app, &callback, Some("bob"), &cookie).await;
    assert_eq!(page.status(), 400);
    assert!(recorder.failures.lock().unwrap()[0].contains("NoFlow"));
    for user in ["ann", "bob"] {
        assert!(enable.installs(&user.to_owned()).await.unwrap().is_empty());
    }
    // Nobody signed in: "sign in first", before Segment is asked anything.
    let page = start(&app, SCOPE, None).await;
    assert_eq!(page.status(), 401);
    assert!(body(page).await.contains("Sign in first"));
}

#[actix_web::test]
async fn a_visitor_signed_up_at_the_callback_gets_the_install_and_the_cookie() {
    let users = HeaderUser {
        sign_up: true,
        ..HeaderUser::default()
    };
    let (_sandbox, enable, _recorder) = setup_with(users, "clearbrain");
    let app = app(&enable).await;
    let (callback, cookie) = consent_from(&app, SCOPE, None, "allow").await;
    let landed = come_back(&app, &callback, None, &cookie).await;
    assert_eq!(landed.status(), 303);
    let cookies: Vec<String> = landed
        .response()
        .cookies()
        .map(|c| format!("{}={}", c.name(), c.value()))
        .collect();
    assert!(cookies.contains(&"who=newcomer".to_owned()), "{cookies:?}");
    assert_eq!(
        enable.installs(&"newcomer".to_owned()).await.unwrap().len(),
        1
    );
}

#[actix_web::test]
async fn a_browser_on_another_host_is_moved_and_told_why_it_is_signed_out_there() {
    let (_sandbox, enable, _recorder) = setup();
    let app = app(&enable).await;
    let moved = call_service(
        &app,
        TestRequest::get()
            .uri("/integrations/segment?return_to=%2Fhome")
            .insert_header(("host", "localhost:1"))
            .insert_header(("x-user", "ann"))
            .to_request(),
    )
    .await;
    assert_eq!(moved.status(), 303);
    assert_eq!(
        location(&moved),
        "http://127.0.0.1:1/integrations/segment?return_to=%2Fhome&moved=1"
    );
    // Ann's login cookie stayed on localhost: on 127.0.0.1 she is nobody, and is told why.
    let page = start(
        &app,
        "/integrations/segment?return_to=%2Fhome&moved=1",
        None,
    )
    .await;
    assert_eq!(page.status(), 401);
    let text = body(page).await;
    assert!(text.contains("sign in at http://127.0.0.1:1"), "{text}");
}

#[actix_web::test]
async fn before_save_can_refuse_an_install() {
    let (_sandbox, enable, recorder) = setup();
    recorder.refuse.store(true, Ordering::SeqCst);
    let app = app(&enable).await;
    let (callback, cookie) = consent(&app, "ann", "allow").await;
    let page = come_back(&app, &callback, Some("ann"), &cookie).await;
    assert_eq!(page.status(), 403);
    // The refusal can only come after the exchange: the page says what the workspace owner
    // does about the install Segment made.
    let text = body(page).await;
    assert!(text.contains("not on your plan"), "{text}");
    assert!(
        text.contains("Segment installed the App on workspaces/"),
        "{text}"
    );
    assert!(
        text.contains("until a workspace owner uninstalls it"),
        "{text}"
    );
    assert!(enable.installs(&"ann".to_owned()).await.unwrap().is_empty());
}

#[actix_web::test]
async fn a_refused_sign_up_is_decided_before_segment_installs_anything() {
    let users = HeaderUser {
        sign_up: true,
        full: true,
    };
    let (sandbox, enable, _recorder) = setup_with(users, "clearbrain");
    let app = app(&enable).await;
    let (callback, cookie) = consent_from(&app, SCOPE, None, "allow").await;
    let mark = sandbox.journal_mark();
    let page = come_back(&app, &callback, None, &cookie).await;
    assert_eq!(page.status(), 500);
    assert!(
        sandbox.calls_since(mark).is_empty(),
        "the code was exchanged for a visitor who could not be signed up"
    );
    assert_eq!(sandbox.world().snapshot(None).installs.len(), 0);
}

//! What a partner does with an install once the flow stored it (`common`): the destination's
//! actions, tokens refreshed once however many ask, a background job on `tokio::spawn`, an
//! install Segment refuses, and Disconnect.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::*;
use enable_with_segment::segment::DestinationSlug;
use enable_with_segment::{CallError, DestinationStatus, Event, RefreshOutcome};
use segment_sandbox::Sandbox;

/// Enable, Disable, Remove and the status, one call each, on the install's source.
#[actix_web::test]
async fn the_destination_is_enabled_disabled_and_removed_in_one_call_each() {
    let (sandbox, enable, _recorder) = setup();
    let app = app(&enable).await;
    connect(&app, "ann").await;
    let ann = "ann".to_owned();
    let mut api = enable
        .config_api(&ann)
        .await
        .unwrap()
        .expect("ann's install");
    let slug = clearbrain();
    assert_eq!(
        api.destination_status(&slug).await.unwrap(),
        DestinationStatus::NotCreated
    );
    assert_eq!(api.disable_destination(&slug).await.unwrap(), None);
    let enabled = api
        .enable_destination(&slug, Some("partner-key-1234567890"))
        .await
        .unwrap();
    assert!(enabled.created && enabled.is_enabled() && enabled.missing.is_empty());
    assert_eq!(
        enabled.destination.api_key(),
        Some("partner-key-1234567890")
    );
    assert_eq!(enabled.catalog.display_name, "ClearBrain");
    let status = api.destination_status(&slug).await.unwrap();
    assert_eq!(status.label(), "Enabled");
    // Enable again updates it (a new key), it is not created twice.
    let again = api
        .enable_destination(&slug, Some("partner-key-2"))
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.destination.api_key(), Some("partner-key-2"));
    let disabled = api.disable_destination(&slug).await.unwrap().unwrap();
    assert!(!disabled.enabled);
    assert_eq!(
        api.destination_status(&slug).await.unwrap().label(),
        "Disabled"
    );
    let put = api
        .put_api_key(&slug, "partner-key-3")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(put.api_key(), Some("partner-key-3"));
    assert!(!put.enabled, "putting the key back changes nothing else");
    assert!(api.remove_destination(&slug).await.unwrap());
    assert!(!api.remove_destination(&slug).await.unwrap());
    assert_eq!(
        api.destination_status(&slug).await.unwrap(),
        DestinationStatus::NotCreated
    );
    assert!(sandbox.world().snapshot(None).destinations.is_empty());
}

/// A required setting with no value: the key goes in, the destination stays off, and the
/// setting is named.
#[actix_web::test]
async fn enable_reports_the_required_settings_it_does_not_guess() {
    let (sandbox, enable, _recorder) = setup_with(HeaderUser::default(), "airship");
    let app = app(&enable).await;
    connect(&app, "ann").await;
    let mut api = enable.config_api(&"ann".to_owned()).await.unwrap().unwrap();
    let slug = DestinationSlug::parse("airship").unwrap();
    let enabled = api
        .enable_destination(&slug, Some("partner-key"))
        .await
        .unwrap();
    let missing: Vec<&str> = enabled
        .missing
        .iter()
        .map(|s| s.display_name.as_str())
        .collect();
    assert_eq!(missing, ["App Key"]);
    assert!(!enabled.is_enabled());
    assert_eq!(enabled.destination.api_key(), Some("partner-key"));
    assert!(!sandbox.world().snapshot(None).destinations[0].enabled);
}

/// Twenty calls at once, from no request at all (as a background job), with a token that has
/// expired: one refresh; every call uses its token.
#[actix_web::test]
async fn a_stale_token_is_refreshed_once_however_many_calls_ask() {
    let (sandbox, enable, recorder) = setup();
    let app = app(&enable).await;
    connect(&app, "ann").await;
    let ann = "ann".to_owned();
    expire(&enable, &ann).await;
    let calls = AtomicUsize::new(0);
    let slug = clearbrain();
    let results = futures_util::future::join_all((0..20).map(|_| async {
        let mut api = enable
            .config_api(&ann)
            .await
            .unwrap()
            .expect("ann's install");
        calls.fetch_add(1, Ordering::SeqCst);
        api.destination(&slug).await
    }))
    .await;
    assert_eq!(calls.load(Ordering::SeqCst), 20);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(recorder.count(Event::Refresh(RefreshOutcome::Refreshed)), 1);
    assert_eq!(sandbox.world().snapshot(None).refreshes, 1);
}

/// A background job on `tokio::spawn` (which needs `Send` futures): a token read with a
/// refresh, and a destination action.
#[actix_web::test]
async fn a_background_job_on_tokio_spawn_reads_and_enables() {
    let (sandbox, enable, _recorder) = setup();
    let app = app(&enable).await;
    connect(&app, "ann").await;
    expire(&enable, &"ann".to_owned()).await;
    let job = enable.clone();
    let done = tokio::spawn(async move {
        let ann = "ann".to_owned();
        let mut api = job.config_api(&ann).await?.expect("ann's install");
        let before = api.destination_status(&clearbrain()).await?;
        let enabled = api
            .enable_destination(&clearbrain(), Some("job-key"))
            .await?;
        Ok::<_, CallError<std::convert::Infallible>>((before, enabled.is_enabled()))
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(done, (DestinationStatus::NotCreated, true));
    assert_eq!(sandbox.world().snapshot(None).refreshes, 1);
}

/// Segment refuses to mint a token (the App was uninstalled from the workspace): the install is
/// kept and marked; a job's `config_api` skips it without calling Segment; a page that names it
/// tries again, once per call.
#[actix_web::test]
async fn a_refused_install_is_kept_marked_and_skipped_by_jobs() {
    let (sandbox, enable, recorder) = setup();
    let app = app(&enable).await;
    connect(&app, "ann").await;
    let ann = "ann".to_owned();
    let install = enable.installs(&ann).await.unwrap().remove(0);
    let id: u64 = install.name().as_str()["installs/".len()..]
        .parse()
        .unwrap();
    assert!(sandbox.world().uninstall(id));
    expire(&enable, &ann).await;

    let mut api = enable.config_api_with(&ann, install.token.clone());
    let refused = api.destination(&clearbrain()).await;
    assert!(matches!(refused, Err(CallError::Refused(_))), "{refused:?}");
    assert_eq!(recorder.count(Event::Refresh(RefreshOutcome::Refused)), 1);
    let kept = enable.installs(&ann).await.unwrap();
    assert_eq!(kept.len(), 1, "the install was deleted");
    assert!(kept[0].refused.is_some() && kept[0].is_connected());
    // A page still shows it (and explains), while a job gets nothing.
    let shown = enable.current_install(&ann).await.unwrap().expect("shown");
    assert!(shown.refused.is_some());

    // A job every two seconds: nothing to do, and Segment is not called.
    let calls = |s: &Sandbox| {
        let snapshot = s.world().snapshot(None);
        (snapshot.api_calls, snapshot.refreshes)
    };
    let before = calls(&sandbox);
    for _ in 0..5 {
        assert!(enable.config_api(&ann).await.unwrap().is_none());
    }
    assert_eq!(
        calls(&sandbox),
        before,
        "a job called Segment for a refused install"
    );
}

/// Disconnect forgets the install here (no token, no calls), keeps it listed as the user's, and
/// `reconnect` takes it back after Segment's "already installed".
#[actix_web::test]
async fn uninstall_forgets_the_install_until_it_is_reconnected() {
    let (_sandbox, enable, recorder) = setup();
    let app = app(&enable).await;
    connect(&app, "ann").await;
    let ann = "ann".to_owned();
    let name = enable.installs(&ann).await.unwrap()[0].name().clone();
    assert!(enable.uninstall(&ann, &name).await.unwrap());
    assert!(enable.config_api(&ann).await.unwrap().is_none());
    assert!(enable.current_install(&ann).await.unwrap().is_none());
    let listed = enable.installs(&ann).await.unwrap();
    assert!(!listed[0].is_connected());
    assert!(listed[0].token.access_token.secret().is_empty());
    assert!(!enable.uninstall(&"bob".to_owned(), &name).await.unwrap());

    // Connecting the same workspace again: Segment says it is installed already.
    let (callback, cookie) = consent(&app, "ann", "allow").await;
    let page = come_back(&app, &callback, Some("ann"), &cookie).await;
    assert_eq!(page.status(), 409);
    assert!(recorder.failures.lock().unwrap()[0].contains("AlreadyInstalled"));
    assert!(
        enable
            .reconnect(&"bob".to_owned(), &name)
            .await
            .unwrap()
            .is_none()
    );
    let back = enable.reconnect(&ann, &name).await.unwrap().unwrap();
    assert!(back.is_connected());
    let mut api = enable
        .config_api(&ann)
        .await
        .unwrap()
        .expect("connected again");
    assert_eq!(
        api.destination_status(&clearbrain()).await.unwrap(),
        DestinationStatus::NotCreated
    );
}

//! The contract's checks of the refresh lease and of flow states used once.

use super::*;

pub(super) async fn leases<Id: Clone + Debug + Sync, S: InstallStore<Id>>(
    store: &S,
    ann: &Id,
    bob: &Id,
) {
    let run = Run::new();
    let token = run.install("apps/1", &run.workspace("lease"));
    save(store, ann, &token).await;
    let hold = Duration::from_millis(300);
    let lease = async |user: &Id, seen: &InstallToken| {
        let until = Utc::now() + hold;
        store
            .try_refresh_lease(user, seen, until)
            .await
            .expect("try_refresh_lease")
    };
    let read = async || {
        one(store, ann, &token.install_name)
            .await
            .expect("the install")
            .token
    };
    assert!(
        !lease(bob, &read().await).await,
        "another user cannot take the lease"
    );
    assert!(lease(ann, &read().await).await, "the lease is free");
    assert!(!lease(ann, &read().await).await, "one lease at a time");
    // Storing the new token ends it.
    let newer = run.new_token(&token);
    store.save_token(ann, &newer).await.expect("save_token");
    assert!(lease(ann, &read().await).await, "save_token ends the lease");
    // A caller that read the token before another refresh stored a new one gets no lease: it
    // would retire the token just stored.
    store
        .end_refresh_lease(ann, &token.install_name)
        .await
        .expect("end");
    let stale = read().await;
    store
        .save_token(ann, &run.new_token(&token))
        .await
        .expect("save_token");
    assert!(
        !lease(ann, &stale).await,
        "no lease for a token replaced since it was read"
    );
    assert!(
        lease(ann, &read().await).await,
        "the token read now takes it"
    );
    // Left alone, it lapses.
    tokio::time::sleep(hold + Duration::from_millis(100)).await;
    assert!(
        lease(ann, &read().await).await,
        "a lease nobody ended lapses"
    );
    store
        .end_refresh_lease(ann, &token.install_name)
        .await
        .expect("end");
    assert!(lease(ann, &read().await).await, "end_refresh_lease ends it");
    store
        .refused(ann, &token.install_name, "invalid_client")
        .await
        .expect("refused");
    assert!(lease(ann, &read().await).await, "refused ends the lease");
}

/// A refresh stores its token only while its lease is its own: not under another mark, not
/// once it lapsed and another refresh took the lease; the one holding it does.
pub(super) async fn a_refresh_saves_only_while_it_holds_the_lease<Id, S>(store: &S, ann: &Id)
where
    Id: Clone + Debug + Sync,
    S: InstallStore<Id>,
{
    let run = Run::new();
    let token = run.install("apps/1", &run.workspace("held"));
    save(store, ann, &token).await;
    let hold = Duration::from_millis(300);
    let read = async || {
        one(store, ann, &token.install_name)
            .await
            .expect("the install")
            .token
    };
    let seen = read().await;
    let first = Utc::now() + hold;
    let taken = store.try_refresh_lease(ann, &seen, first).await;
    assert!(taken.expect("try_refresh_lease"), "the lease is free");
    let minted = run.new_token(&token);
    let other_mark = first + chrono::Duration::milliseconds(1);
    let saved = store.save_refreshed(ann, &minted, other_mark).await;
    assert!(
        !saved.expect("save_refreshed"),
        "saved under another lease's mark"
    );
    tokio::time::sleep(hold + Duration::from_millis(100)).await;
    let second = Utc::now() + hold;
    let taken = store.try_refresh_lease(ann, &seen, second).await;
    assert!(taken.expect("try_refresh_lease"), "a lapsed lease is taken");
    let late = store.save_refreshed(ann, &minted, first).await;
    assert!(
        !late.expect("save_refreshed"),
        "a refresh that outlived its lease stored its token"
    );
    assert_eq!(read().await.access_token, seen.access_token);
    let newer = run.new_token(&token);
    let saved = store.save_refreshed(ann, &newer, second).await;
    assert!(
        saved.expect("save_refreshed"),
        "the lease's holder stores its token"
    );
    assert_eq!(read().await.access_token, newer.access_token);
    let free = store
        .try_refresh_lease(ann, &read().await, Utc::now() + hold)
        .await;
    assert!(
        free.expect("try_refresh_lease"),
        "save_refreshed ends the lease"
    );
}

/// A flow's state is used once, and a state whose flow has ended is forgotten (a state is new
/// to the store the first time only).
pub(super) async fn a_flow_state_works_once<Id, S: InstallStore<Id>>(store: &S, run: &Run) {
    let until = Utc::now() + chrono::Duration::minutes(10);
    let state = format!(
        "state-{}-{}",
        run.id,
        run.next.fetch_add(1, Ordering::Relaxed)
    );
    let other = format!("{state}-other");
    let used = async |state: &str, until| store.use_state(state, until).await.expect("use_state");
    assert!(used(&state, until).await, "a new state was refused");
    assert!(!used(&state, until).await, "a used state was taken again");
    assert!(used(&other, until).await, "another state was refused");
    // A state kept until a moment ago is forgotten: the store does not grow with every flow.
    let lapsed = format!("{state}-lapsed");
    let past = Utc::now() - chrono::Duration::seconds(1);
    assert!(used(&lapsed, past).await);
    assert!(
        used(&lapsed, until).await,
        "a state whose flow has ended was kept"
    );
}

//! The rules every [`InstallStore`] keeps, as one test a store runs: [`check`]. The library's
//! own stores pass it ([`MemoryStore`](crate::MemoryStore), and
//! `sql::SqlStore` on SQLite and Postgres); run it on yours, from your
//! tests:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use enable_with_segment::{MemoryStore, contract};
//!
//! let store = MemoryStore::default();
//! contract::check(&store, "ann".to_owned(), "bob".to_owned()).await;
//! # }
//! ```
//!
//! It panics, naming the rule, at the first one the store breaks. It makes its own installs
//! (on workspaces and install names of its own, new each run), so it can run on a database
//! that holds other data; `ann` and `bob` must be two users who hold none of them.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use segment_client::secret::AccessToken;
use segment_client::{InstallName, InstallToken, SegmentScope, SourceName, WorkspaceName};

use crate::store::{Install, InstallStore, Saved};

mod leases;
use leases::{a_flow_state_works_once, a_refresh_saves_only_while_it_holds_the_lease, leases};

/// Checks every rule of [`InstallStore`] on `store`, with two users of yours, the refresh
/// lease included (use [`check_without_lease`] for a store that one process owns and that
/// keeps the default lease).
pub async fn check<Id, S>(store: &S, ann: Id, bob: Id)
where
    Id: Clone + Debug + Send + Sync,
    S: InstallStore<Id>,
{
    check_without_lease(store, ann.clone(), bob.clone()).await;
    leases(store, &ann, &bob).await;
    a_refresh_saves_only_while_it_holds_the_lease(store, &ann).await;
}

/// [`check`], but the refresh lease.
pub async fn check_without_lease<Id, S>(store: &S, ann: Id, bob: Id)
where
    Id: Clone + Debug + Send + Sync,
    S: InstallStore<Id>,
{
    let run = Run::new();
    keeps_an_install_for_its_user_only(store, &run, &ann, &bob).await;
    another_user_cannot_take_an_install(store, &run, &ann, &bob).await;
    a_new_install_on_a_workspace_supersedes_the_old_one(store, &run, &ann, &bob).await;
    lists_the_most_recently_used_first(store, &run, &ann).await;
    disconnect_keeps_the_install_without_its_token(store, &run, &ann, &bob).await;
    refusal_is_a_mark_that_a_new_token_clears(store, &run, &ann).await;
    a_flow_state_works_once(store, &run).await;
}

/// Names of this run's own, so that runs never meet each other's installs.
struct Run {
    id: String,
    next: AtomicU64,
}

impl Run {
    fn new() -> Run {
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let nanos = Utc::now().timestamp_nanos_opt().unwrap_or_default();
        let id = format!("{nanos:x}{}", RUNS.fetch_add(1, Ordering::Relaxed));
        Run {
            id,
            next: AtomicU64::new(0),
        }
    }

    /// A workspace of this run's.
    fn workspace(&self, name: &str) -> String {
        format!("contract-{}-{name}", self.id)
    }

    /// A new install on `workspace` (one of [`Run::workspace`]'s), for the App `app`, with a
    /// token good for an hour.
    fn install(&self, app: &str, workspace: &str) -> InstallToken {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let name = format!("installs/contract-{}-{n}", self.id);
        InstallToken {
            access_token: AccessToken::new(format!("token-{n}-of-{name}")),
            expires_at: Utc::now() + chrono::Duration::hours(1),
            scope: SegmentScope::parse("destination/contract").expect("a scope"),
            app_name: app.to_owned(),
            install_name: InstallName::parse(&name).expect("an install name"),
            workspace_names: vec![
                WorkspaceName::parse(&format!("workspaces/{workspace}")).expect("a workspace"),
            ],
            source_names: vec![
                SourceName::parse(&format!("workspaces/{workspace}/sources/js")).expect("a source"),
            ],
        }
    }

    /// The same install with a new token.
    fn new_token(&self, install: &InstallToken) -> InstallToken {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        InstallToken {
            access_token: AccessToken::new(format!("token-{n}-of-{}", install.install_name)),
            expires_at: Utc::now() + chrono::Duration::hours(1),
            // The install token API does not repeat the source.
            source_names: Vec::new(),
            ..install.clone()
        }
    }
}

fn close(a: DateTime<Utc>, b: DateTime<Utc>) -> bool {
    (a - b).num_milliseconds().abs() <= 1_000
}

async fn installs<Id, S: InstallStore<Id>>(store: &S, user: &Id) -> Vec<Install> {
    match store.installs(user).await {
        Ok(installs) => installs,
        Err(error) => panic!("installs() failed: {error}"),
    }
}

async fn one<Id, S: InstallStore<Id>>(store: &S, user: &Id, name: &InstallName) -> Option<Install> {
    match store.install(user, name).await {
        Ok(install) => install,
        Err(error) => panic!("install() failed: {error}"),
    }
}

async fn save<Id, S: InstallStore<Id>>(store: &S, user: &Id, token: &InstallToken) -> Saved {
    match store.save(user, token).await {
        Ok(saved) => saved,
        Err(error) => panic!("save() failed: {error}"),
    }
}

/// The installs of `user` on this run's workspaces (the store may hold others).
async fn ours<Id, S: InstallStore<Id>>(store: &S, run: &Run, user: &Id) -> Vec<Install> {
    let prefix = format!("workspaces/contract-{}-", run.id);
    installs(store, user)
        .await
        .into_iter()
        .filter(|i| {
            i.token
                .workspace()
                .is_some_and(|w| w.as_str().starts_with(&prefix))
        })
        .collect()
}

async fn keeps_an_install_for_its_user_only<Id: Debug + Sync, S: InstallStore<Id>>(
    store: &S,
    run: &Run,
    ann: &Id,
    bob: &Id,
) {
    let token = run.install("apps/1", &run.workspace("keeps"));
    let saved = save(store, ann, &token).await;
    assert_eq!(
        saved,
        Saved::Kept { superseded: vec![] },
        "save: a new install is kept"
    );
    let kept = one(store, ann, &token.install_name)
        .await
        .expect("install: a saved install is found by its user and name");
    assert_eq!(
        kept.token.access_token, token.access_token,
        "the token comes back"
    );
    assert!(
        close(kept.token.expires_at, token.expires_at),
        "its expiry comes back"
    );
    assert_eq!(kept.token.scope, token.scope, "its scope comes back");
    assert_eq!(kept.token.app_name, token.app_name, "its App comes back");
    assert_eq!(
        kept.token.workspace_names, token.workspace_names,
        "its workspace comes back"
    );
    assert_eq!(
        kept.token.source_names, token.source_names,
        "its source comes back"
    );
    assert!(
        kept.is_usable(),
        "a saved install is connected and not refused"
    );
    assert!(
        close(kept.created_at, Utc::now()),
        "created_at is when it was saved"
    );
    let listed = ours(store, run, ann).await;
    assert_eq!(listed.len(), 1, "installs: the user's install is listed");
    assert!(
        ours(store, run, bob).await.is_empty(),
        "installs: another user sees none of it"
    );
    assert!(
        one(store, bob, &token.install_name).await.is_none(),
        "install: another user cannot read it by name"
    );

    // Saved again (a flow for the same install): one install, the new token, created_at kept.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let again = run.new_token(&token);
    save(store, ann, &again).await;
    let kept_again = one(store, ann, &token.install_name)
        .await
        .expect("still there");
    assert_eq!(
        kept_again.token.access_token, again.access_token,
        "save replaces the token"
    );
    assert_eq!(
        kept_again.token.source_names, token.source_names,
        "save keeps the source when the new token names none"
    );
    assert!(
        close(kept_again.created_at, kept.created_at),
        "save keeps created_at"
    );
    assert!(kept_again.used_at > kept.used_at, "save moves used_at on");
    assert_eq!(
        ours(store, run, ann).await.len(),
        1,
        "save never duplicates an install"
    );
}

async fn another_user_cannot_take_an_install<Id: Debug + Sync, S: InstallStore<Id>>(
    store: &S,
    run: &Run,
    ann: &Id,
    bob: &Id,
) {
    let token = run.install("apps/1", &run.workspace("taken"));
    save(store, ann, &token).await;
    let stolen = run.new_token(&token);
    assert_eq!(
        save(store, bob, &stolen).await,
        Saved::HeldByAnotherUser,
        "save: an install another user holds is refused"
    );
    let kept = one(store, ann, &token.install_name).await.expect("kept");
    assert_eq!(
        kept.token.access_token, token.access_token,
        "the holder's token is untouched"
    );
    assert!(
        !store.save_token(bob, &stolen).await.expect("save_token"),
        "save_token: another user cannot store a token for it"
    );
    assert!(
        !store
            .disconnect(bob, &token.install_name)
            .await
            .expect("disconnect"),
        "disconnect: another user cannot disconnect it"
    );
    store
        .refused(bob, &token.install_name, "not yours")
        .await
        .expect("refused");
    let kept = one(store, ann, &token.install_name).await.expect("kept");
    assert!(
        kept.is_usable(),
        "another user's refusal or disconnection changed nothing"
    );
    assert_eq!(
        kept.token.access_token, token.access_token,
        "the token is untouched"
    );
}

async fn a_new_install_on_a_workspace_supersedes_the_old_one<
    Id: Debug + Sync,
    S: InstallStore<Id>,
>(
    store: &S,
    run: &Run,
    ann: &Id,
    bob: &Id,
) {
    let acme = run.workspace("acme");
    let old = run.install("apps/1", &acme);
    let elsewhere = run.install("apps/1", &run.workspace("globex"));
    let other_app = run.install("apps/2", &acme);
    save(store, ann, &old).await;
    save(store, ann, &elsewhere).await;
    save(store, ann, &other_app).await;
    // Segment installs an App once per workspace: a new install there means the old one is
    // gone, whoever holds the new one.
    let new = run.install("apps/1", &acme);
    assert_eq!(
        save(store, bob, &new).await,
        Saved::Kept {
            superseded: vec![old.install_name.clone()]
        },
        "save: the old install of the same App on the same workspace is superseded"
    );
    assert!(
        one(store, ann, &old.install_name).await.is_none(),
        "the superseded install is removed"
    );
    assert!(
        one(store, ann, &elsewhere.install_name).await.is_some(),
        "an install on another workspace stays"
    );
    assert!(
        one(store, ann, &other_app.install_name).await.is_some(),
        "another App's install on the same workspace stays"
    );
    assert!(
        one(store, bob, &new.install_name).await.is_some(),
        "the new one is kept"
    );
}

async fn lists_the_most_recently_used_first<Id: Debug + Sync, S: InstallStore<Id>>(
    store: &S,
    run: &Run,
    ann: &Id,
) {
    let before: Vec<InstallName> = ours(store, run, ann)
        .await
        .iter()
        .map(|i| i.name().clone())
        .collect();
    let first = run.install("apps/1", &run.workspace("first"));
    let second = run.install("apps/1", &run.workspace("second"));
    save(store, ann, &first).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    save(store, ann, &second).await;
    let names = |installs: Vec<Install>| -> Vec<InstallName> {
        installs
            .into_iter()
            .map(|i| i.name().clone())
            .filter(|name| !before.contains(name))
            .collect()
    };
    assert_eq!(
        names(ours(store, run, ann).await),
        vec![second.install_name.clone(), first.install_name.clone()],
        "installs: the most recently saved first"
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(
        store
            .save_token(ann, &run.new_token(&first))
            .await
            .expect("save_token"),
        "save_token: the user's connected install takes a new token"
    );
    assert_eq!(
        names(ours(store, run, ann).await),
        vec![first.install_name.clone(), second.install_name.clone()],
        "installs: a new token makes an install the most recently used"
    );
    let kept = one(store, ann, &first.install_name).await.expect("kept");
    assert_eq!(
        kept.token.source_names, first.source_names,
        "save_token keeps the source (the install token API does not repeat it)"
    );
    let current = store.current_install(ann).await.expect("current_install");
    assert_eq!(
        current.map(|i| i.name().clone()),
        Some(first.install_name.clone()),
        "current_install: the most recently used connected install"
    );
}

async fn disconnect_keeps_the_install_without_its_token<Id: Debug + Sync, S: InstallStore<Id>>(
    store: &S,
    run: &Run,
    ann: &Id,
    bob: &Id,
) {
    let token = run.install("apps/1", &run.workspace("disconnected"));
    save(store, ann, &token).await;
    assert!(
        store
            .disconnect(ann, &token.install_name)
            .await
            .expect("disconnect"),
        "disconnect: the user's install"
    );
    let kept = one(store, ann, &token.install_name)
        .await
        .expect("disconnect keeps the install listed as the user's");
    assert!(
        !kept.is_connected(),
        "a disconnected install is not connected"
    );
    let current = store.current_install(ann).await.expect("current_install");
    assert!(
        current.is_none_or(|i| i.name() != &token.install_name),
        "current_install: never a disconnected install"
    );
    assert!(kept.disconnected_at.is_some(), "disconnected_at is set");
    assert!(
        kept.token.access_token.secret().is_empty() && kept.token.is_expired(Utc::now()),
        "disconnect drops the token"
    );
    assert_eq!(
        kept.token.source_names, token.source_names,
        "the source is remembered"
    );
    assert!(
        !store
            .save_token(ann, &run.new_token(&token))
            .await
            .expect("save_token"),
        "save_token: a disconnected install takes no token (a refresh must not reconnect it)"
    );
    assert_eq!(
        save(store, bob, &run.new_token(&token)).await,
        Saved::HeldByAnotherUser,
        "a disconnected install is still its user's"
    );
    // Taken back (after Segment's "already installed"): connected again.
    save(store, ann, &kept.token).await;
    let back = one(store, ann, &token.install_name).await.expect("back");
    assert!(
        back.is_connected(),
        "save connects a disconnected install again"
    );
    assert!(
        !store
            .disconnect(ann, &run.install("apps/1", "nowhere").install_name)
            .await
            .expect("disconnect"),
        "disconnect: false for an install the user does not hold"
    );
}

async fn refusal_is_a_mark_that_a_new_token_clears<Id: Debug + Sync, S: InstallStore<Id>>(
    store: &S,
    run: &Run,
    ann: &Id,
) {
    let token = run.install("apps/1", &run.workspace("refused"));
    save(store, ann, &token).await;
    store
        .refused(ann, &token.install_name, "invalid_client")
        .await
        .expect("refused");
    let kept = one(store, ann, &token.install_name)
        .await
        .expect("a refused install is kept");
    let refusal = kept
        .refused
        .clone()
        .expect("refused: the install is marked");
    assert_eq!(refusal.reason, "invalid_client", "the reason is kept");
    assert!(
        kept.is_connected() && !kept.is_usable(),
        "a refused install is not usable"
    );
    tokio::time::sleep(Duration::from_millis(5)).await;
    store
        .refused(ann, &token.install_name, "install not found")
        .await
        .expect("refused");
    let again = one(store, ann, &token.install_name).await.expect("kept");
    assert_eq!(
        again.refused.map(|r| r.at),
        Some(refusal.at),
        "refused: the mark says since when"
    );
    assert!(
        store
            .save_token(ann, &run.new_token(&token))
            .await
            .expect("save_token"),
        "save_token: a refused install takes a new token"
    );
    let healed = one(store, ann, &token.install_name).await.expect("kept");
    assert!(healed.refused.is_none(), "save_token clears the refusal");
    store
        .refused(ann, &token.install_name, "invalid_client")
        .await
        .expect("refused");
    save(store, ann, &run.new_token(&token)).await;
    let healed = one(store, ann, &token.install_name).await.expect("kept");
    assert!(healed.refused.is_none(), "save clears the refusal");
}

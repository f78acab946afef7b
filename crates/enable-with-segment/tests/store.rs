//! The stores the library ships, against the rules every store keeps (`contract::check`):
//! `MemoryStore`, and `SqlStore` on SQLite and (with `DATABASE_TEST_URL`) on Postgres; and what
//! only the SQL store promises: tokens sealed at rest, installs that outlive a lost key, a
//! partner's database and migrations left alone, and users keyed by their id's `Display`.

use chrono::Utc;
use enable_with_segment::segment::secret::AccessToken;
use enable_with_segment::segment::{
    InstallName, InstallToken, SegmentScope, SourceName, WorkspaceName,
};
use enable_with_segment::sql::{SealKey, SqlStore};
use enable_with_segment::{InstallStore, MemoryStore, Saved, contract};
use sqlx::migrate::{Migration, MigrationType, Migrator};

fn token(install: &str, workspace: &str) -> InstallToken {
    InstallToken {
        access_token: AccessToken::new(format!("secret-token-of-{install}")),
        expires_at: Utc::now() + chrono::Duration::hours(1),
        scope: SegmentScope::parse("destination/clearbrain").unwrap(),
        app_name: "apps/1".into(),
        install_name: InstallName::parse(install).unwrap(),
        workspace_names: vec![WorkspaceName::parse(&format!("workspaces/{workspace}")).unwrap()],
        source_names: vec![
            SourceName::parse(&format!("workspaces/{workspace}/sources/js")).unwrap(),
        ],
    }
}

fn key() -> SealKey {
    SealKey::derive_from(&actix_web::cookie::Key::generate())
}

/// A SQLite file of its own, removed with the folder.
fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!(
        "sqlite://{}",
        dir.path().join("nested").join("installs.db").display()
    )
}

#[tokio::test]
async fn the_memory_store_keeps_every_rule() {
    contract::check(&MemoryStore::default(), "ann".to_owned(), "bob".to_owned()).await;
}

#[tokio::test]
async fn the_sql_store_keeps_every_rule_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::connect(&sqlite_url(&dir), &key()).await.unwrap();
    contract::check(&store, "ann".to_owned(), "bob".to_owned()).await;
    // Integer ids too, on the same table.
    contract::check(&store, 1_i64, 2_i64).await;
}

#[tokio::test]
#[cfg_attr(
    not(postgres_tests),
    ignore = "set DATABASE_TEST_URL to run it on Postgres"
)]
async fn the_sql_store_keeps_every_rule_on_postgres() {
    let db = postgres::TempDb::new().await;
    let store = SqlStore::connect(&db.url, &key()).await.unwrap();
    contract::check(&store, "ann".to_owned(), "bob".to_owned()).await;
    contract::check(&store, 1_i64, 2_i64).await;
    db.drop().await;
}

/// A store that breaks a rule fails the contract: here, one that forgets the workspace rule.
#[tokio::test]
#[should_panic(expected = "superseded")]
async fn the_contract_fails_a_store_that_breaks_a_rule() {
    struct Forgetful(MemoryStore<String>);
    impl InstallStore<String> for Forgetful {
        type Error = std::convert::Infallible;
        async fn save(&self, user: &String, install: &InstallToken) -> Result<Saved, Self::Error> {
            // Saves as if nothing were superseded.
            match self.0.save(user, install).await? {
                Saved::Kept { .. } => Ok(Saved::Kept { superseded: vec![] }),
                other => Ok(other),
            }
        }
        async fn installs(
            &self,
            user: &String,
        ) -> Result<Vec<enable_with_segment::Install>, Self::Error> {
            self.0.installs(user).await
        }
        async fn disconnect(&self, user: &String, name: &InstallName) -> Result<bool, Self::Error> {
            self.0.disconnect(user, name).await
        }
        async fn save_token(
            &self,
            user: &String,
            token: &InstallToken,
        ) -> Result<bool, Self::Error> {
            self.0.save_token(user, token).await
        }
        async fn refused(
            &self,
            user: &String,
            name: &InstallName,
            reason: &str,
        ) -> Result<(), Self::Error> {
            self.0.refused(user, name, reason).await
        }
        async fn use_state(
            &self,
            state: &str,
            until: chrono::DateTime<chrono::Utc>,
        ) -> Result<bool, Self::Error> {
            self.0.use_state(state, until).await
        }
    }
    contract::check_without_lease(
        &Forgetful(MemoryStore::default()),
        "ann".to_owned(),
        "bob".to_owned(),
    )
    .await;
}

#[tokio::test]
async fn tokens_are_sealed_at_rest_and_installs_outlive_a_lost_key() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(&dir);
    let store = SqlStore::connect(&url, &key()).await.unwrap();
    let ann = token("installs/7", "acme");
    store.save(&"ann".to_owned(), &ann).await.unwrap();
    let enable_with_segment::sql::SqlPool::Sqlite(pool) = store.pool() else {
        unreachable!("a SQLite store")
    };
    let (sealed, user): (Vec<u8>, String) =
        sqlx::query_as("SELECT token_sealed, user_id FROM segment_installs")
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(user, "ann");
    let clear = ann.access_token.secret().as_bytes();
    assert!(
        !sealed.windows(clear.len()).any(|w| w == clear),
        "the token is in clear"
    );

    // Opened with another key: the install is there, its token reads as expired (so its next
    // use mints a new one).
    let other = SqlStore::connect(&url, &key()).await.unwrap();
    let kept = other
        .install(&"ann".to_owned(), &ann.install_name)
        .await
        .unwrap()
        .expect("the install outlives the key");
    assert!(kept.token.is_expired(Utc::now()));
    assert!(kept.token.access_token.secret().is_empty());
    assert_eq!(kept.token.source(), ann.source());
    // Its refresh can take the lease (once), and the token it stores opens.
    let user = "ann".to_owned();
    let hold = Utc::now() + chrono::Duration::seconds(30);
    assert!(
        other
            .try_refresh_lease(&user, &kept.token, hold)
            .await
            .unwrap()
    );
    assert!(
        !other
            .try_refresh_lease(&user, &kept.token, hold)
            .await
            .unwrap()
    );
    let fresh = token("installs/7", "acme");
    assert!(other.save_token(&user, &fresh).await.unwrap());
    let healed = other
        .install(&user, &ann.install_name)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(healed.token.access_token, fresh.access_token);
    // A caller that still holds the unreadable token gets no lease: it would retire the new one.
    assert!(
        !other
            .try_refresh_lease(&user, &kept.token, hold)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn users_are_keyed_by_their_ids_display() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::connect(&sqlite_url(&dir), &key()).await.unwrap();
    store
        .save(&42_i64, &token("installs/1", "acme"))
        .await
        .unwrap();
    let enable_with_segment::sql::SqlPool::Sqlite(pool) = store.pool() else {
        unreachable!("a SQLite store")
    };
    let user: String = sqlx::query_scalar("SELECT user_id FROM segment_installs")
        .fetch_one(pool)
        .await
        .unwrap();
    assert_eq!(user, "42");
    // The same id, however written, is the same user.
    assert_eq!(store.installs(&"42".to_owned()).await.unwrap().len(), 1);
}

/// The partner's own migrations: their `accounts`, recorded in sqlx's `_sqlx_migrations`.
fn partners() -> Migrator {
    Migrator::with_migrations(vec![Migration::new(
        1,
        "the partner's users".into(),
        MigrationType::Simple,
        sqlx::SqlSafeStr::into_sql_str(
            "CREATE TABLE accounts (id INTEGER PRIMARY KEY, email TEXT NOT NULL)",
        ),
        false,
    )])
}

#[tokio::test]
async fn a_partner_database_hosts_the_store_beside_its_own_migrations() {
    let dir = tempfile::tempdir().unwrap();
    let options: sqlx::sqlite::SqliteConnectOptions =
        std::str::FromStr::from_str(&format!("sqlite://{}", dir.path().join("app.db").display()))
            .unwrap();
    let pool = sqlx::SqlitePool::connect_with(options.create_if_missing(true))
        .await
        .unwrap();
    partners().run(&pool).await.unwrap();
    let store = SqlStore::new(pool.clone(), &key());
    assert_eq!(store.pending_migrations().await.unwrap(), 2);
    store.migrate().await.unwrap();
    assert_eq!(store.pending_migrations().await.unwrap(), 0);
    store
        .save(&"ann".to_owned(), &token("installs/1", "acme"))
        .await
        .unwrap();
    // Both migrators run again untroubled: neither sees the other's history.
    partners()
        .run(&pool)
        .await
        .expect("the partner's migrator sees only its own");
    store
        .migrate()
        .await
        .expect("the store's sees only its own");
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'
         ORDER BY name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        tables,
        [
            "_sqlx_migrations",
            "accounts",
            "segment_flow_states",
            "segment_installs",
            "segment_installs_migrations"
        ]
    );
}

#[tokio::test]
async fn a_url_of_another_database_is_refused_without_showing_it() {
    let error = SqlStore::connect("mysql://root:hunter2@db/partner", &key())
        .await
        .unwrap_err();
    let said = error.to_string();
    assert!(said.starts_with("mysql:"), "{said}");
    assert!(!said.contains("hunter2"), "{said}");
}

/// A Postgres database of its own on the server `DATABASE_TEST_URL` names.
mod postgres {
    use sqlx::Connection;

    pub struct TempDb {
        pub url: String,
        server: String,
        name: String,
    }

    impl TempDb {
        pub async fn new() -> TempDb {
            let server = std::env::var("DATABASE_TEST_URL")
                .expect("DATABASE_TEST_URL names a Postgres server for the Postgres tests");
            let name = format!(
                "ews_test_{}",
                chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
            );
            run(&server, &format!("CREATE DATABASE {name}")).await;
            let mut url = url::Url::parse(&server).expect("DATABASE_TEST_URL is a URL");
            url.set_path(&name);
            TempDb {
                url: url.to_string(),
                server,
                name,
            }
        }

        pub async fn drop(self) {
            run(
                &self.server,
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            )
            .await;
        }
    }

    async fn run(server: &str, sql: &str) {
        let mut conn = sqlx::PgConnection::connect(server)
            .await
            .expect("the Postgres server at DATABASE_TEST_URL answers");
        // The statements are this file's own (a database name of a word and digits).
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut conn)
            .await
            .expect("the statement runs");
    }
}

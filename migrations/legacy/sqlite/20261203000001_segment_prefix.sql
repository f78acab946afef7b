-- The last migration of the history kept in sqlx's _sqlx_migrations: the tables get the prefix
-- segment_, and from here the store's migrations are recorded in segment_migrations
-- (migrations/sqlite|postgres/, store/db.rs), starting from a schema that equals this one.
ALTER TABLE accounts RENAME TO segment_accounts;
ALTER TABLE installs RENAME TO segment_installs;
ALTER TABLE sessions RENAME TO segment_sessions;
ALTER TABLE demo_key RENAME TO segment_demo_key;

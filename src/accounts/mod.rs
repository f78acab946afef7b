//! The partner's side: the partner's own accounts, their API keys, and the Segment installs
//! each account made, kept in a database (SQLite through sqlx, migrations in `migrations/`).
//!
//! Segment's FAQ asks for exactly this: store the install (install name, workspace, source)
//! with your user, because installing twice fails with "install already exists" and an install
//! token can always be re-minted from its install name. Tokens are therefore not stored.
//!
//! To plug in a real user system, keep [`Store`]'s installs table, point `account_id` at your
//! users, and replace `web::account` (the middleware that finds the current account) with your
//! login.

mod keys;
mod store;

pub use keys::{ApiKey, hash as hash_key};
pub use store::{Account, Store, StoreError, StoredInstall};

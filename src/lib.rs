//! "Enable with Segment", the partner app: a web OAuth consumer that lets a partner's customers
//! connect the partner's destination to their Segment workspace in a few clicks.
//!
//! The app is built on three crates of the workspace (`docs/architecture.md`): the flow library
//! `enable_with_segment`, which mounts the install flow with the app's accounts, store and
//! pages; the Segment client, re-exported here as [`segment`] (with its [`secret`] types); and
//! the sandbox, re-exported as `sandbox` (the default `sandbox` feature). The app's own modules:
//! - [`web`]: routes, handlers, the session and the pages (`templates/`, `static/`), and the
//!   app's side of the flow library (`web::enable`);
//! - [`store`]: accounts and sessions, in the app's database, and the flow library's install
//!   store on the same database;
//! - [`crypto`]: the keys derived from `SESSION_KEY`, and encryption of data at rest;
//! - [`config`] and [`startup`]: settings from the environment, and the running server.

pub mod config;
pub mod crypto;
pub mod metrics;
pub use segment_client as segment;
pub use segment_client::secret;
#[cfg(feature = "sandbox")]
pub use segment_sandbox as sandbox;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod web;

/// The guide's pages (`docs/`) as doc tests: a Rust snippet in them that does not compile fails
/// `cargo test`, so the guide cannot drift from the code.
#[cfg(doctest)]
mod guide {
    #[doc = include_str!("../docs/accounts.md")]
    struct Accounts;
    #[doc = include_str!("../docs/architecture.md")]
    struct Architecture;
    #[doc = include_str!("../docs/demo.md")]
    struct Demo;
    #[doc = include_str!("../docs/deploying.md")]
    struct Deploying;
    #[doc = include_str!("../docs/destinations.md")]
    struct Destinations;
    #[doc = include_str!("../docs/library.md")]
    struct Library;
    #[doc = include_str!("../docs/monitoring.md")]
    struct Monitoring;
    #[doc = include_str!("../docs/real-segment.md")]
    struct RealSegment;
    #[doc = include_str!("../docs/sandbox.md")]
    struct Sandbox;
    #[doc = include_str!("../docs/security.md")]
    struct Security;
    #[doc = include_str!("../docs/settings.md")]
    struct Settings;
    #[doc = include_str!("../docs/tests.md")]
    struct Tests;
}

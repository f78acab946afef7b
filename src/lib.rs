//! "Enable with Segment", the partner app: a web OAuth consumer that lets a partner's customers
//! connect the partner's destination to their Segment workspace in a few clicks.
//!
//! The architecture, one module each:
//! - [`segment`]: the client for Segment's identity service and Config API;
//! - `sandbox`: the built-in stand-in for Segment (the default `sandbox` feature);
//! - [`web`]: routes, handlers, the session and the pages (`templates/`, `static/`);
//! - [`store`]: accounts, installs (with their tokens) and sessions, in the app's database;
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

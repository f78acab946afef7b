//! The web layer: routes, handlers, the session and the pages. It turns browser requests into
//! calls of the Segment client and the answers into pages; it never builds a Segment URL or
//! JSON body itself.
//!
//! Every route, with its handler and what it is for, is in one table: [`ROUTES`]
//! (`web/routes.rs`), which the router, the property test and the guide follow. What handlers
//! are given is in `web/state.rs`.
//!
//! The modules depend on each other in one direction only (a test in `tests/architecture.rs`
//! keeps it so): this file only names them.

pub mod account;
pub mod api_key;
pub mod assets;
pub mod auth;
pub mod chart;
pub mod configure;
pub mod demo_login;
pub mod description;
pub mod destination;
pub mod enable;
pub mod error;
pub mod error_page;
pub mod extract;
pub mod flash;
pub mod health;
pub mod home;
pub mod installs;
pub mod login;
pub mod monitor;
pub mod operations;
pub mod pages;
pub mod proxy;
pub mod request_log;
pub mod routes;
pub mod security;
pub mod session;
pub mod settings_form;
pub mod state;
pub mod workspace;

pub use routes::{ROUTES, Route, Unmatched, not_found, route_label, routes};

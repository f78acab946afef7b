//! Integration tests: the sandbox and the app on loopback ports, driven over HTTP as a browser
//! (and, for the sandbox alone, as an OAuth and Config API client) would.
#![cfg(feature = "sandbox")]

mod client;
mod configure;
mod conform;
mod errors;
mod faults;
mod flow;
mod fuzz;
mod helpers;
mod load;
mod monitor;
mod operations;
mod partner;
mod redis_down;
mod sandbox;
mod scopes;
mod security;
mod state;
mod tokens;

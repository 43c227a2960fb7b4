//! Gatehouse's browser pages: Leptos components rendered on the server
//! (`ssr`), with the server functions behind them. Pages are Leptos islands:
//! everything is plain server-rendered HTML whose forms post to the server
//! functions (which answer with a redirect), and only the few interactive
//! parts marked `#[island]` are hydrated in the browser (`hydrate`). So every
//! page works with JavaScript off, and the browser bundle holds only the
//! islands.

#![recursion_limit = "256"]

pub mod components;
pub mod cookies;
pub mod error;
pub mod navigation;
pub mod pages;
pub mod server_fns;
pub mod session_keys;
mod shell;

pub use shell::{App, shell};

#[cfg(feature = "ssr")]
pub use server_fns::context::{AppContext, ClientIp, DocumentCsp};

/// Browser entry point: hydrates the islands of the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_islands();
}

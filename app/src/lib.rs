//! Gatehouse's browser pages: Leptos components rendered on the server
//! (`ssr`) and hydrated in the browser (`hydrate`), with the server functions
//! behind them. Every page works with JavaScript off: forms post to the server
//! functions, which answer plain form posts with a redirect.

#![recursion_limit = "256"]

pub mod components;
pub mod error;
pub mod navigation;
pub mod pages;
pub mod server_fns;
mod shell;

pub use shell::{App, shell};

#[cfg(feature = "ssr")]
pub use server_fns::context::{AppContext, ClientIp};

/// Browser entry point: hydrates the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}

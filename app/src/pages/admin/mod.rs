//! The admin console's pages.

mod authorized_apps;

pub use authorized_apps::AdminAppsPage;

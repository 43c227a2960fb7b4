//! One module per page.

pub mod admin;
mod authorize_sso;
mod device;
mod error_page;
mod home;
mod my_apps;
mod not_found;
mod password;
mod security;
mod signin;

pub use admin::{AdminAccountsPage, AdminAppsPage, AdminAuditPage, AdminClientsPage, AdminHome, AdminScopesPage};
pub use authorize_sso::AuthorizeSsoPage;
pub use device::DevicePage;
pub use error_page::ErrorPage;
pub use home::HomePage;
pub use my_apps::MyAppsPage;
pub use not_found::NotFound;
pub use password::{ChangePasswordPage, ForgotPasswordPage, ResetPasswordPage};
pub use security::SecurityPage;
pub use signin::SignInPage;

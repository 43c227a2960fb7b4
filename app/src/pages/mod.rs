//! One module per page.

mod device;
mod home;
mod not_found;
mod signin;

pub use device::DevicePage;
pub use home::HomePage;
pub use not_found::NotFound;
pub use signin::SignInPage;

//! Wire formats of the secrets and codes Gatehouse hands out.

pub mod base62;
pub mod device_code;
pub mod email;
pub mod network;
pub mod token;
pub mod user_code;

//! Protocol conformance: one test per answer and rule of the RFCs Gatehouse
//! implements, each on both backend pairs. A failing test here names the
//! rule that broke.

mod rfc10027;
mod rfc6749_refresh;
mod rfc6750_bearer;
mod rfc7009_revocation;
mod rfc7662_introspection;
mod rfc8414_discovery;
mod rfc8628_device_authorization;
mod rfc8628_lookup;
mod rfc8628_token;
mod rfc9449_dpop;

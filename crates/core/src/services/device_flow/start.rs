//! RFC 8628 §3.1–3.2: a device asks for a code.

use super::{DeviceFlowService, FlowError, oauth};
use crate::approval_policy::DeviceConfirmation;
use crate::error::{OAuthErrorCode, StoreError};
use crate::flow::{DeviceFlow, FlowStatus};
use crate::formats::device_code::DeviceCode;
use crate::formats::network;
use crate::formats::user_code::UserCode;
use crate::model::DpopMode;
use crate::ports::Inserted;
use crate::rate_limit::Limiter;
use crate::rate_limit::RateLimitService;
use crate::scope;
use crate::secret::SecretString;
use chrono::Duration;

/// Longest accepted `device_label`, in characters.
pub const DEVICE_LABEL_MAX_CHARS: usize = 64;
/// The requester's User-Agent is kept (and shown) up to this many
/// characters: a flow's size must not be the caller's choice.
pub const USER_AGENT_MAX_CHARS: usize = 256;
/// Attempts at drawing a user code that is not in use.
const USER_CODE_ATTEMPTS: usize = 8;

/// A device authorization request (RFC 8628 §3.1) plus what the edge saw.
#[derive(Debug, Clone, Default)]
pub struct StartRequest {
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    pub scope: Option<String>,
    pub device_label: Option<String>,
    pub ip: Option<String>,
    /// Whether `ip` is the device's own address (else the edge fell back to
    /// a proxy's, which no network rule matches).
    pub ip_proven: bool,
    pub user_agent: Option<String>,
    /// RFC 9449 §10: the thumbprint of the DPoP key the code is bound to.
    pub dpop_jkt: Option<String>,
}

/// A started flow (RFC 8628 §3.2); the device code's plaintext exists only here.
#[derive(Debug, Clone)]
pub struct StartedFlow {
    pub device_code: DeviceCode,
    pub user_code: UserCode,
    pub expires_in: u32,
    pub interval: u32,
    /// The device must send the code the approving browser shows
    /// (`confirmation_required` in the answer).
    pub confirmation_required: bool,
}

impl DeviceFlowService {
    /// RFC 8628 §3.1–3.2: validates the client and request, stores a new flow.
    pub async fn start(&self, request: StartRequest) -> Result<StartedFlow, FlowError> {
        let client = self
            .clients
            .authenticate_for_device_grant(request.client_id.as_deref(), request.client_secret.as_ref())
            .await?;
        let device_label = validate_device_label(request.device_label.as_deref())?;
        let address = request.ip_proven.then(|| network::address(request.ip.as_deref())).flatten();
        if !client.approval.admits_device(address) {
            crate::metrics::flow("refused_network");
            return Err(oauth(
                OAuthErrorCode::UnauthorizedClient,
                "network_not_allowed: this client may start sign-ins only from its registered networks, \
                 and this request's address is outside them",
            ));
        }
        let dpop_jkt = match request.dpop_jkt {
            Some(jkt) if !crate::services::dpop::is_thumbprint(&jkt) => {
                return Err(oauth(OAuthErrorCode::InvalidRequest, "dpop_jkt is not a JWK SHA-256 thumbprint"));
            }
            Some(_) if client.policy.dpop == DpopMode::Off => {
                return Err(oauth(OAuthErrorCode::InvalidRequest, "this client's tokens are not DPoP-bound"));
            }
            jkt => jkt,
        };
        let scopes = match request.scope.as_deref() {
            None => match scope::unnamed_request(&client.allowed_scopes) {
                none if none.is_empty() => {
                    return Err(oauth(OAuthErrorCode::InvalidScope, "this client's scope must be asked for by name"));
                }
                scopes => scopes,
            },
            Some(param) => {
                let requested = scope::parse(param);
                if requested.is_empty() {
                    return Err(oauth(OAuthErrorCode::InvalidScope, "scope is empty"));
                }
                if requested.iter().any(|s| !client.allowed_scopes.contains(s)) {
                    return Err(oauth(
                        OAuthErrorCode::InvalidScope,
                        "a requested scope is not allowed for this client",
                    ));
                }
                requested
            }
        };

        let now = self.ports.clock.now();
        let expires_in = client.approval.code_lifetime_secs.unwrap_or(self.settings.flow_expires_in);
        let expires_at = now + Duration::seconds(i64::from(expires_in));
        let interval = client.policy.poll_interval.unwrap_or(self.settings.poll_interval);
        // The tombstone covers the whole configured period after expiry, its
        // last instant included; the second more keeps Redis's own expiry
        // (counted from when the insert arrives) from ending it early.
        let retain_until = expires_at + Duration::seconds(i64::from(self.settings.tombstone) + 1);
        let user_agent =
            request.user_agent.as_deref().map(|ua| ua.chars().take(USER_AGENT_MAX_CHARS).collect::<String>());
        // The limits are spent with the insert, in one step: a request the
        // checks above refuse stores nothing and is not counted.
        let mut limits = self.limits.checks(&[
            (Limiter::DeviceAuthorizationPerIp, request.ip.as_deref()),
            (Limiter::DeviceAuthorizationPerClient, Some(&client.client_id)),
        ]);
        let mut reserved = false;
        let device_code = DeviceCode::generate(self.ports.random.as_ref());
        for _ in 0..USER_CODE_ATTEMPTS {
            let user_code = UserCode::generate(self.ports.random.as_ref());
            let flow = DeviceFlow {
                device_code_hash: device_code.hash(),
                user_code: user_code.clone(),
                client_id: client.client_id.clone(),
                client_name: client.name.clone(),
                scopes: scopes.clone(),
                device_label: device_label.clone(),
                requester_ip: request.ip.clone(),
                requester_user_agent: user_agent.clone(),
                created_at: now,
                expires_at,
                interval_secs: interval,
                last_polled_at: None,
                status: FlowStatus::Pending,
                dpop_jkt: dpop_jkt.clone(),
                policy: client.approval.clone(),
                requester_ip_proven: address.is_some(),
                holders: Default::default(),
                confirmation_failures: 0,
            };
            match self.ports.flows.insert_within(&flow, retain_until, &limits).await? {
                Inserted::Stored => {
                    crate::metrics::flow("started");
                    return Ok(StartedFlow {
                        device_code,
                        user_code,
                        expires_in,
                        confirmation_required: client.approval.device_confirmation == DeviceConfirmation::Required,
                        interval,
                    });
                }
                // The client's shared quota is spent: the address may still
                // have one of its reserved requests (a first `gatehouse
                // login` during a flood from elsewhere), counted instead.
                Inserted::Limited(limited)
                    if limited.limiter == Limiter::DeviceAuthorizationPerClient
                        && !reserved
                        && self.limits.take_reserved(&client.client_id, request.ip.as_deref()).await? =>
                {
                    reserved = true;
                    limits.retain(|check| check.limiter != Limiter::DeviceAuthorizationPerClient);
                }
                Inserted::Limited(limited) => return Err(RateLimitService::refused(limited).into()),
                // The units are spent; another code is the same request.
                Inserted::UserCodeTaken => limits.clear(),
            }
        }
        // 20^8 codes make this practically unreachable; fail closed if it happens.
        Err(FlowError::Unavailable(StoreError::new("no free user code after retries")))
    }
}

/// `device_label` rules: at most 64 characters, no control or bidi-override
/// characters (they could make the approval page lie about the device).
pub fn validate_device_label(label: Option<&str>) -> Result<Option<String>, FlowError> {
    let Some(label) = label.map(str::trim).filter(|l| !l.is_empty()) else {
        return Ok(None);
    };
    if label.chars().count() > DEVICE_LABEL_MAX_CHARS {
        return Err(oauth(OAuthErrorCode::InvalidRequest, "device_label is longer than 64 characters"));
    }
    if label.chars().any(|c| c.is_control() || is_bidi_control(c) || is_zero_width(c)) {
        return Err(oauth(
            OAuthErrorCode::InvalidRequest,
            "device_label contains control, bidi or zero-width characters",
        ));
    }
    Ok(Some(label.to_owned()))
}

/// Invisible characters that could make two labels look the same.
fn is_zero_width(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_label_rules() {
        assert_eq!(validate_device_label(None).ok(), Some(None));
        assert_eq!(validate_device_label(Some("  ")).ok(), Some(None));
        assert_eq!(validate_device_label(Some("ada's laptop")).ok(), Some(Some("ada's laptop".into())));
        assert!(validate_device_label(Some(&"x".repeat(64))).is_ok());
        assert!(validate_device_label(Some(&"é".repeat(65))).is_err());
        assert!(validate_device_label(Some("evil\u{202E}pot")).is_err());
        assert!(validate_device_label(Some("tab\there")).is_err());
        for invisible in ['\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{FEFF}'] {
            assert!(validate_device_label(Some(&format!("lap{invisible}top"))).is_err(), "{invisible:?}");
        }
    }
}

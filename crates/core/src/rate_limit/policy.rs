//! The policy: typed limiters, each keyed by one kind of subject (an IP, a
//! client, a session, an account, a token), with a quota of `limit` events
//! per `period` enforced by GCRA (the generic cell rate algorithm): a burst
//! of `limit` at once, then one more every `period / limit`. The state is
//! one number per key (its *theoretical arrival time*), so it shares well
//! through the state store.
//!
//! The arithmetic lives here, once: `gcra_step` is what both adapters run
//! (the in-process one in Rust, the Redis one as the same steps in Lua).

use chrono::{DateTime, Utc};
use std::time::Duration;

/// What a limiter's key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Ip,
    Client,
    Session,
    Account,
    Token,
    /// A pending device flow (its public id, which reveals none of its codes).
    Flow,
    /// One key for every caller (an alarm, not a limit).
    Everyone,
}

impl KeyType {
    /// The name logged with a rejection.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Ip => "ip",
            KeyType::Client => "client",
            KeyType::Session => "session",
            KeyType::Account => "account",
            KeyType::Token => "token",
            KeyType::Flow => "flow",
            KeyType::Everyone => "everyone",
        }
    }
}

crate::named_enum::named_enum! {
    /// Every limiter Gatehouse applies, in the order the configuration
    /// reference lists them, each with its stable name: in metrics, logs,
    /// state-store keys, and (upper-cased, after `GATEHOUSE_LIMIT_`) the
    /// setting.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Limiter {
        /// Device authorization requests (`/v1/oauth/device/code`) per address.
        DeviceAuthorizationPerIp = "device_authorization_per_ip",
        /// Device authorization requests per client, from every address
        /// together: a public client's quota is shared by anyone who names it.
        DeviceAuthorizationPerClient = "device_authorization_per_client",
        /// Requests each address (network) may still make for a client once
        /// that client's quota is spent, so a flood from many addresses cannot
        /// refuse a new address its first request.
        DeviceAuthorizationReservedPerIp = "device_authorization_reserved_per_ip",
        /// Typed codes that named no pending request (`/device`, `lookup`,
        /// approve, deny, SSO start) per address. A success does not reset it.
        CodeFailuresPerIp = "code_failures_per_ip",
        /// The same failures per browser session.
        CodeFailuresPerSession = "code_failures_per_session",
        /// The same failures from every address together: an alarm, never a
        /// refusal (a refusal here would let one guesser lock everyone out).
        /// Past its quota each failure is counted in
        /// `gatehouse_code_failure_alarms_total` and a warning is logged.
        CodeFailuresAlarm = "code_failures_alarm",
        /// Token polls with a `device_code` Gatehouse does not know, per address.
        UnknownDeviceCodePerIp = "unknown_device_code_per_ip",
        /// Refreshes with a well-formed refresh token Gatehouse does not know,
        /// per address.
        UnknownRefreshTokenPerIp = "unknown_refresh_token_per_ip",
        /// Failed sign-ins per account (by email, known or not).
        SignInFailuresPerAccount = "sign_in_failures_per_account",
        /// Failed sign-ins per address.
        SignInFailuresPerIp = "sign_in_failures_per_ip",
        /// Approvals per approving person.
        ApprovalsPerAccount = "approvals_per_account",
        /// Bearer-authenticated requests per token.
        BearerPerToken = "bearer_per_token",
        /// SSO sign-ins started (`sso-initiate`) per address: each one stores a
        /// sign-in record until it is finished or expires.
        SsoInitiatePerIp = "sso_initiate_per_ip",
        /// SSO sign-ins started for one pending code, from every address.
        SsoInitiatePerFlow = "sso_initiate_per_flow",
        /// Password reset links asked for, per address.
        PasswordResetsPerIp = "password_resets_per_ip",
        /// Password reset links asked for, per account (by email, known or not),
        /// so nobody can flood a person's inbox.
        PasswordResetsPerAccount = "password_resets_per_account",
        /// Passkey ceremonies started (registration, sign-in, step-up) per
        /// address: each one is kept until it is finished or expires.
        PasskeyCeremoniesPerIp = "passkey_ceremonies_per_ip",
    }
}

impl Limiter {
    /// What the key names.
    pub fn key_type(self) -> KeyType {
        match self {
            Limiter::DeviceAuthorizationPerIp
            | Limiter::DeviceAuthorizationReservedPerIp
            | Limiter::CodeFailuresPerIp
            | Limiter::UnknownDeviceCodePerIp
            | Limiter::UnknownRefreshTokenPerIp
            | Limiter::SignInFailuresPerIp
            | Limiter::SsoInitiatePerIp
            | Limiter::PasswordResetsPerIp
            | Limiter::PasskeyCeremoniesPerIp => KeyType::Ip,
            Limiter::DeviceAuthorizationPerClient => KeyType::Client,
            Limiter::CodeFailuresPerSession => KeyType::Session,
            Limiter::CodeFailuresAlarm => KeyType::Everyone,
            Limiter::SignInFailuresPerAccount | Limiter::ApprovalsPerAccount | Limiter::PasswordResetsPerAccount => {
                KeyType::Account
            }
            Limiter::BearerPerToken => KeyType::Token,
            Limiter::SsoInitiatePerFlow => KeyType::Flow,
        }
    }

    /// The default quota.
    pub fn default_quota(self) -> Quota {
        const MINUTE: u64 = 60;
        const HOUR: u64 = 3600;
        let (limit, period) = match self {
            // `gatehouse login` starts one flow; a busy NAT or CI fleet many.
            Limiter::DeviceAuthorizationPerIp => (120, HOUR),
            Limiter::DeviceAuthorizationPerClient => (6000, HOUR),
            // Enough for a person to retry `gatehouse login` during a flood.
            Limiter::DeviceAuthorizationReservedPerIp => (2, HOUR),
            // With 20^8 codes and 10 guesses an hour, a guess finds one of
            // 1,000 pending flows once in 2.5 million years.
            Limiter::CodeFailuresPerIp => (10, HOUR),
            Limiter::CodeFailuresPerSession => (5, HOUR),
            // Fifty addresses at their limit at once; people mistyping
            // rarely reach a tenth of it.
            Limiter::CodeFailuresAlarm => (500, HOUR),
            Limiter::UnknownDeviceCodePerIp => (60, HOUR),
            // Refresh tokens cannot be guessed either; this only keeps
            // junk from costing a database lookup each.
            Limiter::UnknownRefreshTokenPerIp => (60, HOUR),
            // High enough that guessing cannot lock a person out for long.
            Limiter::SignInFailuresPerAccount => (100, HOUR),
            Limiter::SignInFailuresPerIp => (30, HOUR),
            Limiter::ApprovalsPerAccount => (60, HOUR),
            Limiter::BearerPerToken => (1200, MINUTE),
            // A person retrying a sign-in a few times, several people behind
            // one address; a flow lives 10 minutes.
            Limiter::SsoInitiatePerIp => (30, 10 * MINUTE),
            Limiter::SsoInitiatePerFlow => (10, 10 * MINUTE),
            // A person who lost the first email asks again; an office
            // behind one address has a few forgetful people a day.
            Limiter::PasswordResetsPerIp => (10, HOUR),
            Limiter::PasswordResetsPerAccount => (3, HOUR),
            // Each sign-in page that offers autofill starts one; an office
            // behind one address signs in often. A ceremony is a small
            // record kept at most 5 minutes.
            Limiter::PasskeyCeremoniesPerIp => (120, 10 * MINUTE),
        };
        Quota { limit, period: Duration::from_secs(period) }
    }
}

/// `limit` events per `period`: a burst of `limit`, refilled at one per
/// `period / limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub period: Duration,
}

impl Quota {
    /// Parses `N/period`, the period a number and a unit (`s`, `m`, `h`,
    /// `d`): `10/1h`, `1200/1m`. `off` (or `0`) means no limit: `None`.
    pub fn parse(text: &str) -> Result<Option<Quota>, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("off") || text == "0" {
            return Ok(None);
        }
        let bad = || format!("expected N/period like 10/1h or 1200/1m, or off; got {text:?}");
        let (limit, period) = text.split_once('/').ok_or_else(bad)?;
        let limit: u32 = limit.trim().parse().map_err(|_| bad())?;
        let period = period.trim();
        let unit_at = period.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (count, unit) = period.split_at(unit_at);
        let count: u64 = if count.is_empty() { 1 } else { count.parse().map_err(|_| bad())? };
        let unit_secs = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(bad()),
        };
        if limit == 0 {
            return Ok(None);
        }
        if count == 0 {
            return Err(bad());
        }
        Ok(Some(Quota { limit, period: Duration::from_secs(count * unit_secs) }))
    }

    /// The interval between events at the sustained rate, in milliseconds.
    pub fn emission_ms(&self) -> f64 {
        self.period.as_millis() as f64 / f64::from(self.limit.max(1))
    }
}

impl std::fmt::Display for Quota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.period.as_secs();
        match secs {
            s if s % 86_400 == 0 => write!(f, "{}/{}d", self.limit, s / 86_400),
            s if s % 3600 == 0 => write!(f, "{}/{}h", self.limit, s / 3600),
            s if s % 60 == 0 => write!(f, "{}/{}m", self.limit, s / 60),
            s => write!(f, "{}/{}s", self.limit, s),
        }
    }
}

/// The quota of every limiter (`None` switches a limiter off), and how
/// addresses are grouped into the networks per-address limits count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitSettings {
    quotas: Vec<(Limiter, Option<Quota>)>,
    /// An IPv6 client is counted by its first this many bits: one household
    /// or server gets a whole /64 and can pick any address in it.
    pub ipv6_prefix: u8,
}

/// The default IPv6 prefix length per-address limits count by.
pub const DEFAULT_IPV6_PREFIX: u8 = 64;

impl Default for RateLimitSettings {
    fn default() -> Self {
        Self {
            quotas: Limiter::ALL.iter().map(|&l| (l, Some(l.default_quota()))).collect(),
            ipv6_prefix: DEFAULT_IPV6_PREFIX,
        }
    }
}

impl RateLimitSettings {
    /// Every limiter off (benchmarks compare against this).
    pub fn off() -> Self {
        Self { quotas: Limiter::ALL.iter().map(|&l| (l, None)).collect(), ipv6_prefix: DEFAULT_IPV6_PREFIX }
    }

    /// The limiter's quota; `None` when it is off.
    pub fn quota(&self, limiter: Limiter) -> Option<Quota> {
        self.quotas.iter().find(|(l, _)| *l == limiter).and_then(|(_, q)| *q)
    }

    /// Sets one limiter's quota.
    pub fn set(&mut self, limiter: Limiter, quota: Option<Quota>) {
        if let Some(entry) = self.quotas.iter_mut().find(|(l, _)| *l == limiter) {
            entry.1 = quota;
        }
    }
}

/// One key to check: `<limiter>:<subject>` and its quota.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateCheck {
    pub limiter: Limiter,
    /// The composite key, e.g. `code_failures_per_ip:203.0.113.9`.
    pub key: String,
    pub quota: Quota,
}

/// Whether a check spends a unit or gives one back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateMode {
    /// Spend one unit from every key, only if every key has one.
    Take,
    /// Give back one unit to every key (never refused): a failure limiter
    /// spends a unit before the attempt, so parallel attempts cannot all
    /// slip past a check, and gives it back when the attempt succeeds.
    Refund,
}

/// A refusal: which limiter, and how long until it would allow one more.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("rate limited by {} for {retry_after:?}", limiter.as_str())]
pub struct RateLimited {
    pub limiter: Limiter,
    pub retry_after: Duration,
}

impl RateLimited {
    /// Whole seconds to wait, rounded up, at least 1 (`Retry-After`).
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_millis().div_ceil(1000).max(1) as u64
    }

    /// Milliseconds to wait, at least 1.
    pub fn retry_after_ms(&self) -> u64 {
        (self.retry_after.as_millis() as u64).max(1)
    }
}

/// One GCRA step for a key whose stored theoretical arrival time is `tat`
/// (ms since the epoch; `None` for a fresh key), at `now_ms`: either the new
/// arrival time to store (allowed) or the wait in ms (refused).
pub fn gcra_step(tat: Option<f64>, now_ms: f64, quota: &Quota) -> Result<f64, f64> {
    let tat = tat.unwrap_or(now_ms).max(now_ms);
    let new_tat = tat + quota.emission_ms();
    let allow_at = new_tat - quota.period.as_millis() as f64;
    if allow_at > now_ms { Err(allow_at - now_ms) } else { Ok(new_tat) }
}

/// A key's arrival time after one unit is given back (`None`: nothing
/// stored, nothing to give back).
pub fn gcra_refund(tat: Option<f64>, quota: &Quota) -> Option<f64> {
    tat.map(|tat| tat - quota.emission_ms())
}

/// Milliseconds since the epoch, as the limiters count time.
pub fn epoch_ms(at: DateTime<Utc>) -> f64 {
    at.timestamp_millis() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(limit: u32, secs: u64) -> Quota {
        Quota { limit, period: Duration::from_secs(secs) }
    }

    #[test]
    fn every_limiter_has_one_name_that_parses_back() {
        let mut names: Vec<_> = Limiter::ALL.iter().map(|limiter| limiter.as_str()).collect();
        for &limiter in Limiter::ALL {
            assert_eq!(Limiter::parse(limiter.as_str()), Some(limiter));
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Limiter::ALL.len());
    }

    #[test]
    fn a_burst_of_limit_then_one_per_emission_interval() {
        let q = quota(10, 3600);
        let mut tat = None;
        for i in 0..10 {
            tat = Some(gcra_step(tat, 0.0, &q).unwrap_or_else(|_| panic!("event {i} refused")));
        }
        // The 11th at the same instant waits one emission interval (6 min).
        assert_eq!(gcra_step(tat, 0.0, &q), Err(360_000.0));
        // A minute later it still waits five.
        assert_eq!(gcra_step(tat, 60_000.0, &q), Err(300_000.0));
        // Six minutes later exactly one more is allowed, not two.
        let after = gcra_step(tat, 360_000.0, &q).ok();
        assert!(after.is_some());
        assert!(gcra_step(after, 360_000.0, &q).is_err());
        // After a whole period idle, the full burst is back.
        for _ in 0..10 {
            tat = gcra_step(tat, 7_200_000.0, &q).ok();
            assert!(tat.is_some());
        }
    }

    #[test]
    fn quotas_parse_and_print() {
        assert_eq!(Quota::parse("10/1h"), Ok(Some(quota(10, 3600))));
        assert_eq!(Quota::parse("1200/m"), Ok(Some(quota(1200, 60))));
        assert_eq!(Quota::parse(" 5 / 30s "), Ok(Some(quota(5, 30))));
        assert_eq!(Quota::parse("off"), Ok(None));
        assert_eq!(Quota::parse("0"), Ok(None));
        for bad in ["", "10", "10/", "10/1w", "x/1h", "10/0h", "-1/1h"] {
            assert!(Quota::parse(bad).is_err(), "{bad:?} should not parse");
        }
        for &limiter in Limiter::ALL {
            let q = limiter.default_quota();
            assert_eq!(Quota::parse(&q.to_string()), Ok(Some(q)));
        }
    }

    #[test]
    fn retry_after_rounds_up() {
        let limited = RateLimited { limiter: Limiter::BearerPerToken, retry_after: Duration::from_millis(1001) };
        assert_eq!(limited.retry_after_secs(), 2);
        let limited = RateLimited { limiter: Limiter::BearerPerToken, retry_after: Duration::ZERO };
        assert_eq!((limited.retry_after_secs(), limited.retry_after_ms()), (1, 1));
    }
}

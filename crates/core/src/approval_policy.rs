//! A client's approval policy: the mitigations of RFC 10027 (BCP 247,
//! cross-device flows) that Gatehouse enforces for the device grant, and the
//! pure judgements they make. The use cases apply them (`services::
//! device_flow`); the flow keeps the policy in force when its device asked
//! (`flow::DeviceFlow::policy`), so an edit applies to new flows only.

use crate::formats::network::Network;
use crate::named_enum::named_enum;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::net::IpAddr;

/// Bounds of a client's own code lifetime (`expires_in`), seconds.
pub const CODE_LIFETIME_SECS: std::ops::RangeInclusive<u32> = 60..=1800;
/// Bounds of a client's maximum code age, seconds.
pub const MAX_CODE_AGE_SECS: std::ops::RangeInclusive<u32> = 10..=1800;
/// Wrong confirmation codes after which the flow is denied.
pub const CONFIRMATION_ATTEMPTS: u8 = 3;
/// Most ranges in one list, and most groups.
const LIST_MAX: usize = 64;

named_enum! {
    /// Where the approving browser must be (RFC 10027 "establish proximity").
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
    pub enum ApproverNetwork {
        /// Anywhere: a different network is shown and audited, not refused.
        #[default]
        Any = "any",
        /// The device's network: its IPv4 address, or its IPv6 prefix.
        SameNetwork = "same_network",
        /// Inside one of `approver_networks`.
        Listed = "listed",
    }
}

named_enum! {
    /// Whether the device must confirm the approval by typing a code the
    /// approving browser shows (RFC 10027 "request initiation verification").
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
    pub enum DeviceConfirmation {
        #[default]
        Off = "off",
        Required = "required",
    }
}

named_enum! {
    /// How the approving person must have signed in.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
    pub enum ApproverAuth {
        /// Any way Gatehouse signs people in.
        #[default]
        Any = "any",
        /// With a passkey, or through the SSO provider: a password alone
        /// is not enough (RFC 10027 "phishing-resistant authentication").
        PhishingResistant = "phishing_resistant",
    }
}

named_enum! {
    /// Why the policy refused a person or a device: the error codes the
    /// page, the server functions and the API answer with.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum Refusal {
        /// The device, or the approver, is outside the networks allowed.
        NetworkNotAllowed = "network_not_allowed",
        /// The code was entered or decided too long after the device asked.
        CodeTooOld = "code_too_old",
        /// A second person took up a code a first person already had.
        CodeShared = "code_shared",
        /// The person is not among the client's approvers.
        ApproverNotAllowed = "approver_not_allowed",
        /// The device sent wrong confirmation codes.
        ConfirmationFailed = "confirmation_failed",
        /// The person signed in with a password, and the client needs a
        /// passkey (or SSO) sign-in.
        PasskeyRequired = "passkey_required",
    }
}

/// Who may approve a client's requests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum Approvers {
    #[default]
    Everyone,
    /// Gatehouse admins (accounts, or SSO people with admin rights).
    Admins,
    /// People whose last SSO sign-in carried one of these groups.
    Groups(Vec<String>),
}

impl Approvers {
    /// As the command line, the editor and the API spell it: `everyone`,
    /// `admins`, or `group:NAME[,group:NAME]`.
    pub fn setting(&self) -> String {
        match self {
            Approvers::Everyone => "everyone".to_owned(),
            Approvers::Admins => "admins".to_owned(),
            Approvers::Groups(groups) => groups.iter().map(|g| format!("group:{g}")).collect::<Vec<_>>().join(","),
        }
    }

    /// Reads `setting`'s spelling.
    pub fn parse(typed: &str) -> Result<Self, &'static str> {
        const WORDS: &str = "approvers are everyone, admins, or group:NAME[,group:NAME]";
        match typed.trim() {
            "everyone" | "" => return Ok(Approvers::Everyone),
            "admins" => return Ok(Approvers::Admins),
            _ => {}
        }
        let mut groups: Vec<String> = Vec::new();
        for part in typed.split(',').map(str::trim) {
            let group = part.strip_prefix("group:").map(str::trim).ok_or(WORDS)?;
            if group.is_empty() || group.chars().count() > 200 || group.chars().any(char::is_control) {
                return Err("a group name is 1 to 200 characters, without commas or control characters");
            }
            if !groups.iter().any(|g| g == group) {
                groups.push(group.to_owned());
            }
        }
        if groups.len() > LIST_MAX {
            return Err("at most 64 groups");
        }
        Ok(Approvers::Groups(groups))
    }
}

impl Serialize for Approvers {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.setting())
    }
}

impl<'de> Deserialize<'de> for Approvers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Approvers::parse(&String::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

macro_rules! named_serde {
    ($($name:ident),*) => {$(
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let name = String::deserialize(deserializer)?;
                $name::parse(&name).ok_or_else(|| serde::de::Error::custom(format!("unknown value {name:?}")))
            }
        }
    )*};
}
named_serde!(ApproverNetwork, DeviceConfirmation, ApproverAuth, Refusal);

/// One client's approval policy. A client registered before policies
/// existed has the default: warn only, with one person per code on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ApprovalPolicy {
    /// Where a device may start a flow; empty: anywhere.
    pub device_networks: Vec<Network>,
    pub approver_network: ApproverNetwork,
    /// The approver's ranges under [`ApproverNetwork::Listed`].
    pub approver_networks: Vec<Network>,
    /// How long after the device asked its code may still be entered or
    /// decided; `None`: for the code's whole lifetime.
    pub max_code_age_secs: Option<u32>,
    /// The client's own code lifetime (`expires_in`); `None`: the server's.
    pub code_lifetime_secs: Option<u32>,
    /// A second person taking up a code ends its flow.
    pub one_person_per_code: bool,
    pub device_confirmation: DeviceConfirmation,
    pub approvers: Approvers,
    pub approver_auth: ApproverAuth,
}

impl Default for ApprovalPolicy {
    fn default() -> Self {
        Self {
            device_networks: Vec::new(),
            approver_network: ApproverNetwork::Any,
            approver_networks: Vec::new(),
            max_code_age_secs: None,
            code_lifetime_secs: None,
            one_person_per_code: true,
            device_confirmation: DeviceConfirmation::Off,
            approvers: Approvers::Everyone,
            approver_auth: ApproverAuth::Any,
        }
    }
}

/// Whether the approver was on the device's network, as each approval's
/// record keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Proximity {
    Same,
    Different,
    /// One of the two addresses could not be established.
    Unknown,
}

impl Proximity {
    /// `requester` and `approver` compared as networks: IPv4 by address,
    /// IPv6 by their `ipv6_prefix` prefix. An address that could not be
    /// established (`None`) is never the same network.
    pub fn of(requester: Option<IpAddr>, approver: Option<IpAddr>, ipv6_prefix: u8) -> Self {
        match (requester, approver) {
            (Some(requester), Some(approver)) => {
                let network = |ip: IpAddr| crate::rate_limit::network_of(&ip.to_string(), ipv6_prefix).into_owned();
                if network(requester.to_canonical()) == network(approver.to_canonical()) {
                    Proximity::Same
                } else {
                    Proximity::Different
                }
            }
            _ => Proximity::Unknown,
        }
    }

    /// As stored and labelled in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Proximity::Same => "same",
            Proximity::Different => "different",
            Proximity::Unknown => "unknown",
        }
    }
}

/// What an approval was judged on, kept with the grant it produced
/// (item 7): the admin list and API show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalEvidence {
    /// The device's network and the approver's (an IPv4 address, or an
    /// IPv6 prefix); `None`: an address Gatehouse could not establish.
    pub device_network: Option<String>,
    pub approver_network: Option<String>,
    pub proximity: Proximity,
    /// The client's policy the flow was judged by.
    pub policy: ApprovalPolicy,
    /// The device sent the code the approving browser showed.
    pub confirmed_on_device: bool,
}

/// The person deciding (or entering a code), as the policy judges them.
#[derive(Debug, Clone, Copy)]
pub struct Approver<'a> {
    /// Their address, when Gatehouse could establish it.
    pub address: Option<IpAddr>,
    pub is_admin: bool,
    /// The groups of their last SSO sign-in (none for a local account).
    pub groups: &'a [String],
    /// They signed in with a passkey or through the SSO provider.
    pub phishing_resistant: bool,
}

impl ApprovalPolicy {
    /// Checks the bounds an admin's edit must keep.
    pub fn check(&self) -> Result<(), &'static str> {
        if self.device_networks.len() > LIST_MAX || self.approver_networks.len() > LIST_MAX {
            return Err("at most 64 network ranges in a list");
        }
        if self.approver_network == ApproverNetwork::Listed && self.approver_networks.is_empty() {
            return Err("approver network `listed` needs at least one approver network range");
        }
        if self.code_lifetime_secs.is_some_and(|secs| !CODE_LIFETIME_SECS.contains(&secs)) {
            return Err("the code lifetime is 60 to 1800 seconds");
        }
        if self.max_code_age_secs.is_some_and(|secs| !MAX_CODE_AGE_SECS.contains(&secs)) {
            return Err("the maximum code age is 10 to 1800 seconds");
        }
        if matches!(&self.approvers, Approvers::Groups(groups) if groups.is_empty() || groups.len() > LIST_MAX) {
            return Err("approvers by group name 1 to 64 groups");
        }
        Ok(())
    }

    /// Whether a device at `address` may start a flow (item 1): anywhere
    /// when no ranges are set, else only from an established address inside one.
    pub fn admits_device(&self, address: Option<IpAddr>) -> bool {
        self.device_networks.is_empty() || Network::any_contains(&self.device_networks, address)
    }

    /// Whether `approver` may decide a flow its device asked for from
    /// `requester` (items 2 and 6): the first refusal, if any.
    pub fn judge_approver(
        &self,
        requester: Option<IpAddr>,
        approver: &Approver<'_>,
        ipv6_prefix: u8,
    ) -> Result<(), Refusal> {
        let network_ok = match self.approver_network {
            ApproverNetwork::Any => true,
            ApproverNetwork::SameNetwork => Proximity::of(requester, approver.address, ipv6_prefix) == Proximity::Same,
            ApproverNetwork::Listed => Network::any_contains(&self.approver_networks, approver.address),
        };
        if !network_ok {
            return Err(Refusal::NetworkNotAllowed);
        }
        let approver_ok = match &self.approvers {
            Approvers::Everyone => true,
            Approvers::Admins => approver.is_admin,
            Approvers::Groups(groups) => approver.groups.iter().any(|held| groups.contains(held)),
        };
        if !approver_ok {
            return Err(Refusal::ApproverNotAllowed);
        }
        if self.approver_auth == ApproverAuth::PhishingResistant && !approver.phishing_resistant {
            return Err(Refusal::PasskeyRequired);
        }
        Ok(())
    }

    /// Whether a code its device asked for at `created_at` is too old to be
    /// entered or decided at `now` (item 3).
    pub fn too_old(&self, created_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        self.max_code_age_secs.is_some_and(|secs| now - created_at > Duration::seconds(i64::from(secs)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> Option<IpAddr> {
        text.parse().ok()
    }

    fn nets(text: &str) -> Vec<Network> {
        Network::parse_list(text).unwrap_or_default()
    }

    fn person(address: &str) -> Approver<'static> {
        Approver { address: ip(address), is_admin: false, groups: &[], phishing_resistant: false }
    }

    #[test]
    fn the_default_warns_only_and_keeps_one_person_per_code() {
        let policy = ApprovalPolicy::default();
        assert!(policy.one_person_per_code);
        assert!(policy.admits_device(None));
        assert_eq!(policy.judge_approver(ip("198.51.100.9"), &person("203.0.113.7"), 64), Ok(()));
        assert!(!policy.too_old(DateTime::UNIX_EPOCH, DateTime::UNIX_EPOCH + Duration::days(1)));
        // A stored policy that predates a field reads with its default.
        let read: ApprovalPolicy = serde_json::from_str("{}").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read, policy);
    }

    #[test]
    fn same_network_compares_ipv4_addresses_and_ipv6_prefixes_and_never_unknown_ones() {
        let policy = ApprovalPolicy { approver_network: ApproverNetwork::SameNetwork, ..ApprovalPolicy::default() };
        let judge = |requester: &str, approver: &str| policy.judge_approver(ip(requester), &person(approver), 64);
        assert_eq!(judge("198.51.100.9", "198.51.100.9"), Ok(()));
        assert_eq!(judge("198.51.100.9", "203.0.113.7"), Err(Refusal::NetworkNotAllowed));
        assert_eq!(judge("2001:db8:1:2::1", "2001:db8:1:2:ffff::9"), Ok(()));
        assert_eq!(judge("2001:db8:1:2::1", "2001:db8:1:3::1"), Err(Refusal::NetworkNotAllowed));
        assert_eq!(judge("198.51.100.9", "::ffff:198.51.100.9"), Ok(()));
        // Not established on either side: never the same network.
        assert_eq!(judge("unknown", "unknown"), Err(Refusal::NetworkNotAllowed));
        assert_eq!(judge("198.51.100.9", "unknown"), Err(Refusal::NetworkNotAllowed));
        assert_eq!(Proximity::of(None, None, 64), Proximity::Unknown);
    }

    #[test]
    fn listed_ranges_and_device_networks_admit_only_established_addresses_inside() {
        let policy = ApprovalPolicy {
            device_networks: nets("10.0.0.0/8, 2001:db8::/32"),
            approver_network: ApproverNetwork::Listed,
            approver_networks: nets("192.0.2.0/24"),
            ..ApprovalPolicy::default()
        };
        assert!(policy.admits_device(ip("10.9.9.9")));
        assert!(policy.admits_device(ip("2001:db8::5")));
        assert!(!policy.admits_device(ip("198.51.100.9")));
        assert!(!policy.admits_device(None));
        assert_eq!(policy.judge_approver(None, &person("192.0.2.44"), 64), Ok(()));
        assert_eq!(policy.judge_approver(None, &person("192.0.3.1"), 64), Err(Refusal::NetworkNotAllowed));
        assert_eq!(policy.judge_approver(None, &person("unknown"), 64), Err(Refusal::NetworkNotAllowed));
    }

    #[test]
    fn approvers_by_admin_right_or_group() {
        let admins = ApprovalPolicy { approvers: Approvers::Admins, ..ApprovalPolicy::default() };
        let admin = Approver { is_admin: true, ..person("192.0.2.1") };
        assert_eq!(admins.judge_approver(None, &admin, 64), Ok(()));
        assert_eq!(admins.judge_approver(None, &person("192.0.2.1"), 64), Err(Refusal::ApproverNotAllowed));
        let groups = ApprovalPolicy {
            approvers: Approvers::parse("group:eng, group:ops").unwrap_or_default(),
            ..ApprovalPolicy::default()
        };
        let held = ["sales".to_owned(), "ops".to_owned()];
        let in_ops = Approver { groups: &held, ..person("192.0.2.1") };
        assert_eq!(groups.judge_approver(None, &in_ops, 64), Ok(()));
        assert_eq!(groups.judge_approver(None, &admin, 64), Err(Refusal::ApproverNotAllowed));
    }

    #[test]
    fn phishing_resistant_approvers_need_a_passkey_or_sso() {
        let policy = ApprovalPolicy { approver_auth: ApproverAuth::PhishingResistant, ..ApprovalPolicy::default() };
        let by_password = person("192.0.2.1");
        assert_eq!(policy.judge_approver(None, &by_password, 64), Err(Refusal::PasskeyRequired));
        let by_passkey = Approver { phishing_resistant: true, ..by_password };
        assert_eq!(policy.judge_approver(None, &by_passkey, 64), Ok(()));
        assert_eq!(ApproverAuth::parse("phishing_resistant"), Some(ApproverAuth::PhishingResistant));
        // A network refusal is said first: a passkey would not help.
        let both = ApprovalPolicy { approver_network: ApproverNetwork::SameNetwork, ..policy };
        assert_eq!(both.judge_approver(ip("198.51.100.9"), &by_password, 64), Err(Refusal::NetworkNotAllowed));
    }

    #[test]
    fn approvers_spell_as_the_command_line_takes_them() {
        for typed in ["everyone", "admins", "group:eng", "group:eng,group:Site Reliability"] {
            let parsed = Approvers::parse(typed).unwrap_or_else(|e| panic!("{typed}: {e}"));
            assert_eq!(parsed.setting(), typed);
        }
        assert_eq!(Approvers::parse("group:eng,group:eng").map(|a| a.setting()), Ok("group:eng".into()));
        for bad in ["everybody", "group:", "eng", "group:eng,admins"] {
            assert!(Approvers::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn code_age_and_bounds() {
        let t0 = DateTime::UNIX_EPOCH;
        let policy = ApprovalPolicy { max_code_age_secs: Some(60), ..ApprovalPolicy::default() };
        assert!(!policy.too_old(t0, t0 + Duration::seconds(60)));
        assert!(policy.too_old(t0, t0 + Duration::seconds(61)));
        assert!(policy.check().is_ok());
        let bad = [
            ApprovalPolicy { approver_network: ApproverNetwork::Listed, ..ApprovalPolicy::default() },
            ApprovalPolicy { code_lifetime_secs: Some(59), ..ApprovalPolicy::default() },
            ApprovalPolicy { code_lifetime_secs: Some(1801), ..ApprovalPolicy::default() },
            ApprovalPolicy { max_code_age_secs: Some(5), ..ApprovalPolicy::default() },
        ];
        for policy in bad {
            assert!(policy.check().is_err(), "{policy:?}");
        }
    }
}

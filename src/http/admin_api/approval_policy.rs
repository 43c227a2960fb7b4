//! A client's approval policy (RFC 10027's mitigations, docs/security.md)
//! on the admin API's client resource: in full on every client answer, and
//! as changes in a request, where a field left out keeps its value.

use gatehouse_core::approval_policy::{ApprovalPolicy, ApproverAuth, ApproverNetwork, Approvers, DeviceConfirmation};
use gatehouse_core::formats::network::Network;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// Where the approving browser must be.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApproverNetworkSetting {
    /// Anywhere: a different network is shown and audited, not refused.
    Any,
    /// The device's network (its IPv4 address, or its IPv6 prefix).
    SameNetwork,
    /// Inside one of `approver_networks`.
    Listed,
}

/// Whether the device must send the code the approving browser shows.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeviceConfirmationSetting {
    Off,
    Required,
}

/// How the approving person must have signed in.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApproverAuthSetting {
    /// Any way Gatehouse signs people in.
    Any,
    /// A passkey, or the SSO provider: a password session is asked for its
    /// passkey first (step-up).
    PhishingResistant,
}

/// A client's approval policy.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApprovalSettings {
    /// CIDR ranges a device may start a sign-in from; empty: anywhere.
    pub device_networks: Vec<String>,
    pub approver_network: ApproverNetworkSetting,
    /// The approver's ranges under `listed`.
    pub approver_networks: Vec<String>,
    /// Seconds after the device asked within which its code may be entered
    /// or decided (10 to 1800); `null`: for its whole lifetime.
    pub max_code_age_secs: Option<u32>,
    /// The client's own `expires_in` (60 to 1800); `null`: the server's.
    pub code_lifetime_secs: Option<u32>,
    /// A second person taking up a code ends its flow and revokes its grant.
    pub one_person_per_code: bool,
    pub device_confirmation: DeviceConfirmationSetting,
    /// `everyone`, `admins`, or `group:NAME[,group:NAME]` (SSO groups).
    pub approvers: String,
    pub approver_auth: ApproverAuthSetting,
}

/// Changes to a client's approval policy: a field left out keeps its
/// value (a new client starts from the default); `null` gives a lifetime
/// back to its default.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ApprovalChanges {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_networks: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approver_network: Option<ApproverNetworkSetting>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approver_networks: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u32>)]
    pub max_code_age_secs: Option<Option<u32>>,
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u32>)]
    pub code_lifetime_secs: Option<Option<u32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub one_person_per_code: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_confirmation: Option<DeviceConfirmationSetting>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approvers: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approver_auth: Option<ApproverAuthSetting>,
}

/// A field that was sent, `null` included (`Some(None)`), as opposed to
/// one left out (`None`, by `default`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

impl ApprovalSettings {
    /// The policy as the API shows it.
    pub fn of(policy: &ApprovalPolicy) -> Self {
        let strings = |ranges: &[Network]| ranges.iter().map(Network::to_string).collect();
        Self {
            device_networks: strings(&policy.device_networks),
            approver_network: match policy.approver_network {
                ApproverNetwork::Any => ApproverNetworkSetting::Any,
                ApproverNetwork::SameNetwork => ApproverNetworkSetting::SameNetwork,
                ApproverNetwork::Listed => ApproverNetworkSetting::Listed,
            },
            approver_networks: strings(&policy.approver_networks),
            max_code_age_secs: policy.max_code_age_secs,
            code_lifetime_secs: policy.code_lifetime_secs,
            one_person_per_code: policy.one_person_per_code,
            device_confirmation: match policy.device_confirmation {
                DeviceConfirmation::Off => DeviceConfirmationSetting::Off,
                DeviceConfirmation::Required => DeviceConfirmationSetting::Required,
            },
            approvers: policy.approvers.setting(),
            approver_auth: match policy.approver_auth {
                ApproverAuth::Any => ApproverAuthSetting::Any,
                ApproverAuth::PhishingResistant => ApproverAuthSetting::PhishingResistant,
            },
        }
    }
}

impl ApprovalChanges {
    /// `current` with these changes; a range or approver list that does not
    /// parse is refused with the reason. The bounds are the core's to check.
    pub fn applied_to(self, current: ApprovalPolicy) -> Result<ApprovalPolicy, String> {
        let ranges = |typed: Vec<String>| -> Result<Vec<Network>, String> {
            typed.iter().map(|range| range.parse::<Network>().map_err(|err| err.to_string())).collect()
        };
        Ok(ApprovalPolicy {
            device_networks: self.device_networks.map(ranges).transpose()?.unwrap_or(current.device_networks),
            approver_network: self.approver_network.map_or(current.approver_network, |setting| match setting {
                ApproverNetworkSetting::Any => ApproverNetwork::Any,
                ApproverNetworkSetting::SameNetwork => ApproverNetwork::SameNetwork,
                ApproverNetworkSetting::Listed => ApproverNetwork::Listed,
            }),
            approver_networks: self.approver_networks.map(ranges).transpose()?.unwrap_or(current.approver_networks),
            max_code_age_secs: self.max_code_age_secs.unwrap_or(current.max_code_age_secs),
            code_lifetime_secs: self.code_lifetime_secs.unwrap_or(current.code_lifetime_secs),
            one_person_per_code: self.one_person_per_code.unwrap_or(current.one_person_per_code),
            device_confirmation: self.device_confirmation.map_or(
                current.device_confirmation,
                |setting| match setting {
                    DeviceConfirmationSetting::Off => DeviceConfirmation::Off,
                    DeviceConfirmationSetting::Required => DeviceConfirmation::Required,
                },
            ),
            approvers: match self.approvers {
                Some(typed) => Approvers::parse(&typed).map_err(str::to_owned)?,
                None => current.approvers,
            },
            approver_auth: self.approver_auth.map_or(current.approver_auth, |setting| match setting {
                ApproverAuthSetting::Any => ApproverAuth::Any,
                ApproverAuthSetting::PhishingResistant => ApproverAuth::PhishingResistant,
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mirrors of the core's names (the core stays free of utoipa)
    /// spell every value as the core does, and a field left out keeps its value.
    #[test]
    fn changes_keep_what_they_leave_out_and_the_mirrors_match_the_core() {
        let current = ApprovalPolicy {
            device_networks: Network::parse_list("10.0.0.0/8").unwrap_or_default(),
            max_code_age_secs: Some(120),
            ..ApprovalPolicy::default()
        };
        let unchanged = ApprovalChanges::default().applied_to(current.clone());
        assert_eq!(unchanged.as_ref(), Ok(&current));
        let changes: ApprovalChanges =
            serde_json::from_str(r#"{"max_code_age_secs": null, "approvers": "group:eng"}"#).expect("changes");
        let changed = changes.applied_to(current.clone()).expect("applied");
        assert_eq!(changed.max_code_age_secs, None);
        assert_eq!(changed.device_networks, current.device_networks);
        assert_eq!(changed.approvers.setting(), "group:eng");
        for network in ApproverNetwork::ALL {
            let policy = ApprovalPolicy { approver_network: *network, ..ApprovalPolicy::default() };
            let wire = serde_json::to_value(ApprovalSettings::of(&policy)).expect("wire");
            assert_eq!(wire["approver_network"], network.as_str());
            let back: ApprovalChanges = serde_json::from_value(wire).expect("back");
            assert_eq!(back.applied_to(ApprovalPolicy::default()).map(|p| p.approver_network), Ok(*network));
        }
        for confirmation in DeviceConfirmation::ALL {
            let policy = ApprovalPolicy { device_confirmation: *confirmation, ..ApprovalPolicy::default() };
            let wire = serde_json::to_value(ApprovalSettings::of(&policy)).expect("wire");
            assert_eq!(wire["device_confirmation"], confirmation.as_str());
        }
        for auth in ApproverAuth::ALL {
            let policy = ApprovalPolicy { approver_auth: *auth, ..ApprovalPolicy::default() };
            let wire = serde_json::to_value(ApprovalSettings::of(&policy)).expect("wire");
            assert_eq!(wire["approver_auth"], auth.as_str());
            let back: ApprovalChanges = serde_json::from_value(wire).expect("back");
            assert_eq!(back.applied_to(ApprovalPolicy::default()).map(|p| p.approver_auth), Ok(*auth));
        }
        let bad = ApprovalChanges { device_networks: Some(vec!["office".into()]), ..ApprovalChanges::default() };
        assert!(bad.applied_to(ApprovalPolicy::default()).is_err());
    }
}

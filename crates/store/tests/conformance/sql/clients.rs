//! Registered clients.

use super::*;
use gatehouse_core::approval_policy::{ApprovalPolicy, ApproverNetwork, Approvers, DeviceConfirmation};
use gatehouse_core::formats::network::Network;

#[tokio::test]
async fn clients_are_edited_enabled_and_given_secrets() {
    for (name, repos, _dir, _) in databases("clients_are_edited_enabled_and_given_secrets").await {
        client(&repos, "cli").await;
        let edit = ClientEdit {
            name: "Renamed".into(),
            allowed_scopes: vec!["apps:run".into()],
            device_grant_enabled: false,
            policy: TokenPolicy {
                refresh_allowed: true,
                access_token_ttl: Some(600),
                grant_ttl: Some(7 * 86_400),
                grant_idle_ttl: Some(86_400),
                poll_interval: Some(9),
                dpop: DpopMode::Required,
            },
            approval: ApprovalPolicy {
                device_networks: Network::parse_list("10.0.0.0/8, 2001:db8::/32").expect("ranges"),
                approver_network: ApproverNetwork::Listed,
                approver_networks: Network::parse_list("192.0.2.0/24").expect("ranges"),
                max_code_age_secs: Some(120),
                code_lifetime_secs: Some(300),
                one_person_per_code: false,
                device_confirmation: DeviceConfirmation::Required,
                approvers: Approvers::parse("group:eng,group:ops").expect("approvers"),
                approver_auth: gatehouse_core::approval_policy::ApproverAuth::PhishingResistant,
            },
        };
        assert!(repos.clients.update("cli", &edit).await.expect("update"), "{name}");
        assert!(!repos.clients.update("nobody", &edit).await.expect("update"), "{name}");
        let found = repos.clients.find("cli").await.expect("find").expect("cli");
        assert_eq!(
            (found.name.as_str(), found.allowed_scopes.clone(), found.device_grant_enabled),
            ("Renamed", vec!["apps:run".to_owned()], false)
        );
        assert_eq!(found.policy, edit.policy, "{name}: the token settings round-trip");
        assert_eq!(found.approval, edit.approval, "{name}: and the approval policy");
        assert!(
            !repos.clients.set_secret_hash("cli", "hash").await.expect("secret"),
            "{name}: public clients have none"
        );
        assert!(!repos.clients.enable("cli").await.expect("enable"), "{name}: not disabled");
        assert!(repos.clients.disable("cli", now()).await.expect("disable"));
        assert!(repos.clients.enable("cli").await.expect("enable"), "{name}");
        assert!(!repos.clients.find("cli").await.expect("find").expect("cli").disabled);
    }
}

#[tokio::test]
async fn clients_are_created_once_and_listed_oldest_first() {
    for (name, repos, _dir, _) in databases("clients_are_created_once_and_listed_oldest_first").await {
        let created = now();
        for id in ["zeta", "alpha"] {
            let client = OAuthClient {
                client_id: id.to_owned(),
                name: format!("{id} app"),
                client_type: ClientType::Confidential,
                secret_hash: Some(format!("{id}-hash")),
                allowed_scopes: vec!["full".into(), "apps:run".into()],
                device_grant_enabled: false,
                disabled: false,
                created_at: created,
                policy: TokenPolicy {
                    refresh_allowed: id == "alpha",
                    access_token_ttl: Some(120),
                    grant_ttl: None,
                    grant_idle_ttl: Some(3_600),
                    poll_interval: Some(10),
                    dpop: if id == "alpha" { DpopMode::Off } else { DpopMode::Allowed },
                },
                approval: ApprovalPolicy::default(),
            };
            assert!(repos.clients.create(&client).await.expect("create"), "{name}");
        }
        let duplicate = repos.clients.find("zeta").await.expect("find").expect("zeta");
        assert!(!repos.clients.create(&duplicate).await.expect("create"), "{name}: ids are unique");
        let listed = repos.clients.list().await.expect("list");
        // The same instant: then by id.
        assert_eq!(listed.iter().map(|c| c.client_id.as_str()).collect::<Vec<_>>(), ["alpha", "zeta"], "{name}");
        assert_eq!(listed[1], duplicate, "{name}: every field round-trips");
        assert!(repos.clients.find("nobody").await.expect("find").is_none(), "{name}");
        assert!(!repos.clients.disable("nobody", now()).await.expect("disable"), "{name}");
    }
}

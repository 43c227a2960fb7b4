//! The WebAuthn checks behind `ports::PasskeyVerifier`, by `webauthn-rs`
//! (pure-Rust crypto). The relying party is the public URL: its host is the
//! relying-party id and the URL's origin the only origin accepted.
//!
//! Two of its features are on, each safe as used here (ARCHITECTURE.md):
//! `danger-allow-state-serialisation` lets a ceremony's state be kept in
//! the state store (server side, under a random id, taken once), never sent
//! to the browser; `conditional-ui` gives discoverable sign-in, where the
//! user handle the authenticator returns only says which stored credential
//! to check, and the signature over the challenge decides.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gatehouse_core::StoreError;
use gatehouse_core::ports::{CeremonyFailure, CeremonyStart, NewCredential, PasskeyUser, PasskeyVerifier, VerifiedUse};
use uuid::Uuid;
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Url,
    Webauthn, WebauthnBuilder, WebauthnError,
};

/// The passkey checks for one public URL, or why there are none.
pub struct WebAuthnPasskeys {
    relying_party: Result<Webauthn, String>,
}

impl WebAuthnPasskeys {
    /// Passkeys for the server at `public_url`: on when it is `https://` with
    /// a host name, or `http://localhost` (browsers treat both as secure
    /// contexts, and a relying-party id must be a host name, not an address).
    pub fn new(public_url: Option<&str>) -> Self {
        Self { relying_party: relying_party(public_url) }
    }
}

fn relying_party(public_url: Option<&str>) -> Result<Webauthn, String> {
    let Some(public_url) = public_url else {
        return Err("no public URL is set (GATEHOUSE_PUBLIC_URL)".to_owned());
    };
    let url = Url::parse(public_url).map_err(|e| format!("the public URL {public_url} does not parse: {e}"))?;
    let Some(host) = url.host_str().map(str::to_owned) else {
        return Err(format!("the public URL {public_url} has no host"));
    };
    if host.starts_with('[') || host.parse::<std::net::IpAddr>().is_ok() {
        return Err(format!(
            "the public URL {public_url} names an IP address; passkeys need a host name \
             (for example http://localhost:3000 or https://login.example.com)"
        ));
    }
    let local = host == "localhost" || host.ends_with(".localhost");
    if url.scheme() != "https" && !(url.scheme() == "http" && local) {
        return Err(format!(
            "the public URL {public_url} is not https://; browsers allow passkeys only on https:// \
             or http://localhost"
        ));
    }
    let origin = Url::parse(&url.origin().ascii_serialization()).map_err(|e| e.to_string())?;
    WebauthnBuilder::new(&host, &origin)
        .and_then(|builder| builder.rp_name("Gatehouse").build())
        .map_err(|e| format!("the public URL {public_url} cannot be a WebAuthn relying party: {e}"))
}

fn encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn state_to_string(state: &impl serde::Serialize) -> Result<String, StoreError> {
    serde_json::to_string(state).map_err(|e| StoreError::new(format!("passkey ceremony state: {e}")))
}

fn read<T: serde::de::DeserializeOwned>(what: &str, value: &serde_json::Value) -> Result<T, CeremonyFailure> {
    T::deserialize(value).map_err(|e| CeremonyFailure::Malformed(format!("{what}: {e}")))
}

/// Kept state and stored records are Gatehouse's own: one that does not
/// read is refused like a failed check.
fn stored<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, CeremonyFailure> {
    serde_json::from_str(text).map_err(|e| CeremonyFailure::Rejected(format!("{what} does not read: {e}")))
}

fn rejected(err: WebauthnError) -> CeremonyFailure {
    match err {
        WebauthnError::CredentialPossibleCompromise => CeremonyFailure::CounterWentBack,
        other => CeremonyFailure::Rejected(other.to_string()),
    }
}

/// Whether the credential record says it is backed up (synced).
fn backed_up(passkey: &Passkey) -> bool {
    serde_json::to_value(passkey)
        .ok()
        .and_then(|value| value.pointer("/cred/backup_state").and_then(serde_json::Value::as_bool))
        .unwrap_or(false)
}

impl WebAuthnPasskeys {
    fn on(&self) -> Result<&Webauthn, StoreError> {
        self.relying_party.as_ref().map_err(|why| StoreError::new(format!("passkeys are off: {why}")))
    }

    fn on_for_answer(&self) -> Result<&Webauthn, CeremonyFailure> {
        self.relying_party.as_ref().map_err(|why| CeremonyFailure::Rejected(format!("passkeys are off: {why}")))
    }
}

impl PasskeyVerifier for WebAuthnPasskeys {
    fn off_because(&self) -> Option<String> {
        self.relying_party.as_ref().err().cloned()
    }

    fn start_registration(&self, user: &PasskeyUser<'_>, existing: &[String]) -> Result<CeremonyStart, StoreError> {
        let webauthn = self.on()?;
        let exclude = existing
            .iter()
            .filter_map(|record| serde_json::from_str::<Passkey>(record).ok())
            .map(|passkey| passkey.cred_id().clone())
            .collect::<Vec<_>>();
        let (challenge, state) = webauthn
            .start_passkey_registration(user.id, user.email, user.name, Some(exclude))
            .map_err(|e| StoreError::new(format!("passkey registration: {e}")))?;
        let mut options = serde_json::to_value(&challenge).map_err(|e| StoreError::new(e.to_string()))?;
        // A discoverable credential (the authenticator keeps the user
        // handle), so a person signs in without typing their address first:
        // the library's passkey registration leaves this to the authenticator.
        if let Some(selection) = options.pointer_mut("/publicKey/authenticatorSelection") {
            selection["residentKey"] = "required".into();
            selection["requireResidentKey"] = true.into();
        }
        Ok(CeremonyStart { options, state: state_to_string(&state)? })
    }

    fn finish_registration(&self, state: &str, answer: &serde_json::Value) -> Result<NewCredential, CeremonyFailure> {
        let webauthn = self.on_for_answer()?;
        let answer: RegisterPublicKeyCredential = read("registration answer", answer)?;
        let state: PasskeyRegistration = stored("registration state", state)?;
        let passkey = webauthn.finish_passkey_registration(&answer, &state).map_err(rejected)?;
        Ok(NewCredential {
            credential_id: encode(passkey.cred_id().as_ref()),
            backed_up: backed_up(&passkey),
            credential: serde_json::to_string(&passkey).map_err(|e| CeremonyFailure::Rejected(e.to_string()))?,
        })
    }

    fn start_sign_in(&self) -> Result<CeremonyStart, StoreError> {
        let webauthn = self.on()?;
        let (challenge, state) = webauthn
            .start_discoverable_authentication()
            .map_err(|e| StoreError::new(format!("passkey sign-in: {e}")))?;
        let options = serde_json::to_value(&challenge).map_err(|e| StoreError::new(e.to_string()))?;
        Ok(CeremonyStart { options, state: state_to_string(&state)? })
    }

    fn claimed(&self, answer: &serde_json::Value) -> Result<(String, Uuid), CeremonyFailure> {
        let webauthn = self.on_for_answer()?;
        let answer: PublicKeyCredential = read("sign-in answer", answer)?;
        let (user, credential_id) = webauthn
            .identify_discoverable_authentication(&answer)
            .map_err(|e| CeremonyFailure::Malformed(format!("no user handle: {e}")))?;
        Ok((encode(credential_id), user))
    }

    fn finish_sign_in(
        &self,
        state: &str,
        answer: &serde_json::Value,
        credential: &str,
    ) -> Result<VerifiedUse, CeremonyFailure> {
        let webauthn = self.on_for_answer()?;
        let answer: PublicKeyCredential = read("sign-in answer", answer)?;
        let state: DiscoverableAuthentication = stored("sign-in state", state)?;
        let mut passkey: Passkey = stored("stored passkey", credential)?;
        let result = webauthn.finish_discoverable_authentication_v2(&answer, state, &passkey).map_err(rejected)?;
        passkey.update_credential(&result);
        Ok(VerifiedUse {
            credential: serde_json::to_string(&passkey).map_err(|e| CeremonyFailure::Rejected(e.to_string()))?,
            backed_up: result.backup_state(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passkeys_need_a_host_name_in_a_secure_context() {
        assert!(WebAuthnPasskeys::new(Some("http://localhost:3000")).off_because().is_none());
        assert!(WebAuthnPasskeys::new(Some("https://login.example.com")).off_because().is_none());
        let off = |url: &str| WebAuthnPasskeys::new(Some(url)).off_because().unwrap_or_default();
        assert!(off("http://127.0.0.1:3000").contains("IP address"));
        assert!(off("https://[::1]:3000").contains("IP address"));
        assert!(off("http://login.example.com").contains("not https://"));
        assert!(WebAuthnPasskeys::new(None).off_because().is_some());
    }

    #[test]
    fn registration_asks_for_a_discoverable_credential_with_user_verification() {
        let passkeys = WebAuthnPasskeys::new(Some("http://localhost:3000"));
        let user = PasskeyUser { id: Uuid::new_v4(), email: "ada@example.com", name: "Ada" };
        let start = passkeys.start_registration(&user, &[]).unwrap_or_else(|e| panic!("{e}"));
        let selection = &start.options["publicKey"]["authenticatorSelection"];
        assert_eq!(selection["residentKey"], "required");
        assert_eq!(selection["userVerification"], "required");
        assert_eq!(start.options["publicKey"]["rp"]["id"], "localhost");
    }
}

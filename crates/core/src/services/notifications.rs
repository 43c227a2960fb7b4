//! What Gatehouse tells a person by email, in plain words: that a device
//! was let in as them (the signal that gives device-code phishing away),
//! and the password messages. Composing only; the `Mailer` port sends.
//!
//! Emails are plain text, so nothing a device reports can become markup or
//! a link; what it reports is still quoted, cut short and stripped of
//! control and direction-changing characters, like on the approval page.

use crate::flow::DeviceFlow;
use crate::ports::{Email, EmailKind, Mailer};
use crate::rate_limit::network_of;
use chrono::{DateTime, Utc};

/// Where the console's pages are, for the links in emails.
pub const MY_APPS_PATH: &str = "/settings/authorized-apps";
/// Where a person manages their passkeys.
pub const SECURITY_PATH: &str = "/settings/security";
/// The page that asks for a password reset link.
pub const FORGOT_PASSWORD_PATH: &str = "/signin/forgot";
/// The page a reset link opens (`?token=`).
pub const RESET_PASSWORD_PATH: &str = "/signin/reset";

/// The public URL the links in emails start with, when email goes
/// anywhere: `None` without a mail server, or without a public URL
/// (command-line tools).
pub(crate) fn email_base<'a>(settings: &'a super::Settings, mailer: &dyn Mailer) -> Option<&'a str> {
    settings.public_url.as_deref().filter(|_| mailer.enabled())
}

/// The longest device label an email repeats, in characters.
const MAX_LABEL_CHARS: usize = 80;

/// What the approval notice says: who approved what, from where, when.
pub(crate) struct ApprovalNotice<'a> {
    pub flow: &'a DeviceFlow,
    /// The approving person's email (the recipient).
    pub to: &'a str,
    pub approver_ip: Option<&'a str>,
    pub at: DateTime<Utc>,
    /// The public URL the links start with.
    pub base_url: &'a str,
    pub ipv6_prefix: u8,
}

impl ApprovalNotice<'_> {
    pub(crate) fn email(&self) -> Email {
        let flow = self.flow;
        let label = flow.device_label.as_deref().map(quoted_label).unwrap_or_else(|| "no name given".to_owned());
        let scopes = if flow.scopes.is_empty() { "(none)".to_owned() } else { flow.scopes.join(", ") };
        let mut text = format!(
            "{client} ({client_id}) was just approved to act as you, {to}.\n\n\
             Device:          {label} (as reported by the device)\n\
             Requested from:  {requested}\n\
             Approved from:   {approved}\n\
             When:            {when}\n\
             It can:          {scopes}\n\n",
            client = flow.client_name,
            client_id = flow.client_id,
            to = self.to,
            requested = self.address(flow.requester_ip.as_deref()),
            approved = self.address(self.approver_ip),
            when = when(self.at),
        );
        if let (Some(requested), Some(approved)) = (flow.requester_ip.as_deref(), self.approver_ip)
            && network_of(requested, self.ipv6_prefix) != network_of(approved, self.ipv6_prefix)
        {
            text.push_str(
                "The request came from a different network than the approval. That is expected if you \
                 started the sign-in on a remote machine (a server, a VM or a container).\n\n",
            );
        }
        text.push_str(&format!(
            "If this was you, there is nothing to do.\n\n\
             If it was not you, someone may have tricked you into approving their device. \
             Sign it out now, and tell your administrator:\n{}{MY_APPS_PATH}\n",
            self.base_url
        ));
        Email {
            kind: EmailKind::DeviceApproved,
            to: self.to.to_owned(),
            subject: format!("{} was approved to act as you", flow.client_name),
            text,
        }
    }

    /// An address and, for IPv6, the network the limits count it in.
    fn address(&self, ip: Option<&str>) -> String {
        match ip {
            None => "an unknown address".to_owned(),
            Some(ip) => match network_of(ip, self.ipv6_prefix) {
                network if network != ip => format!("{ip} (network {network})"),
                _ => ip.to_owned(),
            },
        }
    }
}

/// The link to choose a new password.
pub(crate) fn password_reset_email(to: &str, requested_from: Option<&str>, link: &str, valid_minutes: i64) -> Email {
    Email {
        kind: EmailKind::PasswordReset,
        to: to.to_owned(),
        subject: "Reset your Gatehouse password".to_owned(),
        text: format!(
            "Someone asked to reset the password of the Gatehouse account {to}, from {from}.\n\n\
             To choose a new password, open this link within {valid_minutes} minutes. It works once:\n{link}\n\n\
             If you did not ask, ignore this email: your password stays as it is.\n",
            from = requested_from.unwrap_or("an unknown address"),
        ),
    }
}

/// How a password came to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PasswordChange {
    /// Signed in, with the old password; the person chose whether their
    /// devices and apps were signed out too.
    Changed { devices_signed_out: bool },
    /// Through an emailed link, which always signs devices and apps out:
    /// whoever knew the old password may have approved them.
    Reset,
}

impl PasswordChange {
    /// Whether the account's device and app grants were revoked with it.
    pub(crate) fn signs_out_devices(self) -> bool {
        matches!(self, PasswordChange::Reset | PasswordChange::Changed { devices_signed_out: true })
    }
}

/// The notice that a password changed.
pub(crate) fn password_changed_email(
    to: &str,
    how: PasswordChange,
    from: Option<&str>,
    at: DateTime<Utc>,
    base_url: &str,
) -> Email {
    let verb = match how {
        PasswordChange::Changed { .. } => "changed",
        PasswordChange::Reset => "reset with an emailed link",
    };
    let devices = if how.signs_out_devices() {
        "Every browser, device and app signed in as you was signed out; \
         sign them in again with the new password. You can see what is signed in at"
    } else {
        "Every browser signed in as you was signed out. Devices and apps stay signed in; \
         you can see and sign them out at"
    };
    Email {
        kind: EmailKind::PasswordChanged,
        to: to.to_owned(),
        subject: "Your Gatehouse password was changed".to_owned(),
        text: format!(
            "The password of the Gatehouse account {to} was {verb} on {when}, from {from}.\n\n\
             {devices}\n{base_url}{MY_APPS_PATH}\n\n\
             If this was not you, reset your password now at\n{base_url}{FORGOT_PASSWORD_PATH}\n\
             and tell your administrator.\n",
            when = when(at),
            from = from.unwrap_or("an unknown address"),
        ),
    }
}

/// The notice to each of the two people who took up one code: the sign-in
/// was stopped (one person per code), and what to do.
pub(crate) fn code_shared_email(
    flow: &DeviceFlow,
    to: &str,
    you_were_first: bool,
    grant_revoked: bool,
    at: DateTime<Utc>,
    base_url: &str,
) -> Email {
    let client = format!("{} ({})", flow.client_name, flow.client_id);
    let text = if you_were_first {
        format!(
            "On {when}, someone else entered the code of a sign-in you had taken up for {client}. A code shown on a \
             device is for one person, so Gatehouse stopped that sign-in{signed_out}.\n\n\
             If you started it yourself, start it again on your device.\n\n\
             If you did not, someone may be sending that code around to trick people into letting their device in. \
             Tell your administrator. What is signed in as you is at\n{base_url}{MY_APPS_PATH}\n",
            when = when(at),
            signed_out = if grant_revoked { " and signed its device out" } else { "" },
        )
    } else {
        format!(
            "On {when}, you entered a code for {client} that someone else had already entered. A code shown on a \
             device is for one person, so Gatehouse stopped that sign-in: nothing was approved for you.\n\n\
             If someone sent you this code by email or chat, it was probably an attempt to trick you into letting \
             their device in as you. Tell your administrator.\n",
            when = when(at),
        )
    };
    Email {
        kind: EmailKind::CodeShared,
        to: to.to_owned(),
        subject: format!("A sign-in for {} was stopped", flow.client_name),
        text,
    }
}

pub(crate) fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d at %H:%M UTC").to_string()
}

/// A device's own words, quoted, on one line: control characters become
/// spaces, direction-changing ones are dropped, cut to `MAX_LABEL_CHARS`.
pub(crate) fn quoted_label(label: &str) -> String {
    let clean: String = label
        .chars()
        .filter(|&c| !is_bidi_control(c))
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let mut cut: String = clean.chars().take(MAX_LABEL_CHARS).collect();
    if clean.chars().count() > MAX_LABEL_CHARS {
        cut.push('…');
    }
    format!("\"{cut}\"")
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{DeviceFlow, FlowStatus};
    use crate::formats::user_code::UserCode;

    fn flow(label: Option<&str>, requester: Option<&str>) -> DeviceFlow {
        let at = DateTime::parse_from_rfc3339("2026-12-04T13:22:00Z").map(|t| t.with_timezone(&Utc)).expect("time");
        DeviceFlow {
            device_code_hash: "hash".into(),
            user_code: UserCode::normalize("BCDF-GHJK").expect("code"),
            client_id: "gatehouse-cli".into(),
            client_name: "Gatehouse CLI".into(),
            scopes: vec!["read".into(), "write".into()],
            device_label: label.map(str::to_owned),
            requester_ip: requester.map(str::to_owned),
            requester_user_agent: None,
            created_at: at,
            expires_at: at,
            interval_secs: 5,
            last_polled_at: None,
            status: FlowStatus::Pending,
            dpop_jkt: None,
            policy: Default::default(),
            requester_ip_proven: requester.is_some(),
            holders: Default::default(),
            confirmation_failures: 0,
        }
    }

    fn notice<'a>(flow: &'a DeviceFlow, approver: Option<&'a str>) -> Email {
        ApprovalNotice {
            flow,
            to: "ada@example.com",
            approver_ip: approver,
            at: flow.created_at,
            base_url: "https://auth.example.com",
            ipv6_prefix: 64,
        }
        .email()
    }

    #[test]
    fn the_approval_notice_names_client_device_addresses_time_and_the_way_to_revoke() {
        let flow = flow(Some("ada-laptop"), Some("2001:db8:1:2::7"));
        let email = notice(&flow, Some("203.0.113.9"));
        assert_eq!(email.kind, EmailKind::DeviceApproved);
        assert_eq!(email.to, "ada@example.com");
        assert_eq!(email.subject, "Gatehouse CLI was approved to act as you");
        for expected in [
            "Gatehouse CLI (gatehouse-cli) was just approved to act as you, ada@example.com.",
            "Device:          \"ada-laptop\" (as reported by the device)",
            "Requested from:  2001:db8:1:2::7 (network 2001:db8:1:2::/64)",
            "Approved from:   203.0.113.9\n",
            "When:            2026-12-04 at 13:22 UTC",
            "It can:          read, write",
            "different network",
            "https://auth.example.com/settings/authorized-apps",
        ] {
            assert!(email.text.contains(expected), "{expected:?} missing from:\n{}", email.text);
        }
    }

    #[test]
    fn one_network_says_nothing_about_networks() {
        let flow = flow(None, Some("2001:db8:1:2::7"));
        let email = notice(&flow, Some("2001:db8:1:2::8"));
        assert!(!email.text.contains("different network"), "{}", email.text);
        assert!(email.text.contains("Device:          no name given"), "{}", email.text);
        let unknown = notice(&flow, None);
        assert!(unknown.text.contains("Approved from:   an unknown address"), "{}", unknown.text);
    }

    #[test]
    fn a_device_label_cannot_forge_lines_or_reorder_text() {
        let long = "x".repeat(200);
        let flow = flow(Some("laptop\r\n\r\nIf this was you, click http://evil\u{202E}txt.exe"), None);
        let email = notice(&flow, None);
        assert!(email.text.contains("\"laptop If this was you, click http://eviltxt.exe\""), "{}", email.text);
        assert!(!email.text.contains('\u{202E}'));
        assert_eq!(quoted_label(&long).chars().count(), MAX_LABEL_CHARS + 3);
    }

    #[test]
    fn password_messages_carry_the_link_or_the_way_back() {
        let reset = password_reset_email("ada@example.com", Some("203.0.113.9"), "https://a.example/r?token=t", 30);
        assert_eq!(reset.kind, EmailKind::PasswordReset);
        assert!(reset.text.contains("https://a.example/r?token=t"));
        assert!(reset.text.contains("within 30 minutes"));
        let at = DateTime::parse_from_rfc3339("2026-12-04T13:22:00Z").map(|t| t.with_timezone(&Utc)).expect("time");
        let changed = password_changed_email("ada@example.com", PasswordChange::Reset, None, at, "https://a.example");
        assert!(changed.text.contains("was reset with an emailed link on 2026-12-04 at 13:22 UTC"));
        assert!(changed.text.contains("https://a.example/signin/forgot"));
        assert!(changed.text.contains("Every browser, device and app signed in as you was signed out"));
        let kept = PasswordChange::Changed { devices_signed_out: false };
        let changed = password_changed_email("ada@example.com", kept, None, at, "https://a.example");
        assert!(changed.text.contains("Devices and apps stay signed in"), "{}", changed.text);
    }
}

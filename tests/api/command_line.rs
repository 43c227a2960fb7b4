//! `gatehouse login`, `status` and `logout` against a real server: the QR
//! code of the sign-in link, whom the saved token speaks for, refreshing it
//! transparently once it ends, and signing out ending the grant on the
//! server and forgetting it here.

use crate::helpers::{Backend, spawn_app};
use crate::on_every_backend;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

/// The lines `login` prints up to "Waiting for approval"; the rest of its
/// output is still read (and dropped), so it never writes to a closed pipe.
pub async fn read_until_waiting(stdout: std::process::ChildStdout) -> Vec<String> {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    tokio::task::spawn_blocking(move || {
        let mut lines = Vec::new();
        while let Ok(line) = receiver.recv() {
            let waiting = line.starts_with("Waiting for approval");
            lines.push(line);
            if waiting {
                break;
            }
        }
        lines
    })
    .await
    .expect("read")
}

async fn login_status_and_logout_round_trip(backend: Backend) {
    let app = spawn_app(backend).await;
    let ada = app.ada().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let credentials = dir.path().join("credentials.json");
    let gatehouse = |args: &[&str]| {
        let mut command = crate::helpers::gatehouse_command();
        command.args(args).args(["--server", &app.address]).env("GATEHOUSE_CREDENTIALS_FILE", &credentials);
        command
    };

    // `login` sleeps its polling interval for real: the server must see it pass.
    let _time = app.let_time_pass();
    let mut login = gatehouse(&["login", "--device-label", "cli-test"]).stdout(Stdio::piped()).spawn().expect("login");
    let printed = read_until_waiting(login.stdout.take().expect("stdout")).await;
    let code = printed.iter().map(|l| l.trim()).find(|l| l.len() == 9 && l.as_bytes()[4] == b'-').expect("code");
    assert!(printed.iter().any(|l| l.contains("Or scan it with a phone")), "{printed:?}");
    // The QR code: rows of half blocks, all the same width.
    let qr: Vec<&String> = printed.iter().filter(|l| l.contains('█') || l.contains('▀') || l.contains('▄')).collect();
    assert!(qr.len() > 10, "{printed:?}");
    assert!(qr.iter().all(|row| row.chars().count() == qr[0].chars().count()));
    app.approve(code, &ada).await;
    let status = tokio::task::spawn_blocking(move || login.wait()).await.expect("join").expect("wait");
    assert!(status.success());

    let out = gatehouse(&["status"]).output().expect("status");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("as Ada Lovelace <ada@example.com>") && text.contains("Scopes: full"), "{text}");
    assert!(text.contains("refreshed automatically"), "{text}");
    let saved_entry = || -> serde_json::Value {
        let all: serde_json::Value = serde_json::from_slice(&std::fs::read(&credentials).expect("file")).expect("json");
        all[&app.address].clone()
    };
    let first = saved_entry();
    assert!(first["refresh_token"].as_str().is_some_and(|t| t.starts_with("gthr_")), "{first}");
    // Bound to a key kept beside it (DPoP): the token copied alone is refused.
    assert!(first["dpop_key"].as_str().is_some_and(|k| !k.is_empty()), "{first}");
    assert!(text.contains("bound to a key"), "{text}");
    assert_eq!(app.me(first["access_token"].as_str().expect("token")).await.status(), 401);
    let grant = uuid::Uuid::parse_str(first["token_id"].as_str().expect("id")).expect("uuid");
    let grant_record =
        || async { app.services.ports().tokens.find_by_id(grant).await.expect("find").expect("the grant") };
    assert!(grant_record().await.dpop_jkt.is_some());

    // An hour later the access token has ended on the server: status
    // refreshes the grant on its own and saves the new pair. (The server's
    // clock is an hour ahead of this machine's now: the proofs' iat is off,
    // and the server nonce vouches for them instead.)
    app.advance(3601);
    let out = gatehouse(&["status"]).output().expect("status");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let second = saved_entry();
    assert_ne!(second["access_token"], first["access_token"]);
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(second["token_id"], first["token_id"], "the same grant");
    assert_eq!(second["dpop_key"], first["dpop_key"], "the same key");
    assert!(String::from_utf8_lossy(&out.stdout).contains("as Ada Lovelace"));

    // Commands started together refresh one at a time (the lock beside the
    // credentials), so none presents a refresh token another just rotated
    // away, which the server would take for theft and end the grant.
    app.advance(3601);
    let together: Vec<_> = (0..4)
        .map(|_| gatehouse(&["status"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("status"))
        .collect();
    for child in together {
        let out = tokio::task::spawn_blocking(move || child.wait_with_output()).await.expect("join").expect("wait");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let third = saved_entry();
    assert_eq!(third["token_id"], first["token_id"], "the grant lives on");
    assert!(grant_record().await.revoked_at.is_none());
    let out = gatehouse(&["logout"]).output().expect("logout");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(grant_record().await.revoked_at.is_some(), "revoked on the server");
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&credentials).expect("file")).expect("json");
    assert!(saved.get(&app.address).is_none(), "and forgotten here");
    let out = gatehouse(&["status"]).output().expect("status");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no saved token"));

    // `--no-dpop` asks for a plain bearer token.
    let mut bearer = gatehouse(&["login", "--no-qr", "--no-dpop"]).stdout(Stdio::piped()).spawn().expect("login");
    let printed = read_until_waiting(bearer.stdout.take().expect("stdout")).await;
    assert!(!printed.iter().any(|l| l.contains("scan it")), "{printed:?}");
    let code = printed.iter().map(|l| l.trim()).find(|l| l.len() == 9 && l.as_bytes()[4] == b'-').expect("code");
    app.approve(code, &ada).await;
    let status = tokio::task::spawn_blocking(move || bearer.wait()).await.expect("join").expect("wait");
    assert!(status.success());
    let plain = saved_entry();
    assert!(plain.get("dpop_key").is_none(), "{plain}");
    assert_eq!(app.me(plain["access_token"].as_str().expect("token")).await.status(), 200);
}

on_every_backend!(login_status_and_logout_round_trip);

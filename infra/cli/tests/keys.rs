//! The built `flyt` binary against the local emulator: clients, keys and passwords written by the
//! command line are the ones the authorizer's registry checks.

mod common;

use common::{failed, local, succeeded, Flyt};
use flyt::api_clients::{ClientRegistry, Refusal};
use flyt::credentials::{self, Presented};
use flyt_local::Local;

fn registry(local: &Local) -> ClientRegistry {
    ClientRegistry::new(local.aws.dynamodb.clone(), local.table("ApiClientsTable"))
}

fn presented(key: &str) -> Presented {
    credentials::parse_api_key(key).unwrap_or_else(|e| panic!("not an API key: {e:?}"))
}

fn key_id(key: &str) -> String {
    match presented(key) {
        Presented::ApiKey { key_id, .. } => key_id,
        Presented::Password { .. } => unreachable!("parse_api_key gives API keys"),
    }
}

fn secret_hash(key: &str) -> String {
    match presented(key) {
        Presented::ApiKey { secret, .. } => credentials::secret_hash(&secret),
        Presented::Password { .. } => unreachable!("parse_api_key gives API keys"),
    }
}

/// Issues a key; the only line on stdout is the key.
fn issue(flyt: &Flyt, client_id: &str) -> (String, String) {
    let args = ["keys", "issue", client_id];
    let (stdout, stderr) = succeeded(&args, flyt.run(&args));
    let key = stdout
        .strip_suffix('\n')
        .expect("the key ends its line")
        .to_owned();
    assert!(!key.contains('\n'), "only the key is on stdout: {stdout:?}");
    assert!(key.starts_with("flyt_"), "{key}");
    (key, stderr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_holds_at_most_two_keys_and_revoking_one_frees_a_slot() {
    let local = local().await;
    let flyt =
        Flyt::new(&local.emulator_url).env("API_CLIENTS_TABLE", local.table("ApiClientsTable"));
    let registry = registry(&local);

    let put = flyt.stdout(&[
        "clients",
        "put",
        "wiseflow-uib",
        "--exam-system",
        "WISEFLOW",
        "--institution",
        "194",
        "--institution",
        "185",
        "--rate-limit",
        "300",
    ]);
    assert!(put.contains("client wiseflow-uib created"), "{put}");
    let (client, keys) = registry.client("wiseflow-uib").await.unwrap().unwrap();
    assert_eq!(client.exam_system.as_str(), "WISEFLOW");
    assert_eq!(
        client.institutions.iter().collect::<Vec<_>>(),
        ["185", "194"]
    );
    assert_eq!(client.rate_limit_per_minute, 300);
    assert!(client.active && keys.is_empty());

    // Two keys: each printed once, alone on stdout, with the note on stderr; each authenticates.
    let (first, note) = issue(&flyt, "wiseflow-uib");
    let first_id = key_id(&first);
    assert!(note.contains(&first_id), "{note}");
    assert!(note.contains("cannot be shown again"), "{note}");
    assert!(note.contains("secure channel"), "{note}");
    assert!(note.contains("at most 2 active keys"), "{note}");
    assert!(!note.contains(&first), "the key is on stdout only: {note}");
    let (second, _) = issue(&flyt, "wiseflow-uib");
    let second_id = key_id(&second);
    for key in [&first, &second] {
        let authenticated = registry
            .authenticate(&presented(key))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(authenticated.client.client_id, "wiseflow-uib");
        assert_eq!(authenticated.key_id.as_deref(), Some(key_id(key).as_str()));
    }

    // A third is refused, saying why and what to do, and nothing is printed on stdout.
    let args = ["keys", "issue", "wiseflow-uib"];
    let output = flyt.run(&args);
    assert_eq!(output.status.code(), Some(1));
    let (stdout, stderr) = failed(&args, output);
    assert_eq!(stdout, "");
    assert!(stderr.contains("already holds 2 active keys"), "{stderr}");
    assert!(stderr.contains("revoke the older one first"), "{stderr}");
    assert!(
        stderr.contains(&first_id) && stderr.contains(&second_id),
        "{stderr}"
    );
    assert_eq!(
        registry
            .client("wiseflow-uib")
            .await
            .unwrap()
            .unwrap()
            .1
            .len(),
        2
    );

    // Show: the grant and both key ids, never a hash or a secret, as a table and as JSON.
    let table = flyt.stdout(&["clients", "show", "wiseflow-uib"]);
    let json = flyt.stdout(&["clients", "show", "wiseflow-uib", "--json"]);
    let key_first = flyt.stdout(&["keys", "show", &first_id]);
    let key_json = flyt.stdout(&["keys", "show", &first_id, "--json"]);
    for shown in [&table, &json, &key_first, &key_json] {
        for key in [&first, &second] {
            assert!(
                !shown.contains(&secret_hash(key)),
                "a hash is shown: {shown}"
            );
            assert!(!shown.contains(key.as_str()), "a key is shown: {shown}");
        }
        assert!(!shown.contains("hash"), "{shown}");
    }
    assert!(table.contains("exam system   WISEFLOW"), "{table}");
    assert!(table.contains("institutions  185, 194"), "{table}");
    assert!(table.contains("300 requests per minute"), "{table}");
    assert!(
        table.contains(&first_id) && table.contains(&second_id),
        "{table}"
    );
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["client_id"], "wiseflow-uib");
    assert_eq!(json["password_set"], false);
    let mut listed: Vec<_> = json["active_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["key_id"].as_str().unwrap().to_owned())
        .collect();
    listed.sort();
    let mut expected = vec![first_id.clone(), second_id.clone()];
    expected.sort();
    assert_eq!(listed, expected);
    assert!(key_first.contains("client   wiseflow-uib"), "{key_first}");
    assert!(key_first.contains("revoked  no"), "{key_first}");
    assert!(key_first.contains("status   active"), "{key_first}");

    // Revoke the first: reported with its time and the cache delay; it is refused from then on.
    let revoked = flyt.stdout(&["keys", "revoke", &first_id]);
    let record = registry.key(&first_id).await.unwrap().unwrap();
    let revoked_at = flyt::time::rfc3339(record.revoked_at.expect("revoked"));
    assert!(
        revoked.contains(&format!("key         {first_id}")),
        "{revoked}"
    );
    assert!(revoked.contains("client      wiseflow-uib"), "{revoked}");
    assert!(
        revoked.contains(&format!("revoked at  {revoked_at}")),
        "{revoked}"
    );
    assert!(
        revoked.contains(
            "stops working within the authorizer cache TTL (AuthorizerCacheSeconds, default 60 s)"
        ),
        "{revoked}"
    );
    assert_eq!(
        registry.authenticate(&presented(&first)).await.unwrap(),
        Err(Refusal::RevokedKey)
    );
    let shown = flyt.stdout(&["keys", "show", &first_id]);
    assert!(shown.contains(&format!("revoked  {revoked_at}")), "{shown}");
    assert!(shown.contains("status   revoked"), "{shown}");
    let again = flyt.stdout(&["keys", "revoke", &first_id]);
    assert!(again.contains("already revoked"), "{again}");
    assert!(
        again.contains(&revoked_at),
        "the first revocation time stays: {again}"
    );

    // A slot is free again.
    let (third, _) = issue(&flyt, "wiseflow-uib");
    assert!(registry
        .authenticate(&presented(&third))
        .await
        .unwrap()
        .is_ok());
    let (_, keys) = registry.client("wiseflow-uib").await.unwrap().unwrap();
    assert_eq!(keys, [second_id.clone(), key_id(&third)].into());

    // Updating the grant leaves the keys alone; switching the client off refuses them.
    let updated = flyt.stdout(&[
        "clients",
        "put",
        "wiseflow-uib",
        "--exam-system",
        "WISEFLOW",
        "--institution",
        "194",
        "--inactive",
    ]);
    assert!(updated.contains("client wiseflow-uib updated"), "{updated}");
    assert!(updated.contains("active        no"), "{updated}");
    let (client, keys) = registry.client("wiseflow-uib").await.unwrap().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(client.institutions, ["194".to_owned()].into());
    assert_eq!(client.rate_limit_per_minute, 600);
    assert_eq!(
        registry.authenticate(&presented(&second)).await.unwrap(),
        Err(Refusal::InactiveClient)
    );

    // Unknown clients and keys are errors that say so.
    for args in [
        &["clients", "show", "nobody"][..],
        &["keys", "issue", "nobody"],
        &["clients", "set-password", "nobody", "--remove"],
    ] {
        let (_, stderr) = failed(args, flyt.run(args));
        assert!(stderr.contains("client nobody: no such client"), "{stderr}");
    }
    for args in [
        ["keys", "show", "0123456789ab"],
        ["keys", "revoke", "0123456789ab"],
    ] {
        let (_, stderr) = failed(&args, flyt.run(&args));
        assert!(stderr.contains("key 0123456789ab: no such key"), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_set_from_stdin_authenticates_the_client() {
    let local = local().await;
    let flyt =
        Flyt::new(&local.emulator_url).env("API_CLIENTS_TABLE", local.table("ApiClientsTable"));
    let registry = registry(&local);
    let password = "correct horse battery staple";
    let with = |password: &str| Presented::Password {
        client_id: "inspera-uio".into(),
        password: password.into(),
    };
    flyt.stdout(&[
        "clients",
        "put",
        "inspera-uio",
        "--exam-system",
        "inspera",
        "--institution",
        "185",
    ]);

    let args = ["clients", "set-password", "inspera-uio"];
    let (stdout, stderr) = succeeded(&args, flyt.run_with_stdin(&args, &format!("{password}\n")));
    assert!(stdout.contains("password set"), "{stdout}");
    assert!(!stdout.contains(password) && !stderr.contains(password));
    let authenticated = registry
        .authenticate(&with(password))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(authenticated.client.client_id, "inspera-uio");
    assert_eq!(authenticated.key_id, None);
    for wrong in [
        "correct horse battery stapler",
        "correct horse battery staple\n",
    ] {
        assert_eq!(
            registry.authenticate(&with(wrong)).await.unwrap(),
            Err(Refusal::WrongPassword),
            "{wrong:?}"
        );
    }

    // Shown as set, never as its hash; a grant update keeps it.
    let stored = registry.client("inspera-uio").await.unwrap().unwrap().0;
    let hash = stored.password_hash.expect("a hash is stored");
    for args in [
        &["clients", "show", "inspera-uio"][..],
        &["clients", "show", "inspera-uio", "--json"],
    ] {
        let shown = flyt.stdout(args);
        assert!(
            !shown.contains(&hash) && !shown.contains("argon2"),
            "{shown}"
        );
    }
    assert!(flyt
        .stdout(&["clients", "show", "inspera-uio"])
        .contains("password      set"));
    flyt.stdout(&[
        "clients",
        "put",
        "inspera-uio",
        "--exam-system",
        "INSPERA",
        "--institution",
        "185",
        "--rate-limit",
        "120",
    ]);
    assert!(registry
        .authenticate(&with(password))
        .await
        .unwrap()
        .is_ok());

    // A short password and an empty stdin are refused without touching the stored one.
    let (_, stderr) = failed(&args, flyt.run_with_stdin(&args, "too-short\n"));
    assert!(stderr.contains("9 characters: use at least 16"), "{stderr}");
    assert!(!stderr.contains("too-short"), "{stderr}");
    let (_, stderr) = failed(&args, flyt.run_with_stdin(&args, ""));
    assert!(stderr.contains("no password on stdin"), "{stderr}");
    assert!(registry
        .authenticate(&with(password))
        .await
        .unwrap()
        .is_ok());

    // Removed: the password no longer works.
    let removed = flyt.stdout(&["clients", "set-password", "inspera-uio", "--remove"]);
    assert!(removed.contains("password removed"), "{removed}");
    assert_eq!(
        registry.authenticate(&with(password)).await.unwrap(),
        Err(Refusal::WrongPassword)
    );
    assert!(flyt
        .stdout(&["clients", "show", "inspera-uio"])
        .contains("password      not set"));
}

/// Arguments are checked before anything is read or written, so no stack is needed.
#[test]
fn invalid_arguments_are_rejected_naming_the_flag() {
    let flyt = Flyt::new("http://127.0.0.1:9").env("API_CLIENTS_TABLE", "ConfigTable");
    let put = |extra: &[&'static str]| -> Vec<&'static str> {
        ["clients", "put", "wiseflow-uib"]
            .iter()
            .chain(extra)
            .copied()
            .collect()
    };
    let cases: Vec<(Vec<&str>, &[&str])> = vec![
        (
            put(&["--exam-system", "CANVAS", "--institution", "194"]),
            &["--exam-system", "INSPERA or WISEFLOW"],
        ),
        (
            put(&["--exam-system", "WISEFLOW", "--institution", "12345"]),
            &["--institution", "1 to 4 digits"],
        ),
        (
            put(&["--exam-system", "WISEFLOW", "--institution", "uib"]),
            &["--institution", "1 to 4 digits"],
        ),
        (put(&["--exam-system", "WISEFLOW"]), &["--institution"]),
        (put(&["--institution", "194"]), &["--exam-system"]),
        (
            put(&[
                "--exam-system",
                "WISEFLOW",
                "--institution",
                "194",
                "--rate-limit",
                "0",
            ]),
            &["--rate-limit", "--inactive"],
        ),
        (
            put(&[
                "--exam-system",
                "WISEFLOW",
                "--institution",
                "194",
                "--rate-limit",
                "many",
            ]),
            &["--rate-limit", "whole number"],
        ),
        (
            vec![
                "clients",
                "put",
                "WiseFlow_UiB",
                "--exam-system",
                "WISEFLOW",
                "--institution",
                "194",
            ],
            &["<CLIENT_ID>", "a-z, 0-9 and '-'"],
        ),
        (vec!["keys", "issue", "-x"], &["-x"]),
        (
            vec!["keys", "revoke", "not-a-key"],
            &["<KEY_ID>", "12 hex digits"],
        ),
        (vec!["keys", "show", "0123"], &["<KEY_ID>", "12 hex digits"]),
    ];
    for (args, expected) in cases {
        let output = flyt.run(&args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let (_, stderr) = failed(&args, output);
        for needle in expected {
            assert!(
                stderr.contains(needle),
                "{args:?}: {needle} not in {stderr}"
            );
        }
    }

    // No table: said how to give one.
    let flyt = Flyt::new("http://127.0.0.1:9");
    let args = ["clients", "show", "wiseflow-uib"];
    let output = flyt.run(&args);
    assert_eq!(output.status.code(), Some(1));
    let (_, stderr) = failed(&args, output);
    assert!(stderr.contains("--clients-table"), "{stderr}");
    assert!(stderr.contains("API_CLIENTS_TABLE"), "{stderr}");
}

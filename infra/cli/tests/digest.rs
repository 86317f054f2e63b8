//! The built `flyt` binary against the local emulator: the people lists of an institution. Who
//! gets its daily digest is what `flyt digest` subscribes and unsubscribes, as the digest sender
//! reads it; who may see its log overview is what `flyt viewers` adds and removes, as the log
//! overview reads it.

mod common;

use common::{local, Flyt};
use flyt::digest::Subscriptions;
use flyt::viewers::Viewers;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_are_added_listed_and_removed() {
    let local = local().await;
    let flyt = Flyt::new(&local.emulator_url).env("CONFIG_TABLE", local.table("ConfigTable"));
    flyt.ok(&["digest", "subscribe", "uio", "Digest.One@UiO.example"]);
    flyt.ok(&["digest", "subscribe", "uib", "digest.two@uib.example"]);
    let (listed, _) = flyt.ok(&["digest", "list"]);
    assert_eq!(
        listed,
        "uib  digest.two@uib.example\nuio  digest.one@uio.example\n"
    );
    flyt.ok(&["digest", "unsubscribe", "uio", "digest.one@uio.example"]);
    let (uio, _) = flyt.ok(&["digest", "list", "uio"]);
    assert_eq!(uio, "");
    let subscriptions = Subscriptions::new(local.aws.dynamodb.clone(), local.table("ConfigTable"));
    assert_eq!(
        subscriptions.all().await.unwrap(),
        vec![("uib".to_owned(), vec!["digest.two@uib.example".to_owned()])]
    );
    let stderr = flyt.fails(&["digest", "subscribe", "uio", "a b@c"], 1);
    assert!(stderr.contains("not an e-mail address"), "{stderr}");
    let stderr = Flyt::new(&local.emulator_url).fails(&["digest", "list"], 1);
    assert!(stderr.contains("CONFIG_TABLE"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_overview_viewers_are_added_listed_and_removed_within_their_realm() {
    let local = local().await;
    let flyt = Flyt::new(&local.emulator_url).env("CONFIG_TABLE", local.table("ConfigTable"));
    flyt.ok(&["viewers", "add", "uio", "Kari.Eksamen@UiO.no"]);
    let (listed, _) = flyt.ok(&["viewers", "list", "uio"]);
    assert!(listed.contains("uio  kari.eksamen@uio.no\n"), "{listed}");
    let stderr = flyt.fails(&["viewers", "add", "uio", "kari@uib.no"], 1);
    assert!(
        stderr.contains("not of uio's Feide realm uio.no"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("kari@uib.no"),
        "the user id is not repeated: {stderr}"
    );
    let stderr = flyt.fails(&["viewers", "add", "uio", "kari"], 1);
    assert!(stderr.contains("not a Feide user id"), "{stderr}");
    let stderr = flyt.fails(&["viewers", "add", "nowhere", "kari@uio.no"], 1);
    assert!(stderr.contains("institution nowhere"), "{stderr}");
    flyt.ok(&["viewers", "remove", "uio", "kari.eksamen@uio.no"]);
    let viewers = Viewers::new(local.aws.dynamodb.clone(), local.table("ConfigTable"));
    let left = viewers.of("uio").await.unwrap();
    assert!(
        !left.contains(&"kari.eksamen@uio.no".to_owned()),
        "{left:?}"
    );
}

//! The built `flyt` binary against the local emulator: who gets an institution's daily digest is
//! what `flyt digest` subscribes and unsubscribes, as the digest sender reads it.

mod common;

use common::{local, Flyt};
use flyt::digest::Subscriptions;

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

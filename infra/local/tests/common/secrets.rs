//! Rotating a credential as an operator does — a new value in the emulator's Secrets Manager
//! (`PutSecretValue`) — and counting the reads of secrets a counted AWS client made.

use flyt::aws::{emulator_config, AwsClients, RequestCounter};
use flyt_local::{Emulator, Local};
use serde_json::Value;

/// `GetSecretValue` requests counted by `counter`.
pub fn secret_reads(counter: &RequestCounter) -> u64 {
    counter
        .snapshot()
        .iter()
        .filter(|(operation, _)| operation.ends_with(":GetSecretValue"))
        .map(|(_, count)| count)
        .sum()
}

/// AWS clients on the shared emulator: one pair counted by `counter` (the code under test), one
/// not (the test's own reads and writes).
pub async fn emulator_clients(counter: &RequestCounter) -> (AwsClients, AwsClients) {
    let sdk = emulator_config(Emulator::shared(), flyt_local::stack::REGION).await;
    (
        AwsClients::new(&sdk, Some(counter)),
        AwsClients::new(&sdk, None),
    )
}

/// Creates a secret with a unique name; returns its ARN.
pub async fn create_secret(secrets: &aws_sdk_secretsmanager::Client, value: &Value) -> String {
    secrets
        .create_secret()
        .name(format!("flyt-rotation-{:08x}", fastrand::u32(..)))
        .secret_string(value.to_string())
        .send()
        .await
        .expect("CreateSecret")
        .arn()
        .expect("an ARN")
        .to_owned()
}

/// Stores a new value of a secret, as `aws secretsmanager put-secret-value` does.
pub async fn put_secret(secrets: &aws_sdk_secretsmanager::Client, secret_id: &str, value: &Value) {
    secrets
        .put_secret_value()
        .secret_id(secret_id)
        .secret_string(value.to_string())
        .send()
        .await
        .expect("PutSecretValue");
}

/// The secret id a function of the local stack is configured with (`variable`, e.g.
/// `ALMA_SECRET_ID`).
pub fn secret_id(local: &Local, function: &str, variable: &str) -> String {
    local.stack.functions[function]
        .vars
        .get(variable)
        .unwrap_or_else(|| panic!("{function} has no {variable}"))
        .to_owned()
}

/// Sets `field` of every entry of a secret of entries (the FS or exam-systems secret) to `value`.
pub async fn rotate_entries(local: &Local, secret_id: &str, field: &str, value: &str) {
    let text = local
        .aws
        .secrets
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .expect("GetSecretValue")
        .secret_string
        .expect("a string secret");
    let mut entries: serde_json::Map<String, Value> =
        serde_json::from_str(&text).expect("a JSON object of entries");
    for entry in entries.values_mut() {
        entry[field] = Value::from(value);
    }
    put_secret(&local.aws.secrets, secret_id, &Value::Object(entries)).await;
}

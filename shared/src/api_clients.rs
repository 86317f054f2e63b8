//! The DigEks proxy's clients (exam systems), their grants and their credentials, in their own
//! table (`ApiClientsTable`), which only the authorizer and the operators' tool read.
//!
//! - `client#<client id>`: the grant as JSON (`entry`: exam system, institutions, rate limit,
//!   optional password hash, active) and `active_keys`, the string set of its live key ids — at
//!   most two, so a key can be rotated without downtime.
//! - `apikey#<key id>`: the owning client, the SHA-256 of the key's secret, when it was issued and,
//!   once revoked, when.
//!
//! Issuing and revoking change both records in one transaction. A key works only while its record
//! is unrevoked *and* its id is in the client's `active_keys`.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};

use crate::credentials::{self, Presented};
use crate::dynamo::{n, s, Item, ItemExt};
use crate::error::{aws_error, Error, Result};
use crate::institution::ExamSystem;
use crate::time::now_ms;

const CLIENT_PREFIX: &str = "client#";
const KEY_PREFIX: &str = "apikey#";
/// Live keys a client may hold at once: the current one and its successor.
pub const MAX_ACTIVE_KEYS: usize = 2;

/// A client of the proxy: one exam system, acting for the institutions it is granted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiClient {
    /// Its id, e.g. `wiseflow`; also the Basic user name of the password variant.
    pub client_id: String,
    /// The exam system it is: the only `{system}` it may use in paths.
    pub exam_system: ExamSystem,
    /// FS institution numbers it may act for.
    pub institutions: BTreeSet<String>,
    /// Requests per minute before it is answered 429.
    pub rate_limit_per_minute: u32,
    /// Argon2id PHC string of its password, if it may use the password variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    /// Switched off clients are refused whatever they present.
    pub active: bool,
}

/// An API key's record, without its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyRecord {
    /// The public key id.
    pub key_id: String,
    /// The owning client.
    pub client_id: String,
    /// Issued, epoch ms.
    pub created_at: i64,
    /// Revoked, epoch ms.
    pub revoked_at: Option<i64>,
    secret_hash: String,
}

/// Who a request comes from, once its credentials were checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authenticated {
    /// The client.
    pub client: ApiClient,
    /// The key used, or `None` for the password variant.
    pub key_id: Option<String>,
}

/// Why credentials were refused. Said to the caller only as "unknown or revoked"; the reason goes
/// to the audit log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No such key, or its secret does not match.
    UnknownKey,
    /// The key was revoked, or is no longer among the client's active keys.
    RevokedKey,
    /// No such client, no password set, or a wrong password.
    WrongPassword,
    /// The client is switched off.
    InactiveClient,
}

impl Refusal {
    /// A short, stable name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::UnknownKey => "unknown_key",
            Refusal::RevokedKey => "revoked_key",
            Refusal::WrongPassword => "wrong_password",
            Refusal::InactiveClient => "inactive_client",
        }
    }
}

/// A key just issued: the whole key is in `key`, shown to the operator once.
pub struct IssuedKey {
    /// The public key id.
    pub key_id: String,
    /// `flyt_<key id>_<secret>`.
    pub key: String,
}

/// Reads and writes clients and keys.
#[derive(Clone, Debug)]
pub struct ClientRegistry {
    dynamodb: aws_sdk_dynamodb::Client,
    table: String,
}

impl ClientRegistry {
    /// A registry over the clients table.
    pub fn new(dynamodb: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        ClientRegistry {
            dynamodb,
            table: table.into(),
        }
    }

    /// Creates or updates a client's grant; its keys stay as they are.
    pub async fn put_client(&self, client: &ApiClient) -> Result<()> {
        self.dynamodb
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("{CLIENT_PREFIX}{}", client.client_id)))
            .update_expression("SET entry = :entry")
            .expression_attribute_values(
                ":entry",
                s(serde_json::to_string(client).expect("a client serialises")),
            )
            .send()
            .await
            .map_err(|e| {
                aws_error("DynamoDB", "UpdateItem", e)
                    .context(format_args!("writing client {}", client.client_id))
            })?;
        Ok(())
    }

    /// A client and its active key ids; `None` if there is no such client.
    pub async fn client(&self, client_id: &str) -> Result<Option<(ApiClient, BTreeSet<String>)>> {
        let Some(item) = self.get(&format!("{CLIENT_PREFIX}{client_id}")).await? else {
            return Ok(None);
        };
        let entry = item.string("entry").ok_or_else(|| {
            Error::configuration(format!(
                "client {client_id}: its record has no entry: write it again with `flyt clients put`"
            ))
        })?;
        let client: ApiClient = serde_json::from_str(&entry).map_err(|e| {
            Error::configuration(format!("client {client_id}: its entry is not valid: {e}"))
        })?;
        let keys = item
            .string_set("active_keys")
            .unwrap_or_default()
            .into_iter()
            .collect();
        Ok(Some((client, keys)))
    }

    /// Issues a new key for an existing client. Refused while the client holds
    /// [`MAX_ACTIVE_KEYS`] live keys: revoke the older one first.
    pub async fn issue_key(&self, client_id: &str) -> Result<IssuedKey> {
        let new = credentials::new_api_key();
        let now = now_ms();
        let put_key = Put::builder()
            .table_name(&self.table)
            .item("pk", s(format!("{KEY_PREFIX}{}", new.key_id)))
            .item("client_id", s(client_id))
            .item("secret_hash", s(&new.secret_hash))
            .item("created_at", n(now))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .expect("table and item are set");
        let add_to_client = Update::builder()
            .table_name(&self.table)
            .key("pk", s(format!("{CLIENT_PREFIX}{client_id}")))
            .update_expression("ADD active_keys :id")
            .condition_expression(
                "attribute_exists(entry) AND (attribute_not_exists(active_keys) OR size(active_keys) < :max)",
            )
            .expression_attribute_values(":id", AttributeValue::Ss(vec![new.key_id.clone()]))
            .expression_attribute_values(":max", n(MAX_ACTIVE_KEYS))
            .build()
            .expect("table, key and expression are set");
        let result = self
            .dynamodb
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put_key).build())
            .transact_items(TransactWriteItem::builder().update(add_to_client).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(IssuedKey {
                key_id: new.key_id,
                key: new.key,
            }),
            Err(e) if is_cancelled(&e) => Err(Error::configuration(format!(
                "client {client_id}: no key issued — the client does not exist, or already holds {MAX_ACTIVE_KEYS} active keys: revoke the older one first"
            ))),
            Err(e) => Err(aws_error("DynamoDB", "TransactWriteItems", e)
                .context(format_args!("issuing a key for client {client_id}"))),
        }
    }

    /// Revokes a key: it stops working once the authorizer's cached answers for it expire.
    pub async fn revoke_key(&self, key_id: &str) -> Result<KeyRecord> {
        let record = self
            .key(key_id)
            .await?
            .ok_or_else(|| Error::configuration(format!("key {key_id}: no such key")))?;
        let now = now_ms();
        let revoke = Update::builder()
            .table_name(&self.table)
            .key("pk", s(format!("{KEY_PREFIX}{key_id}")))
            .update_expression("SET revoked_at = if_not_exists(revoked_at, :now)")
            .expression_attribute_values(":now", n(now))
            .build()
            .expect("table, key and expression are set");
        let remove_from_client = Update::builder()
            .table_name(&self.table)
            .key("pk", s(format!("{CLIENT_PREFIX}{}", record.client_id)))
            .update_expression("DELETE active_keys :id")
            .expression_attribute_values(":id", AttributeValue::Ss(vec![key_id.to_owned()]))
            .build()
            .expect("table, key and expression are set");
        self.dynamodb
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(revoke).build())
            .transact_items(
                TransactWriteItem::builder()
                    .update(remove_from_client)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                aws_error("DynamoDB", "TransactWriteItems", e)
                    .context(format_args!("revoking key {key_id}"))
            })?;
        Ok(KeyRecord {
            revoked_at: record.revoked_at.or(Some(now)),
            ..record
        })
    }

    /// Sets (or, with `None`, removes) a client's password for the Basic variant.
    pub async fn set_password(&self, client_id: &str, password: Option<&str>) -> Result<()> {
        let (mut client, _) = self
            .client(client_id)
            .await?
            .ok_or_else(|| Error::configuration(format!("client {client_id}: no such client")))?;
        client.password_hash = password.map(credentials::hash_password);
        self.put_client(&client).await
    }

    /// A key's record.
    pub async fn key(&self, key_id: &str) -> Result<Option<KeyRecord>> {
        let Some(item) = self.get(&format!("{KEY_PREFIX}{key_id}")).await? else {
            return Ok(None);
        };
        Ok(Some(KeyRecord {
            key_id: key_id.to_owned(),
            client_id: item.string("client_id").unwrap_or_default(),
            created_at: item.number("created_at").unwrap_or_default(),
            revoked_at: item.number("revoked_at"),
            secret_hash: item.string("secret_hash").unwrap_or_default(),
        }))
    }

    /// Checks presented credentials. `Ok(Err(refusal))` when they are wrong; `Err` only when the
    /// table could not be read.
    pub async fn authenticate(
        &self,
        presented: &Presented,
    ) -> Result<std::result::Result<Authenticated, Refusal>> {
        match presented {
            Presented::ApiKey { key_id, secret } => {
                let Some(record) = self.key(key_id).await? else {
                    return Ok(Err(Refusal::UnknownKey));
                };
                if !credentials::secret_matches(secret, &record.secret_hash) {
                    return Ok(Err(Refusal::UnknownKey));
                }
                if record.revoked_at.is_some() {
                    return Ok(Err(Refusal::RevokedKey));
                }
                let Some((client, active_keys)) = self.client(&record.client_id).await? else {
                    return Ok(Err(Refusal::UnknownKey));
                };
                if !active_keys.contains(key_id) {
                    return Ok(Err(Refusal::RevokedKey));
                }
                Ok(active(client, Some(key_id.clone())))
            }
            Presented::Password {
                client_id,
                password,
            } => {
                let client = self.client(client_id).await?.map(|(client, _)| client);
                let matches = client
                    .as_ref()
                    .and_then(|c| c.password_hash.as_deref())
                    .is_some_and(|hash| credentials::password_matches(password, hash));
                match client {
                    Some(client) if matches => Ok(active(client, None)),
                    _ => Ok(Err(Refusal::WrongPassword)),
                }
            }
        }
    }

    async fn get(&self, pk: &str) -> Result<Option<Item>> {
        let output = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| {
                aws_error("DynamoDB", "GetItem", e).context(format_args!("reading {pk}"))
            })?;
        Ok(output.item)
    }
}

fn active(
    client: ApiClient,
    key_id: Option<String>,
) -> std::result::Result<Authenticated, Refusal> {
    if client.active {
        Ok(Authenticated { client, key_id })
    } else {
        Err(Refusal::InactiveClient)
    }
}

fn is_cancelled(
    error: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
        aws_sdk_dynamodb::config::http::HttpResponse,
    >,
) -> bool {
    error
        .as_service_error()
        .is_some_and(|e| e.is_transaction_canceled_exception())
}

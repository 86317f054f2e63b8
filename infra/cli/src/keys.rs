//! `flyt keys`: the clients' API keys. A key is shown once, when issued; only its hash is stored.
//! A client holds at most [`MAX_ACTIVE_KEYS`] live keys, so a key can be rotated without downtime:
//! issue the new one, let the client switch, revoke the old one.

use clap::{Args, Subcommand};
use flyt::api_clients::{ClientRegistry, KeyRecord, MAX_ACTIVE_KEYS};
use flyt::time::rfc3339;
use flyt::{Error, Result};
use serde_json::json;

use crate::clients::no_such_client;
use crate::context::Context;
use crate::output::fields;
use crate::validate;

/// How long a revoked key may still be accepted, as operators should be told.
pub const REVOCATION_DELAY: &str =
    "stops working within the authorizer cache TTL (AuthorizerCacheSeconds, default 60 s)";

/// The `keys` commands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Issues a new key for a client and prints it once, alone on stdout.
    Issue(IssueArgs),
    /// Revokes a key.
    Revoke(KeyArgs),
    /// Shows a key's client, when it was issued and whether it was revoked (never its hash).
    Show(ShowArgs),
}

/// `flyt keys issue`.
#[derive(Debug, Args)]
pub struct IssueArgs {
    /// The client the key is for.
    #[arg(value_parser = validate::client_id)]
    pub client_id: String,
}

/// `flyt keys revoke`.
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// The key id: the 12 hex digits after `flyt_` in the key (the whole key is accepted too).
    #[arg(value_parser = validate::key_id)]
    pub key_id: String,
}

/// `flyt keys show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The key id: the 12 hex digits after `flyt_` in the key (the whole key is accepted too).
    #[arg(value_parser = validate::key_id)]
    pub key_id: String,
    /// Prints JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Runs a `keys` command.
pub async fn run(command: KeysCommand, context: &Context) -> Result<()> {
    let registry = context.client_registry().await?;
    match command {
        KeysCommand::Issue(args) => issue(&registry, &args.client_id).await,
        KeysCommand::Revoke(args) => revoke(&registry, &args.key_id).await,
        KeysCommand::Show(args) => show(&registry, &args.key_id, args.json).await,
    }
}

async fn issue(registry: &ClientRegistry, client_id: &str) -> Result<()> {
    let (client, key_ids) = registry
        .client(client_id)
        .await?
        .ok_or_else(|| no_such_client(client_id))?;
    if key_ids.len() >= MAX_ACTIVE_KEYS {
        let mut held = Vec::new();
        for key_id in &key_ids {
            if let Some(record) = registry.key(key_id).await? {
                held.push(record);
            }
        }
        held.sort_by_key(|record| record.created_at);
        let held: Vec<_> = held
            .iter()
            .map(|record| format!("{} issued {}", record.key_id, rfc3339(record.created_at)))
            .collect();
        return Err(Error::configuration(format!(
            "client {client_id}: no key issued — it already holds {MAX_ACTIVE_KEYS} active keys \
             ({}): revoke the older one first with `flyt keys revoke <KEY_ID>`, once the client \
             uses the newer one",
            held.join(", ")
        )));
    }
    let issued = registry.issue_key(client_id).await?;
    println!("{}", issued.key);
    eprintln!(
        "Issued key {key_id} for client {client_id}. The key is the line on stdout; it cannot be \
         shown again (only its hash is stored).\n\
         Hand it to the client's operators over a secure channel (a one-time secret link or a \
         shared password manager), never by plain e-mail or chat; they send it as \
         `Authorization: Bearer <key>`.\n\
         A client holds at most {MAX_ACTIVE_KEYS} active keys: to rotate, issue the new key, let \
         the client switch, then revoke the old one with `flyt keys revoke <KEY_ID>`.",
        key_id = issued.key_id,
    );
    if !client.active {
        eprintln!(
            "Note: client {client_id} is switched off, so the key is refused until the client is \
             put again without --inactive."
        );
    }
    Ok(())
}

async fn revoke(registry: &ClientRegistry, key_id: &str) -> Result<()> {
    let before = registry
        .key(key_id)
        .await?
        .ok_or_else(|| no_such_key(key_id))?;
    let record = registry.revoke_key(key_id).await?;
    let revoked_at = record.revoked_at.map(rfc3339).unwrap_or_default();
    print!(
        "{}",
        fields(&[
            ("key", record.key_id.clone()),
            ("client", record.client_id.clone()),
            ("revoked at", revoked_at),
        ])
    );
    if before.revoked_at.is_some() {
        println!("It was already revoked; nothing changed.");
    } else {
        println!("It {REVOCATION_DELAY}.");
    }
    Ok(())
}

async fn show(registry: &ClientRegistry, key_id: &str, as_json: bool) -> Result<()> {
    let record = registry
        .key(key_id)
        .await?
        .ok_or_else(|| no_such_key(key_id))?;
    let listed = registry
        .client(&record.client_id)
        .await?
        .is_some_and(|(_, keys)| keys.contains(key_id));
    print!("{}", describe(&record, listed, as_json));
    Ok(())
}

/// A key's record as a table or JSON: never its hash. `listed` says whether the key is among its
/// client's active keys (a key works only while it is, and unrevoked).
pub fn describe(record: &KeyRecord, listed: bool, as_json: bool) -> String {
    let status = match (record.revoked_at, listed) {
        (Some(_), _) => "revoked",
        (None, true) => "active",
        (None, false) => "inactive: not among its client's active keys",
    };
    let revoked = record.revoked_at.map(rfc3339);
    if as_json {
        let value = json!({
            "key_id": record.key_id,
            "client_id": record.client_id,
            "created_at": rfc3339(record.created_at),
            "revoked_at": revoked,
            "active": revoked.is_none() && listed,
        });
        return format!(
            "{}\n",
            serde_json::to_string_pretty(&value).expect("JSON values serialise")
        );
    }
    fields(&[
        ("key", record.key_id.clone()),
        ("client", record.client_id.clone()),
        ("created", rfc3339(record.created_at)),
        ("revoked", revoked.unwrap_or_else(|| "no".to_owned())),
        ("status", status.to_owned()),
    ])
}

fn no_such_key(key_id: &str) -> Error {
    Error::configuration(format!(
        "key {key_id}: no such key: a client's active keys are listed by `flyt clients show \
         <CLIENT_ID>`"
    ))
}

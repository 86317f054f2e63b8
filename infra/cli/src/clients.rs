//! `flyt clients`: the DigEks proxy's clients — their grants (exam system, institutions, rate
//! limit, active) and their passwords. Keys are managed by [`crate::keys`].

use std::collections::BTreeSet;
use std::io::IsTerminal;

use clap::{Args, Subcommand};
use flyt::api_clients::{ApiClient, ClientRegistry};
use flyt::institution::ExamSystem;
use flyt::time::rfc3339;
use flyt::{Category, Error, Result};
use serde_json::json;

use crate::context::Context;
use crate::output::{fields, yes_no};
use crate::validate::{self, DEFAULT_RATE_LIMIT, MIN_PASSWORD_CHARS};

/// The `clients` commands.
#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// Creates a client or replaces its grant. Its keys and password stay as they are; flags left
    /// out take their defaults.
    Put(PutArgs),
    /// Shows a client's grant and its active key ids (never a hash).
    Show(ShowArgs),
    /// Sets a client's password for the Basic variant, read from stdin (one line, at least 16
    /// characters), or removes it with --remove.
    #[command(name = "set-password")]
    SetPassword(SetPasswordArgs),
}

/// `flyt clients put`.
#[derive(Debug, Args)]
pub struct PutArgs {
    /// The client's id: 2 to 40 of a-z, 0-9 and '-', starting with a letter or digit; also the
    /// Basic user name of the password variant.
    #[arg(value_parser = validate::client_id)]
    pub client_id: String,
    /// The exam system the client is: INSPERA or WISEFLOW.
    #[arg(long, value_name = "SYSTEM", value_parser = validate::exam_system)]
    pub exam_system: ExamSystem,
    /// An FS institution number the client may act for (1 to 4 digits); repeat the flag, or
    /// separate with commas, for several.
    #[arg(
        long = "institution",
        value_name = "NUMBER",
        required = true,
        value_delimiter = ',',
        value_parser = validate::institution
    )]
    pub institutions: Vec<String>,
    /// Requests per minute before the client is answered 429.
    #[arg(long, value_name = "PER_MINUTE", default_value_t = DEFAULT_RATE_LIMIT, value_parser = validate::rate_limit)]
    pub rate_limit: u32,
    /// Switches the client off: it is refused whatever it presents.
    #[arg(long)]
    pub inactive: bool,
}

impl PutArgs {
    /// The grant these flags describe, without a password.
    pub fn client(&self) -> ApiClient {
        ApiClient {
            client_id: self.client_id.clone(),
            exam_system: self.exam_system,
            institutions: self.institutions.iter().cloned().collect(),
            rate_limit_per_minute: self.rate_limit,
            password_hash: None,
            active: !self.inactive,
        }
    }
}

/// `flyt clients show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The client's id.
    #[arg(value_parser = validate::client_id)]
    pub client_id: String,
    /// Prints JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `flyt clients set-password`.
#[derive(Debug, Args)]
pub struct SetPasswordArgs {
    /// The client's id.
    #[arg(value_parser = validate::client_id)]
    pub client_id: String,
    /// Removes the password instead: the client can then authenticate with API keys only.
    #[arg(long)]
    pub remove: bool,
}

/// Runs a `clients` command.
pub async fn run(command: ClientsCommand, context: &Context) -> Result<()> {
    let registry = context.client_registry().await?;
    match command {
        ClientsCommand::Put(args) => put(&registry, &args).await,
        ClientsCommand::Show(args) => {
            print!("{}", show(&registry, &args.client_id, args.json).await?);
            Ok(())
        }
        ClientsCommand::SetPassword(args) => set_password(&registry, &args).await,
    }
}

async fn put(registry: &ClientRegistry, args: &PutArgs) -> Result<()> {
    let mut client = args.client();
    let existed = match registry.client(&client.client_id).await {
        Ok(Some((existing, _))) => {
            client.password_hash = existing.password_hash;
            true
        }
        Ok(None) => false,
        // An unreadable stored grant is what `put` repairs; only its password is lost.
        Err(error) if error.category() == Category::Configuration => {
            eprintln!(
                "flyt: {}; writing it afresh, without a password",
                error.message()
            );
            true
        }
        Err(error) => return Err(error),
    };
    registry.put_client(&client).await?;
    println!(
        "client {} {} (keys and password untouched)",
        client.client_id,
        if existed { "updated" } else { "created" }
    );
    print!("{}", show(registry, &client.client_id, false).await?);
    Ok(())
}

/// A client's grant and active keys (oldest first), as a table or as JSON. Never contains a hash.
pub async fn show(registry: &ClientRegistry, client_id: &str, as_json: bool) -> Result<String> {
    let (client, key_ids) = registry
        .client(client_id)
        .await?
        .ok_or_else(|| no_such_client(client_id))?;
    let mut keys = Vec::with_capacity(key_ids.len());
    for key_id in &key_ids {
        let created = registry.key(key_id).await?.map(|record| record.created_at);
        keys.push((key_id.clone(), created));
    }
    // Oldest first: the one to revoke when rotating. A key without a record comes last.
    keys.sort_by_key(|(_, created)| created.unwrap_or(i64::MAX));
    let keys: Vec<_> = keys
        .into_iter()
        .map(|(key_id, created)| (key_id, created.map(rfc3339)))
        .collect();
    Ok(if as_json {
        show_json(&client, &keys)
    } else {
        show_table(&client, &keys)
    })
}

fn show_json(client: &ApiClient, keys: &[(String, Option<String>)]) -> String {
    let keys: Vec<_> = keys
        .iter()
        .map(|(key_id, created)| json!({"key_id": key_id, "created_at": created}))
        .collect();
    let value = json!({
        "client_id": client.client_id,
        "exam_system": client.exam_system.as_str(),
        "institutions": client.institutions,
        "rate_limit_per_minute": client.rate_limit_per_minute,
        "active": client.active,
        "password_set": client.password_hash.is_some(),
        "active_keys": keys,
    });
    format!(
        "{}\n",
        serde_json::to_string_pretty(&value).expect("JSON values serialise")
    )
}

fn show_table(client: &ApiClient, keys: &[(String, Option<String>)]) -> String {
    let institutions = join(&client.institutions);
    let keys = if keys.is_empty() {
        "none".to_owned()
    } else {
        keys.iter()
            .map(|(key_id, created)| match created {
                Some(created) => format!("{key_id} (issued {created})"),
                None => format!("{key_id} (its record is missing)"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    fields(&[
        ("client", client.client_id.clone()),
        ("exam system", client.exam_system.as_str().to_owned()),
        ("institutions", institutions),
        (
            "rate limit",
            format!("{} requests per minute", client.rate_limit_per_minute),
        ),
        ("active", yes_no(client.active).to_owned()),
        (
            "password",
            set_or_not(client.password_hash.is_some()).to_owned(),
        ),
        ("active keys", keys),
    ])
}

async fn set_password(registry: &ClientRegistry, args: &SetPasswordArgs) -> Result<()> {
    if registry.client(&args.client_id).await?.is_none() {
        return Err(no_such_client(&args.client_id));
    }
    if args.remove {
        registry.set_password(&args.client_id, None).await?;
        println!(
            "client {}: password removed; it can authenticate with API keys only",
            args.client_id
        );
        return Ok(());
    }
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!(
            "Type the password (at least {MIN_PASSWORD_CHARS} characters) and press Enter; \
             it is shown as you type, so prefer piping it in."
        );
    }
    let password = validate::read_password(stdin.lock()).map_err(Error::configuration)?;
    registry
        .set_password(&args.client_id, Some(&password))
        .await?;
    println!(
        "client {}: password set; it authenticates with Basic {}:<password>",
        args.client_id, args.client_id
    );
    Ok(())
}

/// The error for a client id that is not in the table.
pub fn no_such_client(client_id: &str) -> Error {
    Error::configuration(format!(
        "client {client_id}: no such client: create it with `flyt clients put {client_id} \
         --exam-system <SYSTEM> --institution <NUMBER>`"
    ))
}

fn join(values: &BTreeSet<String>) -> String {
    values.iter().cloned().collect::<Vec<_>>().join(", ")
}

fn set_or_not(set: bool) -> &'static str {
    if set {
        "set"
    } else {
        "not set"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(password_hash: Option<&str>) -> ApiClient {
        ApiClient {
            client_id: "wiseflow-uib".into(),
            exam_system: ExamSystem::Wiseflow,
            institutions: ["194".to_owned(), "185".to_owned()].into(),
            rate_limit_per_minute: 600,
            password_hash: password_hash.map(str::to_owned),
            active: true,
        }
    }

    #[test]
    fn show_never_prints_the_password_hash() {
        let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";
        let keys = [(
            "0123456789ab".to_owned(),
            Some("2026-01-02T03:04:05.000Z".to_owned()),
        )];
        let table = show_table(&client(Some(hash)), &keys);
        assert!(!table.contains("argon2"), "{table}");
        assert!(table.contains("password      set\n"), "{table}");
        assert!(table.contains("institutions  185, 194\n"), "{table}");
        assert!(table.contains("0123456789ab (issued 2026-01-02T03:04:05.000Z)"));
        let json: serde_json::Value =
            serde_json::from_str(&show_json(&client(Some(hash)), &keys)).unwrap();
        assert!(!json.to_string().contains("argon2"), "{json}");
        assert_eq!(json["password_set"], true);
        assert_eq!(json["institutions"], json!(["185", "194"]));
        assert_eq!(json["active_keys"][0]["key_id"], "0123456789ab");
        assert!(show_table(&client(None), &[]).contains("active keys   none"));
    }
}

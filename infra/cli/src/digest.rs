//! `flyt digest`: who gets an institution's daily digest e-mail. People opt in by asking the
//! operators; their addresses are stored in the configuration table only and shown only here.

use clap::Subcommand;
use flyt::digest::Subscriptions;
use flyt::Result;

use crate::context::Context;

/// Subscriptions to the daily digest.
#[derive(Debug, Subcommand)]
pub enum DigestCommand {
    /// Adds a person to an institution's daily digest.
    Subscribe {
        /// The institution's org id, e.g. `uio`.
        org: String,
        /// Their e-mail address.
        address: String,
    },
    /// Takes a person off an institution's daily digest.
    Unsubscribe {
        /// The institution's org id.
        org: String,
        /// Their e-mail address.
        address: String,
    },
    /// Lists an institution's subscribers, or every institution's.
    List {
        /// The institution's org id; every institution without it.
        org: Option<String>,
    },
}

/// Runs the command.
pub async fn run(command: DigestCommand, context: &Context) -> Result<()> {
    let subscriptions = Subscriptions::new(context.aws().await?.dynamodb, context.config_table()?);
    match command {
        DigestCommand::Subscribe { org, address } => {
            subscriptions.subscribe(&org, &address).await?;
            println!("subscribed to the daily digest of {org}");
        }
        DigestCommand::Unsubscribe { org, address } => {
            subscriptions.unsubscribe(&org, &address).await?;
            println!("unsubscribed from the daily digest of {org}");
        }
        DigestCommand::List { org: Some(org) } => {
            for address in subscriptions.recipients(&org).await? {
                println!("{org}  {address}");
            }
        }
        DigestCommand::List { org: None } => {
            for (org, addresses) in subscriptions.all().await? {
                for address in addresses {
                    println!("{org}  {address}");
                }
            }
        }
    }
    Ok(())
}

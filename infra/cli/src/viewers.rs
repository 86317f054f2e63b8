//! `flyt viewers`: who may see an institution's log overview. A realm lets no one in; each person
//! is listed by their Feide user id (eduPersonPrincipalName), which is stored in the
//! configuration table only and shown only here. Taking someone off ends their session within
//! the log overview's cache period (`INSTITUTION_CACHE_SECONDS`, 60 s).

use clap::Subcommand;
use flyt::institution::{normalize_realm, InstitutionStore};
use flyt::viewers::{checked_feide_user, realm_of, Viewers};
use flyt::{Error, Result};

use crate::context::Context;

/// The log overview's allow-lists.
#[derive(Debug, Subcommand)]
pub enum ViewersCommand {
    /// Lets a person see an institution's log overview.
    Add {
        /// The institution's org id, e.g. `uio`.
        org: String,
        /// Their Feide user id, e.g. `ola@uio.no`: of the institution's realm.
        user: String,
    },
    /// Takes a person off an institution's list; their session ends within a minute.
    Remove {
        /// The institution's org id.
        org: String,
        /// Their Feide user id.
        user: String,
    },
    /// Lists the people who may see an institution's log overview.
    List {
        /// The institution's org id.
        org: String,
    },
}

/// Runs the command.
pub async fn run(command: ViewersCommand, context: &Context) -> Result<()> {
    let dynamodb = context.aws().await?.dynamodb;
    let table = context.config_table()?;
    let viewers = Viewers::new(dynamodb.clone(), table);
    match command {
        ViewersCommand::Add { org, user } => {
            let entry = InstitutionStore::new(dynamodb, table)
                .entry(&org)
                .await?
                .ok_or_else(|| {
                    Error::configuration(format!(
                        "institution {org}: no such institution in the configuration table"
                    ))
                })?;
            let user = checked_feide_user(&user)?;
            let realm = entry.feide_realm.as_deref().and_then(normalize_realm);
            match realm {
                None => {
                    return Err(Error::configuration(format!(
                        "institution {org} has no feide_realm: it is not connected to the log overview; set its feide_realm first"
                    )))
                }
                Some(realm) if realm_of(&user).as_deref() != Some(realm.as_str()) => {
                    return Err(Error::configuration(format!(
                        "the user is not of {org}'s Feide realm {realm}: give their Feide user id, <user>@{realm}"
                    )))
                }
                Some(_) => {}
            }
            viewers.add(&org, &user).await?;
            println!("may see the log overview of {org}");
        }
        ViewersCommand::Remove { org, user } => {
            viewers.remove(&org, &user).await?;
            println!("taken off the log overview of {org}; their session ends within a minute");
        }
        ViewersCommand::List { org } => {
            for user in viewers.of(&org).await? {
                println!("{org}  {}", crate::output::printable(&user));
            }
        }
    }
    Ok(())
}

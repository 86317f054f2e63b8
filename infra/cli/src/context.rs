//! What every command group shares: the global flags and the AWS clients built from the standard
//! AWS environment.

use aws_config::BehaviorVersion;
use clap::Args;
use flyt::api_clients::ClientRegistry;
use flyt::aws::AwsClients;
use flyt::{Error, Result};

/// Flags every command takes, before or after the subcommand.
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalArgs {
    /// The DigEks clients table (the stack output ApiClientsTableName).
    #[arg(long, env = "API_CLIENTS_TABLE", global = true, value_name = "TABLE")]
    pub clients_table: Option<String>,
}

/// The global flags, checked when a command needs them.
#[derive(Debug, Clone)]
pub struct Context {
    global: GlobalArgs,
}

impl Context {
    /// A context over the parsed global flags.
    pub fn new(global: GlobalArgs) -> Self {
        Context { global }
    }

    /// The DigEks clients table's name; an error saying how to set it when it is missing.
    pub fn clients_table(&self) -> Result<&str> {
        match self.global.clients_table.as_deref().map(str::trim) {
            Some(table) if !table.is_empty() => Ok(table),
            _ => Err(Error::configuration(
                "no clients table: pass --clients-table <TABLE> or set API_CLIENTS_TABLE \
                 (the stack output ApiClientsTableName)",
            )),
        }
    }

    /// AWS clients from the standard environment; an error when no region is configured.
    pub async fn aws(&self) -> Result<AwsClients> {
        let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
        if sdk.region().is_none() {
            return Err(Error::configuration(
                "no AWS region: set AWS_REGION, or AWS_PROFILE to a profile that has one",
            ));
        }
        Ok(AwsClients::new(&sdk, None))
    }

    /// The registry of the DigEks proxy's clients and keys in the clients table.
    pub async fn client_registry(&self) -> Result<ClientRegistry> {
        let table = self.clients_table()?.to_owned();
        Ok(ClientRegistry::new(self.aws().await?.dynamodb, table))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_blank_clients_table_says_how_to_set_it() {
        for table in [None, Some("  ".to_owned())] {
            let context = Context::new(GlobalArgs {
                clients_table: table,
            });
            let error = context.clients_table().unwrap_err();
            assert!(error.message().contains("--clients-table"), "{error}");
            assert!(error.message().contains("API_CLIENTS_TABLE"), "{error}");
        }
        let context = Context::new(GlobalArgs {
            clients_table: Some("Config".to_owned()),
        });
        assert_eq!(context.clients_table().unwrap(), "Config");
    }
}

//! What every command group shares: the global flags and the AWS clients built from the standard
//! AWS environment.

use aws_config::BehaviorVersion;
use clap::Args;
use flyt::api_clients::ClientRegistry;
use flyt::aws::AwsClients;
use flyt::execution::ExecutionStore;
use flyt::{Error, Result};

/// Flags every command takes, before or after the subcommand.
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalArgs {
    /// The DigEks clients table (the stack output ApiClientsTableName).
    #[arg(long, env = "API_CLIENTS_TABLE", global = true, value_name = "TABLE")]
    pub clients_table: Option<String>,
    /// The executions table (the stack output ExecutionsTableName).
    #[arg(long, env = "EXECUTIONS_TABLE", global = true, value_name = "TABLE")]
    pub executions_table: Option<String>,
    /// The configuration table (the stack output ConfigTableName).
    #[arg(long, env = "CONFIG_TABLE", global = true, value_name = "TABLE")]
    pub config_table: Option<String>,
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

    /// The executions table's name; an error saying how to set it when it is missing.
    pub fn executions_table(&self) -> Result<&str> {
        match self.global.executions_table.as_deref().map(str::trim) {
            Some(table) if !table.is_empty() => Ok(table),
            _ => Err(Error::configuration(
                "no executions table: pass --executions-table <TABLE> or set EXECUTIONS_TABLE \
                 (the stack output ExecutionsTableName)",
            )),
        }
    }

    /// The configuration table's name; an error saying how to set it when it is missing.
    pub fn config_table(&self) -> Result<&str> {
        match self.global.config_table.as_deref().map(str::trim) {
            Some(table) if !table.is_empty() => Ok(table),
            _ => Err(Error::configuration(
                "no configuration table: pass --config-table <TABLE> or set CONFIG_TABLE \
                 (the stack output ConfigTableName)",
            )),
        }
    }

    /// AWS clients from the standard environment; an error when no region is configured.
    pub async fn aws(&self) -> Result<AwsClients> {
        Ok(AwsClients::new(&self.sdk_config().await?, None))
    }

    /// The AWS SDK configuration from the standard environment; an error when no region is
    /// configured.
    pub async fn sdk_config(&self) -> Result<aws_config::SdkConfig> {
        let sdk = aws_config::defaults(BehaviorVersion::latest()).load().await;
        if sdk.region().is_none() {
            return Err(Error::configuration(
                "no AWS region: set AWS_REGION, or AWS_PROFILE to a profile that has one",
            ));
        }
        Ok(sdk)
    }

    /// The registry of the DigEks proxy's clients and keys in the clients table.
    pub async fn client_registry(&self) -> Result<ClientRegistry> {
        let table = self.clients_table()?.to_owned();
        Ok(ClientRegistry::new(self.aws().await?.dynamodb, table))
    }

    /// The executions in the executions table.
    pub async fn execution_store(&self) -> Result<ExecutionStore> {
        let table = self.executions_table()?.to_owned();
        Ok(ExecutionStore::new(self.aws().await?.dynamodb, table))
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
                ..GlobalArgs::default()
            });
            let error = context.clients_table().unwrap_err();
            assert!(error.message().contains("--clients-table"), "{error}");
            assert!(error.message().contains("API_CLIENTS_TABLE"), "{error}");
        }
        let context = Context::new(GlobalArgs {
            clients_table: Some("Config".to_owned()),
            ..GlobalArgs::default()
        });
        assert_eq!(context.clients_table().unwrap(), "Config");
    }

    #[test]
    fn a_missing_or_blank_executions_table_says_how_to_set_it() {
        for table in [None, Some(" ".to_owned())] {
            let context = Context::new(GlobalArgs {
                executions_table: table,
                ..GlobalArgs::default()
            });
            let error = context.executions_table().unwrap_err();
            assert!(error.message().contains("--executions-table"), "{error}");
            assert!(error.message().contains("EXECUTIONS_TABLE"), "{error}");
            assert!(error.message().contains("ExecutionsTableName"), "{error}");
        }
        let context = Context::new(GlobalArgs {
            executions_table: Some("Executions".to_owned()),
            ..GlobalArgs::default()
        });
        assert_eq!(context.executions_table().unwrap(), "Executions");
    }
}

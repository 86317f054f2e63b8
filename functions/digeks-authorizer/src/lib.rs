//! `digeks-authorizer`: the DigEks proxy API's Lambda authorizer (HTTP API, payload 2.0, simple
//! responses).
//!
//! It parses the `Authorization` header, checks the API key (its secret's SHA-256, compared in
//! constant time) or the client's password (Argon2id) against the configuration table, and
//! answers with the client's grant as the authorizer context. API Gateway caches the answer per
//! `Authorization` value for `AuthorizerCacheSeconds`: that is how long a revoked key or a changed
//! grant can still be honoured.
//!
//! Refused credentials are *allowed through marked as refused* (see [`flyt::principal`]) so the
//! proxy can answer 401 with `WWW-Authenticate` — an HTTP API authorizer could only say 403. The
//! proxy turns such a request away before anything else. A failure to read the table is a Lambda
//! error (API Gateway answers 500 and caches nothing), never a refusal that would be cached.
//!
//! Each decision is one audit line: outcome, reason, client and key id — never the presented
//! secret, password or user name.

use std::collections::HashMap;

use aws_lambda_events::apigw::{
    ApiGatewayV2CustomAuthorizerSimpleResponse, ApiGatewayV2CustomAuthorizerV2Request,
};
use flyt::api_clients::ClientRegistry;
use flyt::aws::AwsClients;
use flyt::config::Vars;
use flyt::credentials::{parse_authorization, Presented};
use flyt::observability::Metrics;
use flyt::principal::Principal;
use flyt::Result;
use serde_json::Value;

/// The function's name in metrics.
pub const SERVICE: &str = "digeks-authorizer";

/// The function's dependencies, built once per cold start.
pub struct Authorizer {
    registry: ClientRegistry,
}

impl Authorizer {
    /// Builds the authorizer from its settings (`API_CLIENTS_TABLE`).
    pub fn from_vars(vars: &Vars, aws: &AwsClients) -> Result<Self> {
        let table = vars.required(
            "API_CLIENTS_TABLE",
            "the DynamoDB table of the proxy's clients and API keys",
        )?;
        Ok(Authorizer {
            registry: ClientRegistry::new(aws.dynamodb.clone(), table),
        })
    }

    /// The Lambda handler.
    pub async fn handle(
        &self,
        request: ApiGatewayV2CustomAuthorizerV2Request,
    ) -> Result<ApiGatewayV2CustomAuthorizerSimpleResponse<HashMap<String, Value>>> {
        let header = request
            .headers
            .get("authorization")
            .and_then(|value| value.to_str().ok());
        let principal = self.decide(header).await?;
        let mut metrics = Metrics::new(SERVICE);
        match &principal {
            Principal::Client {
                client_id, key_id, ..
            } => {
                metrics.count("authenticated", 1);
                tracing::info!(
                    target: "audit",
                    event = "authorize",
                    outcome = "authenticated",
                    client_id = %client_id,
                    key_id = %key_id,
                    "credentials accepted"
                );
            }
            Principal::Refused { reason } => {
                metrics.count("refused", 1);
                tracing::warn!(
                    target: "audit",
                    event = "authorize",
                    outcome = "refused",
                    reason = %reason,
                    key_id = %presented_key_id(header),
                    "credentials refused"
                );
            }
        }
        metrics.emit();
        let mut response = ApiGatewayV2CustomAuthorizerSimpleResponse::default();
        response.is_authorized = true;
        response.context = principal.to_context();
        Ok(response)
    }

    async fn decide(&self, header: Option<&str>) -> Result<Principal> {
        let presented = match parse_authorization(header) {
            Ok(presented) => presented,
            Err(malformed) => {
                return Ok(Principal::Refused {
                    reason: format!("malformed_{malformed:?}").to_ascii_lowercase(),
                })
            }
        };
        Ok(match self.registry.authenticate(&presented).await? {
            Ok(authenticated) => Principal::of(&authenticated),
            Err(refusal) => Principal::Refused {
                reason: refusal.as_str().to_owned(),
            },
        })
    }
}

/// The key id of a presented API key (public, random) for the audit line; empty otherwise — a
/// presented user name may be a person's and is never logged.
fn presented_key_id(header: Option<&str>) -> String {
    match parse_authorization(header) {
        Ok(Presented::ApiKey { key_id, .. }) => key_id,
        _ => String::new(),
    }
}

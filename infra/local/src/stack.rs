//! Creates the template's queues, tables and secrets on the local emulator and describes its
//! functions (environment, SQS event sources, schedules) with every reference resolved.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use flyt::aws::AwsClients;
use flyt::config::Vars;
use serde_json::Value;

use crate::template::{resolve, Context, Resolved, Template};

/// Region and account of the local stack (the emulator's defaults).
pub const REGION: &str = "eu-north-1";
pub(crate) const ACCOUNT: &str = "123456789012";

/// Local choices that differ from a deployment.
#[derive(Clone, Debug, Default)]
pub struct StackOptions {
    /// Values for the template's parameters (e.g. the sandbox's URLs).
    pub parameters: BTreeMap<String, String>,
    /// Secret values by logical id (the sandbox's credentials).
    pub secrets: BTreeMap<String, String>,
    /// A shorter visibility timeout for every queue, so redelivery tests do not wait minutes.
    pub visibility_timeout: Option<i32>,
}

/// A queue as created.
#[derive(Clone, Debug)]
pub struct LocalQueue {
    /// Logical id in the template.
    pub logical_id: String,
    /// Queue URL.
    pub url: String,
    /// Queue ARN.
    pub arn: String,
    /// Visibility timeout in seconds.
    pub visibility_timeout: i32,
    /// `maxReceiveCount` of its redrive policy, if it has one.
    pub max_receive_count: Option<u32>,
    /// URL of its dead-letter queue, if it has one.
    pub dead_letter_queue_url: Option<String>,
}

/// An SQS event source of a function.
#[derive(Clone, Debug)]
pub struct SqsSource {
    /// The queue.
    pub queue: LocalQueue,
    /// Messages per invocation.
    pub batch_size: i32,
    /// Concurrent invocations (ScalingConfig.MaximumConcurrency).
    pub concurrency: usize,
}

/// A schedule of a function.
#[derive(Clone, Debug)]
pub struct Schedule {
    /// The event's name in the template.
    pub name: String,
    /// The expression (never fired by the emulator; the runner fires it).
    pub expression: String,
    /// The input the function receives.
    pub input: Value,
}

/// An HTTP API route of a function (API Gateway payload format 2.0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The HTTP method, e.g. `POST`, or `ANY`.
    pub method: String,
    /// The path template, e.g. `/webhooks/inspera/{instance}` or `/v1/{proxy+}`.
    pub path: String,
    /// The Lambda authorizer in front of it, if any.
    pub authorizer: Option<RouteAuthorizer>,
}

/// A route's Lambda authorizer (HTTP API, payload 2.0, simple responses), as the template
/// configures it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteAuthorizer {
    /// The authorizer function's logical id.
    pub function: String,
    /// The identity source header, lower-case; a request without it is 401 without a call.
    pub identity_header: String,
    /// How long an answer is cached per identity value (`ReauthorizeEvery`).
    pub ttl: std::time::Duration,
}

/// A function of the template.
#[derive(Clone, Debug)]
pub struct LocalFunction {
    /// Logical id.
    pub logical_id: String,
    /// The binary (crate) that implements it.
    pub binary: String,
    /// Its environment, references resolved.
    pub vars: Vars,
    /// Its SQS event sources.
    pub sqs_sources: Vec<SqsSource>,
    /// Its schedules.
    pub schedules: Vec<Schedule>,
    /// Its HTTP API routes.
    pub routes: Vec<Route>,
    /// Its timeout (`Timeout`, or the template's global one): Lambda kills an invocation then.
    pub timeout: std::time::Duration,
}

/// The created stack.
#[derive(Clone, Debug)]
pub struct LocalStack {
    /// The stack name (prefix of every resource name).
    pub name: String,
    /// Queues by logical id.
    pub queues: BTreeMap<String, LocalQueue>,
    /// Table names by logical id.
    pub tables: BTreeMap<String, String>,
    /// Bucket names by logical id.
    pub buckets: BTreeMap<String, String>,
    /// Functions by logical id.
    pub functions: BTreeMap<String, LocalFunction>,
}

impl LocalStack {
    /// Creates every queue, table and secret of the template and resolves the functions.
    pub async fn create(
        template_path: &Path,
        name: &str,
        aws: &AwsClients,
        options: &StackOptions,
    ) -> Result<LocalStack, String> {
        let template = Template::load(template_path)?;
        let mut context = Context::default();
        context.parameters.extend(template.parameter_defaults());
        context.parameters.extend(options.parameters.clone());
        for (k, v) in [
            ("AWS::StackName", name),
            ("AWS::Region", REGION),
            ("AWS::AccountId", ACCOUNT),
            ("AWS::Partition", "aws"),
        ] {
            context.parameters.insert(k.to_owned(), v.to_owned());
        }
        let resources = template.resources().clone();
        let mut queues = BTreeMap::new();
        let mut tables = BTreeMap::new();
        let mut buckets = BTreeMap::new();
        let mut pending: Vec<(String, Value)> = resources
            .iter()
            .filter(|(_, r)| {
                matches!(
                    r["Type"].as_str(),
                    Some(
                        "AWS::SQS::Queue"
                            | "AWS::DynamoDB::Table"
                            | "AWS::SecretsManager::Secret"
                            | "AWS::S3::Bucket"
                            | "AWS::S3::BucketPolicy"
                            | "AWS::SES::EmailIdentity"
                    )
                )
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        while !pending.is_empty() {
            let before = pending.len();
            let mut waiting = Vec::new();
            let mut last_error = String::new();
            for (id, resource) in pending {
                let properties = match resolve(&resource["Properties"], &context) {
                    Ok(p) => p,
                    Err(e) => {
                        last_error = e;
                        waiting.push((id, resource));
                        continue;
                    }
                };
                let resolved = match resource["Type"].as_str() {
                    Some("AWS::SQS::Queue") => {
                        let queue =
                            create_queue(aws, name, &id, &properties, options.visibility_timeout)
                                .await?;
                        let resolved = Resolved {
                            reference: queue.url.clone(),
                            attributes: BTreeMap::from([
                                ("Arn".to_owned(), queue.arn.clone()),
                                (
                                    "QueueName".to_owned(),
                                    flyt::sender::queue_name(&queue.url).to_owned(),
                                ),
                                ("QueueUrl".to_owned(), queue.url.clone()),
                            ]),
                        };
                        queues.insert(id.clone(), queue);
                        resolved
                    }
                    Some("AWS::DynamoDB::Table") => {
                        let table = format!("{name}-{id}");
                        create_table(aws, &table, &properties).await?;
                        tables.insert(id.clone(), table.clone());
                        Resolved {
                            attributes: BTreeMap::from([(
                                "Arn".to_owned(),
                                format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}"),
                            )]),
                            reference: table,
                        }
                    }
                    Some("AWS::S3::Bucket") => {
                        let bucket = format!("{name}-{id}").to_ascii_lowercase();
                        crate::buckets::create_bucket(aws, &bucket, &properties).await?;
                        buckets.insert(id.clone(), bucket.clone());
                        Resolved {
                            attributes: BTreeMap::from([(
                                "Arn".to_owned(),
                                format!("arn:aws:s3:::{bucket}"),
                            )]),
                            reference: bucket,
                        }
                    }
                    Some("AWS::SES::EmailIdentity") => {
                        let identity = properties["EmailIdentity"].as_str().unwrap_or_default();
                        aws.ses
                            .create_email_identity()
                            .email_identity(identity)
                            .send()
                            .await
                            .map_err(|e| format!("cannot create SES identity {identity}: {e:?}"))?;
                        Resolved {
                            reference: identity.to_owned(),
                            attributes: BTreeMap::new(),
                        }
                    }
                    Some("AWS::S3::BucketPolicy") => {
                        crate::buckets::put_bucket_policy(aws, &properties).await?;
                        Resolved {
                            reference: id.clone(),
                            attributes: BTreeMap::new(),
                        }
                    }
                    _ => {
                        let secret_name = properties["Name"]
                            .as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| format!("{name}/{id}"));
                        let value = options
                            .secrets
                            .get(&id)
                            .cloned()
                            .unwrap_or_else(|| "{}".to_owned());
                        let arn = create_secret(aws, &secret_name, &value).await?;
                        Resolved {
                            reference: arn,
                            attributes: BTreeMap::new(),
                        }
                    }
                };
                context.resources.insert(id, resolved);
            }
            if waiting.len() == before {
                return Err(format!(
                    "cannot create the remaining resources: {last_error}"
                ));
            }
            pending = waiting;
        }
        let functions = describe_functions(&template, &resources, &context, &queues)?;
        Ok(LocalStack {
            name: name.to_owned(),
            queues,
            tables,
            buckets,
            functions,
        })
    }

    /// The function implemented by `binary`.
    pub fn function(&self, binary: &str) -> Option<&LocalFunction> {
        self.functions.values().find(|f| f.binary == binary)
    }

    /// The queue with this logical id.
    pub fn queue(&self, logical_id: &str) -> &LocalQueue {
        &self.queues[logical_id]
    }
}

async fn create_queue(
    aws: &AwsClients,
    stack: &str,
    id: &str,
    properties: &Value,
    visibility: Option<i32>,
) -> Result<LocalQueue, String> {
    let name = properties["QueueName"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{stack}-{id}"));
    let visibility_timeout =
        visibility.unwrap_or_else(|| properties["VisibilityTimeout"].as_i64().unwrap_or(30) as i32);
    let mut attributes: HashMap<QueueAttributeName, String> = HashMap::new();
    attributes.insert(
        QueueAttributeName::VisibilityTimeout,
        visibility_timeout.to_string(),
    );
    if let Some(retention) = properties["MessageRetentionPeriod"].as_i64() {
        attributes.insert(
            QueueAttributeName::MessageRetentionPeriod,
            retention.to_string(),
        );
    }
    let mut max_receive_count = None;
    let mut dead_letter_arn = None;
    if let Some(policy) = properties.get("RedrivePolicy").filter(|p| p.is_object()) {
        max_receive_count = policy["maxReceiveCount"].as_u64().map(|n| n as u32);
        dead_letter_arn = policy["deadLetterTargetArn"].as_str().map(str::to_owned);
        attributes.insert(QueueAttributeName::RedrivePolicy, policy.to_string());
    }
    let output = aws
        .sqs
        .create_queue()
        .queue_name(&name)
        .set_attributes(Some(attributes))
        .send()
        .await
        .map_err(|e| {
            format!(
                "creating queue {name}: {}",
                aws_sdk_sqs::error::DisplayErrorContext(e)
            )
        })?;
    let url = output.queue_url.unwrap_or_default();
    let arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:{name}");
    let dead_letter_queue_url = dead_letter_arn.map(|arn| {
        let dlq_name = arn.rsplit(':').next().unwrap_or_default();
        url.replace(&name, dlq_name)
    });
    Ok(LocalQueue {
        logical_id: id.to_owned(),
        url,
        arn,
        visibility_timeout,
        max_receive_count,
        dead_letter_queue_url,
    })
}

async fn create_table(aws: &AwsClients, table: &str, properties: &Value) -> Result<(), String> {
    let key_schema = |value: &Value| -> Vec<KeySchemaElement> {
        value
            .as_array()
            .into_iter()
            .flatten()
            .map(|k| {
                KeySchemaElement::builder()
                    .attribute_name(k["AttributeName"].as_str().unwrap_or_default())
                    .key_type(KeyType::from(k["KeyType"].as_str().unwrap_or_default()))
                    .build()
                    .expect("name and type are set")
            })
            .collect()
    };
    let definitions = properties["AttributeDefinitions"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            AttributeDefinition::builder()
                .attribute_name(d["AttributeName"].as_str().unwrap_or_default())
                .attribute_type(ScalarAttributeType::from(
                    d["AttributeType"].as_str().unwrap_or_default(),
                ))
                .build()
                .expect("name and type are set")
        })
        .collect();
    let indexes: Vec<GlobalSecondaryIndex> = properties["GlobalSecondaryIndexes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| {
            GlobalSecondaryIndex::builder()
                .index_name(i["IndexName"].as_str().unwrap_or_default())
                .set_key_schema(Some(key_schema(&i["KeySchema"])))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .expect("name and schema are set")
        })
        .collect();
    aws.dynamodb
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(definitions))
        .set_key_schema(Some(key_schema(&properties["KeySchema"])))
        .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
        .send()
        .await
        .map_err(|e| {
            format!(
                "creating table {table}: {}",
                aws_sdk_dynamodb::error::DisplayErrorContext(e)
            )
        })?;
    if let Some(ttl) = properties["TimeToLiveSpecification"]["AttributeName"].as_str() {
        aws.dynamodb
            .update_time_to_live()
            .table_name(table)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(ttl)
                    .enabled(true)
                    .build()
                    .expect("name and flag are set"),
            )
            .send()
            .await
            .map_err(|e| {
                format!(
                    "setting TTL on {table}: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(e)
                )
            })?;
    }
    Ok(())
}

async fn create_secret(aws: &AwsClients, name: &str, value: &str) -> Result<String, String> {
    let output = aws
        .secrets
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .map_err(|e| {
            format!(
                "creating secret {name}: {}",
                aws_sdk_secretsmanager::error::DisplayErrorContext(e)
            )
        })?;
    Ok(output.arn.unwrap_or_default())
}

fn describe_functions(
    template: &Template,
    resources: &serde_json::Map<String, Value>,
    context: &Context,
    queues: &BTreeMap<String, LocalQueue>,
) -> Result<BTreeMap<String, LocalFunction>, String> {
    let globals = resolve(
        &Value::Object(template.global_function_variables()),
        context,
    )?;
    let mut functions = BTreeMap::new();
    for (id, resource) in resources {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let binary = resource
            .pointer("/Metadata/BuildProperties/Binary")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("function {id} has no Metadata.BuildProperties.Binary"))?
            .to_owned();
        let own = resolve(&resource["Properties"]["Environment"]["Variables"], context)?;
        let timeout = template.function_timeout(resource).ok_or_else(|| {
            format!("function {id} has no Timeout (nor Globals.Function.Timeout)")
        })?;
        let mut vars = Vars::default();
        for source in [&globals, &own] {
            for (k, v) in source.as_object().into_iter().flatten() {
                vars.set(
                    k,
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string()),
                );
            }
        }
        let mut sqs_sources = Vec::new();
        let mut schedules = Vec::new();
        let mut routes = Vec::new();
        for (event_name, event) in resource["Properties"]["Events"]
            .as_object()
            .into_iter()
            .flatten()
        {
            if event["Type"] == "HttpApi" {
                // The API itself is played by the local gateway; the route and its authorizer
                // matter here.
                let route = &event["Properties"];
                routes.push(Route {
                    method: route["Method"]
                        .as_str()
                        .unwrap_or("ANY")
                        .to_ascii_uppercase(),
                    path: route["Path"].as_str().unwrap_or("/").to_owned(),
                    authorizer: route_authorizer(resources, route, context)
                        .map_err(|e| format!("function {id} event {event_name}: {e}"))?,
                });
                continue;
            }
            let properties = resolve(&event["Properties"], context)?;
            match event["Type"].as_str() {
                Some("SQS") => {
                    let arn = properties["Queue"].as_str().unwrap_or_default();
                    let queue = queues.values().find(|q| q.arn == arn).ok_or_else(|| {
                        format!("function {id} event {event_name}: no queue with ARN {arn}")
                    })?;
                    sqs_sources.push(SqsSource {
                        queue: queue.clone(),
                        batch_size: properties["BatchSize"].as_i64().unwrap_or(10) as i32,
                        concurrency: properties["ScalingConfig"]["MaximumConcurrency"]
                            .as_u64()
                            .unwrap_or(2) as usize,
                    });
                }
                Some("ScheduleV2" | "Schedule") => {
                    let input = properties["Input"].as_str().unwrap_or("{}");
                    schedules.push(Schedule {
                        name: event_name.clone(),
                        expression: properties["ScheduleExpression"]
                            .as_str()
                            .or_else(|| properties["Schedule"].as_str())
                            .unwrap_or_default()
                            .to_owned(),
                        input: serde_json::from_str(input).map_err(|e| {
                            format!("function {id} schedule {event_name}: Input is not JSON: {e}")
                        })?,
                    });
                }
                other => {
                    return Err(format!(
                        "function {id} event {event_name}: type {other:?} is not run locally yet"
                    ))
                }
            }
        }
        functions.insert(
            id.clone(),
            LocalFunction {
                logical_id: id.clone(),
                binary,
                vars,
                sqs_sources,
                schedules,
                routes,
                timeout: std::time::Duration::from_secs(timeout),
            },
        );
    }
    Ok(functions)
}

/// The authorizer of an HTTP API route: the event's own `Auth.Authorizer`, else its API's
/// `DefaultAuthorizer`; `NONE` means none.
fn route_authorizer(
    resources: &serde_json::Map<String, Value>,
    route: &Value,
    context: &Context,
) -> Result<Option<RouteAuthorizer>, String> {
    let own = route["Auth"]["Authorizer"].as_str();
    if own == Some("NONE") {
        return Ok(None);
    }
    let Some(api) = route["ApiId"]["Ref"]
        .as_str()
        .and_then(|id| resources.get(id))
    else {
        return Ok(None);
    };
    let auth = &api["Properties"]["Auth"];
    let Some(name) = own.or_else(|| auth["DefaultAuthorizer"].as_str()) else {
        return Ok(None);
    };
    let definition = &auth["Authorizers"][name];
    let function = match &definition["FunctionArn"]["Fn::GetAtt"] {
        Value::Array(parts) => parts.first().and_then(Value::as_str).map(str::to_owned),
        Value::String(path) => path.split('.').next().map(str::to_owned),
        _ => None,
    }
    .ok_or_else(|| {
        format!("authorizer {name} has no FunctionArn of the form !GetAtt <function>.Arn")
    })?;
    let identity_header = definition["Identity"]["Headers"][0]
        .as_str()
        .unwrap_or("Authorization")
        .to_ascii_lowercase();
    let ttl = resolve(&definition["Identity"]["ReauthorizeEvery"], context)?;
    let ttl = match &ttl {
        Value::Null => 300,
        Value::Number(n) => n.as_u64().unwrap_or(300),
        other => other.as_str().and_then(|t| t.parse().ok()).ok_or_else(|| {
            format!("authorizer {name}: ReauthorizeEvery {other} is not a number")
        })?,
    };
    Ok(Some(RouteAuthorizer {
        function,
        identity_header,
        ttl: std::time::Duration::from_secs(ttl),
    }))
}

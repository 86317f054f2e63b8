//! S3 buckets and bucket policies of the template, created on the emulator with the properties
//! the template gives them: Object Lock with its default retention, versioning, the public access
//! block, object ownership, default encryption and the policy.

use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, DefaultRetention,
    ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode, ObjectLockRule,
    ObjectOwnership, OwnershipControls, OwnershipControlsRule, PublicAccessBlockConfiguration,
    ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
    ServerSideEncryptionRule, VersioningConfiguration,
};
use flyt::aws::AwsClients;
use serde_json::Value;

use crate::stack::REGION;

fn failed(what: &str, bucket: &str, error: impl std::fmt::Display) -> String {
    format!("{what} of bucket {bucket}: {error}")
}

/// Creates `name` with the resolved `properties` of an `AWS::S3::Bucket`.
pub async fn create_bucket(aws: &AwsClients, name: &str, properties: &Value) -> Result<(), String> {
    let s3 = &aws.s3;
    s3.create_bucket()
        .bucket(name)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(REGION))
                .build(),
        )
        .object_lock_enabled_for_bucket(properties["ObjectLockEnabled"].as_bool() == Some(true))
        .send()
        .await
        .map_err(|e| failed("creation", name, aws_sdk_s3::error::DisplayErrorContext(e)))?;
    if properties["VersioningConfiguration"]["Status"] == "Enabled" {
        s3.put_bucket_versioning()
            .bucket(name)
            .versioning_configuration(
                VersioningConfiguration::builder()
                    .status(BucketVersioningStatus::Enabled)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                failed(
                    "versioning",
                    name,
                    aws_sdk_s3::error::DisplayErrorContext(e),
                )
            })?;
    }
    let retention = &properties["ObjectLockConfiguration"]["Rule"]["DefaultRetention"];
    if let Some(mode) = retention["Mode"].as_str() {
        let years = retention["Years"]
            .as_str()
            .and_then(|y| y.parse().ok())
            .or_else(|| retention["Years"].as_i64().map(|y| y as i32))
            .unwrap_or(1);
        s3.put_object_lock_configuration()
            .bucket(name)
            .object_lock_configuration(
                ObjectLockConfiguration::builder()
                    .object_lock_enabled(ObjectLockEnabled::Enabled)
                    .rule(
                        ObjectLockRule::builder()
                            .default_retention(
                                DefaultRetention::builder()
                                    .mode(ObjectLockRetentionMode::from(mode))
                                    .years(years)
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                failed(
                    "object lock",
                    name,
                    aws_sdk_s3::error::DisplayErrorContext(e),
                )
            })?;
    }
    let block = &properties["PublicAccessBlockConfiguration"];
    if block.is_object() {
        let flag = |key: &str| block[key].as_bool() == Some(true) || block[key] == "true";
        s3.put_public_access_block()
            .bucket(name)
            .public_access_block_configuration(
                PublicAccessBlockConfiguration::builder()
                    .block_public_acls(flag("BlockPublicAcls"))
                    .block_public_policy(flag("BlockPublicPolicy"))
                    .ignore_public_acls(flag("IgnorePublicAcls"))
                    .restrict_public_buckets(flag("RestrictPublicBuckets"))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                failed(
                    "public access block",
                    name,
                    aws_sdk_s3::error::DisplayErrorContext(e),
                )
            })?;
    }
    if let Some(ownership) = properties["OwnershipControls"]["Rules"][0]["ObjectOwnership"].as_str()
    {
        s3.put_bucket_ownership_controls()
            .bucket(name)
            .ownership_controls(
                OwnershipControls::builder()
                    .rules(
                        OwnershipControlsRule::builder()
                            .object_ownership(ObjectOwnership::from(ownership))
                            .build()
                            .map_err(|e| failed("ownership", name, e))?,
                    )
                    .build()
                    .map_err(|e| failed("ownership", name, e))?,
            )
            .send()
            .await
            .map_err(|e| failed("ownership", name, aws_sdk_s3::error::DisplayErrorContext(e)))?;
    }
    let default = &properties["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
        ["ServerSideEncryptionByDefault"];
    if let Some(algorithm) = default["SSEAlgorithm"].as_str() {
        let mut by_default = ServerSideEncryptionByDefault::builder()
            .sse_algorithm(ServerSideEncryption::from(algorithm));
        if let Some(key) = default["KMSMasterKeyID"].as_str() {
            by_default = by_default.kms_master_key_id(key);
        }
        s3.put_bucket_encryption()
            .bucket(name)
            .server_side_encryption_configuration(
                ServerSideEncryptionConfiguration::builder()
                    .rules(
                        ServerSideEncryptionRule::builder()
                            .apply_server_side_encryption_by_default(
                                by_default
                                    .build()
                                    .map_err(|e| failed("encryption", name, e))?,
                            )
                            .build(),
                    )
                    .build()
                    .map_err(|e| failed("encryption", name, e))?,
            )
            .send()
            .await
            .map_err(|e| {
                failed(
                    "encryption",
                    name,
                    aws_sdk_s3::error::DisplayErrorContext(e),
                )
            })?;
    }
    Ok(())
}

/// Puts the resolved `PolicyDocument` of an `AWS::S3::BucketPolicy` on its bucket.
pub async fn put_bucket_policy(aws: &AwsClients, properties: &Value) -> Result<(), String> {
    let bucket = properties["Bucket"].as_str().unwrap_or_default();
    aws.s3
        .put_bucket_policy()
        .bucket(bucket)
        .policy(properties["PolicyDocument"].to_string())
        .send()
        .await
        .map_err(|e| failed("policy", bucket, aws_sdk_s3::error::DisplayErrorContext(e)))?;
    Ok(())
}

//! The thesis archive bucket as `template.yaml` creates it: private (public access blocked, ACLs
//! disabled), TLS only, versioned, locked, encrypted — and it refuses a public ACL or a public
//! policy, so no thesis can be made public by a mistake anywhere.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketCannedAcl, ObjectCannedAcl};
use flyt_local::{Emulator, Local, LocalOptions};

fn code<E: aws_sdk_s3::error::ProvideErrorMetadata>(error: &E) -> String {
    error.code().unwrap_or("(no code)").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_archive_bucket_is_private_locked_and_refuses_public_access() {
    let local = Local::start(Emulator::shared(), LocalOptions::default())
        .await
        .expect("the local platform starts");
    let s3 = &local.aws.s3;
    let bucket = local.stack.buckets["ArchiveBucket"].clone();

    let block = s3
        .get_public_access_block()
        .bucket(&bucket)
        .send()
        .await
        .unwrap()
        .public_access_block_configuration
        .unwrap();
    assert_eq!(
        (
            block.block_public_acls(),
            block.block_public_policy(),
            block.ignore_public_acls(),
            block.restrict_public_buckets()
        ),
        (Some(true), Some(true), Some(true), Some(true))
    );
    let lock = s3
        .get_object_lock_configuration()
        .bucket(&bucket)
        .send()
        .await
        .unwrap()
        .object_lock_configuration
        .unwrap();
    let retention = lock.rule().unwrap().default_retention().unwrap();
    assert_eq!(retention.mode().map(|m| m.as_str()), Some("COMPLIANCE"));
    assert_eq!(retention.years(), Some(10));
    let policy = s3.get_bucket_policy().bucket(&bucket).send().await.unwrap();
    let policy: serde_json::Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    assert_eq!(policy["Statement"][0]["Effect"], "Deny");
    assert_eq!(
        policy["Statement"][0]["Condition"]["Bool"]["aws:SecureTransport"],
        "false"
    );
    let encryption = s3
        .get_bucket_encryption()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let rule = &encryption
        .server_side_encryption_configuration()
        .unwrap()
        .rules()[0];
    assert_eq!(
        rule.apply_server_side_encryption_by_default()
            .unwrap()
            .sse_algorithm()
            .as_str(),
        "aws:kms"
    );

    // A private object is written, locked by default, and cannot be deleted.
    let put = s3
        .put_object()
        .bucket(&bucket)
        .key("uio/2026/INF5990/123456/files/thesis.pdf")
        .body(ByteStream::from_static(b"%PDF-1.7 private"))
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
        .send()
        .await
        .unwrap();
    // Versioned: every write is a version (moto's GetBucketVersioning answer does not parse in
    // the Rust SDK, so the version id is the evidence).
    assert!(put
        .version_id()
        .is_some_and(|v| !v.is_empty() && v != "null"));
    let head = s3
        .head_object()
        .bucket(&bucket)
        .key("uio/2026/INF5990/123456/files/thesis.pdf")
        .send()
        .await
        .unwrap();
    assert_eq!(
        head.object_lock_mode().map(|m| m.as_str()),
        Some("COMPLIANCE")
    );
    let deleted = s3
        .delete_object()
        .bucket(&bucket)
        .key("uio/2026/INF5990/123456/files/thesis.pdf")
        .version_id(put.version_id().unwrap())
        .send()
        .await;
    assert!(deleted.is_err(), "a locked version cannot be deleted");

    // Public access is refused, whichever way it is tried.
    let public_object = s3
        .put_object()
        .bucket(&bucket)
        .key("uio/2026/INF5990/654321/files/thesis.pdf")
        .acl(ObjectCannedAcl::PublicRead)
        .body(ByteStream::from_static(b"%PDF-1.7"))
        .checksum_algorithm(aws_sdk_s3::types::ChecksumAlgorithm::Sha256)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&public_object.into_service_error()),
        "AccessControlListNotSupported"
    );
    let public_bucket = s3
        .put_bucket_acl()
        .bucket(&bucket)
        .acl(BucketCannedAcl::PublicRead)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        code(&public_bucket.into_service_error()),
        "AccessControlListNotSupported"
    );
    let public_policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                       "Resource": format!("arn:aws:s3:::{bucket}/*")}]
    });
    let refused = s3
        .put_bucket_policy()
        .bucket(&bucket)
        .policy(public_policy.to_string())
        .send()
        .await
        .unwrap_err();
    assert_eq!(code(&refused.into_service_error()), "AccessDenied");
    let still = s3.get_bucket_policy().bucket(&bucket).send().await.unwrap();
    assert!(
        !still.policy().unwrap().contains("\"Allow\""),
        "the policy is still the template's"
    );
}

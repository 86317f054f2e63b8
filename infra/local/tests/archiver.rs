//! Theses written into the archive bucket the template creates, from the sandbox's WISEflow
//! through the real client: once, with checksums that match the stored objects and that S3 itself
//! confirms, a 12 MiB file in parts, completed without duplicates after a process died half-way
//! (also where the source gives no checksum, or where a stored object is not what it claims), and
//! file names that clean alike kept apart.

mod common;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use common::archive::{
    access_tag, archiver, base64_sha256, bucket, composite, platform, s3_checksum, stored_bytes,
    stored_sha256, thesis_at, to_archive, versions, with_source_checksums,
};
use flyt::archive::Manifest;
use flyt::archiver::{Archived, ThesisToArchive, PART_SIZE};
use flyt_local::Local;
use flyt_sandbox::ThesisCase;
use sha2::{Digest, Sha256};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn theses_are_archived_once_with_checksums_that_match_the_stored_objects() {
    let local = platform().await;
    let archiver = archiver(&local);
    for case in [ThesisCase::LargeFile, ThesisCase::Ordinary] {
        let source = thesis_at(&local, case);
        let thesis = to_archive(&local, &source).await;
        let Archived::Completed(manifest) = archiver.archive(&thesis).await.unwrap() else {
            panic!("{case:?}: a new thesis is archived");
        };
        assert_eq!(manifest.files.len(), source.files.len());
        for (file, expected) in manifest.files.iter().zip(&source.files) {
            assert_eq!(
                file.sha256, expected.sha256,
                "{case:?}: the source's checksum"
            );
            assert_eq!(
                stored_sha256(&local, &file.key).await,
                file.sha256,
                "S3 holds those bytes"
            );
            assert_eq!(file.size, expected.size);
            assert_eq!(access_tag(&local, &file.key).await, "open");
        }
        let prefix = thesis.key.prefix();
        let before = versions(&local, &prefix).await;
        assert_eq!(
            before.len(),
            source.files.len() + 1,
            "files and the manifest"
        );
        assert!(
            before.values().all(|v| *v == 1),
            "one version each: {before:?}"
        );
        let downloads: Vec<u64> = source
            .files
            .iter()
            .map(|f| local.sandbox.wiseflow.downloads(f.id))
            .collect();

        assert_eq!(
            archiver.archive(&thesis).await.unwrap(),
            Archived::AlreadyComplete
        );
        assert_eq!(
            versions(&local, &prefix).await,
            before,
            "nothing written again"
        );
        let again: Vec<u64> = source
            .files
            .iter()
            .map(|f| local.sandbox.wiseflow.downloads(f.id))
            .collect();
        assert_eq!(again, downloads, "nothing downloaded again");
    }
    let large = to_archive(&local, &thesis_at(&local, ThesisCase::LargeFile)).await;
    assert!(large.files[0].size.unwrap() >= 12 * 1024 * 1024);
    let head = local
        .aws
        .s3
        .head_object()
        .bucket(&local.stack.buckets["ArchiveBucket"])
        .key(large.key.file_key(&large.files[0].name))
        .send()
        .await
        .unwrap();
    assert!(
        head.e_tag().unwrap().trim_matches('"').ends_with("-2"),
        "the 12 MiB file went up in two parts: ETag {:?}",
        head.e_tag()
    );
    assert_eq!(
        head.server_side_encryption().map(|e| e.as_str()),
        Some("aws:kms")
    );
    // moto drops the lock headers of a multipart upload (AWS applies them, and the bucket's
    // default retention besides); the lock is checked on what was written in one request.
    let manifest = local
        .aws
        .s3
        .head_object()
        .bucket(&local.stack.buckets["ArchiveBucket"])
        .key(large.key.manifest_key())
        .send()
        .await
        .unwrap();
    assert_eq!(
        manifest.object_lock_mode().map(|m| m.as_str()),
        Some("COMPLIANCE")
    );
    let retained = manifest.object_lock_retain_until_date().unwrap().secs();
    assert!(
        retained > flyt::time::now_ms() / 1000 + 9 * 365 * 86_400,
        "retained for the configured 10 years"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thesis_half_archived_by_a_killed_process_is_completed_without_duplicates() {
    let local = platform().await;
    let archiver = archiver(&local);
    let source = local
        .sandbox
        .wiseflow
        .theses()
        .into_iter()
        .find(|t| t.case == ThesisCase::Ordinary && t.files.len() >= 2)
        .expect("an ordinary thesis with two files");
    let thesis = to_archive(&local, &source).await;
    // The process stored the first file and died: no manifest.
    archiver.store_file(&thesis, 0).await.unwrap();
    let prefix = thesis.key.prefix();
    assert_eq!(versions(&local, &prefix).await.len(), 1);

    let Archived::Completed(manifest) = archiver.archive(&thesis).await.unwrap() else {
        panic!("the next attempt completes it");
    };
    let after = versions(&local, &prefix).await;
    assert_eq!(after.len(), thesis.files.len() + 1);
    assert!(
        after.values().all(|v| *v == 1),
        "no duplicate objects: {after:?}"
    );
    // WISEflow publishes no checksum: the stored file is fetched once more, to know that the
    // stored object holds its bytes (S3's checksum confirms it), and is not written again.
    assert_eq!(
        local.sandbox.wiseflow.downloads(source.files[0].id),
        2,
        "the stored file was fetched again to be confirmed"
    );
    assert_eq!(manifest.files[0].sha256, source.files[0].sha256);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_file_counts_only_when_s3s_own_checksum_confirms_it() {
    let local = platform().await;
    let archiver = archiver(&local);
    let s3 = &local.aws.s3;

    // Bogus objects where the files go, each claiming the source's SHA-256 in its metadata (what
    // the archiver once trusted): one written in one request, one written in parts.
    let ordinary_source = thesis_at(&local, ThesisCase::Ordinary);
    let ordinary =
        with_source_checksums(to_archive(&local, &ordinary_source).await, &ordinary_source);
    let small_key = ordinary.file_keys()[0].clone();
    let bogus_small = s3
        .put_object()
        .bucket(bucket(&local))
        .key(&small_key)
        .metadata("sha256", &ordinary_source.files[0].sha256)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .body(ByteStream::from_static(b"not the thesis"))
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_owned();
    let large_source = thesis_at(&local, ThesisCase::LargeFile);
    let large = with_source_checksums(to_archive(&local, &large_source).await, &large_source);
    let large_key = large.file_keys()[0].clone();
    let upload_id = s3
        .create_multipart_upload()
        .bucket(bucket(&local))
        .key(&large_key)
        .metadata("sha256", &large_source.files[0].sha256)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .send()
        .await
        .unwrap()
        .upload_id()
        .unwrap()
        .to_owned();
    let part = b"not the thesis either";
    let uploaded = s3
        .upload_part()
        .bucket(bucket(&local))
        .key(&large_key)
        .upload_id(&upload_id)
        .part_number(1)
        .checksum_algorithm(ChecksumAlgorithm::Sha256)
        .checksum_sha256(base64_sha256(part))
        .body(ByteStream::from_static(part))
        .send()
        .await
        .unwrap();
    let bogus_large = s3
        .complete_multipart_upload()
        .bucket(bucket(&local))
        .key(&large_key)
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(
                    CompletedPart::builder()
                        .part_number(1)
                        .set_e_tag(uploaded.e_tag().map(str::to_owned))
                        .checksum_sha256(base64_sha256(part))
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_owned();
    assert!(s3_checksum(&local, &large_key)
        .await
        .unwrap()
        .ends_with("-1"));

    // A process stores the large file (written again: S3 does not confirm the bogus one) and dies;
    // the next attempt finds it confirmed by S3's composite checksum and does not fetch it again.
    let first = archiver.store_file(&large, 0).await.unwrap();
    assert_ne!(first.version_id.as_deref(), Some(bogus_large.as_str()));
    for (thesis, source, key, bogus) in [
        (&ordinary, &ordinary_source, &small_key, &bogus_small),
        (&large, &large_source, &large_key, &bogus_large),
    ] {
        let Archived::Completed(manifest) = archiver.archive(thesis).await.unwrap() else {
            panic!("{:?}: archived", source.case);
        };
        let versions = versions(&local, &thesis.key.prefix()).await;
        assert_eq!(versions.len(), thesis.files.len() + 1, "{versions:?}");
        for (stored, count) in &versions {
            let wanted = if stored == key { 2 } else { 1 };
            assert_eq!(
                *count, wanted,
                "{stored}: the bogus object and the file, once"
            );
        }
        let entry = &manifest.files[0];
        assert_eq!(&entry.key, key);
        assert_ne!(entry.version_id.as_deref(), Some(bogus.as_str()));
        let latest = s3
            .head_object()
            .bucket(bucket(&local))
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(latest.version_id(), entry.version_id.as_deref());
        let bytes = stored_bytes(&local, key).await;
        assert_eq!(hex::encode(Sha256::digest(&bytes)), source.files[0].sha256);
        assert_eq!(entry.sha256, source.files[0].sha256);
        let expected = if bytes.len() >= PART_SIZE {
            composite(&bytes)
        } else {
            base64_sha256(&bytes)
        };
        assert_eq!(s3_checksum(&local, key).await, Some(expected));
        assert_eq!(
            local.sandbox.wiseflow.downloads(source.files[0].id),
            1,
            "{:?}: fetched once, to be written",
            source.case
        );
    }
    assert_eq!(
        manifest_version(&local, &large).await,
        first.version_id,
        "the large file's manifest entry is the version the first attempt wrote"
    );
}

/// The version a stored manifest names for a thesis's first file.
async fn manifest_version(local: &Local, thesis: &ThesisToArchive) -> Option<String> {
    let manifest: Manifest =
        serde_json::from_slice(&stored_bytes(local, &thesis.key.manifest_key()).await).unwrap();
    manifest.files[0].version_id.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_the_source_gives_no_checksum_for_is_not_written_twice() {
    let local = platform().await;
    let archiver = archiver(&local);
    for case in [ThesisCase::LargeFile, ThesisCase::Ordinary] {
        let source = thesis_at(&local, case);
        let mut thesis = to_archive(&local, &source).await;
        for file in &mut thesis.files {
            file.sha256 = None;
        }
        // The first attempt stores every file and dies before the manifest.
        let mut first = Vec::new();
        for index in 0..thesis.files.len() {
            first.push(archiver.store_file(&thesis, index).await.unwrap());
        }
        let prefix = thesis.key.prefix();
        assert_eq!(versions(&local, &prefix).await.len(), thesis.files.len());

        let Archived::Completed(manifest) = archiver.archive(&thesis).await.unwrap() else {
            panic!("{case:?}: the next attempt completes it");
        };
        let after = versions(&local, &prefix).await;
        assert_eq!(after.len(), thesis.files.len() + 1, "{case:?}");
        assert!(
            after.values().all(|v| *v == 1),
            "{case:?}: nothing written twice: {after:?}"
        );
        assert_eq!(
            manifest.files, first,
            "{case:?}: the versions first written"
        );
        for (file, expected) in manifest.files.iter().zip(&source.files) {
            assert_eq!(file.sha256, expected.sha256, "{case:?}");
            assert_eq!(
                local.sandbox.wiseflow.downloads(expected.id),
                2,
                "{case:?}: streamed again to be compared, not stored"
            );
        }
    }
    let uploads = local
        .aws
        .s3
        .list_multipart_uploads()
        .bucket(bucket(&local))
        .send()
        .await
        .unwrap();
    assert!(
        uploads.uploads().is_empty(),
        "the abandoned upload in parts was aborted: {:?}",
        uploads.uploads()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_whose_names_clean_alike_are_stored_apart_once_each() {
    let local = platform().await;
    let archiver = archiver(&local);
    let source = local
        .sandbox
        .wiseflow
        .theses()
        .into_iter()
        .find(|t| t.case == ThesisCase::Ordinary && t.files.len() >= 2)
        .expect("an ordinary thesis with two files");
    let mut thesis = to_archive(&local, &source).await;
    thesis.files[0].name = String::new();
    thesis.files[1].name = "?".to_owned();
    let prefix = thesis.key.prefix();
    let keys = thesis.file_keys();
    assert_eq!(
        keys[..2],
        [format!("{prefix}files/_(1)"), format!("{prefix}files/_(2)")]
    );
    // A process stores the second file and dies; the next attempt completes the thesis.
    archiver.store_file(&thesis, 1).await.unwrap();
    let Archived::Completed(manifest) = archiver.archive(&thesis).await.unwrap() else {
        panic!("archived");
    };
    let after = versions(&local, &prefix).await;
    assert_eq!(after.len(), thesis.files.len() + 1, "{after:?}");
    assert!(
        after.values().all(|v| *v == 1),
        "one version each: {after:?}"
    );
    for ((file, key), expected) in manifest.files.iter().zip(&keys).zip(&source.files) {
        assert_eq!(&file.key, key);
        assert_eq!(file.sha256, expected.sha256);
        assert_eq!(stored_sha256(&local, key).await, expected.sha256);
        // The file stored before the process died is fetched once more to be confirmed (WISEflow
        // publishes no checksum); it is written once all the same.
        let fetched = if *key == keys[1] { 2 } else { 1 };
        assert_eq!(
            local.sandbox.wiseflow.downloads(expected.id),
            fetched,
            "{key}"
        );
    }
    assert_eq!(manifest.files[0].name, "");
    assert_eq!(manifest.files[1].name, "?");
}

//! The checksums of a file as it streams, and how they compare with the `ChecksumSHA256` S3
//! reports: one SHA-256 of the whole file and, for a file written in parts, S3's composite (the
//! SHA-256 of the parts' SHA-256s with the part count).

use base64::Engine;
use sha2::{Digest, Sha256};

use super::PART_SIZE;

/// The checksums of a file's bytes as they stream, each byte hashed once for the whole and once for
/// its part: the SHA-256 of the whole, the SHA-256 of every [`PART_SIZE`] part (which an upload in
/// parts sends with each part), and the `ChecksumSHA256` S3 gives the object this archiver writes
/// of them — the whole's SHA-256 in base64 for a file smaller than a part (one request), otherwise
/// the composite of its parts: `<base64 SHA-256 of the parts' SHA-256s>-<parts>`.
#[derive(Default)]
pub(super) struct Checksums {
    whole: Sha256,
    part: Sha256,
    in_part: usize,
    parts: Vec<[u8; 32]>,
    size: u64,
}

/// What [`Checksums`] found.
pub(super) struct Streamed {
    /// Lowercase hex SHA-256.
    pub(super) sha256: String,
    /// The checksum S3 reports for the object written of these bytes.
    pub(super) s3: String,
    pub(super) size: u64,
}

impl Checksums {
    pub(super) fn update(&mut self, mut bytes: &[u8]) {
        self.whole.update(bytes);
        self.size += bytes.len() as u64;
        while !bytes.is_empty() {
            let take = (PART_SIZE - self.in_part).min(bytes.len());
            self.part.update(&bytes[..take]);
            self.in_part += take;
            bytes = &bytes[take..];
            if self.in_part == PART_SIZE {
                self.close_part();
            }
        }
    }

    fn close_part(&mut self) {
        self.parts
            .push(std::mem::take(&mut self.part).finalize().into());
        self.in_part = 0;
    }

    /// The base64 SHA-256 of part `index` (from 0), once its bytes have all been seen.
    pub(super) fn part_base64(&self, index: usize) -> Option<String> {
        self.parts
            .get(index)
            .map(|digest| base64::engine::general_purpose::STANDARD.encode(digest))
    }

    /// Ends the stream: closes the last part of a file that goes up in parts.
    pub(super) fn finish(&mut self) -> Streamed {
        let in_parts = self.size >= PART_SIZE as u64;
        if in_parts && self.in_part > 0 {
            self.close_part();
        }
        let whole = std::mem::take(&mut self.whole).finalize();
        let s3 = if in_parts {
            format!(
                "{}-{}",
                sha256_base64(&self.parts.concat()),
                self.parts.len()
            )
        } else {
            base64::engine::general_purpose::STANDARD.encode(whole)
        };
        Streamed {
            sha256: hex::encode(whole),
            s3,
            size: self.size,
        }
    }
}

/// Whether a `ChecksumSHA256` S3 reports is `expected` (both base64; a composite checksum carries
/// its part count, `<base64>-<parts>`). S3 may leave the part count off (HeadObject does on some
/// implementations); where both give one, the counts must agree too.
pub(super) fn same_checksum(reported: &str, expected: &str) -> bool {
    let (reported, reported_parts) = split_parts(reported);
    let (expected, expected_parts) = split_parts(expected);
    !reported.is_empty()
        && reported == expected
        && match (reported_parts, expected_parts) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
}

fn split_parts(checksum: &str) -> (&str, Option<&str>) {
    match checksum.split_once('-') {
        Some((base, parts)) => (base, Some(parts)),
        None => (checksum, None),
    }
}

pub(super) fn sha256_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// S3's composite checksum of `bytes` written in parts of [`PART_SIZE`], computed directly.
    fn composite(bytes: &[u8]) -> String {
        let digests: Vec<u8> = bytes
            .chunks(PART_SIZE)
            .flat_map(|part| Sha256::digest(part).to_vec())
            .collect();
        format!(
            "{}-{}",
            sha256_base64(&digests),
            bytes.len().div_ceil(PART_SIZE)
        )
    }

    #[test]
    fn checksums_compare_with_or_without_a_part_count() {
        assert!(same_checksum("abc=", "abc="));
        assert!(same_checksum("abc=-2", "abc=-2"));
        assert!(same_checksum("abc=", "abc=-2"), "a count left off");
        assert!(!same_checksum("abc=-3", "abc=-2"));
        assert!(!same_checksum("abd=", "abc="));
        assert!(!same_checksum("", ""), "no checksum confirms nothing");
    }

    #[test]
    fn checksums_are_those_s3_reports_for_the_objects_written() {
        let bytes: Vec<u8> = (0..PART_SIZE + 1).map(|i| (i % 251) as u8).collect();
        for (size, in_parts) in [
            (0, false),
            (100, false),
            (PART_SIZE, true),
            (PART_SIZE + 1, true),
        ] {
            let bytes = &bytes[..size];
            for feed in [65_537, PART_SIZE + 3] {
                let mut checksums = Checksums::default();
                for chunk in bytes.chunks(feed) {
                    checksums.update(chunk);
                }
                let streamed = checksums.finish();
                assert_eq!(streamed.size, size as u64);
                assert_eq!(streamed.sha256, hex::encode(Sha256::digest(bytes)));
                let expected = if in_parts {
                    composite(bytes)
                } else {
                    sha256_base64(bytes)
                };
                assert_eq!(streamed.s3, expected, "{size} bytes fed {feed} at a time");
            }
        }
    }
}

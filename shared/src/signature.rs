//! Webhook signatures. Inspera signs each webhook body with HMAC-SHA1 under
//! the subscription's secret and sends the lowercase hex digest in
//! `X-Inspera-Signature`.

use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::error::{Error, Result};

/// The header carrying Inspera's signature.
pub const INSPERA_SIGNATURE_HEADER: &str = "X-Inspera-Signature";

/// Length of an HMAC-SHA1 digest in bytes.
const SHA1_LEN: usize = 20;

type HmacSha1 = Hmac<Sha1>;

fn inspera_mac(secret: &[u8], body: &[u8]) -> HmacSha1 {
    let mut mac = HmacSha1::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    mac
}

/// Hex HMAC-SHA1 of `body` under `secret`, as Inspera sends it.
pub fn inspera_signature(secret: &[u8], body: &[u8]) -> String {
    hex::encode(inspera_mac(secret, body).finalize().into_bytes())
}

/// Checks a received signature against the body in constant time. Errors are
/// Mapping errors that say what was wrong (missing header, not hex, wrong
/// length, mismatch) without echoing the secret or the expected digest.
pub fn verify_inspera_signature(secret: &[u8], body: &[u8], header: Option<&str>) -> Result<()> {
    let Some(header) = header else {
        return Err(Error::mapping(format!(
            "Inspera webhook has no {INSPERA_SIGNATURE_HEADER} header"
        )));
    };
    let received = hex::decode(header.trim()).map_err(|_| {
        Error::mapping(format!(
            "Inspera webhook's {INSPERA_SIGNATURE_HEADER} header is not hex"
        ))
    })?;
    if received.len() != SHA1_LEN {
        return Err(Error::mapping(format!(
            "Inspera webhook's {INSPERA_SIGNATURE_HEADER} header has {} bytes, an HMAC-SHA1 has {SHA1_LEN}",
            received.len()
        )));
    }
    inspera_mac(secret, body)
        .verify_slice(&received)
        .map_err(|_| {
            Error::mapping(format!(
                "Inspera webhook's {INSPERA_SIGNATURE_HEADER} does not match the body (wrong secret, or the body was changed)"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Category;

    const SECRET: &[u8] = b"webhook-secret";
    const BODY: &[u8] = br#"{"event":"explanation_given","contextObjectId":700001}"#;

    #[test]
    fn known_digest() {
        assert_eq!(
            inspera_signature(b"key", b"The quick brown fox jumps over the lazy dog"),
            "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9"
        );
    }

    #[test]
    fn round_trip() {
        let signature = inspera_signature(SECRET, BODY);
        assert_eq!(signature.len(), 40);
        assert_eq!(signature, signature.to_lowercase());
        assert_eq!(
            verify_inspera_signature(SECRET, BODY, Some(&signature)),
            Ok(())
        );
    }

    #[test]
    fn one_flipped_byte_of_the_body_fails() {
        let signature = inspera_signature(SECRET, BODY);
        let mut body = BODY.to_vec();
        body[10] ^= 0x01;
        let error = verify_inspera_signature(SECRET, &body, Some(&signature)).unwrap_err();
        assert_eq!(error.category(), Category::Mapping);
        assert!(error.message().contains("does not match"), "{error}");
    }

    #[test]
    fn wrong_secret_fails_without_echoing_either_secret() {
        let signature = inspera_signature(b"another-secret", BODY);
        let error = verify_inspera_signature(SECRET, BODY, Some(&signature)).unwrap_err();
        assert_eq!(error.category(), Category::Mapping);
        let text = error.to_string();
        assert!(!text.contains("webhook-secret") && !text.contains("another-secret"));
        assert!(!text.contains(&inspera_signature(SECRET, BODY)));
        assert!(!text.contains(&signature));
    }

    #[test]
    fn upper_case_hex_is_accepted() {
        let signature = inspera_signature(SECRET, BODY).to_uppercase();
        assert_eq!(
            verify_inspera_signature(SECRET, BODY, Some(&signature)),
            Ok(())
        );
    }

    #[test]
    fn missing_or_garbage_headers_name_the_header() {
        let cases = [
            (None, "no X-Inspera-Signature header"),
            (Some("not-hex-at-all"), "is not hex"),
            (Some("abc"), "is not hex"),
            (Some("abcd"), "has 2 bytes"),
            (Some(""), "has 0 bytes"),
        ];
        for (header, expected) in cases {
            let error = verify_inspera_signature(SECRET, BODY, header).unwrap_err();
            assert_eq!(error.category(), Category::Mapping, "{header:?}");
            assert!(
                error.message().contains(INSPERA_SIGNATURE_HEADER),
                "{error}"
            );
            assert!(error.message().contains(expected), "{header:?}: {error}");
        }
    }
}

//! HTTP Basic credentials, compared in constant time.

use super::base64;

/// The user name and password of an `Authorization: Basic ...` header value,
/// or `None` if it is not one.
pub(crate) fn basic_credentials(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(base64::decode(encoded.trim())?).ok()?;
    let (username, password) = decoded.split_once(':')?;
    Some((username.to_owned(), password.to_owned()))
}

/// Whether `a` and `b` are equal, in time that does not depend on where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"local-fs-password", b"local-fs-password"));
        assert!(!constant_time_eq(
            b"local-fs-password",
            b"local-fs-passwore"
        ));
        assert!(!constant_time_eq(b"secret", b"secret\0"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(!constant_time_eq(b"abc", b"xbc"));
    }

    #[test]
    fn basic_credentials_are_decoded() {
        let header = format!("Basic {}", base64::encode(b"flyt-local:pa:ss"));
        assert_eq!(
            basic_credentials(&header),
            Some(("flyt-local".to_owned(), "pa:ss".to_owned()))
        );
        let lower = format!("basic {}", base64::encode(b"u:p"));
        assert!(basic_credentials(&lower).is_some());
        assert!(basic_credentials("Bearer abc").is_none());
        assert!(basic_credentials("Basic !!!").is_none());
        let no_colon = format!("Basic {}", base64::encode(b"nocolon"));
        assert!(basic_credentials(&no_colon).is_none());
    }
}

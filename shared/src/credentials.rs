//! The credentials exam systems present to the DigEks proxy, and how they are checked — pure, no
//! I/O.
//!
//! An API key reads `flyt_<key id>_<secret>`: the key id (12 hex digits) is public and names the
//! stored record; the secret (32 random bytes, base64url) is stored only as its SHA-256 and
//! compared in constant time. A fast hash is right for a 256-bit random secret; a client's
//! password, which a person may have chosen, is stored as an Argon2id PHC string instead.
//!
//! The `Authorization` header carries one of: `Bearer <api key>`; `Basic` with user
//! `direkteAPIKEY` and the API key as password (the older gateway's convention); `Basic` with a
//! client id and its password.

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The prefix of every API key, so a leaked key is recognisable (e.g. by secret scanners).
pub const KEY_PREFIX: &str = "flyt";
/// The Basic user name that says the password is an API key.
pub const DIRECT_API_KEY_USER: &str = "direkteAPIKEY";
const KEY_ID_BYTES: usize = 6;
const SECRET_BYTES: usize = 32;

/// What a caller presented, parsed but not yet checked.
#[derive(Clone, PartialEq, Eq)]
pub enum Presented {
    /// An API key.
    ApiKey {
        /// The public key id.
        key_id: String,
        /// The secret part.
        secret: String,
    },
    /// A client id and its password.
    Password {
        /// The client id (the Basic user name).
        client_id: String,
        /// The password.
        password: String,
    },
}

impl std::fmt::Debug for Presented {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Presented::ApiKey { key_id, .. } => write!(f, "ApiKey {{ key_id: {key_id:?}, .. }}"),
            Presented::Password { client_id, .. } => {
                write!(f, "Password {{ client_id: {client_id:?}, .. }}")
            }
        }
    }
}

/// Why a presented credential could not even be parsed. The text is safe to show the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// No `Authorization` header.
    Missing,
    /// A scheme other than `Bearer` or `Basic`.
    Scheme,
    /// `Basic` that is not base64 of `<client id>:<password>`.
    Basic,
    /// Not shaped like `flyt_<key id>_<secret>`.
    ApiKey,
    /// Longer than any credential Flyt issues ([`MAX_AUTHORIZATION_BYTES`]).
    TooLong,
}

/// The longest `Authorization` header read: longer than any credential Flyt issues, far shorter
/// than what would make a key lookup fail.
pub const MAX_AUTHORIZATION_BYTES: usize = 1024;

/// Whether `value` is a client id: 2 to 40 characters of a-z, 0-9 and '-', not starting with '-'
/// (e.g. `wiseflow-uib`). A Basic user name that is not one is refused before any lookup, so a
/// person's name typed there is never read from the table, logged or put in an error.
pub fn is_client_id(value: &str) -> bool {
    let bytes = value.as_bytes();
    (2..=40).contains(&bytes.len())
        && bytes[0] != b'-'
        && bytes
            .iter()
            .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl Malformed {
    /// What is wrong and what to send instead.
    pub fn message(self) -> &'static str {
        match self {
            Malformed::Missing => {
                "the Authorization header is missing: send Bearer <api key>, or Basic credentials"
            }
            Malformed::Scheme => "the Authorization header must use the Bearer or Basic scheme",
            Malformed::Basic => "the Basic credentials are not base64 of <client id>:<password>",
            Malformed::ApiKey => "the API key is not shaped like flyt_<key id>_<secret>",
            Malformed::TooLong => {
                "the Authorization header is longer than any credential Flyt issues (1024 bytes)"
            }
        }
    }
}

/// Parses an `Authorization` header value.
pub fn parse_authorization(header: Option<&str>) -> Result<Presented, Malformed> {
    let header = header.map(str::trim).filter(|h| !h.is_empty());
    if header.is_some_and(|h| h.len() > MAX_AUTHORIZATION_BYTES) {
        return Err(Malformed::TooLong);
    }
    let (scheme, value) = header
        .ok_or(Malformed::Missing)?
        .split_once(' ')
        .ok_or(Malformed::Scheme)?;
    let value = value.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return parse_api_key(value);
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(Malformed::Scheme);
    }
    let decoded = STANDARD.decode(value).map_err(|_| Malformed::Basic)?;
    let decoded = String::from_utf8(decoded).map_err(|_| Malformed::Basic)?;
    let (user, password) = decoded.split_once(':').ok_or(Malformed::Basic)?;
    if user == DIRECT_API_KEY_USER {
        return parse_api_key(password);
    }
    if !is_client_id(user) || password.is_empty() {
        return Err(Malformed::Basic);
    }
    Ok(Presented::Password {
        client_id: user.to_owned(),
        password: password.to_owned(),
    })
}

/// Splits `flyt_<key id>_<secret>`.
pub fn parse_api_key(key: &str) -> Result<Presented, Malformed> {
    let rest = key
        .strip_prefix(KEY_PREFIX)
        .and_then(|r| r.strip_prefix('_'))
        .ok_or(Malformed::ApiKey)?;
    let (key_id, secret) = rest.split_once('_').ok_or(Malformed::ApiKey)?;
    let id_ok = key_id.len() == KEY_ID_BYTES * 2 && key_id.bytes().all(|b| b.is_ascii_hexdigit());
    let secret_ok = !secret.is_empty()
        && secret.len() <= 64
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !(id_ok && secret_ok) {
        return Err(Malformed::ApiKey);
    }
    Ok(Presented::ApiKey {
        key_id: key_id.to_ascii_lowercase(),
        secret: secret.to_owned(),
    })
}

/// A newly drawn API key: the whole key, shown once, and what is stored of it.
pub struct NewApiKey {
    /// The public key id.
    pub key_id: String,
    /// The whole key for the client, `flyt_<key id>_<secret>`. Never stored.
    pub key: String,
    /// The SHA-256 of the secret, hex: the only part stored.
    pub secret_hash: String,
}

/// Draws a new API key from the operating system's CSPRNG.
pub fn new_api_key() -> NewApiKey {
    let mut id = [0u8; KEY_ID_BYTES];
    let mut secret = [0u8; SECRET_BYTES];
    OsRng.fill_bytes(&mut id);
    OsRng.fill_bytes(&mut secret);
    let key_id = hex::encode(id);
    let secret = URL_SAFE_NO_PAD.encode(secret);
    NewApiKey {
        key: format!("{KEY_PREFIX}_{key_id}_{secret}"),
        secret_hash: secret_hash(&secret),
        key_id,
    }
}

/// The stored form of a key's secret: SHA-256, hex.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether `secret` hashes to `stored_hash`, compared in constant time.
pub fn secret_matches(secret: &str, stored_hash: &str) -> bool {
    let presented = secret_hash(secret);
    presented.as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

/// Hashes a client password (Argon2id, random salt) into a PHC string.
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("Argon2 with default parameters hashes any password")
        .to_string()
}

/// Whether `password` matches the stored PHC string (Argon2's comparison is constant-time). A
/// stored value that is not a PHC string matches nothing.
pub fn password_matches(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
    }

    #[test]
    fn a_new_key_parses_back_and_matches_only_its_own_hash() {
        let new = new_api_key();
        let Ok(Presented::ApiKey { key_id, secret }) = parse_api_key(&new.key) else {
            panic!("{} does not parse", new.key_id)
        };
        assert_eq!(key_id, new.key_id);
        assert!(secret_matches(&secret, &new.secret_hash));
        let other = new_api_key();
        assert_ne!(other.key_id, new.key_id);
        assert!(!secret_matches(&secret, &other.secret_hash));
        assert!(!new.secret_hash.contains(&secret));
    }

    #[test]
    fn bearer_and_both_basic_forms_are_understood() {
        let new = new_api_key();
        let bearer = parse_authorization(Some(&format!("Bearer {}", new.key))).unwrap();
        let direct = parse_authorization(Some(&basic(DIRECT_API_KEY_USER, &new.key))).unwrap();
        assert_eq!(bearer, direct);
        assert_eq!(
            parse_authorization(Some(&basic("wiseflow-uib", "pa:ss"))).unwrap(),
            Presented::Password {
                client_id: "wiseflow-uib".into(),
                password: "pa:ss".into()
            }
        );
    }

    #[test]
    fn malformed_credentials_say_what_is_wrong() {
        assert_eq!(parse_authorization(None), Err(Malformed::Missing));
        assert_eq!(parse_authorization(Some("  ")), Err(Malformed::Missing));
        assert_eq!(
            parse_authorization(Some("Digest x")),
            Err(Malformed::Scheme)
        );
        assert_eq!(
            parse_authorization(Some("Basic !!!")),
            Err(Malformed::Basic)
        );
        assert_eq!(
            parse_authorization(Some(&basic("", "x"))),
            Err(Malformed::Basic)
        );
        for key in [
            "flyt_abc_def",
            "flyt_0123456789ab_",
            "flyt_0123456789ab_has space",
            "other_0123456789ab_secret",
            "flyt_0123456789ab_secret\r\nX-Injected: 1",
        ] {
            assert_eq!(parse_api_key(key), Err(Malformed::ApiKey), "{key}");
        }
    }

    #[test]
    fn debug_output_never_shows_a_secret() {
        let new = new_api_key();
        let presented = parse_api_key(&new.key).unwrap();
        let shown = format!("{presented:?}");
        assert!(shown.contains(&new.key_id));
        // The whole secret: it may itself contain `_`, so a piece after the last one could be a
        // single character that appears anywhere.
        let secret = new
            .key
            .strip_prefix(&format!("{KEY_PREFIX}_{}_", new.key_id))
            .unwrap();
        assert!(secret.len() >= 40, "{secret}");
        assert!(!shown.contains(secret));
        let password = parse_authorization(Some(&basic("cl", "hunter2"))).unwrap();
        assert!(!format!("{password:?}").contains("hunter2"));
    }

    #[test]
    fn passwords_are_salted_and_verified() {
        let first = hash_password("correct horse");
        let second = hash_password("correct horse");
        assert_ne!(first, second, "each hash has its own salt");
        assert!(first.starts_with("$argon2id$"));
        assert!(password_matches("correct horse", &first));
        assert!(!password_matches("correct hors", &first));
        assert!(!password_matches("correct horse", "not a phc string"));
    }

    #[test]
    fn a_user_name_that_is_no_client_id_and_an_oversized_header_are_malformed() {
        let basic = |user: &str| format!("Basic {}", STANDARD.encode(format!("{user}:pw")));
        assert!(matches!(
            parse_authorization(Some(&basic("wiseflow-uib"))),
            Ok(Presented::Password { .. })
        ));
        for user in [
            "Ola Nordmann",
            "ola.nordmann@uio.no",
            "x",
            &"a".repeat(41),
            "-lead",
        ] {
            assert_eq!(
                parse_authorization(Some(&basic(user))),
                Err(Malformed::Basic),
                "{user}"
            );
        }
        let huge = format!("Bearer {}", "a".repeat(MAX_AUTHORIZATION_BYTES));
        assert_eq!(parse_authorization(Some(&huge)), Err(Malformed::TooLong));
        let huge_basic = basic(&"a".repeat(4000));
        assert_eq!(
            parse_authorization(Some(&huge_basic)),
            Err(Malformed::TooLong)
        );
    }
}

//! Signed cookies: the session (the institution's org id, a pseudonym of the person and an
//! expiry; no name, user id or address)
//! and the short-lived sign-in flow (state, nonce and PKCE verifier between `/login` and
//! `/callback`).
//!
//! A value is `base64url(JSON) "." base64url(HMAC-SHA256(key, purpose "." base64url(JSON)))`.
//! The purpose (`session`, `login`) is signed with it, so one kind can never be passed off as the
//! other; the signature is compared in constant time, and the expiry inside the signed JSON is
//! checked on every read, whatever the browser kept.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The session cookie's name. The `__Host-` prefix makes browsers accept it only when set by this
/// very host over https for path `/`: no sibling subdomain can plant or overwrite a session.
pub const SESSION_COOKIE: &str = "__Host-flyt_session";
/// The sign-in flow cookie's name, `__Host-` as the session's.
pub const LOGIN_COOKIE: &str = "__Host-flyt_login";
/// How long a session lasts: a working day.
pub const SESSION_SECONDS: i64 = 8 * 3600;
/// How long a sign-in may take between `/login` and `/callback`.
pub const LOGIN_SECONDS: i64 = 600;
/// The shortest cookie key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 32;

/// A signed value that expires.
pub trait Expiring {
    /// Its purpose, signed with it.
    const PURPOSE: &'static str;
    /// Its expiry, epoch seconds.
    fn expires_at(&self) -> i64;
}

/// A signed-in session: which institution, which person as a pseudonym, until when. Nothing
/// else — no name, e-mail, user name or subject id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The institution's org id.
    pub org: String,
    /// The [`flyt::scrub::pseudonym`] of the person's Feide user id: checked against the
    /// institution's list on every page view.
    pub viewer: String,
    /// Expiry, epoch seconds.
    pub exp: i64,
}

impl Expiring for Session {
    const PURPOSE: &'static str = "session";
    fn expires_at(&self) -> i64 {
        self.exp
    }
}

/// A sign-in on its way through the identity provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginFlow {
    /// The `state` sent to the IdP; the callback must bring it back.
    pub state: String,
    /// The `nonce` sent to the IdP; the ID token must carry it.
    pub nonce: String,
    /// The PKCE code verifier; its S256 challenge was sent.
    pub verifier: String,
    /// Where to go once signed in (a path of this site).
    pub next: String,
    /// Expiry, epoch seconds.
    pub exp: i64,
}

impl Expiring for LoginFlow {
    const PURPOSE: &'static str = "login";
    fn expires_at(&self) -> i64 {
        self.exp
    }
}

/// The key cookies are signed with (from the secret's `cookie_key`).
#[derive(Clone)]
pub struct CookieKey(Vec<u8>);

impl std::fmt::Debug for CookieKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieKey(..)")
    }
}

impl CookieKey {
    /// A key of at least [`MIN_KEY_BYTES`] bytes; None when shorter.
    pub fn new(key: &[u8]) -> Option<CookieKey> {
        (key.len() >= MIN_KEY_BYTES).then(|| CookieKey(key.to_vec()))
    }

    fn mac(&self, purpose: &str, payload: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.update(b".");
        mac.update(payload.as_bytes());
        mac
    }

    /// `value` signed, as a cookie value (base64url and one dot: no quoting needed).
    pub fn seal<T: Serialize + Expiring>(&self, value: &T) -> String {
        let payload =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("a cookie value serialises"));
        let tag = self.mac(T::PURPOSE, &payload).finalize().into_bytes();
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// The value of a sealed cookie if its signature is this key's for `T`'s purpose and it has
    /// not expired at `now_s`; None otherwise.
    pub fn open<T: DeserializeOwned + Expiring>(&self, sealed: &str, now_s: i64) -> Option<T> {
        let (payload, tag) = sealed.split_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        self.mac(T::PURPOSE, payload).verify_slice(&tag).ok()?;
        let value: T = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
        (value.expires_at() > now_s).then_some(value)
    }
}

/// A `Set-Cookie` value: HttpOnly, Secure, SameSite=Lax, for the whole site, for `max_age`
/// seconds (0 deletes it).
pub fn set_cookie(name: &str, value: &str, max_age: i64) -> String {
    format!("{name}={value}; Max-Age={max_age}; Path=/; HttpOnly; Secure; SameSite=Lax")
}

/// A `Set-Cookie` value that deletes `name`.
pub fn clear_cookie(name: &str) -> String {
    set_cookie(name, "", 0)
}

/// Every value the request carries for cookie `name`: API Gateway (payload 2.0) passes cookies in
/// `cookies`, each `name=value`; a `Cookie` header is read too.
pub fn cookie_values<'a>(cookies: impl IntoIterator<Item = &'a str>, name: &str) -> Vec<&'a str> {
    cookies
        .into_iter()
        .flat_map(|c| c.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(n, _)| *n == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_000_000;

    fn key() -> CookieKey {
        CookieKey::new(b"a-cookie-key-of-the-unit-tests-0123456789").unwrap()
    }

    fn session(exp: i64) -> Session {
        Session {
            org: "uio".into(),
            viewer: flyt::scrub::pseudonym("ola@uio.no"),
            exp,
        }
    }

    #[test]
    fn a_sealed_session_opens_with_its_key_until_it_expires() {
        let sealed = key().seal(&session(NOW + 60));
        assert_eq!(key().open::<Session>(&sealed, NOW), Some(session(NOW + 60)));
        assert_eq!(key().open::<Session>(&sealed, NOW + 60), None, "expired");
        assert_eq!(key().open::<Session>(&sealed, NOW + 3600), None);
        assert!(sealed
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
    }

    #[test]
    fn a_tampered_or_foreign_cookie_does_not_open() {
        let sealed = key().seal(&session(NOW + 60));
        let (payload, tag) = sealed.split_once('.').unwrap();
        // Another institution in the payload, the signature kept.
        let forged = URL_SAFE_NO_PAD.encode(br#"{"org":"uib","exp":1795000060}"#);
        assert_eq!(key().open::<Session>(&format!("{forged}.{tag}"), NOW), None);
        // A later expiry, the signature kept.
        let longer = URL_SAFE_NO_PAD.encode(br#"{"org":"uio","exp":1899999999}"#);
        assert_eq!(key().open::<Session>(&format!("{longer}.{tag}"), NOW), None);
        // One bit of the signature flipped.
        let mut bytes = URL_SAFE_NO_PAD.decode(tag).unwrap();
        bytes[0] ^= 1;
        let flipped = format!("{payload}.{}", URL_SAFE_NO_PAD.encode(bytes));
        assert_eq!(key().open::<Session>(&flipped, NOW), None);
        // Another key.
        let other = CookieKey::new(b"another-cookie-key-of-the-unit-tests-9876").unwrap();
        assert_eq!(other.open::<Session>(&sealed, NOW), None);
        // No signature, garbage, empty.
        for bad in [payload, "", ".", "x.y", &format!("{payload}.")] {
            assert_eq!(key().open::<Session>(bad, NOW), None, "{bad:?}");
        }
    }

    #[test]
    fn a_sign_in_flow_cannot_pass_for_a_session_or_the_other_way() {
        let flow = LoginFlow {
            state: "s".into(),
            nonce: "n".into(),
            verifier: "v".into(),
            next: "/".into(),
            exp: NOW + 60,
        };
        let sealed = key().seal(&flow);
        assert_eq!(key().open::<LoginFlow>(&sealed, NOW), Some(flow));
        assert_eq!(key().open::<Session>(&sealed, NOW), None);
        let session = key().seal(&session(NOW + 60));
        assert_eq!(key().open::<LoginFlow>(&session, NOW), None);
    }

    #[test]
    fn short_keys_are_refused() {
        assert!(CookieKey::new(&[7; MIN_KEY_BYTES - 1]).is_none());
        assert!(CookieKey::new(&[7; MIN_KEY_BYTES]).is_some());
        assert_eq!(format!("{:?}", key()), "CookieKey(..)");
    }

    #[test]
    fn cookies_are_http_only_secure_lax_and_read_from_either_place() {
        assert_eq!(
            set_cookie(SESSION_COOKIE, "v.t", SESSION_SECONDS),
            "__Host-flyt_session=v.t; Max-Age=28800; Path=/; HttpOnly; Secure; SameSite=Lax"
        );
        assert!(clear_cookie(LOGIN_COOKIE).starts_with("__Host-flyt_login=; Max-Age=0;"));
        let found = cookie_values(
            [
                "__Host-flyt_session=a.b",
                "other=1; __Host-flyt_session=c.d",
                "__Host-flyt_sessionx=e",
            ],
            SESSION_COOKIE,
        );
        assert_eq!(found, ["a.b", "c.d"]);
    }
}

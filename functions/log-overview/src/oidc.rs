//! OpenID Connect with the institution's identity provider (Feide): discovery, the authorization
//! request (code flow, PKCE S256, state, nonce), the code exchange, and the ID token's checks —
//! signature by the IdP's published keys, issuer, audience, expiry and nonce. Of the token Flyt
//! reads only the user's eduPersonPrincipalName: its realm, and the id itself to compare with the
//! institution's allow-list ([`flyt::viewers`]).

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use flyt::http::{body_text, status_error, transport_error};
use flyt::viewers::{checked_feide_user, realm_of};
use flyt::{Error, Result};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Feide's claim with the user's eduPersonPrincipalName (`user@realm`).
pub const EPPN_CLAIM: &str = "https://n.feide.no/claims/eduPersonPrincipalName";
/// The scopes asked for: OpenID, and Feide's user id (which puts the ePPN in the ID token).
pub const SCOPES: &str = "openid userid-feide";
/// The signature algorithms accepted (Feide signs RS256).
pub const ALGORITHMS: [Algorithm; 2] = [Algorithm::RS256, Algorithm::ES256];
/// Clock skew allowed on `exp` and `iat`, seconds.
const LEEWAY_SECONDS: u64 = 60;
/// How long the discovery document and the key set are reused.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// The key set is fetched again for an unknown key id at most this often.
const KEYS_REFRESH_MIN: Duration = Duration::from_secs(60);

/// The IdP's endpoints, from its discovery document.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Provider {
    /// The issuer, as the document states it.
    pub issuer: String,
    /// Where the browser is sent to sign in.
    pub authorization_endpoint: String,
    /// Where the code is exchanged.
    pub token_endpoint: String,
    /// The published signing keys.
    pub jwks_uri: String,
}

/// Why an ID token was refused. Never carries the token's claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenRefusal {
    /// Not a JWT, or claims of the wrong shape.
    Malformed(String),
    /// An algorithm other than RS256/ES256 (`none`, HMAC, …).
    Algorithm,
    /// No published key has the token's key id.
    UnknownKey,
    /// The signature does not verify.
    Signature,
    /// `iss` is not the configured issuer.
    Issuer,
    /// `aud` does not name this client (or `azp` names another).
    Audience,
    /// `exp` has passed (or `iat` lies ahead).
    Expired,
    /// `nonce` is not the one this sign-in sent.
    Nonce,
}

impl fmt::Display for TokenRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenRefusal::Malformed(why) => write!(f, "malformed ID token: {why}"),
            TokenRefusal::Algorithm => {
                f.write_str("ID token signed with an algorithm not accepted")
            }
            TokenRefusal::UnknownKey => {
                f.write_str("ID token signed with a key the IdP does not publish")
            }
            TokenRefusal::Signature => f.write_str("ID token signature does not verify"),
            TokenRefusal::Issuer => f.write_str("ID token from another issuer"),
            TokenRefusal::Audience => f.write_str("ID token for another client"),
            TokenRefusal::Expired => f.write_str("ID token expired"),
            TokenRefusal::Nonce => f.write_str("ID token nonce differs from the sign-in's"),
        }
    }
}

/// What Flyt reads of a verified ID token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The realm of the eduPersonPrincipalName (`uio.no`), lower-case; None when the token has no
    /// well-formed ePPN.
    pub realm: Option<String>,
    /// The eduPersonPrincipalName itself, lower-case, when it is a Feide user id: what the
    /// institution's allow-list names. Personal data: compared, turned into a pseudonym, never
    /// logged or kept.
    pub user: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    nonce: Option<String>,
    aud: Value,
    azp: Option<String>,
    iat: Option<i64>,
    #[serde(rename = "https://n.feide.no/claims/eduPersonPrincipalName")]
    eppn: Option<String>,
}

/// Checks an ID token against the IdP's key set, the issuer, this client and the sign-in's nonce,
/// at `now_s` (epoch seconds; `exp` is also checked by the library against the clock).
pub fn verify_id_token(
    token: &str,
    keys: &JwkSet,
    issuer: &str,
    client_id: &str,
    nonce: &str,
    now_s: i64,
) -> std::result::Result<Identity, TokenRefusal> {
    use jsonwebtoken::errors::ErrorKind;
    let header =
        jsonwebtoken::decode_header(token).map_err(|e| TokenRefusal::Malformed(e.to_string()))?;
    if !ALGORITHMS.contains(&header.alg) {
        return Err(TokenRefusal::Algorithm);
    }
    let jwk = match header.kid.as_deref() {
        Some(kid) => keys.find(kid),
        // A key set of one key may be used without a key id.
        None if keys.keys.len() == 1 => keys.keys.first(),
        None => None,
    }
    .ok_or(TokenRefusal::UnknownKey)?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| TokenRefusal::UnknownKey)?;
    let mut validation = Validation::new(header.alg);
    validation.algorithms = vec![header.alg];
    validation.leeway = LEEWAY_SECONDS;
    validation.set_audience(&[client_id]);
    validation.set_issuer(&[issuer]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map_err(|e| match e.kind() {
            ErrorKind::InvalidSignature => TokenRefusal::Signature,
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                TokenRefusal::Algorithm
            }
            ErrorKind::InvalidIssuer => TokenRefusal::Issuer,
            ErrorKind::InvalidAudience => TokenRefusal::Audience,
            ErrorKind::ExpiredSignature => TokenRefusal::Expired,
            ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidRsaKey(_)
            | ErrorKind::InvalidKeyFormat => TokenRefusal::UnknownKey,
            _ => TokenRefusal::Malformed(e.to_string()),
        })?
        .claims;
    if claims.aud.as_array().is_some_and(|a| a.len() > 1)
        && claims.azp.as_deref() != Some(client_id)
    {
        return Err(TokenRefusal::Audience);
    }
    if claims
        .iat
        .is_some_and(|iat| iat > now_s + LEEWAY_SECONDS as i64)
    {
        return Err(TokenRefusal::Expired);
    }
    let sent = claims.nonce.unwrap_or_default();
    if sent.is_empty() || !bool::from(sent.as_bytes().ct_eq(nonce.as_bytes())) {
        return Err(TokenRefusal::Nonce);
    }
    let eppn = claims.eppn.as_deref().unwrap_or_default();
    Ok(Identity {
        realm: realm_of(eppn),
        user: checked_feide_user(eppn).ok(),
    })
}

/// `bytes` random bytes, base64url: state, nonce and PKCE verifiers.
pub fn random_token(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut buffer).expect("the system's random source");
    URL_SAFE_NO_PAD.encode(buffer)
}

/// The S256 challenge of a PKCE verifier: BASE64URL(SHA-256(verifier)).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The client of one identity provider, with its discovery document and keys cached.
pub struct Oidc {
    http: reqwest::Client,
    issuer: String,
    client_id: String,
    client_secret: String,
    provider: Mutex<Option<(Instant, Provider)>>,
    keys: Mutex<Option<(Instant, JwkSet)>>,
}

impl Oidc {
    /// A client of `issuer` as `client_id`.
    pub fn new(http: reqwest::Client, issuer: &str, client_id: &str, client_secret: &str) -> Self {
        Oidc {
            http,
            issuer: issuer.to_owned(),
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            provider: Mutex::new(None),
            keys: Mutex::new(None),
        }
    }

    /// The IdP's endpoints: its discovery document, read once an hour. A document naming another
    /// issuer is a Configuration error.
    pub async fn provider(&self) -> Result<Provider> {
        if let Some((at, provider)) = self
            .provider
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            if at.elapsed() < METADATA_TTL {
                return Ok(provider);
            }
        }
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let provider: Provider = self.get_json(&url, "discovery document").await?;
        if provider.issuer.trim_end_matches('/') != self.issuer {
            return Err(Error::configuration(format!(
                "the IdP's discovery document names issuer {:?}, not OIDC_ISSUER {:?}",
                provider.issuer, self.issuer
            )));
        }
        *self.provider.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((Instant::now(), provider.clone()));
        Ok(provider)
    }

    /// Where to send the browser to sign in.
    pub async fn authorize_url(
        &self,
        redirect_uri: &str,
        state: &str,
        nonce: &str,
        verifier: &str,
    ) -> Result<String> {
        let provider = self.provider().await?;
        let mut url = url::Url::parse(&provider.authorization_endpoint).map_err(|e| {
            Error::configuration(format!(
                "the IdP's authorization_endpoint is not a URL: {e}"
            ))
        })?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("scope", SCOPES)
            .append_pair("state", state)
            .append_pair("nonce", nonce)
            .append_pair("code_challenge", &pkce_challenge(verifier))
            .append_pair("code_challenge_method", "S256");
        Ok(url.into())
    }

    /// Exchanges a code for its ID token (client_secret_basic, the PKCE verifier).
    pub async fn exchange(&self, code: &str, redirect_uri: &str, verifier: &str) -> Result<String> {
        let provider = self.provider().await?;
        let encode =
            |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let response = self
            .http
            .post(&provider.token_endpoint)
            .basic_auth(encode(&self.client_id), Some(encode(&self.client_secret)))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", verifier),
            ])
            .send()
            .await
            .map_err(|e| transport_error("the IdP", "token request", e))?;
        if !response.status().is_success() {
            return Err(status_error("the IdP", "token request", response).await);
        }
        let text = body_text("the IdP", "token request", response).await?;
        let answer: Value = serde_json::from_str(&text).map_err(|e| {
            Error::external(format!(
                "the IdP's token answer is not JSON: {}",
                flyt::scrub::scrubbed(&e)
            ))
        })?;
        answer["id_token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| Error::external("the IdP's token answer has no id_token"))
    }

    /// Verifies an ID token (see [`verify_id_token`]) with the IdP's keys; a key id not in the
    /// cached set fetches the set again (at most once a minute), as a key rotation needs.
    pub async fn verify(
        &self,
        token: &str,
        nonce: &str,
    ) -> Result<std::result::Result<Identity, TokenRefusal>> {
        let issuer = self.provider().await?.issuer;
        let (keys, fresh) = self.keys(false).await?;
        let verdict = verify_id_token(token, &keys, &issuer, &self.client_id, nonce, now_s());
        if verdict == Err(TokenRefusal::UnknownKey) && !fresh {
            let (keys, _) = self.keys(true).await?;
            return Ok(verify_id_token(
                token,
                &keys,
                &issuer,
                &self.client_id,
                nonce,
                now_s(),
            ));
        }
        Ok(verdict)
    }

    /// The key set, and whether it was fetched just now.
    async fn keys(&self, refresh: bool) -> Result<(JwkSet, bool)> {
        if let Some((at, keys)) = self.keys.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            let stale = at.elapsed() >= METADATA_TTL;
            if !stale && (!refresh || at.elapsed() < KEYS_REFRESH_MIN) {
                return Ok((keys, false));
            }
        }
        let provider = self.provider().await?;
        let keys: JwkSet = self.get_json(&provider.jwks_uri, "key set").await?;
        *self.keys.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), keys.clone()));
        Ok((keys, true))
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str, what: &str) -> Result<T> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| transport_error("the IdP", what, e))?;
        if !response.status().is_success() {
            return Err(status_error("the IdP", what, response).await);
        }
        let text = body_text("the IdP", what, response).await?;
        serde_json::from_str(&text).map_err(|e| {
            Error::external(format!(
                "the IdP's {what} does not parse: {}",
                flyt::scrub::scrubbed(&e)
            ))
        })
    }
}

fn now_s() -> i64 {
    flyt::time::now_ms() / 1000
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    use super::*;

    const ISSUER: &str = "https://idp.example";
    const CLIENT: &str = "flyt-log-overview";
    const NONCE: &str = "the-nonce-of-this-sign-in";

    /// A P-256 key: (signing key, its JWK with `kid`).
    fn key(kid: &str) -> (EncodingKey, Value) {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let (x, y) = pair.public_key().as_ref()[1..].split_at(32);
        let jwk = json!({"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
            "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y)});
        (
            EncodingKey::from_ec_der(pair.to_pkcs8v1().unwrap().as_ref()),
            jwk,
        )
    }

    fn keys(jwks: &[Value]) -> JwkSet {
        serde_json::from_value(json!({ "keys": jwks })).unwrap()
    }

    fn claims() -> Value {
        let now = now_s();
        json!({
            "iss": ISSUER, "sub": "opaque-subject", "aud": CLIENT, "iat": now, "exp": now + 300,
            "nonce": NONCE, "name": "Testbruker", EPPN_CLAIM: "testdrift.uio@UiO.no",
        })
    }

    fn sign(claims: &Value, signing: &EncodingKey, kid: &str) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, signing).unwrap()
    }

    fn check(token: &str, set: &JwkSet) -> std::result::Result<Identity, TokenRefusal> {
        verify_id_token(token, set, ISSUER, CLIENT, NONCE, now_s())
    }

    #[test]
    fn a_genuine_token_gives_only_the_feide_user_and_its_realm() {
        let (signing, jwk) = key("k1");
        let identity = check(&sign(&claims(), &signing, "k1"), &keys(&[jwk])).unwrap();
        assert_eq!(
            identity,
            Identity {
                realm: Some("uio.no".into()),
                user: Some("testdrift.uio@uio.no".into()),
            }
        );
    }

    #[test]
    fn a_token_for_another_client_or_issuer_is_refused() {
        let (signing, jwk) = key("k1");
        let set = keys(&[jwk]);
        let mut other = claims();
        other["aud"] = json!("another-client");
        assert_eq!(
            check(&sign(&other, &signing, "k1"), &set),
            Err(TokenRefusal::Audience)
        );
        // Several audiences: this client among them, but authorised for another.
        let mut several = claims();
        several["aud"] = json!([CLIENT, "another-client"]);
        several["azp"] = json!("another-client");
        assert_eq!(
            check(&sign(&several, &signing, "k1"), &set),
            Err(TokenRefusal::Audience)
        );
        several["azp"] = json!(CLIENT);
        assert!(check(&sign(&several, &signing, "k1"), &set).is_ok());
        let mut issuer = claims();
        issuer["iss"] = json!("https://evil.example");
        assert_eq!(
            check(&sign(&issuer, &signing, "k1"), &set),
            Err(TokenRefusal::Issuer)
        );
    }

    #[test]
    fn a_token_with_another_or_no_nonce_is_refused() {
        let (signing, jwk) = key("k1");
        let set = keys(&[jwk]);
        let mut other = claims();
        other["nonce"] = json!("a-nonce-of-another-sign-in");
        assert_eq!(
            check(&sign(&other, &signing, "k1"), &set),
            Err(TokenRefusal::Nonce)
        );
        other.as_object_mut().unwrap().remove("nonce");
        assert_eq!(
            check(&sign(&other, &signing, "k1"), &set),
            Err(TokenRefusal::Nonce)
        );
    }

    #[test]
    fn an_expired_or_future_token_is_refused() {
        let (signing, jwk) = key("k1");
        let set = keys(&[jwk]);
        let mut old = claims();
        old["iat"] = json!(now_s() - 900);
        old["exp"] = json!(now_s() - 600);
        assert_eq!(
            check(&sign(&old, &signing, "k1"), &set),
            Err(TokenRefusal::Expired)
        );
        let mut future = claims();
        future["iat"] = json!(now_s() + 3600);
        future["exp"] = json!(now_s() + 7200);
        assert_eq!(
            check(&sign(&future, &signing, "k1"), &set),
            Err(TokenRefusal::Expired)
        );
        let mut no_exp = claims();
        no_exp.as_object_mut().unwrap().remove("exp");
        assert!(matches!(
            check(&sign(&no_exp, &signing, "k1"), &set),
            Err(TokenRefusal::Malformed(_))
        ));
    }

    #[test]
    fn a_bad_signature_or_an_unpublished_key_is_refused() {
        let (signing, jwk) = key("k1");
        let (forger, _) = key("k2");
        let set = keys(&[jwk]);
        // Signed with another key under the published key's id.
        assert_eq!(
            check(&sign(&claims(), &forger, "k1"), &set),
            Err(TokenRefusal::Signature)
        );
        // Signed with a key the IdP does not publish.
        assert_eq!(
            check(&sign(&claims(), &forger, "k2"), &set),
            Err(TokenRefusal::UnknownKey)
        );
        // A genuine token whose payload was swapped for another's.
        let token = sign(&claims(), &signing, "k1");
        let mut other = claims();
        other[EPPN_CLAIM] = json!("testdrift.uib@uib.no");
        let forged_payload = sign(&other, &forger, "k1");
        let parts: Vec<&str> = token.split('.').collect();
        let spliced = format!(
            "{}.{}.{}",
            parts[0],
            forged_payload.split('.').nth(1).unwrap(),
            parts[2]
        );
        assert_eq!(check(&spliced, &set), Err(TokenRefusal::Signature));
    }

    #[test]
    fn unsigned_and_hmac_tokens_are_refused() {
        let (_, jwk) = key("k1");
        let set = keys(&[jwk]);
        let body = URL_SAFE_NO_PAD.encode(claims().to_string());
        let none = format!(
            "{}.{body}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"k1"}"#)
        );
        assert!(check(&none, &set).is_err());
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("k1".into());
        let hmac =
            jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(b"k")).unwrap();
        assert_eq!(check(&hmac, &set), Err(TokenRefusal::Algorithm));
        assert!(matches!(
            check("not.a.token", &set),
            Err(TokenRefusal::Malformed(_))
        ));
    }

    #[test]
    fn the_realm_is_what_follows_the_last_at_if_it_is_a_domain() {
        assert_eq!(realm_of("testdrift.uio@uio.no").as_deref(), Some("uio.no"));
        assert_eq!(realm_of("Ola@UiB.NO").as_deref(), Some("uib.no"));
        assert_eq!(
            realm_of("a@b@student.uib.no").as_deref(),
            Some("student.uib.no")
        );
        for bad in [
            "uio.no",
            "@uio.no",
            "user@",
            "user@no",
            "user@uio..no",
            "user@-uio.no",
            "user@uio.no/x",
            "user@uio no",
        ] {
            assert_eq!(realm_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_pkce_challenge_is_rfc_7636s() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let token = random_token(32);
        assert_eq!(token.len(), 43);
        assert_ne!(token, random_token(32));
    }
}

//! JWT bearer authentication for `/admin`: HS256 with a shared secret or RS256 with a
//! public key. Claims: `org_id` (UUID), `role` (`admin` or `member`), `exp`.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::ApiError;

/// The claims switchyard reads from a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The caller's organization; every object is scoped to it.
    pub org_id: Uuid,
    /// `admin` or `member`.
    pub role: String,
    /// Expiry (seconds since the epoch).
    pub exp: u64,
}

impl Claims {
    /// Whether the caller may use `/admin`.
    #[must_use]
    pub fn is_admin(&self) -> bool {
        self.role == "admin"
    }
}

/// Verifies bearer tokens.
#[derive(Clone)]
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Verifier({:?})", self.validation.algorithms)
    }
}

impl Verifier {
    /// HS256 with a shared secret.
    ///
    /// # Errors
    /// When the secret cannot be used as an HMAC key.
    pub fn hs256(secret: &[u8]) -> Result<Self, String> {
        let key = DecodingKey::from_secret(secret).map_err(|e| format!("unusable HS256 secret: {e}"))?;
        Ok(Self::new(key, Algorithm::HS256))
    }

    /// RS256 with a PEM public key.
    ///
    /// # Errors
    /// When the PEM is not an RSA public key.
    pub fn rs256_pem(pem: &[u8]) -> Result<Self, String> {
        let key = DecodingKey::from_rsa_pem(pem).map_err(|e| format!("not an RSA public key in PEM form: {e}"))?;
        Ok(Self::new(key, Algorithm::RS256))
    }

    fn new(key: DecodingKey, alg: Algorithm) -> Self {
        let mut validation = Validation::new(alg);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp"]);
        validation.validate_aud = false;
        Self { key, validation }
    }

    /// Checks an `Authorization` header value.
    ///
    /// # Errors
    /// 401 for a missing, malformed, wrongly signed or expired token.
    pub fn verify(&self, header: Option<&str>) -> Result<Claims, ApiError> {
        let header = header.ok_or_else(|| ApiError::unauthenticated("missing Authorization: Bearer <JWT> header"))?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or_else(|| ApiError::unauthenticated("Authorization header must be `Bearer <JWT>`"))?
            .trim();
        if token.starts_with("bd-") {
            return Err(ApiError::unauthenticated("bd- API keys are for the runtime API; /admin needs a JWT"));
        }
        match jsonwebtoken::decode_header(token) {
            Err(_) => {
                return Err(ApiError::unauthenticated(
                    "token header is malformed or names an unsupported algorithm (such as none)",
                ));
            }
            Ok(h) if !self.validation.algorithms.contains(&h.alg) => {
                return Err(ApiError::unauthenticated(format!(
                    "token algorithm is not accepted ({:?}; this gateway expects {:?})",
                    h.alg, self.validation.algorithms
                )));
            }
            Ok(_) => {}
        }
        jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation).map(|d| d.claims).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            let why = match e.kind() {
                ErrorKind::ExpiredSignature => "token has expired".to_owned(),
                ErrorKind::InvalidSignature => "token signature is invalid".to_owned(),
                ErrorKind::InvalidAlgorithm => "token algorithm is not accepted".to_owned(),
                ErrorKind::MissingRequiredClaim(c) => format!("token lacks the `{c}` claim"),
                ErrorKind::Json(_) => "token claims must include org_id (UUID), role and exp".to_owned(),
                _ => format!("invalid token ({e})"),
            };
            ApiError::unauthenticated(why)
        })
    }
}

/// Mints a token (HS256 with `secret`, or RS256 with a PEM private key).
///
/// # Errors
/// When the key cannot be used.
pub fn mint(key: &MintKey, org: Uuid, role: &str, ttl_secs: i64) -> Result<String, String> {
    let now = jiff::Timestamp::now().as_second();
    let exp = u64::try_from(now.saturating_add(ttl_secs)).unwrap_or(0);
    let claims = Claims { org_id: org, role: role.to_owned(), exp };
    let (header, key) = match key {
        MintKey::Hs256(secret) => (
            Header::new(Algorithm::HS256),
            EncodingKey::from_secret(secret).map_err(|e| format!("unusable HS256 secret: {e}"))?,
        ),
        MintKey::Rs256Pem(pem) => (
            Header::new(Algorithm::RS256),
            EncodingKey::from_rsa_pem(pem).map_err(|e| format!("not an RSA private key in PEM form: {e}"))?,
        ),
    };
    jsonwebtoken::encode(&header, &claims, &key).map_err(|e| e.to_string())
}

/// Key material for [`mint`].
#[derive(Clone)]
pub enum MintKey {
    /// Shared secret.
    Hs256(Vec<u8>),
    /// RSA private key, PEM.
    Rs256Pem(Vec<u8>),
}

/// Reads a secret file, trimming one trailing newline; refuses an empty secret.
///
/// # Errors
/// When the file cannot be read or is empty.
pub fn read_secret_file(path: &std::path::Path) -> Result<Vec<u8>, String> {
    let mut bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        bytes.pop();
    }
    if bytes.is_empty() {
        return Err(format!("{} is empty", path.display()));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_verify_and_carry_the_claims() {
        let org = Uuid::new_v4();
        let token = mint(&MintKey::Hs256(b"s3cret".to_vec()), org, "admin", 60).unwrap();
        let claims = Verifier::hs256(b"s3cret").unwrap().verify(Some(&format!("Bearer {token}"))).unwrap();
        assert_eq!(claims.org_id, org);
        assert!(claims.is_admin());
    }

    #[test]
    fn wrong_secret_expired_and_alg_none_are_rejected() {
        let org = Uuid::new_v4();
        let v = Verifier::hs256(b"right").unwrap();
        let wrong = mint(&MintKey::Hs256(b"wrong".to_vec()), org, "admin", 60).unwrap();
        assert_eq!(v.verify(Some(&format!("Bearer {wrong}"))).unwrap_err().message, "token signature is invalid");
        let expired = mint(&MintKey::Hs256(b"right".to_vec()), org, "admin", -120).unwrap();
        assert_eq!(v.verify(Some(&format!("Bearer {expired}"))).unwrap_err().message, "token has expired");
        // alg: none, unsigned
        use base64_like::encode;
        let none = format!(
            "{}.{}.",
            encode(br#"{"alg":"none","typ":"JWT"}"#),
            encode(format!(r#"{{"org_id":"{org}","role":"admin","exp":9999999999}}"#).as_bytes())
        );
        assert_eq!(v.verify(Some(&format!("Bearer {none}"))).unwrap_err().status, 401);
        assert_eq!(v.verify(None).unwrap_err().status, 401);
    }

    mod base64_like {
        pub fn encode(data: &[u8]) -> String {
            const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let mut out = String::new();
            for chunk in data.chunks(3) {
                let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
                let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
                for i in 0..=chunk.len() {
                    out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
                }
            }
            out
        }
    }
}

//! Runtime API keys (`bd-...`): minting, the admin rules, and verification of a key
//! presented on a runtime request. Only a SHA-256 of each key is stored, with its
//! first 8 characters for display.

use uuid::Uuid;

use super::error::ApiError;
use super::store::{ApiKeyRow, Store, Tx, now};
use crate::api;

/// Length of the random part of a key, in hex characters.
const KEY_HEX_LEN: usize = 40;

use crate::model::digest::sha256_hex;

/// A fresh raw key: `bd-` and 40 hex characters (160 random bits).
///
/// # Errors
/// When the system random source fails.
pub fn mint() -> Result<String, ApiError> {
    let mut bytes = [0u8; KEY_HEX_LEN / 2];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| ApiError::internal("random source unavailable"))?;
    Ok(format!("bd-{}", crate::model::digest::hex(&bytes)))
}

/// The response shape of a stored key.
#[must_use]
pub fn key_out(k: &ApiKeyRow) -> api::ApiKey {
    api::ApiKey {
        id: k.id,
        org_id: k.org_id,
        created_by_user_id: None,
        name: k.name.clone(),
        key_prefix: k.key_prefix.clone(),
        scopes: k.scopes.clone(),
        created_at: k.created_at.clone(),
        user_id: k.user_id,
        user_email: k.user_email.clone(),
        group_name: k.group_name.clone(),
        expires_at: k.expires_at.clone(),
        revoked_at: k.revoked_at.clone(),
    }
}

fn parse_time(field: &str, v: &str) -> Result<jiff::Timestamp, ApiError> {
    v.parse::<jiff::Timestamp>().map_err(|_| ApiError::invalid(format!("{field} {v:?} is not an RFC 3339 time")))
}

/// `POST /admin/api-keys`.
///
/// # Errors
/// 400 on invalid fields.
pub fn create(tx: &mut dyn Tx, org: Uuid, req: api::ApiKeyCreate) -> Result<api::ApiKeyCreated, ApiError> {
    if req.name.trim().is_empty() {
        return Err(ApiError::invalid("name must not be empty"));
    }
    // The same bounds as the OpenAPI schema.
    let bounded = |field: &str, v: Option<&str>, max: usize| -> Result<(), ApiError> {
        match v {
            Some(v) if v.is_empty() || v.chars().count() > max => {
                Err(ApiError::invalid(format!("{field} must be 1 to {max} characters long")))
            }
            _ => Ok(()),
        }
    };
    bounded("name", Some(&req.name), 256)?;
    bounded("user_email", req.user_email.as_deref(), 320)?;
    bounded("group_name", req.group_name.as_deref(), 256)?;
    if req.user_id.is_some() && req.group_name.is_some() {
        return Err(ApiError::invalid("user_id and group_name are mutually exclusive"));
    }
    if let Some(exp) = &req.expires_at
        && parse_time("expires_at", exp)? <= jiff::Timestamp::now()
    {
        return Err(ApiError::invalid(format!("expires_at {exp} is in the past")));
    }
    let key = mint()?;
    let row = ApiKeyRow {
        id: Uuid::new_v4(),
        org_id: org,
        name: req.name,
        key_prefix: key.chars().take(8).collect(),
        key_hash: sha256_hex(key.as_bytes()),
        scopes: req.scopes.unwrap_or_default(),
        user_id: req.user_id,
        user_email: req.user_email,
        group_name: req.group_name,
        created_at: now(),
        expires_at: req.expires_at,
        revoked_at: None,
    };
    tx.put_api_key(&row)?;
    Ok(api::ApiKeyCreated {
        id: row.id,
        name: row.name,
        key_prefix: row.key_prefix,
        key,
        scopes: row.scopes,
        created_at: row.created_at,
        group_name: row.group_name,
        expires_at: row.expires_at,
    })
}

/// `DELETE /admin/api-keys/{id}`: revokes (idempotent; the row is kept for audit).
///
/// # Errors
/// 404 when absent.
pub fn revoke(tx: &mut dyn Tx, id: Uuid) -> Result<api::Revoked, ApiError> {
    let mut row = tx.api_key(id)?.ok_or_else(|| ApiError::not_found(format!("api key {id} not found")))?;
    if row.revoked_at.is_none() {
        row.revoked_at = Some(now());
        tx.put_api_key(&row)?;
    }
    Ok(api::Revoked { revoked: true })
}

/// Checks a raw key presented on a runtime request; the key's org is the caller's.
///
/// # Errors
/// 401 for an unknown, revoked or expired key.
pub fn verify(store: &dyn Store, raw: &str) -> Result<ApiKeyRow, ApiError> {
    if !raw.starts_with("bd-") {
        return Err(ApiError::unauthenticated("runtime requests need a bd- API key"));
    }
    let row =
        store.find_api_key(&sha256_hex(raw.as_bytes()))?.ok_or_else(|| ApiError::unauthenticated("unknown API key"))?;
    if row.revoked_at.is_some() {
        return Err(ApiError::unauthenticated(format!("API key {} was revoked", row.key_prefix)));
    }
    if let Some(exp) = &row.expires_at
        && parse_time("expires_at", exp)? <= jiff::Timestamp::now()
    {
        return Err(ApiError::unauthenticated(format!("API key {} has expired", row.key_prefix)));
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::store::memory::MemoryStore;
    use crate::gateway::store::sqlite::SqliteStore;
    use crate::gateway::store::write;

    #[test]
    fn keys_verify_until_revoked_on_both_stores() {
        let stores: Vec<Box<dyn Store>> =
            vec![Box::new(MemoryStore::new()), Box::new(SqliteStore::open(":memory:").unwrap())];
        for store in stores {
            let org = Uuid::new_v4();
            let req = api::ApiKeyCreate { name: "ci".into(), ..Default::default() };
            let (created, _) = write(store.as_ref(), org, |tx| create(tx, org, req)).unwrap();
            assert!(created.key.starts_with("bd-") && created.key.len() == 43);
            assert_eq!(created.key_prefix, &created.key[..8]);
            let row = verify(store.as_ref(), &created.key).unwrap();
            assert_eq!(row.org_id, org);
            assert_eq!(verify(store.as_ref(), "bd-nope").unwrap_err().status, 401);
            write(store.as_ref(), org, |tx| revoke(tx, created.id)).unwrap();
            assert!(verify(store.as_ref(), &created.key).unwrap_err().message.contains("revoked"));
        }
    }

    #[test]
    fn expired_keys_are_refused_and_past_expiry_cannot_be_set() {
        let store = MemoryStore::new();
        let org = Uuid::new_v4();
        let past = api::ApiKeyCreate {
            name: "x".into(),
            expires_at: Some("2001-01-01T00:00:00Z".into()),
            ..Default::default()
        };
        assert_eq!(write(&store, org, |tx| create(tx, org, past)).unwrap_err().status, 400);
        let both = api::ApiKeyCreate {
            name: "x".into(),
            user_id: Some(Uuid::new_v4()),
            group_name: Some("g".into()),
            ..Default::default()
        };
        assert!(write(&store, org, |tx| create(tx, org, both)).unwrap_err().message.contains("mutually exclusive"));
        // A key whose expiry passes later is refused from then on.
        let soon = api::ApiKeyCreate {
            name: "x".into(),
            expires_at: Some(
                jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_millis(300)).unwrap().to_string(),
            ),
            ..Default::default()
        };
        let (created, _) = write(&store, org, |tx| create(tx, org, soon)).unwrap();
        assert!(verify(&store, &created.key).is_ok());
        std::thread::sleep(std::time::Duration::from_millis(400));
        assert!(verify(&store, &created.key).unwrap_err().message.contains("expired"));
    }
}

//! In-memory [`Store`] for tests and `--db :memory:`-style use without SQLite.
//! A write works on a copy of the org's data and swaps it in on success, which gives
//! the same all-or-nothing behaviour as a SQLite transaction.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use uuid::Uuid;

use super::{ApiError, ApiKeyRow, ProviderRow, ReadFn, RouteRow, SmartRow, Store, Tx, WriteFn};

#[derive(Debug, Clone, Default)]
struct OrgData {
    generation: u64,
    providers: BTreeMap<Uuid, ProviderRow>,
    routes: BTreeMap<Uuid, RouteRow>,
    smart: BTreeMap<Uuid, SmartRow>,
    keys: BTreeMap<Uuid, ApiKeyRow>,
}

/// The in-memory store.
#[derive(Debug, Default)]
pub struct MemoryStore {
    orgs: Mutex<HashMap<Uuid, OrgData>>,
    closed: std::sync::atomic::AtomicBool,
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<Uuid, OrgData>>, ApiError> {
        if self.closed.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(ApiError::internal("store is closed"));
        }
        self.orgs.lock().map_err(|_| ApiError::internal("store lock poisoned"))
    }
}

impl Store for MemoryStore {
    fn read(&self, org: Uuid, f: &mut ReadFn<'_>) -> Result<u64, ApiError> {
        let orgs = self.lock()?;
        let empty = OrgData::default();
        let data = orgs.get(&org).unwrap_or(&empty);
        let tx = MemTx { data: Cow::Borrowed(data) };
        f(&tx)?;
        Ok(data.generation)
    }

    fn write(&self, org: Uuid, f: &mut WriteFn<'_>) -> Result<u64, ApiError> {
        let mut orgs = self.lock()?;
        let mut tx = MemTx { data: Cow::Owned(orgs.get(&org).cloned().unwrap_or_default()) };
        f(&mut tx)?;
        let mut data = tx.data.into_owned();
        data.generation += 1;
        let generation = data.generation;
        orgs.insert(org, data);
        Ok(generation)
    }

    fn generation(&self, org: Uuid) -> Result<u64, ApiError> {
        Ok(self.lock()?.get(&org).map_or(0, |d| d.generation))
    }

    fn find_api_key(&self, key_hash: &str) -> Result<Option<ApiKeyRow>, ApiError> {
        Ok(self.lock()?.values().flat_map(|d| d.keys.values()).find(|k| k.key_hash == key_hash).cloned())
    }

    fn orgs(&self) -> Result<Vec<Uuid>, ApiError> {
        let mut v: Vec<Uuid> = self.lock()?.keys().copied().collect();
        v.sort();
        Ok(v)
    }

    fn close(&self) -> Result<(), ApiError> {
        self.closed.store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }
}

struct MemTx<'a> {
    data: Cow<'a, OrgData>,
}

impl Tx for MemTx<'_> {
    fn providers(&self) -> Result<Vec<ProviderRow>, ApiError> {
        let mut v: Vec<ProviderRow> = self.data.providers.values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(v)
    }
    fn provider(&self, id: Uuid) -> Result<Option<ProviderRow>, ApiError> {
        Ok(self.data.providers.get(&id).cloned())
    }
    fn provider_by_name(&self, name: &str) -> Result<Option<ProviderRow>, ApiError> {
        Ok(self.data.providers.values().find(|p| p.name == name).cloned())
    }
    fn put_provider(&mut self, row: &ProviderRow) -> Result<(), ApiError> {
        self.data.to_mut().providers.insert(row.id, row.clone());
        Ok(())
    }
    fn delete_provider(&mut self, id: Uuid) -> Result<(), ApiError> {
        self.data.to_mut().providers.remove(&id);
        Ok(())
    }
    fn routes(&self) -> Result<Vec<RouteRow>, ApiError> {
        let mut v: Vec<RouteRow> = self.data.routes.values().cloned().collect();
        v.sort_by(|a, b| (&a.model_alias, a.priority, a.id).cmp(&(&b.model_alias, b.priority, b.id)));
        Ok(v)
    }
    fn route(&self, id: Uuid) -> Result<Option<RouteRow>, ApiError> {
        Ok(self.data.routes.get(&id).cloned())
    }
    fn routes_for_model(&self, provider_id: Uuid, upstream_model: &str) -> Result<Vec<RouteRow>, ApiError> {
        Ok(self
            .data
            .routes
            .values()
            .filter(|r| r.provider_id == provider_id && r.upstream_model == upstream_model)
            .cloned()
            .collect())
    }
    fn routes_of_provider(&self, provider_id: Uuid) -> Result<Vec<RouteRow>, ApiError> {
        Ok(self.data.routes.values().filter(|r| r.provider_id == provider_id).cloned().collect())
    }
    fn route_alias_exists(&self, alias: &str) -> Result<bool, ApiError> {
        Ok(self.data.routes.values().any(|r| r.model_alias.eq_ignore_ascii_case(alias)))
    }
    fn put_route(&mut self, row: &RouteRow) -> Result<(), ApiError> {
        self.data.to_mut().routes.insert(row.id, row.clone());
        Ok(())
    }
    fn delete_route(&mut self, id: Uuid) -> Result<(), ApiError> {
        self.data.to_mut().routes.remove(&id);
        Ok(())
    }
    fn smart_models(&self) -> Result<Vec<SmartRow>, ApiError> {
        let mut v: Vec<SmartRow> = self.data.smart.values().cloned().collect();
        v.sort_by(|a, b| a.model_alias.cmp(&b.model_alias));
        Ok(v)
    }
    fn smart_model(&self, id: Uuid) -> Result<Option<SmartRow>, ApiError> {
        Ok(self.data.smart.get(&id).cloned())
    }
    fn smart_by_alias(&self, alias: &str) -> Result<Option<SmartRow>, ApiError> {
        Ok(self.data.smart.values().find(|s| s.model_alias.eq_ignore_ascii_case(alias)).cloned())
    }
    fn put_smart(&mut self, row: &SmartRow) -> Result<(), ApiError> {
        self.data.to_mut().smart.insert(row.id, row.clone());
        Ok(())
    }
    fn delete_smart(&mut self, id: Uuid) -> Result<(), ApiError> {
        self.data.to_mut().smart.remove(&id);
        Ok(())
    }
    fn api_keys(&self) -> Result<Vec<ApiKeyRow>, ApiError> {
        let mut v: Vec<ApiKeyRow> = self.data.keys.values().cloned().collect();
        v.sort_by(|a, b| (&b.created_at, b.id).cmp(&(&a.created_at, a.id)));
        Ok(v)
    }
    fn api_key(&self, id: Uuid) -> Result<Option<ApiKeyRow>, ApiError> {
        Ok(self.data.keys.get(&id).cloned())
    }
    fn put_api_key(&mut self, row: &ApiKeyRow) -> Result<(), ApiError> {
        self.data.to_mut().keys.insert(row.id, row.clone());
        Ok(())
    }
}

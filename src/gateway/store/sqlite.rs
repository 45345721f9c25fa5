//! SQLite [`Store`]: WAL journal, foreign keys on, migrations from
//! `store/migrations/` applied at open (tracked with `PRAGMA user_version`), one
//! `BEGIN IMMEDIATE` transaction per write.
//!
//! Durability: `synchronous = NORMAL` in WAL mode, so a write acknowledged with 200
//! survives a crash or `SIGKILL` of the gateway process; an OS crash or power loss may
//! lose the last acknowledged transactions (use `synchronous = FULL` semantics by
//! setting `SWITCHYARD_SQLITE_SYNC=full` if that matters more than write throughput).

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use uuid::Uuid;

use super::{ApiError, ApiKeyRow, ProviderRow, ReadFn, RouteRow, Secret, SmartRow, Store, Tx, WriteFn};

const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_init.sql"),
    include_str!("migrations/0002_route_list_index.sql"),
    include_str!("migrations/0003_api_keys.sql"),
];

/// The SQLite store.
pub struct SqliteStore {
    conn: Mutex<Option<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SqliteStore")
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`; `:memory:` for a private
    /// in-memory database. Applies pending migrations.
    ///
    /// # Errors
    /// When the file cannot be opened or a migration fails.
    pub fn open(path: &str) -> Result<Self, ApiError> {
        let conn = if path == ":memory:" {
            Connection::open_in_memory()?
        } else {
            if let Some(parent) = Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(ApiError::internal)?;
            }
            let conn = Connection::open(path)?;
            restrict_permissions(path);
            conn
        };
        conn.pragma_update(None, "journal_mode", "WAL")?;
        let sync = if std::env::var("SWITCHYARD_SQLITE_SYNC").is_ok_and(|v| v == "full") { "FULL" } else { "NORMAL" };
        conn.pragma_update(None, "synchronous", sync)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&conn)?;
        Ok(Self { conn: Mutex::new(Some(conn)) })
    }

    fn with_conn<R>(&self, f: impl FnOnce(&mut Connection) -> Result<R, ApiError>) -> Result<R, ApiError> {
        let mut guard = self.conn.lock().map_err(|_| ApiError::internal("store lock poisoned"))?;
        let conn = guard.as_mut().ok_or_else(|| ApiError::internal("store is closed"))?;
        f(conn)
    }

    /// Runs `PRAGMA integrity_check` and returns its first line (`ok` when healthy).
    ///
    /// # Errors
    /// A storage failure.
    pub fn integrity_check(&self) -> Result<String, ApiError> {
        self.with_conn(|c| Ok(c.query_row("PRAGMA integrity_check", [], |r| r.get::<_, String>(0))?))
    }
}

#[cfg(unix)]
fn restrict_permissions(path: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    // The file holds provider API keys: owner-only.
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
}

#[cfg(not(unix))]
fn restrict_permissions(_: &str) {}

fn migrate(conn: &Connection) -> Result<(), ApiError> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i64::try_from(i + 1).unwrap_or(i64::MAX);
        if version <= current {
            continue;
        }
        conn.execute_batch(&format!("BEGIN; {sql}; PRAGMA user_version = {version}; COMMIT;"))?;
        tracing::info!(version, "applied database migration");
    }
    let latest = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    if current > latest {
        return Err(ApiError::internal(format!(
            "database schema version {current} is newer than this binary supports ({latest})"
        )));
    }
    Ok(())
}

impl Store for SqliteStore {
    fn read(&self, org: Uuid, f: &mut ReadFn<'_>) -> Result<u64, ApiError> {
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let generation = generation_in(&tx, org)?;
            f(&SqlTx { tx: &tx, org })?;
            tx.commit()?;
            Ok(generation)
        })
    }

    fn write(&self, org: Uuid, f: &mut WriteFn<'_>) -> Result<u64, ApiError> {
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            f(&mut SqlTx { tx: &tx, org })?;
            let generation: i64 = tx.query_row(
                "INSERT INTO orgs (org_id, generation) VALUES (?1, 1)
                 ON CONFLICT (org_id) DO UPDATE SET generation = generation + 1
                 RETURNING generation",
                params![org.to_string()],
                |r| r.get(0),
            )?;
            tx.commit()?;
            Ok(u64::try_from(generation).unwrap_or(0))
        })
    }

    fn generation(&self, org: Uuid) -> Result<u64, ApiError> {
        self.with_conn(|conn| generation_in(conn, org))
    }

    fn find_api_key(&self, key_hash: &str) -> Result<Option<ApiKeyRow>, ApiError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(&format!("SELECT {KEY_COLS} FROM api_keys WHERE key_hash = ?1"))?;
            Ok(stmt.query_row(params![key_hash], key_row).optional()?)
        })
    }

    fn orgs(&self) -> Result<Vec<Uuid>, ApiError> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare("SELECT org_id FROM orgs ORDER BY org_id")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for r in rows {
                out.push(parse_uuid(&r?)?);
            }
            Ok(out)
        })
    }

    fn close(&self) -> Result<(), ApiError> {
        let mut guard = self.conn.lock().map_err(|_| ApiError::internal("store lock poisoned"))?;
        if let Some(conn) = guard.take() {
            conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
            conn.close().map_err(|(_, e)| ApiError::internal(e))?;
        }
        Ok(())
    }
}

/// `a = excluded.a, ...` for every column but `id` and `org_id`.
fn upsert_set(cols: &str) -> String {
    cols.split(", ")
        .filter(|c| *c != "id" && *c != "org_id" && *c != "created_at")
        .map(|c| format!("{c} = excluded.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn generation_in(conn: &Connection, org: Uuid) -> Result<u64, ApiError> {
    let g: Option<i64> = conn
        .query_row("SELECT generation FROM orgs WHERE org_id = ?1", params![org.to_string()], |r| r.get(0))
        .optional()?;
    Ok(g.and_then(|g| u64::try_from(g).ok()).unwrap_or(0))
}

fn parse_uuid(s: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(s).map_err(|e| ApiError::internal(format!("bad uuid {s:?} in database: {e}")))
}

fn opt_uuid(s: Option<String>) -> rusqlite::Result<Option<Uuid>> {
    s.map(|s| {
        Uuid::parse_str(&s)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
    })
    .transpose()
}

fn uuid_col(row: &Row<'_>, i: usize) -> rusqlite::Result<Uuid> {
    let s: String = row.get(i)?;
    Uuid::parse_str(&s)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e)))
}

fn json_col<T: serde::de::DeserializeOwned>(row: &Row<'_>, i: usize) -> rusqlite::Result<T> {
    let s: String = row.get(i)?;
    serde_json::from_str(&s)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e)))
}

struct SqlTx<'a> {
    tx: &'a rusqlite::Transaction<'a>,
    org: Uuid,
}

const PROVIDER_COLS: &str = "id, org_id, name, model_provider, auth_type, base_url, enabled, settings, catalog_id, connection_id, request_timeout_secs, stream_idle_timeout_secs, api_key, created_at, updated_at";
const ROUTE_COLS: &str = "id, org_id, provider_id, model_alias, upstream_model, enabled, priority, retry_on_429_count, retry_on_429_max_wait_secs, bare_alias, stream_idle_timeout_secs, max_in_flight, request_timeout_secs, created_at, updated_at";
const SMART_COLS: &str = "id, org_id, model_alias, enabled, determiner_model_alias, slots, context_breakpoints, determiner_input_max_chars, default_slot_on_failure, description, created_at, updated_at";

const KEY_COLS: &str = "id, org_id, name, key_prefix, key_hash, scopes, user_id, user_email, group_name, created_at, expires_at, revoked_at";

fn key_row(r: &Row<'_>) -> rusqlite::Result<ApiKeyRow> {
    Ok(ApiKeyRow {
        id: uuid_col(r, 0)?,
        org_id: uuid_col(r, 1)?,
        name: r.get(2)?,
        key_prefix: r.get(3)?,
        key_hash: r.get(4)?,
        scopes: json_col(r, 5)?,
        user_id: opt_uuid(r.get(6)?)?,
        user_email: r.get(7)?,
        group_name: r.get(8)?,
        created_at: r.get(9)?,
        expires_at: r.get(10)?,
        revoked_at: r.get(11)?,
    })
}

fn provider_row(r: &Row<'_>) -> rusqlite::Result<ProviderRow> {
    Ok(ProviderRow {
        id: uuid_col(r, 0)?,
        org_id: uuid_col(r, 1)?,
        name: r.get(2)?,
        model_provider: r.get(3)?,
        auth_type: r.get(4)?,
        base_url: r.get(5)?,
        enabled: r.get(6)?,
        settings: json_col(r, 7)?,
        catalog_id: opt_uuid(r.get(8)?)?,
        connection_id: opt_uuid(r.get(9)?)?,
        request_timeout_secs: r.get(10)?,
        stream_idle_timeout_secs: r.get(11)?,
        api_key: r.get::<_, Option<String>>(12)?.map(Secret),
        created_at: r.get(13)?,
        updated_at: r.get(14)?,
    })
}

fn route_row(r: &Row<'_>) -> rusqlite::Result<RouteRow> {
    Ok(RouteRow {
        id: uuid_col(r, 0)?,
        org_id: uuid_col(r, 1)?,
        provider_id: uuid_col(r, 2)?,
        model_alias: r.get(3)?,
        upstream_model: r.get(4)?,
        enabled: r.get(5)?,
        priority: r.get(6)?,
        retry_on_429_count: r.get(7)?,
        retry_on_429_max_wait_secs: r.get(8)?,
        bare_alias: r.get(9)?,
        stream_idle_timeout_secs: r.get(10)?,
        max_in_flight: r.get(11)?,
        request_timeout_secs: r.get(12)?,
        created_at: r.get(13)?,
        updated_at: r.get(14)?,
    })
}

fn smart_row(r: &Row<'_>) -> rusqlite::Result<SmartRow> {
    Ok(SmartRow {
        id: uuid_col(r, 0)?,
        org_id: uuid_col(r, 1)?,
        model_alias: r.get(2)?,
        enabled: r.get(3)?,
        determiner_model_alias: r.get(4)?,
        slots: json_col(r, 5)?,
        context_breakpoints: json_col(r, 6)?,
        determiner_input_max_chars: r.get(7)?,
        default_slot_on_failure: r.get(8)?,
        description: r.get(9)?,
        created_at: r.get(10)?,
        updated_at: r.get(11)?,
    })
}

impl SqlTx<'_> {
    fn org(&self) -> String {
        self.org.to_string()
    }

    fn many<T>(
        &self,
        sql: &str,
        args: impl rusqlite::Params,
        map: fn(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, ApiError> {
        let mut stmt = self.tx.prepare_cached(sql)?;
        let rows = stmt.query_map(args, map)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r?);
        }
        Ok(out)
    }

    fn one<T>(
        &self,
        sql: &str,
        args: impl rusqlite::Params,
        map: fn(&Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Option<T>, ApiError> {
        let mut stmt = self.tx.prepare_cached(sql)?;
        Ok(stmt.query_row(args, map).optional()?)
    }
}

impl Tx for SqlTx<'_> {
    fn providers(&self) -> Result<Vec<ProviderRow>, ApiError> {
        self.many(
            &format!("SELECT {PROVIDER_COLS} FROM providers WHERE org_id = ?1 ORDER BY name"),
            params![self.org()],
            provider_row,
        )
    }
    fn provider(&self, id: Uuid) -> Result<Option<ProviderRow>, ApiError> {
        self.one(
            &format!("SELECT {PROVIDER_COLS} FROM providers WHERE org_id = ?1 AND id = ?2"),
            params![self.org(), id.to_string()],
            provider_row,
        )
    }
    fn provider_by_name(&self, name: &str) -> Result<Option<ProviderRow>, ApiError> {
        self.one(
            &format!("SELECT {PROVIDER_COLS} FROM providers WHERE org_id = ?1 AND name = ?2"),
            params![self.org(), name],
            provider_row,
        )
    }
    fn put_provider(&mut self, p: &ProviderRow) -> Result<(), ApiError> {
        let settings = serde_json::to_string(&p.settings).map_err(ApiError::internal)?;
        self.tx
            .prepare_cached(&format!(
                "INSERT INTO providers ({PROVIDER_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) ON CONFLICT (id) DO UPDATE SET {}",
                upsert_set(PROVIDER_COLS)
            ))?
            .execute(params![
                p.id.to_string(),
                self.org(),
                p.name,
                p.model_provider,
                p.auth_type,
                p.base_url,
                p.enabled,
                settings,
                p.catalog_id.map(|u| u.to_string()),
                p.connection_id.map(|u| u.to_string()),
                p.request_timeout_secs,
                p.stream_idle_timeout_secs,
                p.api_key.as_ref().map(|s| s.0.as_str()),
                p.created_at,
                p.updated_at
            ])?;
        Ok(())
    }
    fn delete_provider(&mut self, id: Uuid) -> Result<(), ApiError> {
        self.tx
            .prepare_cached("DELETE FROM providers WHERE org_id = ?1 AND id = ?2")?
            .execute(params![self.org(), id.to_string()])?;
        Ok(())
    }

    fn routes(&self) -> Result<Vec<RouteRow>, ApiError> {
        self.many(
            &format!("SELECT {ROUTE_COLS} FROM routes WHERE org_id = ?1 ORDER BY model_alias, priority, id"),
            params![self.org()],
            route_row,
        )
    }
    fn each_route(&self, f: &mut dyn FnMut(RouteRow) -> Result<(), ApiError>) -> Result<(), ApiError> {
        let mut stmt = self.tx.prepare_cached(&format!(
            "SELECT {ROUTE_COLS} FROM routes WHERE org_id = ?1 ORDER BY model_alias, priority, id"
        ))?;
        let mut rows = stmt.query(params![self.org()])?;
        while let Some(row) = rows.next()? {
            f(route_row(row)?)?;
        }
        Ok(())
    }
    fn route(&self, id: Uuid) -> Result<Option<RouteRow>, ApiError> {
        self.one(
            &format!("SELECT {ROUTE_COLS} FROM routes WHERE org_id = ?1 AND id = ?2"),
            params![self.org(), id.to_string()],
            route_row,
        )
    }
    fn routes_for_model(&self, provider_id: Uuid, upstream_model: &str) -> Result<Vec<RouteRow>, ApiError> {
        self.many(
            &format!("SELECT {ROUTE_COLS} FROM routes WHERE provider_id = ?1 AND upstream_model = ?2 AND org_id = ?3"),
            params![provider_id.to_string(), upstream_model, self.org()],
            route_row,
        )
    }
    fn routes_of_provider(&self, provider_id: Uuid) -> Result<Vec<RouteRow>, ApiError> {
        self.many(
            &format!("SELECT {ROUTE_COLS} FROM routes WHERE provider_id = ?1 AND org_id = ?2"),
            params![provider_id.to_string(), self.org()],
            route_row,
        )
    }
    fn route_alias_exists(&self, alias: &str) -> Result<bool, ApiError> {
        let n: i64 = self
            .tx
            .prepare_cached("SELECT COUNT(*) FROM routes WHERE org_id = ?1 AND model_alias = ?2 COLLATE NOCASE")?
            .query_row(params![self.org(), alias], |r| r.get(0))?;
        Ok(n > 0)
    }
    fn put_route(&mut self, r: &RouteRow) -> Result<(), ApiError> {
        self.tx
            .prepare_cached(&format!(
                "INSERT INTO routes ({ROUTE_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) ON CONFLICT (id) DO UPDATE SET {}",
                upsert_set(ROUTE_COLS)
            ))?
            .execute(params![
                r.id.to_string(),
                self.org(),
                r.provider_id.to_string(),
                r.model_alias,
                r.upstream_model,
                r.enabled,
                r.priority,
                r.retry_on_429_count,
                r.retry_on_429_max_wait_secs,
                r.bare_alias,
                r.stream_idle_timeout_secs,
                r.max_in_flight,
                r.request_timeout_secs,
                r.created_at,
                r.updated_at
            ])?;
        Ok(())
    }
    fn delete_route(&mut self, id: Uuid) -> Result<(), ApiError> {
        self.tx
            .prepare_cached("DELETE FROM routes WHERE org_id = ?1 AND id = ?2")?
            .execute(params![self.org(), id.to_string()])?;
        Ok(())
    }

    fn smart_models(&self) -> Result<Vec<SmartRow>, ApiError> {
        self.many(
            &format!("SELECT {SMART_COLS} FROM smart_models WHERE org_id = ?1 ORDER BY model_alias"),
            params![self.org()],
            smart_row,
        )
    }
    fn smart_model(&self, id: Uuid) -> Result<Option<SmartRow>, ApiError> {
        self.one(
            &format!("SELECT {SMART_COLS} FROM smart_models WHERE org_id = ?1 AND id = ?2"),
            params![self.org(), id.to_string()],
            smart_row,
        )
    }
    fn smart_by_alias(&self, alias: &str) -> Result<Option<SmartRow>, ApiError> {
        self.one(
            &format!("SELECT {SMART_COLS} FROM smart_models WHERE org_id = ?1 AND model_alias = ?2 COLLATE NOCASE"),
            params![self.org(), alias],
            smart_row,
        )
    }
    fn put_smart(&mut self, s: &SmartRow) -> Result<(), ApiError> {
        let slots = serde_json::to_string(&s.slots).map_err(ApiError::internal)?;
        let bps = serde_json::to_string(&s.context_breakpoints).map_err(ApiError::internal)?;
        self.tx
            .prepare_cached(&format!(
                "INSERT INTO smart_models ({SMART_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) ON CONFLICT (id) DO UPDATE SET {}",
                upsert_set(SMART_COLS)
            ))?
            .execute(params![
                s.id.to_string(),
                self.org(),
                s.model_alias,
                s.enabled,
                s.determiner_model_alias,
                slots,
                bps,
                s.determiner_input_max_chars,
                s.default_slot_on_failure,
                s.description,
                s.created_at,
                s.updated_at
            ])?;
        Ok(())
    }
    fn delete_smart(&mut self, id: Uuid) -> Result<(), ApiError> {
        self.tx
            .prepare_cached("DELETE FROM smart_models WHERE org_id = ?1 AND id = ?2")?
            .execute(params![self.org(), id.to_string()])?;
        Ok(())
    }

    fn api_keys(&self) -> Result<Vec<ApiKeyRow>, ApiError> {
        self.many(
            &format!("SELECT {KEY_COLS} FROM api_keys WHERE org_id = ?1 ORDER BY created_at DESC, id DESC"),
            params![self.org()],
            key_row,
        )
    }
    fn api_key(&self, id: Uuid) -> Result<Option<ApiKeyRow>, ApiError> {
        self.one(
            &format!("SELECT {KEY_COLS} FROM api_keys WHERE org_id = ?1 AND id = ?2"),
            params![self.org(), id.to_string()],
            key_row,
        )
    }
    fn put_api_key(&mut self, k: &ApiKeyRow) -> Result<(), ApiError> {
        let scopes = serde_json::to_string(&k.scopes).map_err(ApiError::internal)?;
        self.tx
            .prepare_cached(&format!(
                "INSERT INTO api_keys ({KEY_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) ON CONFLICT (id) DO UPDATE SET {}",
                upsert_set(KEY_COLS)
            ))?
            .execute(params![
                k.id.to_string(),
                self.org(),
                k.name,
                k.key_prefix,
                k.key_hash,
                scopes,
                k.user_id.map(|u| u.to_string()),
                k.user_email,
                k.group_name,
                k.created_at,
                k.expires_at,
                k.revoked_at
            ])?;
        Ok(())
    }
}

//! Tenant API keys as rows: created, read, updated and revoked. Only the
//! key's SHA-256 is stored (the caller hashes); a revoked key stays, for
//! the usage it is named in, and is never found by its hash again. Every
//! read goes to the database, so a revocation holds on every process at
//! once. Admission against a key's limits is in `admission`.

use chrono::{DateTime, Utc};

use crate::backend::{on_reader, on_writer};
use crate::row::{json, time};
use crate::{Result, Store, StoreError, now_ms};

/// A key's limits; `None` is unlimited.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyLimits {
    /// Requests admitted per clock minute.
    pub rpm: Option<u32>,
    /// Tokens (input and output) used per clock minute.
    pub tpm: Option<u64>,
    /// Tasks pending or running and `/v1` calls in flight, together.
    pub max_parallel: Option<u32>,
    /// Spend per budget period, in nano-dollars.
    pub budget_nanousd: Option<i64>,
    /// The budget's period, in ms; periods start at the key's creation.
    pub budget_period_ms: Option<i64>,
}

/// A key as stored (never the key itself).
#[derive(Clone, Debug, PartialEq)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    /// The key's first characters, to tell keys apart in a list.
    pub prefix: String,
    /// Patterns of what the key may use; empty allows everything.
    pub models: Vec<String>,
    pub limits: KeyLimits,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A key to store.
#[derive(Clone, Debug)]
pub struct NewKey {
    pub id: String,
    pub name: String,
    /// SHA-256 of the key, lowercase hex.
    pub hash: String,
    pub prefix: String,
    pub models: Vec<String>,
    pub limits: KeyLimits,
}

/// What an update did.
#[derive(Clone, Debug, PartialEq)]
pub enum KeyUpdate {
    Updated(ApiKey),
    /// A revoked key is not changed any more.
    Revoked(ApiKey),
    NotFound,
}

pub(crate) const KEY_COLUMNS: &str = "id, name, key_prefix, models, rpm, tpm, max_parallel, \
     budget_nanousd, budget_period_ms, created_at, updated_at, last_used_at, revoked_at";

#[derive(sqlx::FromRow)]
pub(crate) struct KeyRow {
    id: String,
    name: String,
    key_prefix: String,
    models: String,
    rpm: Option<i64>,
    tpm: Option<i64>,
    max_parallel: Option<i64>,
    budget_nanousd: Option<i64>,
    budget_period_ms: Option<i64>,
    created_at: i64,
    updated_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl KeyRow {
    pub(crate) fn created_at_ms(&self) -> i64 {
        self.created_at
    }
}

impl TryFrom<KeyRow> for ApiKey {
    type Error = StoreError;

    fn try_from(row: KeyRow) -> Result<Self> {
        let models = serde_json::from_str(&row.models).map_err(|e| StoreError::Corrupt {
            id: row.id.clone(),
            reason: format!("api key models: {e}"),
        })?;
        let count = |v: Option<i64>| v.map(|v| u32::try_from(v).unwrap_or(u32::MAX));
        Ok(Self {
            limits: KeyLimits {
                rpm: count(row.rpm),
                tpm: row.tpm.map(|v| u64::try_from(v).unwrap_or(0)),
                max_parallel: count(row.max_parallel),
                budget_nanousd: row.budget_nanousd,
                budget_period_ms: row.budget_period_ms,
            },
            id: row.id,
            name: row.name,
            prefix: row.key_prefix,
            models,
            created_at: time(row.created_at),
            updated_at: time(row.updated_at),
            last_used_at: row.last_used_at.map(time),
            revoked_at: row.revoked_at.map(time),
        })
    }
}

fn limit_columns(limits: &KeyLimits) -> [Option<i64>; 5] {
    [
        limits.rpm.map(i64::from),
        limits.tpm.map(|v| i64::try_from(v).unwrap_or(i64::MAX)),
        limits.max_parallel.map(i64::from),
        limits.budget_nanousd,
        limits.budget_period_ms,
    ]
}

impl Store {
    /// Stores a new key.
    pub async fn create_key(&self, key: &NewKey) -> Result<ApiKey> {
        let sql = format!(
            "INSERT INTO api_keys (id, name, key_hash, key_prefix, models, rpm, tpm, \
                 max_parallel, budget_nanousd, budget_period_ms, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) \
             RETURNING {KEY_COLUMNS}"
        );
        let [rpm, tpm, parallel, budget, period] = limit_columns(&key.limits);
        let row: KeyRow = on_writer!(self.backend(), |pool| {
            sqlx::query_as(&sql)
                .bind(&key.id)
                .bind(&key.name)
                .bind(&key.hash)
                .bind(&key.prefix)
                .bind(json(&key.models))
                .bind(rpm)
                .bind(tpm)
                .bind(parallel)
                .bind(budget)
                .bind(period)
                .bind(now_ms())
                .fetch_one(pool)
                .await?
        });
        row.try_into()
    }

    /// Every key, revoked ones included, oldest first.
    pub async fn keys(&self) -> Result<Vec<ApiKey>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, id");
        let rows: Vec<KeyRow> = on_reader!(self.backend(), |pool| {
            sqlx::query_as(&sql).fetch_all(pool).await?
        });
        rows.into_iter().map(ApiKey::try_from).collect()
    }

    /// One key by id, revoked or not.
    pub async fn key(&self, id: &str) -> Result<Option<ApiKey>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE id = $1");
        let row: Option<KeyRow> = on_reader!(self.backend(), |pool| {
            sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?
        });
        row.map(ApiKey::try_from).transpose()
    }

    /// The unrevoked key with this hash. Read from the database on every
    /// call: no process keeps a revoked key.
    pub async fn key_by_hash(&self, hash: &str) -> Result<Option<ApiKey>> {
        let sql = format!(
            "SELECT {KEY_COLUMNS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL"
        );
        let row: Option<KeyRow> = on_reader!(self.backend(), |pool| {
            sqlx::query_as(&sql).bind(hash).fetch_optional(pool).await?
        });
        row.map(ApiKey::try_from).transpose()
    }

    /// Replaces a key's name, scope and limits (the caller merged what
    /// changed); a revoked key is left as it is.
    pub async fn update_key(
        &self,
        id: &str,
        name: &str,
        models: &[String],
        limits: &KeyLimits,
    ) -> Result<KeyUpdate> {
        let sql = format!(
            "UPDATE api_keys SET name = $2, models = $3, rpm = $4, tpm = $5, max_parallel = $6, \
                 budget_nanousd = $7, budget_period_ms = $8, updated_at = $9 \
             WHERE id = $1 AND revoked_at IS NULL RETURNING {KEY_COLUMNS}"
        );
        let [rpm, tpm, parallel, budget, period] = limit_columns(limits);
        let row: Option<KeyRow> = on_writer!(self.backend(), |pool| {
            sqlx::query_as(&sql)
                .bind(id)
                .bind(name)
                .bind(json(&models))
                .bind(rpm)
                .bind(tpm)
                .bind(parallel)
                .bind(budget)
                .bind(period)
                .bind(now_ms())
                .fetch_optional(pool)
                .await?
        });
        match row {
            Some(row) => Ok(KeyUpdate::Updated(row.try_into()?)),
            None => Ok(match self.key(id).await? {
                Some(key) => KeyUpdate::Revoked(key),
                None => KeyUpdate::NotFound,
            }),
        }
    }

    /// Revokes a key for good (again: no change); `None` if there is none.
    pub async fn revoke_key(&self, id: &str) -> Result<Option<ApiKey>> {
        let sql = format!(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2), updated_at = $2 \
             WHERE id = $1 RETURNING {KEY_COLUMNS}"
        );
        let row: Option<KeyRow> = on_writer!(self.backend(), |pool| {
            sqlx::query_as(&sql)
                .bind(id)
                .bind(now_ms())
                .fetch_optional(pool)
                .await?
        });
        row.map(ApiKey::try_from).transpose()
    }

    /// Gives an unrevoked key a new secret (its SHA-256 `hash` and
    /// `prefix`): same id, scope, limits and usage. The old secret is
    /// refused from the commit on, on every process (each request reads
    /// the key by its hash). What `update_key` says for a revoked or
    /// missing key.
    pub async fn rotate_key(&self, id: &str, hash: &str, prefix: &str) -> Result<KeyUpdate> {
        let sql = format!(
            "UPDATE api_keys SET key_hash = $2, key_prefix = $3, updated_at = $4 \
             WHERE id = $1 AND revoked_at IS NULL RETURNING {KEY_COLUMNS}"
        );
        let row: Option<KeyRow> = on_writer!(self.backend(), |pool| {
            sqlx::query_as(&sql)
                .bind(id)
                .bind(hash)
                .bind(prefix)
                .bind(now_ms())
                .fetch_optional(pool)
                .await?
        });
        match row {
            Some(row) => Ok(KeyUpdate::Updated(row.try_into()?)),
            None => Ok(match self.key(id).await? {
                Some(key) => KeyUpdate::Revoked(key),
                None => KeyUpdate::NotFound,
            }),
        }
    }
}

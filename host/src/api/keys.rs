//! `/api/v1/keys`: tenants' API keys, managed with an admin token. Create
//! answers the key once (only its hash is stored), list and get show every
//! key without it, PATCH changes scope and limits (`null` removes a limit),
//! rotate gives a key a new secret (same id, scope, limits and usage; the
//! old secret refused at once), DELETE revokes for good, at once on every
//! process (authentication reads the store on every request).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::error::{ApiError, ApiErrorCode, ErrorBody};
use super::extract::{ApiJson, ApiPath};
use super::tenant::{KEY_PREFIX, generate_key, key_hash, usd};
use llmhost_store::keys::{ApiKey, KeyLimits, KeyUpdate, NewKey};

const MAX_NAME_LEN: usize = 128;
const MAX_PATTERNS: usize = 100;
/// The most a budget may be: far beyond any real one, well within the
/// store's integer nano-dollars.
const MAX_BUDGET_USD: f64 = 1e9;

pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(keys_create, keys_list))
        .routes(routes!(keys_get, keys_update, keys_revoke))
        .routes(routes!(keys_rotate))
}

/// The body of `POST /api/v1/keys`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateKey {
    /// Who the key is for (shown in lists and errors).
    #[schema(min_length = 1, max_length = 128)]
    name: String,
    /// What the key may use: patterns over `<provider>/<model>` and route
    /// aliases, `*` matching anything (`openai/*`, `smart`). Absent or
    /// empty: everything.
    #[serde(default)]
    models: Vec<String>,
    /// Requests (tasks submitted and `/v1` calls) per clock minute.
    #[schema(minimum = 1)]
    rpm: Option<u32>,
    /// Tokens (input and output) per clock minute.
    #[schema(minimum = 1)]
    tpm: Option<u64>,
    /// Tasks pending or running and `/v1` calls in flight, together.
    #[schema(minimum = 1)]
    max_parallel: Option<u32>,
    /// Spend allowed per period, in US dollars, priced by the price table.
    #[schema(minimum = 0)]
    budget_usd: Option<f64>,
    /// The budget's period: a number and `s`, `m`, `h` or `d` (`30d`).
    /// Without one the budget is for the key's lifetime.
    budget_period: Option<String>,
}

/// The body of `PATCH /api/v1/keys/{id}`: only what changes; `null`
/// removes a limit.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UpdateKey {
    name: Option<String>,
    models: Option<Vec<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>)]
    rpm: Option<Option<u32>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u64>)]
    tpm: Option<Option<u64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>)]
    max_parallel: Option<Option<u32>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<f64>)]
    budget_usd: Option<Option<f64>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    budget_period: Option<Option<String>>,
}

/// A field that is present, `null` included (`Some(None)`); an absent one
/// stays `None` through `default`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A key as listed: never the key itself.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct KeyView {
    id: String,
    name: String,
    /// The key's first characters, to recognise it.
    prefix: String,
    models: Vec<String>,
    rpm: Option<u32>,
    tpm: Option<u64>,
    max_parallel: Option<u32>,
    budget_usd: Option<f64>,
    budget_period: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKey> for KeyView {
    fn from(key: ApiKey) -> Self {
        Self {
            id: key.id,
            name: key.name,
            prefix: key.prefix,
            models: key.models,
            rpm: key.limits.rpm,
            tpm: key.limits.tpm,
            max_parallel: key.limits.max_parallel,
            budget_usd: key.limits.budget_nanousd.and_then(|n| usd(n).parse().ok()),
            budget_period: key
                .limits
                .budget_period_ms
                .map(|ms| period_text(Duration::from_millis(u64::try_from(ms).unwrap_or(0)))),
            created_at: key.created_at,
            updated_at: key.updated_at,
            last_used_at: key.last_used_at,
            revoked_at: key.revoked_at,
        }
    }
}

/// `201`: the new key, with the key itself, shown this once.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct CreatedKey {
    /// The key: send it as `Authorization: Bearer <key>`. Not stored; it
    /// cannot be shown again.
    key: String,
    #[serde(flatten)]
    view: KeyView,
}

/// Every key, revoked ones included.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct KeyList {
    keys: Vec<KeyView>,
}

#[utoipa::path(
    post,
    path = "/api/v1/keys",
    tag = "keys",
    request_body = CreateKey,
    responses(
        (status = 201, description = "The key, with the key itself shown once", body = CreatedKey),
        (status = 401, description = "No valid token was sent", body = ErrorBody),
        (status = 403, description = "A tenant key cannot manage keys", body = ErrorBody),
        (status = 422, description = "A field is missing, unknown or out of range", body = ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn keys_create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CreateKey>,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    check_name(&body.name)?;
    check_patterns(&body.models)?;
    let limits = limits(
        body.rpm,
        body.tpm,
        body.max_parallel,
        body.budget_usd,
        body.budget_period.as_deref(),
    )?;
    let key = generate_key();
    let new = NewKey {
        id: format!("key_{}", uuid::Uuid::now_v7().simple()),
        name: body.name,
        hash: key_hash(&key),
        prefix: key[..KEY_PREFIX.len() + 6].to_owned(),
        models: body.models,
        limits,
    };
    let stored = state.store.create_key(&new).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            key,
            view: stored.into(),
        }),
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/keys",
    tag = "keys",
    responses(
        (status = 200, description = "Every key, oldest first", body = KeyList),
        (status = 401, description = "No valid token was sent", body = ErrorBody),
        (status = 403, description = "A tenant key cannot manage keys", body = ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn keys_list(State(state): State<AppState>) -> Result<Json<KeyList>, ApiError> {
    let keys = state.store.keys().await?;
    Ok(Json(KeyList {
        keys: keys.into_iter().map(KeyView::from).collect(),
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/keys/{id}",
    tag = "keys",
    params(("id" = String, Path, description = "The key's id")),
    responses(
        (status = 200, description = "The key", body = KeyView),
        (status = 404, description = "No key with this id", body = ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn keys_get(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<KeyView>, ApiError> {
    match state.store.key(&id).await? {
        Some(key) => Ok(Json(key.into())),
        None => Err(key_not_found(&id)),
    }
}

#[utoipa::path(
    patch,
    path = "/api/v1/keys/{id}",
    tag = "keys",
    params(("id" = String, Path, description = "The key's id")),
    request_body = UpdateKey,
    responses(
        (status = 200, description = "The key as updated", body = KeyView),
        (status = 404, description = "No key with this id", body = ErrorBody),
        (status = 409, description = "The key is revoked", body = ErrorBody),
        (status = 422, description = "A field is unknown or out of range", body = ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn keys_update(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(patch): ApiJson<UpdateKey>,
) -> Result<Json<KeyView>, ApiError> {
    let Some(current) = state.store.key(&id).await? else {
        return Err(key_not_found(&id));
    };
    // What is not sent stays as it is, read back in the API's own terms.
    let old = KeyView::from(current);
    let name = patch.name.unwrap_or(old.name);
    check_name(&name)?;
    let models = patch.models.unwrap_or(old.models);
    check_patterns(&models)?;
    let limits = limits(
        patch.rpm.unwrap_or(old.rpm),
        patch.tpm.unwrap_or(old.tpm),
        patch.max_parallel.unwrap_or(old.max_parallel),
        patch.budget_usd.unwrap_or(old.budget_usd),
        patch.budget_period.unwrap_or(old.budget_period).as_deref(),
    )?;
    match state.store.update_key(&id, &name, &models, &limits).await? {
        KeyUpdate::Updated(key) => Ok(Json(key.into())),
        KeyUpdate::Revoked(_) => Err(ApiError::new(
            ApiErrorCode::KeyRevoked,
            format!("key {id} is revoked and cannot change; create a new one"),
        )),
        KeyUpdate::NotFound => Err(key_not_found(&id)),
    }
}

#[utoipa::path(
    delete,
    path = "/api/v1/keys/{id}",
    tag = "keys",
    params(("id" = String, Path, description = "The key's id")),
    responses(
        (status = 200, description = "The key, revoked (again: unchanged)", body = KeyView),
        (status = 404, description = "No key with this id", body = ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn keys_revoke(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<KeyView>, ApiError> {
    match state.store.revoke_key(&id).await? {
        Some(key) => Ok(Json(key.into())),
        None => Err(key_not_found(&id)),
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/keys/{id}/rotate",
    tag = "keys",
    params(("id" = String, Path, description = "The key's id")),
    responses(
        (status = 200, description = "The key with its new secret, shown once; the old one is refused from now on, on every process", body = CreatedKey),
        (status = 404, description = "No key with this id", body = ErrorBody),
        (status = 409, description = "The key is revoked", body = ErrorBody),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn keys_rotate(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<CreatedKey>, ApiError> {
    let key = generate_key();
    let prefix = &key[..KEY_PREFIX.len() + 6];
    match state.store.rotate_key(&id, &key_hash(&key), prefix).await? {
        KeyUpdate::Updated(stored) => Ok(Json(CreatedKey {
            key,
            view: stored.into(),
        })),
        KeyUpdate::Revoked(_) => Err(ApiError::new(
            ApiErrorCode::KeyRevoked,
            format!("key {id} is revoked and cannot be rotated; create a new one"),
        )),
        KeyUpdate::NotFound => Err(key_not_found(&id)),
    }
}

fn key_not_found(id: &str) -> ApiError {
    ApiError::new(
        ApiErrorCode::KeyNotFound,
        format!("no API key with id {id:?}"),
    )
}

fn check_name(name: &str) -> Result<(), ApiError> {
    if name.trim().is_empty() || name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(ApiError::invalid(format!(
            "name: must be 1 to {MAX_NAME_LEN} bytes without control characters"
        ))
        .with_param("name"));
    }
    Ok(())
}

fn check_patterns(models: &[String]) -> Result<(), ApiError> {
    if models.len() > MAX_PATTERNS {
        return Err(ApiError::invalid(format!(
            "models: at most {MAX_PATTERNS} patterns"
        )));
    }
    for (i, pattern) in models.iter().enumerate() {
        if pattern.trim().is_empty()
            || pattern.len() > 2 * MAX_NAME_LEN + 1
            || pattern.chars().any(|c| c.is_control() || c.is_whitespace())
        {
            return Err(ApiError::invalid(format!(
                "models[{i}]: {pattern:?} is not a pattern (`<provider>/<model>` or a route, \
                 `*` for any characters, no spaces)"
            ))
            .with_param(format!("models[{i}]")));
        }
    }
    Ok(())
}

/// The limits as the store keeps them, each checked.
fn limits(
    rpm: Option<u32>,
    tpm: Option<u64>,
    max_parallel: Option<u32>,
    budget_usd: Option<f64>,
    budget_period: Option<&str>,
) -> Result<KeyLimits, ApiError> {
    let at_least_one = |field: &str, value: Option<u64>| match value {
        Some(0) => Err(ApiError::invalid(format!("{field}: must be at least 1")).with_param(field)),
        _ => Ok(()),
    };
    at_least_one("rpm", rpm.map(u64::from))?;
    at_least_one("tpm", tpm)?;
    at_least_one("max_parallel", max_parallel.map(u64::from))?;
    if tpm.is_some_and(|t| t > i64::MAX as u64) {
        return Err(ApiError::invalid("tpm: too large").with_param("tpm"));
    }
    let budget_nanousd = match budget_usd {
        None => None,
        Some(usd) if usd.is_finite() && (0.0..=MAX_BUDGET_USD).contains(&usd) => {
            Some((usd * 1e9).round() as i64)
        }
        Some(_) => {
            return Err(ApiError::invalid(format!(
                "budget_usd: must be a number from 0 to {MAX_BUDGET_USD}"
            ))
            .with_param("budget_usd"));
        }
    };
    let budget_period_ms = budget_period.map(parse_period).transpose()?;
    if budget_period_ms.is_some() && budget_nanousd.is_none() {
        return Err(
            ApiError::invalid("budget_period: needs a budget_usd").with_param("budget_period")
        );
    }
    Ok(KeyLimits {
        rpm,
        tpm,
        max_parallel,
        budget_nanousd,
        budget_period_ms,
    })
}

/// `30d`, `12h`, `15m`, `90s`: a positive number of one unit, in ms.
pub(crate) fn parse_period(text: &str) -> Result<i64, ApiError> {
    let bad = || {
        ApiError::invalid(format!(
            "budget_period: {text:?} is not a period (a number and s, m, h or d: `30d`)"
        ))
        .with_param("budget_period")
    };
    let split = text.len().checked_sub(1).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let unit_ms: i64 = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(bad()),
    };
    let n: i64 = number.parse().map_err(|_| bad())?;
    if !(1..=100_000).contains(&n) {
        return Err(bad());
    }
    Ok(n * unit_ms)
}

/// A period in the largest unit that divides it (`30d`, `90s`).
pub(crate) fn period_text(period: Duration) -> String {
    let ms = period.as_millis();
    for (unit, unit_ms) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms >= unit_ms && ms.is_multiple_of(unit_ms) {
            return format!("{}{unit}", ms / unit_ms);
        }
    }
    format!("{}s", ms.div_ceil(1000).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_is_a_number_and_one_unit() {
        assert_eq!(parse_period("30d").unwrap(), 30 * 86_400_000);
        assert_eq!(parse_period("2s").unwrap(), 2_000);
        for bad in ["", "d", "0d", "-1h", "1w", "1.5h", "30 d"] {
            assert!(parse_period(bad).is_err(), "{bad}");
        }
        assert_eq!(period_text(Duration::from_secs(30 * 86_400)), "30d");
        assert_eq!(period_text(Duration::from_secs(90)), "90s");
        assert_eq!(period_text(Duration::from_millis(1500)), "2s");
    }

    #[test]
    fn limits_are_checked_and_a_budget_is_kept_in_nano_dollars() {
        let l = limits(Some(600), None, Some(8), Some(0.01), Some("30d")).unwrap();
        assert_eq!(l.budget_nanousd, Some(10_000_000));
        assert!(limits(Some(0), None, None, None, None).is_err());
        assert!(limits(None, None, None, Some(-1.0), None).is_err());
        assert!(limits(None, None, None, None, Some("1d")).is_err());
    }
}

//! The two migration sets describe one schema: the same tables, and in
//! each the same columns with the same type and nullability, compared from
//! what each database reports after migrating (SQLite's `table_info`,
//! PostgreSQL's `information_schema.columns`). The behaviour suite cannot
//! see a column one backend lacks until some statement uses it.

use std::collections::BTreeMap;

use super::*;
use crate::backend::Backend;
use crate::testing::TestDatabase;

/// A column as both databases can say it.
#[derive(Debug, PartialEq, Eq)]
struct Column {
    /// `integer` (64 bits), `text`, `real`, `blob`, or the database's own
    /// name for anything else, which then differs between the two.
    kind: String,
    nullable: bool,
}

type Schema = BTreeMap<(String, String), Column>;

/// SQLite's declared types, as their PostgreSQL equivalents are named
/// below. `INTEGER` is 64 bits, as only `bigint` is in PostgreSQL.
fn sqlite_kind(declared: &str) -> String {
    match declared.to_ascii_uppercase().as_str() {
        "INTEGER" => "integer".into(),
        "TEXT" => "text".into(),
        "REAL" => "real".into(),
        "BLOB" => "blob".into(),
        other => format!("sqlite {other}"),
    }
}

fn postgres_kind(data_type: &str) -> String {
    match data_type {
        "bigint" => "integer".into(),
        "text" => "text".into(),
        "double precision" => "real".into(),
        "bytea" => "blob".into(),
        other => format!("postgres {other}"),
    }
}

/// The application's tables: sqlx's bookkeeping differs by design.
fn is_ours(table: &str) -> bool {
    !table.starts_with("_sqlx")
}

async fn sqlite_schema(store: &Store) -> Schema {
    let Backend::Sqlite(b) = store.backend() else {
        panic!("a SQLite store")
    };
    let rows: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
        "SELECT m.name, c.name, c.type, c.\"notnull\", c.pk \
         FROM sqlite_master AS m JOIN pragma_table_info(m.name) AS c \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
    )
    .fetch_all(&b.readers)
    .await
    .unwrap();
    let key_columns = |table: &str| rows.iter().filter(|r| r.0 == table && r.4 > 0).count();
    rows.iter()
        .filter(|(table, ..)| is_ours(table))
        .map(|(table, column, declared, not_null, pk)| {
            // A lone INTEGER PRIMARY KEY is the rowid: never NULL, though
            // `table_info` does not mark it so.
            let rowid = *pk == 1 && key_columns(table) == 1 && sqlite_kind(declared) == "integer";
            let column_info = Column {
                kind: sqlite_kind(declared),
                nullable: *not_null == 0 && !rowid,
            };
            ((table.clone(), column.clone()), column_info)
        })
        .collect()
}

async fn postgres_schema(store: &Store) -> Schema {
    let Backend::Postgres(b) = store.backend() else {
        panic!("a PostgreSQL store")
    };
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT table_name::TEXT, column_name::TEXT, data_type::TEXT, is_nullable::TEXT \
         FROM information_schema.columns WHERE table_schema = current_schema()",
    )
    .fetch_all(&b.pool.pool())
    .await
    .unwrap();
    rows.into_iter()
        .filter(|(table, ..)| is_ours(table))
        .map(|(table, column, data_type, nullable)| {
            let column_info = Column {
                kind: postgres_kind(&data_type),
                nullable: nullable == "YES",
            };
            ((table, column), column_info)
        })
        .collect()
}

#[tokio::test]
async fn both_migration_sets_give_the_same_tables_columns_types_and_nullability() {
    // Skipped (said by `create`) when no PostgreSQL answers, except under CI.
    let Some(db) = TestDatabase::create().await else {
        return;
    };
    let postgres = Store::connect(&db.url).await.unwrap();
    let (sqlite, _dir) = sqlite::open().await;
    let (on_sqlite, on_postgres) = (
        sqlite_schema(&sqlite).await,
        postgres_schema(&postgres).await,
    );
    assert!(
        on_sqlite.contains_key(&("tasks".to_owned(), "status".to_owned())),
        "the schema was read: {on_sqlite:?}"
    );
    let differences: Vec<String> = on_sqlite
        .keys()
        .chain(on_postgres.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter(|key| on_sqlite.get(*key) != on_postgres.get(*key))
        .map(|key| {
            format!(
                "{}.{}: SQLite {:?}, PostgreSQL {:?}",
                key.0,
                key.1,
                on_sqlite.get(key),
                on_postgres.get(key)
            )
        })
        .collect();
    assert!(differences.is_empty(), "{differences:#?}");
}

//! What running attempts stream — text, reasoning, refusal and pieces of
//! tool calls — kept so that a client watching a task's events sees the
//! current attempt's output from its start, whenever it connects. Deltas
//! are a view of work in progress, not a status: they are written only
//! while the attempt runs under the writer's claim, and dropped once its
//! outcome is stored.

use super::backend::{on_reader, on_writer};
use super::{Fenced, Result, Store};

/// Rows written by one statement: 7 parameters each stays well under
/// SQLite's oldest limit of 999.
const ROWS_PER_STATEMENT: usize = 64;

/// What a stored piece is part of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeltaKind {
    Text,
    Reasoning,
    Refusal,
    /// A piece of a tool call: `tool_index` says which, `text` is the next
    /// fragment of its arguments.
    ToolCall,
}

impl DeltaKind {
    /// As the `kind` column stores it (migration 0009's CHECK).
    pub fn as_str(self) -> &'static str {
        match self {
            DeltaKind::Text => "text",
            DeltaKind::Reasoning => "reasoning",
            DeltaKind::Refusal => "refusal",
            DeltaKind::ToolCall => "tool_call",
        }
    }
}

impl TryFrom<String> for DeltaKind {
    type Error = String;

    fn try_from(kind: String) -> std::result::Result<Self, String> {
        match kind.as_str() {
            "text" => Ok(DeltaKind::Text),
            "reasoning" => Ok(DeltaKind::Reasoning),
            "refusal" => Ok(DeltaKind::Refusal),
            "tool_call" => Ok(DeltaKind::ToolCall),
            other => Err(format!("unknown delta kind {other:?}")),
        }
    }
}

/// One stored piece of an attempt's streamed output.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Delta {
    pub seq: i64,
    #[sqlx(try_from = "String")]
    pub kind: DeltaKind,
    /// The text, reasoning or refusal; for a tool call, an argument fragment.
    pub text: String,
    /// Which call of the answer a `ToolCall` piece belongs to.
    pub tool_index: Option<i64>,
    /// The call's id and name, on the piece that first carries them.
    pub tool_id: Option<String>,
    pub tool_name: Option<String>,
}

impl Delta {
    /// A piece of text.
    pub fn text(seq: i64, text: impl Into<String>) -> Self {
        Self::of(seq, DeltaKind::Text, text)
    }

    /// A piece of `kind` other than a tool call.
    pub fn of(seq: i64, kind: DeltaKind, text: impl Into<String>) -> Self {
        Self {
            seq,
            kind,
            text: text.into(),
            tool_index: None,
            tool_id: None,
            tool_name: None,
        }
    }
}

impl Store {
    /// Appends pieces streamed by `attempt` (their `seq`s are the caller's),
    /// fenced like every worker write: nothing is stored unless the task
    /// runs under that attempt. Applied only if every statement was; a
    /// failure leaves the pieces before it stored, never later ones.
    pub async fn append_deltas(&self, id: &str, attempt: u32, deltas: &[Delta]) -> Result<Fenced> {
        let mut fenced = Fenced::Applied;
        for chunk in deltas.chunks(ROWS_PER_STATEMENT) {
            fenced = self.append_chunk(id, attempt, chunk).await?;
            if fenced != Fenced::Applied {
                break;
            }
        }
        Ok(fenced)
    }

    /// One statement: the rows as a `VALUES` list (whose columns both
    /// databases name `column1`…), inserted only under the claim.
    async fn append_chunk(&self, id: &str, attempt: u32, deltas: &[Delta]) -> Result<Fenced> {
        let values: Vec<String> = (0..deltas.len())
            .map(|row| {
                let p = 3 + row * 6;
                format!(
                    "(${}, ${}, ${}, ${}, ${}, ${})",
                    p,
                    p + 1,
                    p + 2,
                    p + 3,
                    p + 4,
                    p + 5
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO task_deltas (task_id, attempt, seq, kind, text, tool_index, tool_id, tool_name) \
             SELECT $1, $2, v.column1, v.column2, v.column3, v.column4, v.column5, v.column6 \
             FROM (VALUES {}) AS v WHERE EXISTS \
                 (SELECT 1 FROM tasks WHERE id = $1 AND status = 'running' AND attempts = $2)",
            values.join(", ")
        );
        let rows = on_writer!(self.backend(), |pool| {
            let mut query = sqlx::query(&sql).bind(id).bind(i64::from(attempt));
            for d in deltas {
                query = query
                    .bind(d.seq)
                    .bind(d.kind.as_str())
                    .bind(&d.text)
                    .bind(d.tool_index)
                    .bind(&d.tool_id)
                    .bind(&d.tool_name);
            }
            query.execute(pool).await?.rows_affected()
        });
        Ok(Fenced::from_rows(rows.min(1)))
    }

    /// What `attempt` streamed after `after_seq`, in order.
    pub async fn deltas(&self, id: &str, attempt: u32, after_seq: i64) -> Result<Vec<Delta>> {
        Ok(on_reader!(self.backend(), |pool| {
            sqlx::query_as(
                "SELECT seq, kind, text, tool_index, tool_id, tool_name FROM task_deltas \
                 WHERE task_id = $1 AND attempt = $2 AND seq > $3 ORDER BY seq",
            )
            .bind(id)
            .bind(i64::from(attempt))
            .bind(after_seq)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Forgets the streamed output of an attempt whose outcome is stored,
    /// and what earlier attempts left (a worker that was killed clears
    /// nothing).
    pub async fn clear_deltas(&self, id: &str, attempt: u32) -> Result<()> {
        on_writer!(self.backend(), |pool| {
            sqlx::query("DELETE FROM task_deltas WHERE task_id = $1 AND attempt <= $2")
                .bind(id)
                .bind(i64::from(attempt))
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(())
    }
}

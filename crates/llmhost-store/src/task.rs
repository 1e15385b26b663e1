//! The task as every layer sees it: its input, its outcome, its status and
//! the state machine that status follows (`TaskStatus::TRANSITIONS`). Pure
//! data; the store persists it and the API serialises it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use crate::conversation::{
    Content, ImageUrl, JsonSchema, Message, Params, Part, ReasoningEffort, ResponseFormat, Role,
    Tool, ToolCall, ToolChoice, ToolMode,
};
use crate::error_code::ErrorCode;

/// Where a task is in its life. Who moves a task in and out of each status
/// is said on each variant; the edges themselves, with the `Store` method
/// that writes each and the guard its statement checks, are
/// [`TaskStatus::TRANSITIONS`], the one table of the state machine.
///
/// A worker's writes are fenced by its attempt: the claim increments
/// `attempts`, and each later write of that worker requires
/// `status = 'running' AND attempts = <its claim>`, so a worker that lost
/// its task writes nothing. `completed`, `failed` and `cancelled` are
/// terminal: no edge leaves them, and a trigger in each database
/// (`tasks_terminal_status_is_final`, migrations `0001_tasks.sql`) refuses
/// any change to such a row, whatever code runs against it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Waiting for a worker, due at its `run_at`. In: a client's submission
    /// (`insert`); a worker's failed attempt with attempts left (`retry`,
    /// due after a backoff) or its shutdown (`release`, due at once); the
    /// rescuer, when a lease expired with attempts left. Out: a worker's
    /// claim (→ `running`) or a client's cancel (→ `cancelled`).
    Pending,
    /// Leased to one worker under one attempt, which renews the lease
    /// (`heartbeat`). A client's cancel only marks it (`cancel_requested_at`)
    /// for the worker to see. Out: only the worker holding the attempt
    /// (→ `completed`, `failed`, `cancelled`, back to `pending`), or the
    /// rescuer once the lease expired (→ `pending`, `failed`, `cancelled`).
    Running,
    /// Terminal. In: the worker's result (`complete`).
    Completed,
    /// Terminal. In: the worker's error that is not retried (`fail`), or an
    /// expired lease with the attempts used up (the rescuer,
    /// `lease_expired`).
    Failed,
    /// Terminal. In: a client's cancel of a pending task (`cancel`); of a
    /// running one, recorded by its worker (`record_cancelled`) or by the
    /// rescuer when the lease expired.
    Cancelled,
}

/// Who moves a task along an edge of [`TaskStatus::TRANSITIONS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Actor {
    /// A client, through the API.
    Client,
    /// The worker holding the task's current attempt (its fencing token).
    Worker,
    /// Whoever finds a lease expired: every worker process's rescuer, and a
    /// single-process store at start-up.
    Rescuer,
}

/// One edge of the task state machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    /// `None`: the task did not exist.
    pub from: Option<TaskStatus>,
    pub to: TaskStatus,
    pub by: Actor,
    /// The `Store` methods that write this edge.
    pub methods: &'static [&'static str],
    /// What the statement's WHERE clause requires besides `from`.
    pub guard: &'static str,
}

/// Writes [`TaskStatus::TRANSITIONS`] and its documentation from one table,
/// and checks at compile time that each method it names exists on `Store`.
macro_rules! transitions {
    ($($from:ident -> $to:ident, $by:ident, [$($method:ident),+], $guard:literal;)*) => {
        impl TaskStatus {
            #[doc = concat!(
                "Every edge of the task state machine: from which status to which, ",
                "who moves the task, which `Store` method writes it, and what that ",
                "method's one conditional statement requires besides the `from` status ",
                "(its WHERE clause). No other write changes a task's status, and an edge ",
                "not listed here is refused (the store's suite checks every method ",
                "against this table on both databases).\n\n",
                "| from | to | who | `Store` method | guard |\n",
                "|---|---|---|---|---|\n",
                $(
                    "| ", stringify!($from), " | ", stringify!($to), " | ",
                    stringify!($by), " | ", $("`", stringify!($method), "` ",)+
                    " | ", $guard, " |\n",
                )*
            )]
            pub const TRANSITIONS: &[Transition] = &[$(
                Transition {
                    from: transitions!(@from $from),
                    to: TaskStatus::$to,
                    by: Actor::$by,
                    methods: &[$(stringify!($method)),+],
                    guard: $guard,
                },
            )*];
        }
        // A renamed or removed method breaks the build here, not the table.
        const _: () = {
            $($(let _ = crate::Store::$method;)+)*
        };
    };
    (@from New) => { None };
    (@from $status:ident) => { Some(TaskStatus::$status) };
}

transitions! {
    // from -> to,         who,     [Store methods],    guard (besides `status = from`)
    New -> Pending,        Client,  [insert, admit_task],           "none; with an `Idempotency-Key` used before, nothing is stored";
    Pending -> Running,    Worker,  [claim_batch],      "due (`run_at <= now`); `attempts + 1` becomes the attempt's fencing token, leased to the worker";
    Pending -> Cancelled,  Client,  [cancel],           "none";
    Running -> Completed,  Worker,  [complete],         "the worker's attempt";
    Running -> Failed,     Worker,  [fail],             "the worker's attempt";
    Running -> Pending,    Worker,  [retry],            "the worker's attempt, attempts left (`attempts < max_attempts`), no cancel requested; due after the backoff";
    Running -> Pending,    Worker,  [release],          "the worker's attempt (it is shutting down); due at once";
    Running -> Cancelled,  Worker,  [record_cancelled], "the worker's attempt, a cancel requested (`cancel` marks a running task)";
    Running -> Pending,    Rescuer, [rescue_expired, recover_after_restart], "lease expired (every lease, at start-up), attempts left, no cancel requested; due at once";
    Running -> Failed,     Rescuer, [rescue_expired, recover_after_restart], "lease expired, attempts used up (`lease_expired`), no cancel requested";
    Running -> Cancelled,  Rescuer, [rescue_expired, recover_after_restart], "lease expired, a cancel requested";
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 5] = [
        Self::Pending,
        Self::Running,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }

    pub const fn is_terminal(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }
}

impl std::fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the provider is asked; stored as submitted (a `prompt` becomes one
/// user message).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskInput {
    pub messages: Vec<Message>,
    /// Tools the model may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<Tool>,
    #[serde(default)]
    pub params: Params,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Usage {
    /// Prompt tokens, cached ones included.
    pub input_tokens: u32,
    /// Generated tokens, reasoning tokens included.
    pub output_tokens: u32,
    /// Of `input_tokens`, those served from the upstream's prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input_tokens: Option<u32>,
    /// Of `input_tokens`, those written to the upstream's prompt cache
    /// (billed apart by some vendors). Not in the usage ledger, which
    /// records `cached_tokens` and prices cache reads only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_input_tokens: Option<u32>,
    /// Of `output_tokens`, those spent on reasoning.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_tokens: Option<u32>,
    /// What the attempt cost, by the price table of the configuration
    /// (`[prices]`), in nano-dollars (exact sums); written as `cost_usd`,
    /// in US dollars. Absent when the model has no price (or cost nothing).
    /// The usage ledger records it with the attempt.
    #[serde(
        default,
        rename = "cost_usd",
        with = "nano_usd",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<f64>)]
    pub cost_nanousd: Option<std::num::NonZeroU64>,
}

/// A cost kept in nano-dollars and written in dollars (`0.000123`).
mod nano_usd {
    use std::num::NonZeroU64;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        nano: &Option<NonZeroU64>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match nano {
            Some(n) => serializer.serialize_f64(n.get() as f64 / 1e9),
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<NonZeroU64>, D::Error> {
        let usd = Option::<f64>::deserialize(deserializer)?;
        Ok(usd
            .filter(|u| u.is_finite() && *u > 0.0)
            .and_then(|u| NonZeroU64::new((u * 1e9).round() as u64)))
    }
}

/// A completed task's answer: one model turn. When the model calls tools,
/// the client runs them and submits the next turn as a new task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskResult {
    /// Empty when the model only called tools.
    pub text: String,
    /// `stop`, `length`, `content_filter`, `tool_calls` or `other`.
    pub finish_reason: String,
    pub usage: Option<Usage>,
    pub model: String,
    /// The tools the model asked to call, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// The model's reasoning, when the upstream returns it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    /// The model declined to answer, in its own words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
    /// The upstream's id for this response, when it gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_id: Option<String>,
    /// Opaque text the provider needs back with this answer: a client that
    /// sends the answer as an assistant message in the next turn copies
    /// it there unchanged (e.g. Anthropic's signed thinking with tool calls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_state: Option<String>,
}

/// Why an attempt failed, typed; the message is for people.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskError {
    pub code: ErrorCode,
    pub message: String,
    /// The upstream's requested wait before a retry, if it said.
    pub retry_after_ms: Option<u64>,
}

impl TaskError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after_ms: None,
        }
    }

    /// The deterministic failure for a task naming a provider that is not
    /// installed: it names the missing one and lists what is installed.
    pub fn provider_not_found(name: &str, installed: &[String]) -> Self {
        let installed = if installed.is_empty() {
            "none".to_owned()
        } else {
            installed.join(", ")
        };
        Self::new(
            ErrorCode::ProviderNotFound,
            format!("provider {name:?} is not installed; installed providers: {installed}"),
        )
    }
}

/// One target tried by one attempt of a task: a task naming its provider
/// has one per claim, a task over a route one per target the route tried.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AttemptRecord {
    /// The claim it was made under (`attempts` when it ran).
    pub attempt: u32,
    /// `<instance>/<model>`; empty for an `interrupted` attempt of a task
    /// over a route (the target in flight died with its worker).
    #[serde(default)]
    pub target: String,
    pub outcome: AttemptOutcome,
    /// The failure's error code; null when completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    pub duration_ms: u64,
    /// Time to first token: from the call's start to the first piece it
    /// streamed, or to its whole answer when it streamed none; null when it
    /// failed before sending anything (and in logs written before it was
    /// recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_token_ms: Option<u64>,
    pub started_at: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptOutcome {
    Completed,
    Failed,
    /// Its worker stopped (killed, frozen past its lease) before it said
    /// how the attempt ended; the rescuer recorded it, `lease_expired`.
    Interrupted,
}

/// A task as it was committed.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Task {
    pub task_id: String,
    pub status: TaskStatus,
    /// The instance, or for a task over a route, its alias.
    pub provider: String,
    pub model: String,
    /// The route's alias, for a task submitted as `{"model": "<alias>"}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// Every target tried, oldest first, recorded with each attempt's
    /// outcome (an attempt cut short by a crash or a shutdown has none).
    pub attempt_log: Vec<AttemptRecord>,
    pub input: TaskInput,
    pub result: Option<TaskResult>,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub attempts: u32,
    pub max_attempts: u32,
    pub timeout_ms: Option<u64>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    /// The id of the API key that submitted the task; absent for an
    /// admin's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// While the task is pending, the earliest time its next attempt may
    /// start (after a retryable failure, when its backoff or the provider's
    /// `retry_after` ends); null in every other status.
    pub next_attempt_at: Option<DateTime<Utc>>,
}

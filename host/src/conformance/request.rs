//! The contract request a case describes, and the model it runs on: built
//! from the task API's shapes by the same conversion the server uses, and
//! put through the same capability check, so a case sees exactly what a
//! client's request would reach the plugin as (or be refused as).

use llmhost_runtime::{self as runtime, Plugin, ProviderInfo};
use llmhost_store::task::{Message, Role, TaskInput};

use super::cases::Case;
use crate::capability::{self, Refusal};

/// What a case's request comes to for one plugin.
pub(crate) enum Prepared {
    /// Call the plugin with this request (boxed: far larger than the rest).
    Call(Box<runtime::Request>),
    /// The host refuses the request for the case's model, before any call.
    Refused { model: String, refusal: Refusal },
    /// No model of the plugin can take the case's request.
    NotApplicable(String),
    /// The case itself is malformed.
    Invalid(String),
}

/// The request for `case` on its model: the one it names, else the first
/// listed model the host would let the request through to (for a case that
/// expects a refusal, the first one it would refuse).
pub(crate) fn prepare(case: &Case, plugin: &Plugin, info: &ProviderInfo) -> Prepared {
    let input = input(case);
    let attempt = |model: &str| -> Result<Box<runtime::Request>, Prepared> {
        let request = crate::convert::request(model, &input).map_err(|r| {
            Prepared::Invalid(format!("the case's request is malformed: {}", r.message))
        })?;
        let caps = plugin.capabilities(model);
        if let Err(refusal) = capability::check(&request, caps, model) {
            return Err(Prepared::Refused {
                model: model.to_owned(),
                refusal,
            });
        }
        Ok(Box::new(request))
    };
    if let Some(model) = &case.request.model {
        return attempt(model).map_or_else(|p| p, Prepared::Call);
    }
    let listed: Vec<&str> = info
        .models
        .iter()
        .map(|m| m.id.as_str())
        // Patterns such as `echo-slow:<ms>` name a family, not a model.
        .filter(|id| !id.contains('<'))
        .collect();
    let Some(first) = listed.first() else {
        return attempt("default").map_or_else(|p| p, Prepared::Call);
    };
    let mut first_refusal = None;
    for model in &listed {
        match (attempt(model), &case.expect.refused) {
            (Ok(request), None) => return Prepared::Call(request),
            (Err(Prepared::Refused { model, refusal }), Some(want)) if &refusal.param == want => {
                return Prepared::Refused { model, refusal };
            }
            (Err(invalid @ Prepared::Invalid(_)), _) => return invalid,
            (Err(Prepared::Refused { refusal, .. }), None) => {
                first_refusal.get_or_insert(refusal);
            }
            _ => {}
        }
    }
    Prepared::NotApplicable(match (&case.expect.refused, first_refusal) {
        (Some(field), _) => format!(
            "not applicable: every model declares what `{field}` needs, so the host refuses \
             it for none"
        ),
        (None, Some(refusal)) => format!(
            "not applicable: no model declares what the request uses ({first}: {})",
            refusal.message
        ),
        (None, None) => "not applicable".into(),
    })
}

/// The case's request in the task API's terms (a `prompt` is one more user
/// message).
fn input(case: &Case) -> TaskInput {
    let r = &case.request;
    let mut messages = r.messages.clone();
    let prompt = r
        .prompt
        .clone()
        .or_else(|| r.prompt_repeat.as_ref().map(|p| p.text.repeat(p.times)));
    if let Some(prompt) = prompt {
        messages.push(Message::text(Role::User, prompt));
    }
    TaskInput {
        messages,
        tools: r.tools.clone(),
        params: r.params.clone(),
    }
}

/// The embeddings request of a `kind = "embed"` case, on its model or the
/// first listed one that declares `embeddings`.
pub(crate) fn embeddings(
    case: &Case,
    plugin: &Plugin,
    info: &ProviderInfo,
) -> Result<runtime::EmbeddingsRequest, String> {
    let declares = |model: &str| {
        capability::check_embeddings(plugin.capabilities(model), false, model).is_ok()
    };
    let model = match &case.request.model {
        Some(model) => model.clone(),
        None => info
            .models
            .iter()
            .map(|m| m.id.as_str())
            .find(|id| !id.contains('<') && declares(id))
            .ok_or("not applicable: no model declares `embeddings`")?
            .to_owned(),
    };
    Ok(runtime::EmbeddingsRequest {
        model,
        inputs: case.request.inputs.clone(),
        dimensions: case.request.dimensions,
        user: None,
        provider_options: None,
    })
}

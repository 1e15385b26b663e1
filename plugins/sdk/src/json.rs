//! The JSON texts a request carries (tool schemas, tool-call arguments,
//! response schemas, provider options), read for a vendor's body.
//!
//! Promises: text that is not the JSON it should be is the client's
//! `invalid-request`, naming what it was; a provider option never silently
//! replaces a field the plugin set from the request.

use serde_json::{Map, Value};

use crate::bindings::llmhost::provider::types::ProviderError;

/// `text`, which the request gave as `what` (e.g. `tool "f" parameters`),
/// as JSON.
pub fn parse(vendor: &str, what: &str, text: &str) -> Result<Value, ProviderError> {
    serde_json::from_str(text)
        .map_err(|e| ProviderError::InvalidRequest(format!("{vendor}: {what} is not JSON: {e}")))
}

/// `text` as a JSON object (a schema, a tool's arguments); an empty text is
/// the empty object, as models write for a call without arguments.
pub fn object(vendor: &str, what: &str, text: &str) -> Result<Map<String, Value>, ProviderError> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match parse(vendor, what, text)? {
        Value::Object(object) => Ok(object),
        other => Err(ProviderError::InvalidRequest(format!(
            "{vendor}: {what} must be a JSON object, not {}",
            kind(&other)
        ))),
    }
}

/// Merges the request's `provider-options` (a JSON object text) into the
/// vendor's request body. An option that names a field the body already has
/// is refused: it would replace what the request asked for.
pub fn merge_options(
    vendor: &str,
    body: &mut Map<String, Value>,
    options: Option<&str>,
) -> Result<(), ProviderError> {
    let Some(options) = options else {
        return Ok(());
    };
    for (key, value) in object(vendor, "provider-options", options)? {
        if body.contains_key(&key) {
            return Err(ProviderError::InvalidRequest(format!(
                "{vendor}: provider option {key:?} names a field set from the request"
            )));
        }
        body.insert(key, value);
    }
    Ok(())
}

/// A JSON value as an arguments text: compact, as vendors that answer
/// arguments as objects (Anthropic, Gemini, Ollama) wrote them.
pub fn text(value: &Value) -> String {
    serde_json::to_string(value).expect("a JSON value serializes")
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_are_read_and_anything_else_is_an_invalid_request_naming_it() {
        assert_eq!(object("v", "args", "").unwrap(), Map::new());
        assert_eq!(
            Value::Object(object("v", "args", r#"{"a": 1}"#).unwrap()),
            json!({"a": 1})
        );
        let err = object("v", "tool \"f\" parameters", "[1]").unwrap_err();
        assert!(
            matches!(&err, ProviderError::InvalidRequest(m) if m.contains("tool \"f\" parameters") && m.contains("an array")),
            "{err:?}"
        );
        assert!(matches!(
            object("v", "args", "{").unwrap_err(),
            ProviderError::InvalidRequest(m) if m.contains("not JSON")
        ));
    }

    #[test]
    fn provider_options_are_merged_but_never_replace_a_field_of_the_request() {
        let mut body = Map::new();
        body.insert("model".into(), json!("m"));
        merge_options("v", &mut body, Some(r#"{"top_k": 5}"#)).unwrap();
        assert_eq!(body["top_k"], 5);
        let err = merge_options("v", &mut body, Some(r#"{"model": "other"}"#)).unwrap_err();
        assert!(matches!(&err, ProviderError::InvalidRequest(m) if m.contains("\"model\"")));
        assert_eq!(body["model"], "m");
        merge_options("v", &mut body, None).unwrap();
        assert!(merge_options("v", &mut body, Some("[]")).is_err());
    }
}

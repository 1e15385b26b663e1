//! A deterministic value for a JSON Schema, derived from the prompt: what
//! `echo-tools` passes as a tool's arguments and `echo-json` answers for a
//! response schema. Strings are the prompt, numbers its word count,
//! booleans `true`, enums their first value, arrays one item, objects every
//! property (so `strict` schemas are met); `$ref`s into `$defs` and
//! `anyOf`/`oneOf` (first non-null branch) are followed.

use serde_json::{Map, Value, json};

pub(crate) fn example(root: &Value, prompt: &str) -> Value {
    value(root, root, prompt, 0)
}

/// Far deeper than any real schema; a cycle of `$ref`s stops here.
const MAX_DEPTH: usize = 16;

fn value(root: &Value, schema: &Value, prompt: &str, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
        let resolved = target
            .strip_prefix("#/")
            .and_then(|path| path.split('/').try_fold(root, |at, key| at.get(key)))
            .unwrap_or(&Value::Null);
        return value(root, resolved, prompt, depth + 1);
    }
    if let Some(constant) = schema.get("const") {
        return constant.clone();
    }
    if let Some(first) = schema.get("enum").and_then(|e| e.get(0)) {
        return first.clone();
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            let branch = branches
                .iter()
                .find(|b| b.get("type").and_then(Value::as_str) != Some("null"))
                .unwrap_or(&Value::Null);
            return value(root, branch, prompt, depth + 1);
        }
    }
    let kind = match schema.get("type") {
        Some(Value::String(kind)) => kind.as_str(),
        // `["string", "null"]`: the first that is not null.
        Some(Value::Array(kinds)) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|k| *k != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => "string",
    };
    let words = prompt.split_whitespace().count();
    match kind {
        "object" => {
            let mut object = Map::new();
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (name, property) in properties {
                    object.insert(name.clone(), value(root, property, prompt, depth + 1));
                }
            }
            Value::Object(object)
        }
        "array" => {
            let items = schema.get("items").unwrap_or(&Value::Null);
            json!([value(root, items, prompt, depth + 1)])
        }
        "integer" => json!(words),
        "number" => json!(words as f64),
        "boolean" => json!(true),
        "null" => Value::Null,
        _ => json!(prompt),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pydantic_schema_gets_every_field_from_the_prompt() {
        let schema = json!({
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "unit": {"enum": ["celsius", "fahrenheit"]},
                "home": {"$ref": "#/$defs/Place"},
                "note": {"anyOf": [{"type": "null"}, {"type": "boolean"}]}
            },
            "$defs": {"Place": {"type": "object", "properties": {"name": {"type": "string"}}}}
        });
        assert_eq!(
            example(&schema, "two words"),
            json!({"city": "two words", "days": 2, "unit": "celsius",
                   "home": {"name": "two words"}, "note": true})
        );
    }
}

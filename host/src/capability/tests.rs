use llmhost_runtime::{MediaPart, Message, Params, ToolDefinition};

use super::*;

fn caps(features: Features, media: &[&str]) -> Capabilities {
    Capabilities {
        features,
        input_media: media.iter().map(|m| (*m).to_owned()).collect(),
    }
}

fn request() -> Request {
    Request {
        model: "m".into(),
        messages: vec![Message::text(Role::User, "hi")],
        tools: Vec::new(),
        params: Params::default(),
        provider_options: None,
    }
}

fn tool() -> ToolDefinition {
    ToolDefinition {
        name: "get_weather".into(),
        description: None,
        parameters: None,
        strict: None,
    }
}

fn image(source: MediaSource, media_type: &str) -> ContentPart {
    ContentPart::Media(MediaPart {
        media_type: media_type.into(),
        source,
        detail: None,
        name: None,
    })
}

#[test]
fn a_text_request_needs_nothing() {
    assert_eq!(
        check(&request(), &caps(Features::empty(), &[]), "p/m"),
        Ok(())
    );
}

#[test]
fn tools_to_a_model_without_tools_are_refused_naming_tools() {
    let mut r = request();
    r.tools.push(tool());
    let refusal = check(&r, &caps(Features::empty(), &[]), "echo/echo").unwrap_err();
    assert_eq!(refusal.param, "tools");
    assert!(refusal.unsupported);
    assert!(refusal.message.contains("echo/echo"), "{refusal:?}");
    assert_eq!(check(&r, &caps(Features::TOOLS, &[]), "p/m"), Ok(()));
}

/// A change to a request, the feature it needs, its `/v1` and task names.
type Case = (fn(&mut Request), Features, &'static str, &'static str);

#[test]
fn each_parameter_needs_its_feature_and_is_named() {
    let cases: [Case; 5] = [
        (
            |r| r.params.seed = Some(1),
            Features::SEED,
            "seed",
            "params.seed",
        ),
        (
            |r| r.params.frequency_penalty = Some(0.5),
            Features::PENALTIES,
            "frequency_penalty",
            "params.frequency_penalty",
        ),
        (
            |r| r.params.user = Some("u".into()),
            Features::USER,
            "user",
            "params.user",
        ),
        (
            |r| r.params.response_format = Some(llmhost_runtime::ResponseFormat::JsonObject),
            Features::JSON_OBJECT,
            "response_format",
            "params.response_format",
        ),
        (
            |r| r.messages[0].name = Some("n".into()),
            Features::NAMES,
            "messages[0].name",
            "messages[0].name",
        ),
    ];
    for (change, feature, param, task_param) in cases {
        let mut r = request();
        change(&mut r);
        let refusal = check(&r, &caps(Features::empty(), &[]), "p/m").unwrap_err();
        assert_eq!(refusal.param, param);
        assert_eq!(refusal.task_param(), task_param);
        assert_eq!(check(&r, &caps(feature, &[]), "p/m"), Ok(()), "{param}");
    }
}

#[test]
fn tool_messages_must_name_their_call_and_tool_choice_must_name_a_tool() {
    let mut r = request();
    r.tools.push(tool());
    r.messages.push(Message::text(Role::Tool, "sunny"));
    let all = caps(Features::all(), &[]);
    assert_eq!(
        check(&r, &all, "p/m").unwrap_err().param,
        "messages[1].tool_call_id"
    );
    r.messages[1].tool_call_id = Some("call_0".into());
    assert_eq!(check(&r, &all, "p/m"), Ok(()));
    r.params.tool_choice = Some(ToolChoice::Named("other".into()));
    let refusal = check(&r, &all, "p/m").unwrap_err();
    assert_eq!(
        (refusal.param.as_str(), refusal.unsupported),
        ("tool_choice", false)
    );
    r.params.tool_choice = Some(ToolChoice::Required);
    let refusal = check(&r, &caps(Features::TOOLS, &[]), "p/m").unwrap_err();
    assert_eq!(
        (refusal.param.as_str(), refusal.unsupported),
        ("tool_choice", true)
    );
}

#[test]
fn media_must_match_a_declared_type_and_urls_need_media_urls() {
    let mut r = request();
    r.messages[0]
        .content
        .push(image(MediaSource::Bytes(vec![1]), "image/png"));
    let refusal = check(&r, &caps(Features::empty(), &[]), "p/m").unwrap_err();
    assert_eq!(refusal.param, "messages[0].content[1]");
    assert_eq!(
        check(&r, &caps(Features::empty(), &["image/*"]), "p/m"),
        Ok(())
    );
    assert!(check(&r, &caps(Features::empty(), &["image/jpeg"]), "p/m").is_err());
    r.messages[0].content[1] = image(MediaSource::Url("https://x/y.png".into()), "image/*");
    assert!(check(&r, &caps(Features::empty(), &["image/*"]), "p/m").is_err());
    assert_eq!(
        check(&r, &caps(Features::MEDIA_URLS, &["image/*"]), "p/m"),
        Ok(())
    );
}

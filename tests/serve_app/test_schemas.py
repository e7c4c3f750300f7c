"""Request bodies: text the router cannot take is refused by field (a 400 at the API), and the OpenAPI schema says
what the validators check."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from finerouter.errors import InvalidRequestError
from serve_app.messages import parse_model_field
from serve_app.schemas import ChatCompletionRequest, RouteRequest
from serve_app.text import TEXT_ERROR, unencodable_path


def text_error(model, body: dict) -> tuple[str, dict]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    (error,) = caught.value.errors()
    assert error["type"] == TEXT_ERROR
    return error["msg"], {"loc": error["loc"], **error.get("ctx", {})}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"prompt": "bad \ud800 text"}, "prompt"),
        (
            {"messages": [{"role": "user", "content": "ok"}, {"role": "user", "content": "\udfff"}]},
            "messages.1.content",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "text", "text": "x\ud83d"}]}]},
            "messages.0.content.0.text",
        ),
        ({"prompt": "fine", "models": ["a", "\ud800"]}, "models.1"),
    ],
)
def test_route_text_that_cannot_be_utf8_encoded_is_refused_by_field(body: dict, field: str) -> None:
    message, where = text_error(RouteRequest, body)
    assert where["field"] == field and "UTF-8" in message


def test_chat_text_that_cannot_be_utf8_encoded_is_refused_anywhere() -> None:
    """Every string of a chat body is forwarded upstream, so any of them (a key too) is checked."""
    base = {"model": "finerouter", "messages": [{"role": "user", "content": "hi"}]}
    assert text_error(ChatCompletionRequest, {**base, "model": "finerouter\ud800"})[1]["field"] == "model"
    assert text_error(ChatCompletionRequest, {**base, "metadata": {"tag": "\ud800"}})[1]["field"] == "metadata.tag"
    key = text_error(ChatCompletionRequest, {**base, "user\ud800": 1})[1]["field"]
    assert key == "user\\ud800"  # written as an escape: the message itself must stay encodable


def test_valid_unicode_passes() -> None:
    body = {"prompt": "naïve café — 数学 🚀", "models": ["a"]}
    assert RouteRequest.model_validate(body).prompt == body["prompt"]
    assert unencodable_path({"a": [{"b": "é"}, "🚀"]}) is None


def test_a_deeply_nested_body_is_walked_without_recursion() -> None:
    nested: object = "\ud800"
    for _ in range(5_000):
        nested = [nested]
    assert unencodable_path({"x": nested}) == "x" + ".0" * 5_000


@pytest.mark.parametrize(("text", "got"), [({"a": 1}, "an object"), (7, "a number"), (None, "null")])
def test_a_text_part_must_hold_a_string(text: object, got: str) -> None:
    body = {"messages": [{"role": "user", "content": [{"type": "image_url"}, {"type": "text", "text": text}]}]}
    message, where = text_error(RouteRequest, body)
    assert where["loc"] == ("messages", 0, "content") and where["field"] == "1.text"
    assert message == f"a text part's `text` must be a string, got {got}"


def test_openapi_says_exactly_one_of_prompt_and_messages() -> None:
    schema = RouteRequest.model_json_schema()
    assert schema["oneOf"] == [{"required": ["prompt"]}, {"required": ["messages"]}]
    assert schema["properties"]["prompt"]["type"] == "string"
    assert schema["properties"]["messages"]["type"] == "array"
    assert "default" not in schema["properties"]["prompt"]
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(schema)
    assert validator.is_valid({"prompt": "x"}) and validator.is_valid({"messages": [{"role": "user"}]})
    assert not validator.is_valid({}) and not validator.is_valid({"prompt": "x", "messages": [{"role": "user"}]})


def test_willingness_is_a_route_option_of_both_endpoints() -> None:
    assert RouteRequest(prompt="hi", willingness=0.5).willingness == 0.5
    with pytest.raises(ValidationError, match="willingness"):
        RouteRequest(prompt="hi", willingness=-0.1)
    spec = parse_model_field("finerouter:willingness=0.5,max_cost=2", ["a", "b"])
    assert (spec.route, spec.willingness, spec.max_cost, spec.tolerance) == (True, 0.5, 2.0, None)
    with pytest.raises(InvalidRequestError, match=r"option willingness .* must be a finite number >= 0"):
        parse_model_field("finerouter:willingness=-1", ["a"])

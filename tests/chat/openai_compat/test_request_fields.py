"""Nothing a client sends to `/v1/chat/completions` is silently ignored: unsupported fields and bad formats are 400s
naming the field, and output that cannot meet a format is a 422, never an unchecked 200."""

import json

import openai
import pytest

from chat.models import Message
from chat.openai_compat.request import parse_completion
from core import structured
from core.errors import ServiceError
from tests.factories import make_key, make_user

pytestmark = pytest.mark.django_db(transaction=True)
ASK = [{"role": "user", "content": "ping"}]


@pytest.fixture
def client(fake_llm, daphne_server, settings) -> openai.OpenAI:
    models = [
        {"name": m["name"], "base_url": m["base_url"], "context_window": 2048, "max_output_tokens": 8}
        for m in settings.LLM_MODELS
    ]
    url = daphne_server(models)
    return openai.OpenAI(base_url=f"{url}/v1", api_key=make_key(make_user()), max_retries=0)


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"logprobs": True}, "logprobs"),
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
        ({"functions": [{"name": "f"}]}, "functions"),
        ({"audio": {"voice": "alloy"}}, "audio"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"prediction": {"type": "content", "content": "x"}}, "prediction"),
        ({"reasoning_effort": "high"}, "reasoning_effort"),
        ({"top_k": 40}, "top_k"),
        ({"store": True}, "store"),
    ],
)
def test_it_rejects_each_unsupported_field_by_name(client, extra, param):
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="fake-echo", messages=ASK, extra_body=extra)
    assert refused.value.body["param"] == param
    assert refused.value.body["type"] == "invalid_request_error"
    assert not Message.objects.exists(), "a refused request records nothing"


def test_it_accepts_fields_at_their_neutral_values(client):
    response = client.chat.completions.create(
        model="fake-echo", messages=ASK, logprobs=False, store=False, n=1, user="end-user-7", stop=None
    )
    assert response.choices[0].message.content.startswith("ping:0")


@pytest.mark.parametrize(
    ("response_format", "param"),
    [
        ({"type": "xml"}, "response_format.type"),
        ({"type": "json_schema"}, "response_format.json_schema"),
        (
            {"type": "json_schema", "json_schema": {"name": "has space", "schema": {}}},
            "response_format.json_schema.name",
        ),
        (
            {"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "nonsense"}}},
            "response_format.json_schema.schema",
        ),
        (
            {"type": "json_schema", "json_schema": {"name": "s", "schema": {"$ref": "https://example.org/s.json"}}},
            "response_format.json_schema.schema",
        ),
    ],
)
def test_it_rejects_a_bad_response_format_by_name(client, response_format, param):
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="fake-echo", messages=ASK, response_format=response_format)
    assert refused.value.body["param"] == param


def nested(depth: int) -> dict:
    schema: dict = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"inner": schema}}
    return schema


def test_it_bounds_schema_depth_and_size():
    with pytest.raises(ServiceError) as deep:
        structured.check_schema(nested(20), "schema")
    assert deep.value.code == "schema_too_large"
    wide = {"type": "object", "properties": {f"field_{i}": {"type": "string"} for i in range(2000)}}
    with pytest.raises(ServiceError) as large:
        structured.check_schema(wide, "schema")
    assert large.value.code == "schema_too_large"
    assert structured.check_schema(nested(3), "schema") == nested(3)


def test_output_that_cannot_meet_the_schema_is_a_422_after_one_retry(client, fake_llm):
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    with pytest.raises(openai.UnprocessableEntityError) as refused:
        client.chat.completions.create(
            model="fake-echo",
            messages=ASK,
            response_format={"type": "json_schema", "json_schema": {"name": "n", "schema": schema}},
        )
    assert refused.value.body["code"] == "schema_validation_failed"
    sent = fake_llm.requests[-2:]
    assert [r["response_format"]["json_schema"]["schema"] for r in sent] == [schema, schema]
    assert "rejected" in sent[1]["messages"][-1]["content"], "the retry is told why the first answer failed"
    answer = Message.objects.get(role="assistant")
    assert answer.status == "failed"
    assert answer.content.startswith("That:0"), "the retry's rejected output is kept on the record, not shown"


def test_a_streamed_answer_that_cannot_meet_the_schema_ends_in_an_error_not_text(client):
    stream = client.chat.completions.create(
        model="fake-echo",
        messages=ASK,
        response_format={"type": "json_object"},
        stream=True,
    )
    shown = []

    def read_all() -> None:
        shown.extend(chunk.choices[0].delta.content for chunk in stream if chunk.choices)

    with pytest.raises(openai.APIError) as failed:
        read_all()
    assert not any(shown), "unchecked text reached the client"
    assert "format" in str(failed.value.message)


def test_tool_messages_and_calls_are_parsed_in_openais_shape():
    body = (
        b'{"model": "m", "messages": [{"role": "user", "content": "hi"},'
        b' {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",'
        b' "function": {"name": "f", "arguments": "{}"}}]},'
        b' {"role": "tool", "tool_call_id": "c1", "content": "done"}]}'
    )
    completion = parse_completion(body)
    assert completion.messages[1] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
    }
    assert completion.messages[2] == {"role": "tool", "tool_call_id": "c1", "content": "done"}
    assert completion.tool_history
    with pytest.raises(ServiceError) as refused:
        parse_completion(b'{"model": "m", "messages": [{"role": "tool", "content": "x"}]}')
    assert refused.value.param == "messages[0].tool_call_id"


def test_redaction_inside_a_checked_answer_keeps_it_valid_json(client):
    response = client.chat.completions.create(
        model="fake-json-pii", messages=ASK, response_format={"type": "json_object"}
    )
    answer = json.loads(response.choices[0].message.content)
    assert answer["contact"] == "Write to [email redacted]"
    assert answer["order"] == 4111111111111111, "a number is never turned into a label (that would break the JSON)"


def test_an_answer_that_no_longer_fits_once_redacted_is_a_422(client):
    schema = {
        "type": "object",
        "properties": {"contact": {"type": "string", "pattern": "@"}, "order": {"type": "integer"}},
        "required": ["contact", "order"],
    }
    with pytest.raises(openai.UnprocessableEntityError) as refused:
        client.chat.completions.create(
            model="fake-json-pii",
            messages=ASK,
            response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": schema}},
        )
    assert "redacted" in refused.value.body["message"]
    assert "jane.doe" not in refused.value.body["message"]

"""Tool calls through `/v1/chat/completions` with the official SDK: emulated on the embedded model, forwarded to a
backend with native tools (the fake upstream), refused for a backend without them."""

import json

import openai
import pytest

from chat.models import Message
from tests.factories import make_key, make_user

pytestmark = pytest.mark.django_db(transaction=True)

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 40}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
TIME = {
    "type": "function",
    "function": {"name": "get_time", "description": "The time now", "parameters": {"type": "object", "properties": {}}},
}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]


def sdk_for(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=make_key(make_user()), max_retries=0, timeout=120)


@pytest.fixture
def local_sdk(local_llm, daphne_server, settings):
    url = daphne_server([model | {"max_output_tokens": 200} for model in settings.LLM_MODELS])
    return sdk_for(url), settings.LLM_MODEL


@pytest.fixture
def fake_sdk(fake_llm, daphne_server, settings):
    models = [
        {"name": m["name"], "base_url": m["base_url"], "context_window": 2048, "max_output_tokens": 8}
        for m in settings.LLM_MODELS
    ]
    models.append(models[0] | {"name": "no-tools", "tools": "none"})
    return sdk_for(daphne_server(models)), fake_llm


def test_the_embedded_model_calls_a_required_tool_with_valid_arguments(local_sdk):
    client, model = local_sdk
    response = client.chat.completions.create(model=model, messages=ASK, tools=[WEATHER], tool_choice="required")
    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.id.startswith("call_")
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert isinstance(json.loads(call.function.arguments)["city"], str)
    saved = Message.objects.get(role="assistant")
    assert saved.tool_calls[0]["function"]["name"] == "get_weather"
    assert saved.status == "complete"


def test_a_named_tool_choice_forces_that_tool_streamed(local_sdk):
    client, model = local_sdk
    stream = client.chat.completions.create(
        model=model,
        messages=ASK,
        tools=[WEATHER, TIME],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
        stream=True,
    )
    chunks = list(stream)
    calls = [call for c in chunks if c.choices for call in c.choices[0].delta.tool_calls or []]
    assert [call.function.name for call in calls] == ["get_time"]
    assert json.loads(calls[0].function.arguments) == {}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"


def test_a_tool_result_goes_back_to_the_embedded_model_as_text(local_sdk):
    client, model = local_sdk
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
    response = client.chat.completions.create(
        model=model,
        messages=[
            *ASK,
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 24 degrees"},
        ],
        tools=[WEATHER],
        tool_choice="none",
        max_tokens=40,
    )
    assert response.choices[0].message.content.strip()
    assert response.choices[0].message.tool_calls is None
    rows = list(Message.objects.order_by("created_at").values_list("role", "tool_call_id"))
    assert rows == [("user", ""), ("assistant", ""), ("tool", "call_1"), ("assistant", "")]
    assert Message.objects.filter(role="assistant", tool_calls=[call]).exists()


def test_a_native_backend_gets_the_tools_and_its_streamed_call_is_put_together(fake_sdk):
    client, fake = fake_sdk
    stream = client.chat.completions.create(model="fake-tools", messages=ASK, tools=[WEATHER], stream=True)
    calls = [call for c in stream if c.choices for call in c.choices[0].delta.tool_calls or []]
    assert len(calls) == 1
    assert calls[0].id == "call_fake_1"
    assert json.loads(calls[0].function.arguments) == {"city": "Paris", "unit": "celsius"}
    assert fake.requests[-1]["tools"] == [WEATHER], "a native backend gets the tools as they came"
    assert "response_format" not in fake.requests[-1]


def test_a_native_backend_answers_from_a_tool_result(fake_sdk):
    client, fake = fake_sdk
    first = client.chat.completions.create(model="fake-tools", messages=ASK, tools=[WEATHER])
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    second = client.chat.completions.create(
        model="fake-tools",
        messages=[
            *ASK,
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "Rain"},
        ],
        tools=[WEATHER],
    )
    assert second.choices[0].message.content == "Noted: Rain"
    sent = fake.requests[-1]["messages"]
    assert sent[-1] == {"role": "tool", "tool_call_id": call.id, "content": "Rain"}
    assert sent[-2]["tool_calls"][0]["id"] == call.id


def test_a_backend_without_tools_refuses_them_clearly(fake_sdk):
    client, _ = fake_sdk
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="no-tools", messages=ASK, tools=[WEATHER])
    assert refused.value.body["param"] == "tools"
    assert refused.value.body["code"] == "tools_not_supported"

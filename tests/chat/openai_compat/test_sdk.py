"""The OpenAI-compatible API, driven by the official `openai` SDK against a real server, unchanged."""

import httpx
import openai
import pytest
from django.conf import settings

from chat.models import Conversation, Message
from tests.conftest import wait_until
from tests.factories import make_key, make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sdk(daphne_server, fake_llm, settings):
    def make(scopes=("chat", "read")) -> openai.OpenAI:
        url = daphne_server(
            [
                {"name": m["name"], "base_url": m["base_url"], "context_window": 2048, "max_output_tokens": 8}
                for m in settings.LLM_MODELS
            ]
        )
        return openai.OpenAI(base_url=f"{url}/v1", api_key=make_key(make_user(), scopes=list(scopes)), max_retries=0)

    return make


def test_a_non_streamed_completion_with_usage(sdk):
    client = sdk()
    response = client.chat.completions.create(
        model="fake-echo", messages=[{"role": "system", "content": "be nice"}, {"role": "user", "content": "ping"}]
    )
    assert response.choices[0].message.content == "".join(f"ping:{i} " for i in range(8))
    assert response.choices[0].finish_reason == "length"
    assert response.usage.completion_tokens == 8
    assert response.id.startswith("chatcmpl-")
    conversation = Conversation.objects.get(source=Conversation.Source.OPENAI)
    roles = list(conversation.messages.order_by("created_at").values_list("role", "status"))
    assert roles == [("system", "complete"), ("user", "complete"), ("assistant", "complete")]


def test_a_streamed_completion_with_usage(sdk):
    client = sdk()
    stream = client.chat.completions.create(
        model="fake-echo",
        messages=[{"role": "user", "content": "flow"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "".join(f"flow:{i} " for i in range(8))
    assert chunks[-1].usage.completion_tokens == 8
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert Message.objects.get(role="assistant").content == text


def test_models_lists_what_the_keys_owner_may_use(sdk):
    names = [model.id for model in sdk().models.list()]
    assert "fake-echo" in names
    assert settings.EMBEDDINGS_MODEL in names, "the embeddings model is listed, as OpenAI lists its own"


def test_errors_come_back_in_openais_shape(sdk):
    client = sdk()
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="gpt-17", messages=[{"role": "user", "content": "x"}])
    assert "Unknown model" in missing.value.message
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="fake-echo", messages=[])
    assert bad.value.body["code"] == "invalid_messages"
    with pytest.raises(openai.APIStatusError) as failed:
        client.chat.completions.create(model="fake-500", messages=[{"role": "user", "content": "x"}])
    assert failed.value.status_code == 502
    assert wait_until(
        lambda: Message.objects.get(role="assistant", model="fake-500").status == Message.Status.FAILED, timeout=5
    )


HI = [{"role": "user", "content": "x"}]


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"messages": [{"role": ["user"], "content": "x"}]}, "invalid_role", "messages[0].role"),
        # Refused at the door (genaisite/api_input.py), before the view reads the body.
        ({"messages": [{"role": "user", "content": "nul \u0000 inside"}]}, "nul_character", "messages[0].content"),
        ({"messages": HI, "stream": True, "stream_options": "yes"}, "invalid_stream_options", "stream_options"),
        ({"messages": HI, "max_tokens": True}, "invalid_max_tokens", "max_tokens"),
        # Sampling fields are typed and range-checked here, never relayed to the model server to complain about.
        ({"messages": HI, "temperature": "hot"}, "invalid_type", "temperature"),
        ({"messages": HI, "temperature": 7}, "out_of_range", "temperature"),
        ({"messages": HI, "top_p": -0.1}, "out_of_range", "top_p"),
        ({"messages": HI, "presence_penalty": [1]}, "invalid_type", "presence_penalty"),
        ({"messages": HI, "seed": 1.5}, "invalid_type", "seed"),
        ({"messages": HI, "stop": ["a", "b", "c", "d", "e"]}, "invalid_type", "stop"),
        ({"messages": HI, "stop": [""]}, "invalid_type", "stop"),
        ({"messages": HI, "stream": "yes"}, "invalid_type", "stream"),
        ({"messages": HI, "n": 2}, "unsupported_n", "n"),
        (
            {"messages": HI, "stream_options": {"include_usage": "y"}},
            "invalid_stream_options",
            "stream_options.include_usage",
        ),
    ],
    ids=[
        "unhashable-role",
        "nul",
        "stream-options",
        "boolean-max-tokens",
        "hot-temperature",
        "temperature-7",
        "negative-top-p",
        "list-penalty",
        "float-seed",
        "five-stops",
        "empty-stop",
        "string-stream",
        "n-2",
        "string-include-usage",
    ],
)
def test_malformed_requests_are_400s_that_reach_no_model(sdk, fake_llm, body, code, param):
    client = sdk()  # the SDK validates its own arguments, so send what a careless client would, raw
    refused = httpx.post(
        f"{client.base_url}chat/completions",
        headers={"Authorization": f"Bearer {client.api_key}"},
        json={"model": "fake-echo", **body},
    )
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["code"] == code
    assert refused.json()["error"]["param"] == param
    assert refused.json()["error"]["type"] == "invalid_request_error"
    assert fake_llm.completion_calls == 0
    assert not Message.objects.exists(), "nothing recorded for a refused request"


def test_a_bad_key_is_a_401_and_a_read_only_key_a_403(sdk):
    client = sdk(scopes=("read",))
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model="fake-echo", messages=[{"role": "user", "content": "x"}])
    client.api_key = "gsk_nothing.here"
    with pytest.raises(openai.AuthenticationError):
        client.models.list()


def test_an_upstream_failure_mid_stream_reaches_the_sdk_as_an_error(sdk):
    client = sdk()
    stream = client.chat.completions.create(
        model="fake-reset", messages=[{"role": "user", "content": "r"}], stream=True
    )
    received = []

    def read_all() -> None:
        for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")

    with pytest.raises(openai.APIError):
        read_all()
    assert "".join(received) == "r:0 r:1 r:2 "
    # The error event goes out first; the final save follows within milliseconds.
    assert wait_until(lambda: Message.objects.get(role="assistant").status == Message.Status.FAILED, timeout=5)
    assert Message.objects.get(role="assistant").content == "r:0 r:1 r:2 "


def test_the_real_local_model_answers_through_the_sdk(daphne_server, llm_server_url, settings):
    url = daphne_server(
        [{"name": settings.LLM_MODEL, "base_url": llm_server_url, "context_window": 2048, "max_output_tokens": 32}]
    )
    client = openai.OpenAI(base_url=f"{url}/v1", api_key=make_key(make_user()), max_retries=0)
    answer = client.chat.completions.create(
        model=settings.LLM_MODEL,
        messages=[{"role": "user", "content": "What is the capital of France?"}],
        max_tokens=24,
    )
    assert answer.choices[0].message.content.strip()
    streamed = client.chat.completions.create(
        model=settings.LLM_MODEL, messages=[{"role": "user", "content": "Count to five."}], max_tokens=24, stream=True
    )
    pieces = [chunk.choices[0].delta.content for chunk in streamed if chunk.choices and chunk.choices[0].delta.content]
    assert len(pieces) > 1


def test_checked_sampling_fields_reach_the_model_server_as_sent(sdk, fake_llm):
    client = sdk()
    client.chat.completions.create(
        model="fake-echo",
        messages=[{"role": "user", "content": "tuned"}],
        temperature=0.2,
        top_p=0.9,
        stop=["\n\n", "END"],
        seed=7,
        presence_penalty=-0.5,
    )
    sent = fake_llm.requests[-1]
    assert (sent["temperature"], sent["top_p"], sent["seed"], sent["presence_penalty"]) == (0.2, 0.9, 7, -0.5)
    assert sent["stop"] == ["\n\n", "END"]

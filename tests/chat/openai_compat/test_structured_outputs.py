"""Structured outputs on the real local model, through the official SDK's `.parse()`, as integrators use it."""

import json
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from pydantic import BaseModel

from chat.models import Message
from tests.chat.openai_compat.structured_fixtures import CASES, City, Recipe, Ticket
from tests.factories import make_key, make_user

pytestmark = pytest.mark.django_db(transaction=True)
PEOPLE = 7  # the fifty requests come from several people at once (each within their own rate limit)


@pytest.fixture
def real_stack(local_llm, daphne_server, settings):
    url = daphne_server([model | {"max_output_tokens": 256} for model in settings.LLM_MODELS])

    def client() -> openai.OpenAI:
        return openai.OpenAI(base_url=f"{url}/v1", api_key=make_key(make_user()), max_retries=0, timeout=120)

    client.model = settings.LLM_MODEL
    return client


def parse(client: openai.OpenAI, model: str, prompt: str, shape: type[BaseModel]):
    return client.chat.completions.parse(
        model=model, messages=[{"role": "user", "content": prompt}], response_format=shape, max_tokens=200
    )


def test_fifty_prompts_with_a_schema_all_parse_on_the_embedded_model(real_stack):
    clients = [real_stack() for _ in range(PEOPLE)]
    with ThreadPoolExecutor(max_workers=PEOPLE) as pool:
        futures = [
            pool.submit(parse, clients[i % PEOPLE], real_stack.model, prompt, shape)
            for i, (prompt, shape) in enumerate(CASES)
        ]
        results = [future.result() for future in futures]
    for (prompt, shape), completion in zip(CASES, results, strict=True):
        parsed = completion.choices[0].message.parsed
        assert isinstance(parsed, shape), (prompt, completion.choices[0].message.content)
        assert shape.model_validate_json(completion.choices[0].message.content) == parsed
    saved = Message.objects.filter(role="assistant")
    assert saved.count() == 50
    assert set(saved.values_list("status", flat=True)) == {"complete"}
    for content in saved.values_list("content", flat=True):
        json.loads(content)  # what was saved is the validated JSON the client got


def test_a_streamed_answer_under_a_schema_arrives_whole_and_valid(real_stack):
    client = real_stack()
    with client.chat.completions.stream(
        model=real_stack.model,
        messages=[{"role": "user", "content": "Write a short recipe for pancakes."}],
        response_format=Recipe,
        max_tokens=200,
    ) as stream:
        deltas = [event.delta for event in stream if event.type == "content.delta" and event.delta]
        final = stream.get_final_completion()
    assert isinstance(final.choices[0].message.parsed, Recipe)
    assert "".join(deltas) == final.choices[0].message.content
    assert len(deltas) == 1, "under a schema the answer is shown once it is valid, in one piece"


def test_json_object_answers_are_json_objects_or_refused(real_stack):
    raw = real_stack().chat.completions.with_raw_response
    try:
        response = raw.create(
            model=real_stack.model,
            messages=[{"role": "user", "content": "Describe Paris with the keys name and country, as JSON."}],
            response_format={"type": "json_object"},
            max_tokens=120,
        )
        status, body = response.status_code, response.http_response.json()
    except openai.UnprocessableEntityError as refused:  # a 135M model may ramble inside a string past the limit
        status, body = refused.status_code, {"error": refused.body}
    answer = Message.objects.get(role="assistant")
    if status == 422:
        assert body["error"]["code"] == "schema_validation_failed"
        assert answer.status == "failed"
    else:
        assert isinstance(json.loads(body["choices"][0]["message"]["content"]), dict)
        assert answer.status == "complete"


def test_the_rest_message_api_answers_under_a_schema(real_stack, local_llm):
    from tests.factories import key_client

    user = make_user()
    client = key_client(make_key(user))
    conversation = client.post("/api/v1/conversations/", {"title": "data"}, format="json").json()
    schema = City.model_json_schema()
    schema["additionalProperties"] = False
    response = client.post(
        f"/api/v1/conversations/{conversation['id']}/messages/",
        {
            "content": "Give me facts about Rome as JSON.",
            "response_format": {"type": "json_schema", "json_schema": {"name": "city", "schema": schema}},
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    answer = response.json()
    assert answer["status"] == "complete"
    City.model_validate_json(answer["content"])


def test_a_ticket_schema_with_enums_and_lists_is_kept(real_stack):
    completion = parse(real_stack(), real_stack.model, "File a support ticket: the printer is on fire", Ticket)
    ticket = completion.choices[0].message.parsed
    assert ticket.priority in ("low", "medium", "high")
    assert len(ticket.tags) <= 4

"""Embeddings batches (``endpoint="/v1/embeddings"``) through the unmodified `openai` SDK, on a real Daphne, a real
Huey worker and the real embedding service: each line answered as ``POST /v1/embeddings`` answers it."""

import base64

import httpx
import numpy as np
import openai
import pytest
from django.conf import settings as django_settings

from batches.models import Batch, BatchLine
from chat.models import DailyUsage, TokenQuota
from tests.batches.test_openai_batches import finished, jsonl, request_line, results

pytestmark = pytest.mark.django_db(transaction=True)

MODEL = django_settings.EMBEDDINGS_MODEL
TEXTS = [
    "The cat sat on the mat and watched the birds outside.",
    "Quarterly revenue grew by four percent, driven by subscriptions.",
    "To reset your password, open Settings and choose Security.",
]


def embedding_line(custom_id: str, text: str | list, model: str = MODEL, **body) -> dict:
    body = {"model": model, "input": text, **body}
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/embeddings", "body": body}


def vectors(data: list[dict]) -> np.ndarray:
    """The rows of a /v1/embeddings body, by index, whether sent as floats or as base64 (little-endian float32)."""
    rows = []
    for item in sorted(data, key=lambda item: item["index"]):
        embedding = item["embedding"]
        if isinstance(embedding, str):
            embedding = np.frombuffer(base64.b64decode(embedding), dtype="<f4")
        rows.append(np.asarray(embedding, dtype=np.float64))
    return np.array(rows)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_it_answers_each_line_as_v1_embeddings_does(client, owner):
    asked = {  # custom_id: (input, other fields)
        "one": (TEXTS[0], {}),
        "many": (TEXTS, {}),
        "short": (TEXTS[1], {"dimensions": 64}),
        "packed": (TEXTS[2], {"encoding_format": "base64"}),
    }
    lines = [embedding_line(custom_id, text, **fields) for custom_id, (text, fields) in asked.items()]
    uploaded = client.files.create(file=("emb.jsonl", jsonl(lines)), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/embeddings", completion_window="24h")
    assert (batch.endpoint, batch.status) == ("/v1/embeddings", "validating")
    done = finished(client, batch.id)
    assert done.status == "completed", done
    assert done.model == MODEL
    counts = done.request_counts
    assert (counts.total, counts.completed, counts.failed) == (4, 4, 0)
    assert done.error_file_id is None
    output = {line["custom_id"]: line for line in results(client, done.output_file_id)}
    assert sorted(output) == sorted(asked)
    batch_tokens = 0
    for custom_id, (text, fields) in asked.items():
        line = output[custom_id]
        assert line["error"] is None
        assert line["response"]["status_code"] == 200
        answered = line["response"]["body"]
        assert set(answered) == {"object", "data", "model", "usage"}
        shorter = {"dimensions": fields["dimensions"]} if "dimensions" in fields else {}
        expected = client.embeddings.create(model=MODEL, input=text, encoding_format="float", **shorter).model_dump()
        assert (answered["object"], answered["model"]) == ("list", MODEL)
        assert answered["usage"] == expected["usage"]
        assert [item["index"] for item in answered["data"]] == [item["index"] for item in expected["data"]]
        assert all(item["object"] == "embedding" for item in answered["data"])
        if custom_id == "packed":
            assert isinstance(answered["data"][0]["embedding"], str), "base64 asked, base64 answered"
        else:
            openai.types.CreateEmbeddingResponse.model_validate(answered)  # the SDK's own type reads it
        got, want = vectors(answered["data"]), vectors(expected["data"])
        width = fields.get("dimensions", django_settings.EMBEDDING_DIMENSIONS)
        assert got.shape == want.shape == (len(expected["data"]), width)
        np.testing.assert_allclose(cosines(got, want), 1.0, atol=1e-4)
        batch_tokens += answered["usage"]["prompt_tokens"]
    row = Batch.objects.get(pk=batch.id)
    assert (row.prompt_tokens, row.completion_tokens) == (batch_tokens, 0)
    # The same ledger and quota as /v1/embeddings: four lines and four direct requests, each counted once.
    ledger = DailyUsage.objects.get(user=owner)
    assert (ledger.model, ledger.requests, ledger.prompt_tokens) == (MODEL, 8, 2 * batch_tokens)
    quota = TokenQuota.objects.get(user=owner)
    assert (quota.used, quota.reserved) == (2 * batch_tokens, 0)


def test_it_fails_a_batch_with_a_bad_embeddings_line_as_the_endpoint_refuses_it(client):
    bodies = {
        2: ({"model": MODEL, "input": [464, 8415, 7482]}, "unsupported_input", "input"),  # token ids (tiktoken's)
        3: ({"model": "text-embedding-3-small", "input": "hello"}, "model_not_found", "model"),
        5: ({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}, "unknown_parameter", "messages"),
        6: ({"model": MODEL, "input": "hello", "dimensions": 1000}, "invalid_dimensions", "dimensions"),
    }
    lines = [
        embedding_line("fine", "hello"),
        {"custom_id": "ids", "method": "POST", "url": "/v1/embeddings", "body": bodies[2][0]},
        {"custom_id": "model", "method": "POST", "url": "/v1/embeddings", "body": bodies[3][0]},
        request_line("chat", "hi"),  # a chat completion in an embeddings batch
        {"custom_id": "chat-body", "method": "POST", "url": "/v1/embeddings", "body": bodies[5][0]},
        {"custom_id": "wide", "method": "POST", "url": "/v1/embeddings", "body": bodies[6][0]},
        embedding_line("fine", "again"),
    ]
    uploaded = client.files.create(file=("bad.jsonl", jsonl(lines)), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/embeddings", completion_window="24h")
    done = finished(client, batch.id)
    assert done.status == "failed"
    assert [(error.line, error.code, error.param) for error in done.errors.data] == [
        (2, "unsupported_input", "body.input"),
        (3, "model_not_found", "body.model"),
        (4, "invalid_url", "url"),
        (5, "unknown_parameter", "body.messages"),
        (6, "invalid_dimensions", "body.dimensions"),
        (7, "duplicate_custom_id", "custom_id"),
    ]
    assert not BatchLine.objects.exists(), "nothing of a failed batch runs"
    # The same bodies sent to /v1/embeddings are refused with the same codes: one parser for both.
    for body, code, param in bodies.values():
        answer = httpx.post(
            f"{client.base_url}embeddings", json=body, headers={"Authorization": f"Bearer {client.api_key}"}
        )
        assert (answer.json()["error"]["code"], answer.json()["error"]["param"]) == (code, param)
    assert not DailyUsage.objects.exists(), "a refused line or request charges nothing"

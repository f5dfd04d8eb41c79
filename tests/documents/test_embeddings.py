"""The embedding boundary against the real embedding service (the one process that holds the model)."""

import base64
import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest
from django.conf import settings

from documents import embeddings
from documents.embedding_model import model_directory


def test_the_service_returns_384_unit_vectors():
    vectors = embeddings.embed_texts(["The cat sat on the mat.", "Quarterly revenue grew by 4%."])
    assert vectors.shape == (2, 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)


def test_similar_sentences_are_closer_than_unrelated_ones():
    cat, kitten, finance = embeddings.embed_texts(
        ["A cat is sleeping on the sofa.", "A kitten naps on the couch.", "The bond market fell sharply today."]
    )
    assert float(cat @ kitten) > float(cat @ finance) + 0.2


def test_the_service_reports_ready():
    assert embeddings.readiness() == (True, f"all-MiniLM-L6-v2 at {settings.EMBEDDINGS_BASE_URL}")


def test_the_web_application_embeds_without_importing_torch(subprocess_env):
    probe = (
        "import sys, genaisite.asgi; from documents import embeddings; embeddings.embed_query('x'); "
        "embeddings.token_counts(['x']); "
        "print(sorted(m for m in ('torch', 'sentence_transformers', 'transformers') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], env=subprocess_env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def post(path: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        settings.EMBEDDINGS_BASE_URL.removesuffix("/v1") + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_service_speaks_openais_embeddings_api_in_float_and_base64():
    status, as_floats = post("/v1/embeddings", {"input": "one text", "model": "all-MiniLM-L6-v2"})
    assert status == 200
    assert as_floats["object"] == "list"
    assert as_floats["data"][0]["index"] == 0
    assert len(as_floats["data"][0]["embedding"]) == 384
    assert as_floats["usage"]["prompt_tokens"] == as_floats["usage"]["total_tokens"] > 0
    status, as_base64 = post("/v1/embeddings", {"input": ["one text"], "encoding_format": "base64"})
    decoded = np.frombuffer(base64.b64decode(as_base64["data"][0]["embedding"]), dtype="<f4")
    assert np.allclose(decoded, as_floats["data"][0]["embedding"], atol=1e-6)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": []}, "input"),
        ({"input": [1, 2]}, "input"),
        ({"input": ""}, "input"),
        ({"input": "x", "encoding_format": "int8"}, "encoding_format"),
        ({"input": "x", "dimensions": 1536}, "dimensions"),
    ],
)
def test_bad_requests_get_openais_error_shape_naming_the_field(body, param):
    status, answer = post("/v1/embeddings", body)
    assert status == 400
    assert answer["error"]["param"] == param
    assert answer["error"]["message"]


def test_concurrent_requests_are_batched_and_each_gets_its_own_vectors():
    texts = [f"sentence number {i} about topic {i % 5}" for i in range(24)]
    expected = embeddings.embed_texts(texts)
    results: dict[int, np.ndarray] = {}

    def one(index: int) -> None:
        results[index] = embeddings.embed_query(texts[index])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(texts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == list(range(len(texts)))
    for index, vector in results.items():
        assert float(vector @ expected[index]) > 0.999, f"request {index} got another request's vector"


def test_an_unreachable_service_is_a_clear_service_error(settings):
    settings.EMBEDDINGS_BASE_URL = "http://127.0.0.1:9/v1"
    with pytest.raises(embeddings.EmbeddingError) as caught:
        embeddings.embed_query("anything")
    assert caught.value.status == 503
    assert "127.0.0.1:9" in caught.value.message
    ready, detail = embeddings.readiness()
    assert ready is False
    assert "unreachable" in detail


def test_the_tokenizer_counts_and_cuts_like_the_models_own():
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(str(model_directory()))
    text = "Ünïcödé façade — naïve résumé, 42 items; UPPER lower. " * 30
    expected = reference(text, add_special_tokens=False, return_offsets_mapping=True)
    assert embeddings.token_counts([text, "short"]) == [len(expected["input_ids"]), 1]
    assert embeddings.token_offsets(text) == [tuple(span) for span in expected["offset_mapping"]]


def test_the_tokenizer_loads_once_even_when_threads_race_for_it():
    embeddings._tokenizer = None
    loaded: list[object] = []
    threads = [threading.Thread(target=lambda: loaded.append(embeddings.load_tokenizer())) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(loaded) == 8
    assert all(item is loaded[0] for item in loaded)

"""``POST /v1/embeddings`` through a real Daphne process and the real embedding service, driven by the official
``openai`` SDK and LangChain's ``OpenAIEmbeddings``, unchanged."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import openai
import pytest
from django.conf import settings as django_settings

from accounts.models import PolicyOverride
from chat.models import DailyUsage, TokenQuota
from documents.embedding_model import model_directory
from documents.embeddings import embed_texts
from tests.conftest import free_port, wait_until
from tests.factories import make_key, make_user

pytestmark = pytest.mark.django_db(transaction=True)

MODEL = django_settings.EMBEDDINGS_MODEL
DOCUMENTS = [
    "The cat sat on the mat and watched the birds outside.",
    "Quarterly revenue grew by four percent, driven by subscriptions.",
    "To reset your password, open Settings and choose Security.",
]
LONG = " ".join(f"Sentence {i} of a report that goes on well past the model's window." for i in range(120))


def limit_user(user, **limits) -> None:
    PolicyOverride.objects.update_or_create(user=user, defaults=limits)


@pytest.fixture
def api(daphne_server, fake_llm, settings):
    """The /v1 base URL of a real web process; ``api(**env)`` starts another with a changed environment."""

    def start(**environment: str) -> str:
        return f"{daphne_server(settings.LLM_MODELS, **environment)}/v1"

    return start


def sdk(base_url: str, *, user=None, scopes=("chat",)) -> openai.OpenAI:
    key = make_key(user or make_user(), scopes=list(scopes))
    return openai.OpenAI(base_url=base_url, api_key=key, max_retries=0)


def service_usage(texts: list[str]) -> int:
    """The embedding service's own token count for ``texts``, asked directly."""
    service = openai.OpenAI(base_url=django_settings.EMBEDDINGS_BASE_URL, api_key="local", max_retries=0)
    return service.embeddings.create(model=MODEL, input=texts, encoding_format="float").usage.prompt_tokens


def rows(response) -> np.ndarray:
    return np.array([item.embedding for item in sorted(response.data, key=lambda item: item.index)], dtype=np.float32)


def test_it_embeds_a_string_and_a_list_as_the_embedding_boundary_does(api):
    client = sdk(api())
    single = client.embeddings.create(model=MODEL, input=DOCUMENTS[0], encoding_format="float")
    assert single.object == "list"
    assert single.model == MODEL
    assert [(item.object, item.index) for item in single.data] == [("embedding", 0)]
    assert len(single.data[0].embedding) == django_settings.EMBEDDING_DIMENSIONS
    as_floats = client.embeddings.create(model=MODEL, input=DOCUMENTS, encoding_format="float")
    as_base64 = client.embeddings.create(model=MODEL, input=DOCUMENTS)  # the SDK asks for base64 and decodes it
    assert [item.index for item in as_floats.data] == [0, 1, 2]
    np.testing.assert_allclose(rows(as_base64), rows(as_floats), atol=1e-6)
    np.testing.assert_allclose(rows(as_floats), embed_texts(DOCUMENTS), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(rows(as_floats), axis=1), 1.0, atol=1e-5)


def test_it_counts_the_tokens_the_model_reads_in_the_usage_ledger(api):
    user = make_user()
    client = sdk(api(), user=user)
    texts = [*DOCUMENTS, LONG]
    expected = service_usage(texts)
    first = client.embeddings.create(model=MODEL, input=texts)
    second = client.embeddings.create(model=MODEL, input="hello")
    assert first.usage.prompt_tokens == first.usage.total_tokens == expected
    assert service_usage([LONG]) == 256, "the service reads the model's window of a longer text"
    assert second.usage.prompt_tokens == service_usage(["hello"]) == 3, "a word and the two special tokens"
    ledger = DailyUsage.objects.get(user=user)
    assert (ledger.model, ledger.requests) == (MODEL, 2)
    assert (ledger.prompt_tokens, ledger.completion_tokens) == (expected + 3, 0)
    quota = TokenQuota.objects.get(user=user)
    assert (quota.used, quota.reserved) == (expected + 3, 0)


def test_it_shortens_vectors_to_the_dimensions_asked_and_renormalises_them(api):
    client = sdk(api())
    full = rows(client.embeddings.create(model=MODEL, input=DOCUMENTS))
    short = rows(client.embeddings.create(model=MODEL, input=DOCUMENTS, dimensions=64))
    assert short.shape == (3, 64)
    head = full[:, :64] / np.linalg.norm(full[:, :64], axis=1, keepdims=True)
    np.testing.assert_allclose(short, head, atol=1e-6)
    same = rows(client.embeddings.create(model=MODEL, input=DOCUMENTS, dimensions=384, encoding_format="float"))
    np.testing.assert_allclose(same, full, atol=1e-6)


TOO_MANY = ["x"] * 2049


@pytest.mark.parametrize(
    ("body", "status", "code", "param"),
    [
        ({"input": ""}, 400, "empty_input", "input"),
        ({"input": ["fine", ""]}, 400, "empty_input", "input[1]"),
        ({"input": []}, 400, "invalid_input", "input"),
        ({"input": None}, 400, "invalid_input", "input"),
        ({"input": ["fine", 3]}, 400, "invalid_input", "input[1]"),
        ({"input": [464, 8415, 7482]}, 400, "unsupported_input", "input"),
        ({"input": [[464, 8415], [7482]]}, 400, "unsupported_input", "input"),
        ({"input": TOO_MANY}, 400, "too_many_inputs", "input"),
        ({"input": "x" * 32_769}, 400, "input_too_long", "input"),
        ({"input": "x", "temperature": 0.2}, 400, "unknown_parameter", "temperature"),
        ({"input": "x", "encoding_format": "hex"}, 400, "invalid_encoding_format", "encoding_format"),
        ({"input": "x", "dimensions": 385}, 400, "invalid_dimensions", "dimensions"),
        ({"input": "x", "dimensions": 0}, 400, "invalid_dimensions", "dimensions"),
        ({"input": "x", "dimensions": True}, 400, "invalid_dimensions", "dimensions"),
        ({"input": "x", "dimensions": "64"}, 400, "invalid_dimensions", "dimensions"),
        ({"input": "x", "user": 42}, 400, "invalid_type", "user"),
        ({"input": "x", "model": None}, 400, "missing_model", "model"),
        ({"input": "x", "model": "text-embedding-3-small"}, 404, "model_not_found", "model"),
    ],
    ids=[
        "empty-string",
        "empty-item",
        "empty-list",
        "null",
        "number-item",
        "token-array",
        "token-arrays",
        "2049-inputs",
        "too-long",
        "unknown-field",
        "hex",
        "385-dimensions",
        "0-dimensions",
        "boolean-dimensions",
        "string-dimensions",
        "numeric-user",
        "no-model",
        "other-model",
    ],
)
def test_it_rejects_malformed_requests_naming_the_field_and_charges_nothing(api, body, status, code, param):
    client = sdk(api())  # the SDK checks some arguments itself: send what a careless client would, raw
    refused = httpx.post(
        f"{client.base_url}embeddings",
        headers={"Authorization": f"Bearer {client.api_key}"},
        json={"model": MODEL, **body},
    )
    assert refused.status_code == status, refused.text
    error = refused.json()["error"]
    assert (error["code"], error["param"], error["type"]) == (code, param, "invalid_request_error")
    if code == "unknown_parameter":
        assert error["message"] == "Unrecognized request argument supplied: temperature"
    assert not DailyUsage.objects.exists()
    assert not TokenQuota.objects.exists()


def test_it_accepts_a_user_field_and_an_input_longer_than_the_model_reads(api):
    response = sdk(api()).embeddings.create(model=MODEL, input=LONG, user="end-user-7")
    assert response.usage.prompt_tokens == 256


def test_it_requires_the_chat_scope_and_a_valid_key(api):
    base_url = api()
    with pytest.raises(openai.PermissionDeniedError) as denied:
        sdk(base_url, scopes=("read",)).embeddings.create(model=MODEL, input="x")
    assert denied.value.body["code"] == "insufficient_scope"
    client = sdk(base_url)
    client.api_key = "gsk_nothing.here"
    with pytest.raises(openai.AuthenticationError):
        client.embeddings.create(model=MODEL, input="x")
    assert not DailyUsage.objects.exists()


def test_it_requires_a_role_allowed_the_embeddings_model(api):
    user = make_user()
    limit_user(user, allowed_models=["fake-echo"])
    with pytest.raises(openai.PermissionDeniedError) as denied:
        sdk(api(), user=user).embeddings.create(model=MODEL, input="x")
    assert denied.value.body["code"] == "model_not_allowed"


def test_it_refuses_a_spent_quota_with_insufficient_quota_like_chat(api):
    user = make_user()
    cost = service_usage(DOCUMENTS)
    limit_user(user, daily_token_budget=cost + cost // 2)
    client = sdk(api(), user=user)
    client.embeddings.create(model=MODEL, input=DOCUMENTS)
    with pytest.raises(openai.RateLimitError) as refused:
        client.embeddings.create(model=MODEL, input=DOCUMENTS)
    assert refused.value.body["code"] == "quota_exceeded"
    assert refused.value.body["type"] == "insufficient_quota"
    assert refused.value.response.headers["x-should-retry"] == "false"
    quota = TokenQuota.objects.get(user=user)
    assert (quota.used, quota.reserved) == (cost, 0)
    assert DailyUsage.objects.get(user=user).requests == 1


def test_it_counts_embeddings_on_the_model_request_rate_limit(api):
    user = make_user()
    limit_user(user, requests_per_minute=1)
    client = sdk(api(), user=user)
    client.embeddings.create(model=MODEL, input="one")
    with pytest.raises(openai.RateLimitError) as refused:
        client.embeddings.create(model=MODEL, input="two")
    assert refused.value.body["code"] == "rate_limited"
    assert refused.value.body["type"] == "rate_limit_error"


def test_it_answers_503_when_the_embedding_service_is_down_and_gives_the_hold_back(api):
    user = make_user()
    client = sdk(api(EMBEDDED_EMBEDDINGS_PORT=str(free_port())), user=user)
    with pytest.raises(openai.InternalServerError) as down:
        client.embeddings.create(model=MODEL, input="x")
    assert down.value.status_code == 503
    assert (down.value.body["type"], down.value.body["code"]) == ("api_error", "embeddings_unavailable")
    assert TokenQuota.objects.get(user=user).reserved == 0
    assert not DailyUsage.objects.exists()


def test_a_client_that_hangs_up_is_charged_once_and_leaves_no_hold(api):
    user = make_user()
    client = sdk(api(), user=user)
    texts = [f"{LONG} ({i})" for i in range(48)]
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            f"{client.base_url}embeddings",
            headers={"Authorization": f"Bearer {client.api_key}"},
            json={"model": MODEL, "input": texts},
            timeout=httpx.Timeout(10, read=0.2),
        )
    assert wait_until(lambda: DailyUsage.objects.filter(user=user, requests=1).exists(), timeout=60)
    quota = TokenQuota.objects.get(user=user)
    assert (quota.used, quota.reserved) == (48 * 256, 0)


def test_concurrent_requests_are_each_answered_and_counted(api):
    user = make_user()
    client = sdk(api(), user=user)
    alone = rows(client.embeddings.create(model=MODEL, input=DOCUMENTS))
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: client.embeddings.create(model=MODEL, input=DOCUMENTS), range(4)))
    for result in results:
        # Batched with the others by the service (bf16): the same vectors to within rounding.
        assert np.all(np.sum(rows(result) * alone, axis=1) > 0.999)
    ledger = DailyUsage.objects.get(user=user)
    assert (ledger.requests, ledger.prompt_tokens) == (5, 5 * results[0].usage.prompt_tokens)
    assert TokenQuota.objects.get(user=user).reserved == 0


# --- LangChain ----------------------------------------------------------------------------------------------------


def langchain(base_url: str, **options):
    from langchain_openai import OpenAIEmbeddings

    return OpenAIEmbeddings(model=MODEL, base_url=base_url, api_key=make_key(make_user()), max_retries=0, **options)


def test_langchain_embeds_documents_and_a_query_without_tokenizing(api):
    # check_embedding_ctx_length=False: LangChain sends the texts as they are (its advice for OpenAI-compatible APIs).
    embedder = langchain(api(), check_embedding_ctx_length=False)
    documents = np.array(embedder.embed_documents(DOCUMENTS), dtype=np.float32)
    np.testing.assert_allclose(documents, embed_texts(DOCUMENTS), atol=1e-6)
    query = np.array(embedder.embed_query("How do I change my password?"), dtype=np.float32)
    np.testing.assert_allclose(query, embed_texts(["How do I change my password?"])[0], atol=1e-6)
    assert int(np.argmax(documents @ query)) == 2
    asynchronous = asyncio.run(embedder.aembed_query("How do I change my password?"))
    np.testing.assert_allclose(asynchronous, query, atol=1e-6)


def test_langchain_length_checks_work_with_the_models_own_tokenizer(api, monkeypatch):
    # With its length checks on, LangChain tokenizes first. tiktoken_enabled=False has it use a Hugging Face
    # tokenizer, here the packaged model's (a local directory, no download), and send the text decoded from it.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    embedder = langchain(api(), tiktoken_enabled=False, tiktoken_model_name=str(model_directory()))
    documents = np.array(embedder.embed_documents(DOCUMENTS), dtype=np.float32)
    # The round trip through the tokenizer lower-cases the text, as the model's own tokenizer does: the same vectors.
    np.testing.assert_allclose(documents, embed_texts(DOCUMENTS), atol=1e-6)


def test_langchain_defaults_send_token_ids_which_are_refused(api, monkeypatch):
    # By default LangChain tokenizes with tiktoken's cl100k_base, a file tiktoken downloads on first use (offline it
    # fails before any request). Where the file is cached it sends token ids; a byte-level encoding built here stands
    # in for it, so this test needs no network.
    import tiktoken

    byte_level = tiktoken.Encoding(
        name="bytes", pat_str=r"\S+|\s+", mergeable_ranks={bytes([i]): i for i in range(256)}, special_tokens={}
    )
    monkeypatch.setattr(tiktoken, "get_encoding", lambda name: byte_level)
    with pytest.raises(openai.BadRequestError) as refused:
        langchain(api()).embed_documents(DOCUMENTS)
    assert (refused.value.body["code"], refused.value.body["param"]) == ("unsupported_input", "input")

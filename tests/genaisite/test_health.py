import pytest
from asgiref.sync import sync_to_async

from documents import embeddings
from genaisite import health
from tests.conftest import use_models, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


async def test_healthz_answers_without_touching_dependencies(async_client, settings):
    use_models(settings, "http://127.0.0.1:9/v1", ["smollm2-135m-instruct"])
    response = await async_client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_200_when_every_component_is_ready(async_client, local_llm, huey_worker):
    embeddings.embed_query("the embedding service answers")
    assert await sync_to_async(wait_until)(lambda: health._queue()[0], timeout=30), "worker never reported in"
    response = await async_client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ready"
    assert set(body["components"]) == {"database", "llm", "embeddings", "queue"}
    assert "pgvector" in body["components"]["database"]["detail"]


async def test_readyz_is_503_and_names_what_is_not_ready(async_client, settings):
    use_models(settings, "http://127.0.0.1:9/v1", ["smollm2-135m-instruct"])
    response = await async_client.get("/readyz")
    body = response.json()
    assert response.status_code == 503
    assert "llm" in body["not_ready"]
    assert body["components"]["llm"]["ready"] is False
    assert body["components"]["database"]["ready"] is True

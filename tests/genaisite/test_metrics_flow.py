"""/metrics of a whole instance: a real Daphne web process and a real Huey worker write their samples, one scrape of
the web process reads them all. One streamed answer, one cache hit, one ingestion and one batch line are each counted,
and every genaisite_ metric a Grafana dashboard asks for is there."""

import httpx
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from prometheus_client.parser import text_string_to_metric_families

from accounts.models import PolicyOverride
from chat.models import BlockedTopic
from documents import services as document_services
from documents.models import Document
from tests.batches.test_batches_rest import post_batch, wait_finished
from tests.conftest import wait_until
from tests.factories import key_client, make_key, make_user
from tests.genaisite.test_dashboards import dashboard_metric_names

pytestmark = pytest.mark.django_db(transaction=True)

Samples = dict[tuple[str, tuple], float]


def scrape(url: str) -> Samples:
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def grew(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0) - before.get(key, 0)


def ask(url: str, key: str, content: str = "same question", **fields) -> httpx.Response:
    body = {"model": "fake-echo", "messages": [{"role": "user", "content": content}], "temperature": 0, "stream": True}
    return httpx.post(
        f"{url}/v1/chat/completions", json=body | fields, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )


@pytest.fixture
def web(daphne_server, fake_llm, huey_worker, settings) -> str:
    models = [{**m, "context_window": 2048, "max_output_tokens": 8} for m in settings.LLM_MODELS]
    return daphne_server(models)


def test_one_of_each_is_counted_and_every_dashboard_metric_is_exposed(web):
    # Before any screening: a web process keeps the list it read.
    BlockedTopic.objects.create(name="Explosives", patterns="build a bomb", message="We cannot help.")
    before = scrape(web)
    user = make_user()
    key = make_key(user)

    streamed = ask(web, key)
    assert (streamed.status_code, streamed.headers["X-Cache"]) == (200, "MISS")
    hit = ask(web, key)
    assert (hit.status_code, hit.headers["X-Cache"]) == (200, "HIT")

    document = document_services.document_upload(
        owner=user, upload=SimpleUploadedFile("zephyr.txt", b"Project Zephyr is led by Ada Moreau.\n")
    )
    assert wait_until(lambda: Document.objects.get(pk=document.pk).status in ("ready", "failed"), timeout=120)
    assert Document.objects.get(pk=document.pk).status == "ready"
    client = key_client(key)
    assert client.post("/api/v1/search/", {"query": "Who leads Zephyr?", "k": 3}, format="json").status_code == 200

    batch = post_batch(client, "one.csv", b"id,prompt\nq1,alpha\n", max_tokens="3")
    assert batch.status_code == 201, batch.json()
    assert wait_finished(client, batch.json()["id"])["completed"] == 1

    # A guardrail decision and a quota refusal, so the safety dashboard has something to draw.
    assert ask(web, key, "how to build a bomb").status_code == 422
    spent = make_user()
    PolicyOverride.objects.create(user=spent, daily_token_budget=1)
    assert ask(web, make_key(spent), "anything").status_code == 429

    # The worker's heartbeat is written every few seconds; the scrape must see the worker's own samples too.
    assert wait_until(lambda: grew(before, scrape(web), "genaisite_worker_heartbeats_total") >= 1, timeout=30)
    after = scrape(web)

    answers = "genaisite_llm_requests_total"
    assert grew(before, after, answers, model="fake-echo", source="openai", outcome="complete") == 1
    assert grew(before, after, answers, model="fake-echo", source="openai", outcome="cache_hit") == 1
    assert grew(before, after, answers, model="fake-echo", source="batch", outcome="complete") == 1
    lookups = "genaisite_answer_cache_lookups_total"
    assert grew(before, after, lookups, kind="exact", result="miss") >= 1
    assert grew(before, after, lookups, kind="exact", result="hit") == 1
    assert grew(before, after, "genaisite_llm_time_to_first_token_seconds_count", model="fake-echo") >= 2
    assert grew(before, after, "genaisite_llm_inter_token_seconds_count", model="fake-echo") >= 1
    assert grew(before, after, "genaisite_llm_tokens_total", model="fake-echo", kind="completion") >= 8
    assert grew(before, after, "genaisite_ingestions_total", outcome="ready") == 1
    assert grew(before, after, "genaisite_ingestion_chunks_total") >= 1
    assert grew(before, after, "genaisite_retrieval_duration_seconds_count") >= 1
    assert grew(before, after, "genaisite_batch_lines_total", outcome="succeeded") == 1
    decisions = "genaisite_guardrail_decisions_total"
    assert grew(before, after, decisions, stage="input", guardrail="blocked_topic", action="blocked") == 1
    assert grew(before, after, "genaisite_limit_refusals_total", limit="daily_tokens") >= 1
    route = {"route": "v1/chat/completions", "method": "POST"}
    assert grew(before, after, "genaisite_http_requests_total", **route, status="200") == 2
    # Compared with before: this run's other processes (the test process's own answers) share the directory.
    assert grew(before, after, "genaisite_llm_requests_running") == 0, "nothing of this test is still running"
    assert ("genaisite_queue_depth", ()) in after

    exposed = {name for name, _ in after}
    missing = {name for name in dashboard_metric_names() if name.startswith("genaisite_") and name not in exposed}
    assert not missing, f"dashboards use metrics /metrics does not expose: {sorted(missing)}"

"""/metrics on its own: who may read it, what its labels may hold, and the samples of processes that died."""

import multiprocessing

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from core import metrics

pytestmark = pytest.mark.django_db


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(**headers) -> str:
    response = Client().get("/metrics", **headers)
    assert response.status_code == 200, response.content
    return response.content.decode()


def test_it_serves_loopback_without_a_token():
    response = Client().get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    names = {family.name for family in text_string_to_metric_families(response.content.decode())}
    assert {"genaisite_llm_requests_running", "genaisite_worker_heartbeats"} <= names


def test_it_refuses_a_request_forwarded_by_a_proxy_or_from_another_host():
    forwarded = Client().get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert forwarded.status_code == 403
    assert forwarded.json()["error"]["code"] == "metrics_forbidden"
    remote = Client(REMOTE_ADDR="203.0.113.7").get("/metrics")
    assert remote.status_code == 403


def test_it_requires_the_bearer_token_once_one_is_set(settings):
    settings.METRICS_TOKEN = "s3cret-scrape"
    assert Client().get("/metrics").status_code == 401, "loopback is not enough once a token is configured"
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    remote = Client(REMOTE_ADDR="203.0.113.7")
    assert remote.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape").status_code == 200


def test_it_counts_requests_by_url_pattern_never_by_the_path_typed():
    client = Client()
    client.get("/healthz")
    client.get("/no/such/page/user-42-secret")
    text = scrape()
    counted = samples(text)
    healthz = ("genaisite_http_requests_total", (("method", "GET"), ("route", "healthz"), ("status", "200")))
    assert counted[healthz] >= 1
    unmatched = ("genaisite_http_requests_total", (("method", "GET"), ("route", "unmatched"), ("status", "404")))
    assert counted[unmatched] >= 1
    assert "user-42-secret" not in text


def test_a_model_name_nobody_configured_is_labelled_other(settings):
    before = samples(scrape())
    metrics.answer_started()
    metrics.answer_finished(
        model="made-up-by-a-caller",
        source="somewhere",
        outcome="weird",
        ttft=0.05,
        inter_token=0.01,
        duration=0.5,
        prompt_tokens=7,
        completion_tokens=3,
    )
    after = samples(scrape())
    key = ("genaisite_llm_requests_total", (("model", "other"), ("outcome", "other"), ("source", "other")))
    assert after[key] == before.get(key, 0) + 1
    tokens = ("genaisite_llm_tokens_total", (("kind", "prompt"), ("model", "other")))
    assert after[tokens] == before.get(tokens, 0) + 7
    assert "made-up-by-a-caller" not in scrape()


def _start_an_answer_and_exit(directory: str) -> None:
    # A child process of its own (as a web process of `serve` is): its gauge file carries its pid.
    import os

    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    metrics.answer_started()


def test_a_dead_processs_running_answers_stop_counting_once_it_is_marked_dead():
    running = ("genaisite_llm_requests_running", ())
    before = samples(scrape()).get(running, 0)
    context = multiprocessing.get_context("fork")
    child = context.Process(target=_start_an_answer_and_exit, args=(str(metrics.settings.METRICS_DIR),))
    child.start()
    child.join(10)
    assert samples(scrape())[running] == before + 1, "its file outlives it"
    metrics.process_dead(child.pid)
    assert samples(scrape()).get(running, 0) == before


def test_it_answers_404_when_metrics_are_off(settings):
    settings.METRICS_ENABLED = False
    response = Client().get("/metrics")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "metrics_disabled"

"""A batch against its limits in time, on a real Daphne and a real Huey worker: a completion window that ends
mid-run, a daily token budget that runs out mid-batch (parked, then resumed by the reaper)."""

from collections import Counter
from datetime import timedelta

import openai
import pytest
from django.db.models import F
from django.utils import timezone

from accounts.models import PolicyOverride
from batches import tasks
from batches.models import Batch, BatchLine
from chat import embedding_usage
from chat.models import TokenQuota
from tests.batches.test_batch_embeddings import embedding_line
from tests.batches.test_openai_batches import finished, jsonl, request_line, results
from tests.conftest import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def states(batch_id: str) -> Counter:
    return Counter(BatchLine.objects.filter(batch_id=batch_id).values_list("state", flat=True))


def accounted_once(client: openai.OpenAI, done, custom_ids: list[str]) -> tuple[list[dict], list[dict]]:
    """The output and error files, after checking every custom_id is in exactly one and the counts are theirs."""
    output, errors = results(client, done.output_file_id), results(client, done.error_file_id)
    assert sorted(line["custom_id"] for line in output + errors) == sorted(custom_ids)
    counts = done.request_counts
    assert (counts.total, counts.completed, counts.failed) == (len(custom_ids), len(output), len(errors))
    return output, errors


def test_a_window_that_ends_mid_run_expires_the_batch_keeping_what_finished(client, fake_llm):
    fake_llm.tokens_per_second = 4  # each answer takes about a second
    custom_ids = [f"e{i}" for i in range(10)]
    uploaded = client.files.create(file=("in.jsonl", jsonl([request_line(c, c) for c in custom_ids])), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert wait_until(lambda: states(batch.id)["succeeded"] >= 2, timeout=30)
    Batch.objects.filter(pk=batch.id).update(expires_at=timezone.now())  # the 24 hours are up, mid-run
    done = finished(client, batch.id)
    assert done.status == "expired"
    assert done.expired_at is not None
    assert done.completed_at is None
    output, errors = accounted_once(client, done, custom_ids)
    assert len(output) >= 2, "the lines that finished are kept"
    assert errors, "the window ended with lines left: they are closed"
    for line in output:
        assert line["response"]["status_code"] == 200
        assert line["response"]["body"]["choices"][0]["message"]["content"].startswith(f"{line['custom_id']}:0")
    for line in errors:
        assert line["response"] is None
        assert line["error"]["code"] == "batch_expired"
    assert set(states(batch.id)) <= {"succeeded", "expired"}, "nothing left pending or running"


def wait_parked(client: openai.OpenAI, batch_id: str, succeeded: int):
    """The batch once it is parked with ``succeeded`` lines done and none running (the runner has returned)."""

    def parked() -> bool:
        lines = states(batch_id)
        if lines["succeeded"] != succeeded or lines["running"]:
            return False
        return client.batches.retrieve(batch_id).waiting_reason is not None

    assert wait_until(parked, timeout=60, interval=0.3), (client.batches.retrieve(batch_id), states(batch_id))
    return client.batches.retrieve(batch_id)


def test_a_spent_budget_parks_the_batch_until_the_reset_or_a_raise_and_loses_no_line(client, owner):
    texts = [f"line {i}" for i in range(8)]
    costs = embedding_usage.token_counts(texts)  # what the gate charges each line, exactly
    assert len(set(costs)) == 1, "lines of one cost: which of two running lines fits does not matter"
    PolicyOverride.objects.create(user=owner, daily_token_budget=3 * costs[0])  # three lines a day
    custom_ids = [f"q{i}" for i in range(len(texts))]
    lines = [embedding_line(c, text) for c, text in zip(custom_ids, texts, strict=True)]
    uploaded = client.files.create(file=("in.jsonl", jsonl(lines)), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/embeddings", completion_window="24h")

    waiting = wait_parked(client, batch.id, succeeded=3)
    assert waiting.status == "in_progress"
    assert "resets at" in waiting.waiting_reason
    assert waiting.request_counts.failed == 0
    assert states(batch.id) == {"succeeded": 3, "pending": 5}, "the refused line went back, not failed"
    assert tasks.batches_revive.call_local() == 0, "the reaper leaves a batch parked while the budget is spent"

    # The UTC day ends: today's usage becomes yesterday's, and the reaper gives the batch a runner again.
    TokenQuota.objects.filter(user=owner).update(day=F("day") - timedelta(days=1))
    assert tasks.batches_revive.call_local() == 1
    wait_parked(client, batch.id, succeeded=6)  # three more, then the new day's budget is spent too
    assert tasks.batches_revive.call_local() == 0

    PolicyOverride.objects.filter(user=owner).update(daily_token_budget=100 * costs[0])  # an admin raises it
    assert tasks.batches_revive.call_local() == 1
    done = finished(client, batch.id)
    assert done.status == "completed"
    assert done.waiting_reason is None
    output, errors = accounted_once(client, done, custom_ids)
    assert errors == []
    assert all(line["response"]["body"]["usage"]["prompt_tokens"] == costs[0] for line in output)
    quota = TokenQuota.objects.get(user=owner, day=timezone.now().date())
    assert (quota.used, quota.reserved) == (5 * costs[0], 0), "today: the three of the first reset and the last two"


@pytest.mark.parametrize("ending", ["cancel", "window"])
def test_a_parked_batch_ends_without_waiting_for_the_reset(client, owner, ending):
    text = "one line"
    PolicyOverride.objects.create(user=owner, daily_token_budget=embedding_usage.input_tokens([text]))
    custom_ids = [f"p{i}" for i in range(4)]
    lines = [embedding_line(c, text) for c in custom_ids]
    uploaded = client.files.create(file=("in.jsonl", jsonl(lines)), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/embeddings", completion_window="24h")
    wait_parked(client, batch.id, succeeded=1)
    if ending == "cancel":
        assert client.batches.cancel(batch.id).status == "cancelling"
    else:
        Batch.objects.filter(pk=batch.id).update(expires_at=timezone.now())
    assert tasks.batches_revive.call_local() == 1, "ending needs no budget"
    done = finished(client, batch.id)
    assert done.status == {"cancel": "cancelled", "window": "expired"}[ending]
    output, errors = accounted_once(client, done, custom_ids)
    assert len(output) == 1
    code = {"cancel": "batch_cancelled", "window": "batch_expired"}[ending]
    assert [line["error"]["code"] for line in errors] == [code] * 3

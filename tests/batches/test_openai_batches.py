"""The Files and Batch APIs through the unmodified `openai` SDK, on a real Daphne and a real Huey worker."""

import json

import openai
import pytest

from batches.models import BatchLine
from chat.models import Conversation
from tests.conftest import wait_until
from tests.factories import make_key, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def request_line(custom_id: str, text: str, model: str = "fake-echo", **body) -> dict:
    body = {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 4, **body}
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}


def jsonl(lines: list[dict]) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


@pytest.fixture
def client(fake_llm, huey_worker, daphne_server, settings) -> openai.OpenAI:
    models = [
        {"name": m["name"], "base_url": m["base_url"], "context_window": 2048, "max_output_tokens": 8}
        for m in settings.LLM_MODELS
    ]
    url = daphne_server(models)
    return openai.OpenAI(base_url=f"{url}/v1", api_key=make_key(make_user()), max_retries=0)


def finished(client: openai.OpenAI, batch_id: str, timeout: float = 60):
    done = wait_until(
        lambda: client.batches.retrieve(batch_id).status in ("completed", "failed", "expired", "cancelled"),
        timeout=timeout,
        interval=2.1,  # polls as a client should: under the key's 30 API requests a minute on a slow machine too
    )
    assert done, client.batches.retrieve(batch_id)
    return client.batches.retrieve(batch_id)


def results(client: openai.OpenAI, file_id: str | None) -> list[dict]:
    if file_id is None:
        return []
    return [json.loads(line) for line in client.files.content(file_id).text.splitlines()]


def test_files_create_batches_create_poll_and_download(client):
    lines = [request_line(f"req-{i}", f"word{i}") for i in range(6)]
    lines.append(request_line("too-long", "x" * 200_000))  # refused by the gate: kept in the error file
    uploaded = client.files.create(file=("in.jsonl", jsonl(lines)), purpose="batch")
    assert uploaded.purpose == "batch"
    assert uploaded.bytes == len(jsonl(lines))
    batch = client.batches.create(
        input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h", metadata={"run": "a"}
    )
    assert batch.status == "validating"
    done = finished(client, batch.id)
    assert done.status == "completed"
    assert done.request_counts.total == 7
    assert (done.request_counts.completed, done.request_counts.failed) == (6, 1)
    assert done.metadata == {"run": "a"}
    output = results(client, done.output_file_id)
    errors = results(client, done.error_file_id)
    assert sorted(line["custom_id"] for line in output) == [f"req-{i}" for i in range(6)]
    for line in output:
        index = line["custom_id"].split("-")[1]
        assert line["response"]["status_code"] == 200
        assert line["response"]["body"]["choices"][0]["message"]["content"].startswith(f"word{index}:0")
    assert [line["custom_id"] for line in errors] == ["too-long"]
    assert errors[0]["response"]["status_code"] == 413
    assert errors[0]["response"]["body"]["error"]["code"] == "prompt_too_long"
    assert Conversation.objects.filter(source=Conversation.Source.BATCH).count() == 6
    assert [b.id for b in client.batches.list()] == [batch.id]
    with pytest.raises(openai.ConflictError) as finished_already:
        client.batches.cancel(batch.id)
    assert finished_already.value.response.headers["x-should-retry"] == "false"


def test_a_file_with_bad_lines_fails_the_batch_with_an_error_per_line(client):
    lines = [
        request_line("a", "hi"),
        request_line("a", "duplicate"),
        {"custom_id": "b", "method": "POST", "url": "/v1/embeddings", "body": {}},
        request_line("c", "hi", model="no-such-model"),
        request_line("d", "hi", stream=True),
    ]
    content = jsonl(lines) + b"{not json\n"
    uploaded = client.files.create(file=("bad.jsonl", content), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    done = finished(client, batch.id)
    assert done.status == "failed"
    codes = [(error.line, error.code) for error in done.errors.data]
    assert codes == [
        (2, "duplicate_custom_id"),
        (3, "invalid_url"),
        (4, "model_not_found"),
        (5, "streaming_unsupported"),
        (6, "invalid_json_line"),
    ]
    assert not BatchLine.objects.exists(), "nothing of a failed batch runs"


def test_a_cancelled_batch_accounts_for_every_line_exactly_once(client, fake_llm):
    fake_llm.tokens_per_second = 4  # each answer takes about a second
    lines = [request_line(f"r{i}", f"w{i}") for i in range(12)]
    uploaded = client.files.create(file=("in.jsonl", jsonl(lines)), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert wait_until(lambda: BatchLine.objects.filter(state="succeeded").exists(), timeout=30)
    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status in ("cancelling", "cancelled")
    done = finished(client, batch.id)
    assert done.status == "cancelled"
    output, errors = results(client, done.output_file_id), results(client, done.error_file_id)
    ids = [line["custom_id"] for line in output + errors]
    assert sorted(ids) == sorted(f"r{i}" for i in range(12)), "every custom_id exactly once across both files"
    assert done.request_counts.completed == len(output) >= 1
    assert done.request_counts.failed == len(errors) >= 1
    assert {line["error"]["code"] for line in errors} == {"batch_cancelled"}
    assert client.batches.cancel(batch.id).status == "cancelled", "cancelling a cancelled batch changes nothing"


def test_files_are_private_and_bounded(client, daphne_server):
    uploaded = client.files.create(file=("in.jsonl", jsonl([request_line("a", "hi")])), purpose="batch")
    other = openai.OpenAI(base_url=str(client.base_url), api_key=make_key(make_user()), max_retries=0)
    with pytest.raises(openai.NotFoundError):
        other.files.retrieve(uploaded.id)
    with pytest.raises(openai.BadRequestError) as empty:
        client.files.create(file=("empty.jsonl", b"\n\n"), purpose="batch")
    assert empty.value.body["code"] == "empty_file"
    with pytest.raises(openai.BadRequestError) as purpose:
        client.files.create(file=("in.jsonl", b"{}\n"), purpose="fine-tune")
    assert purpose.value.body["param"] == "purpose"
    assert [f.id for f in client.files.list()] == [uploaded.id]
    assert client.files.delete(uploaded.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(uploaded.id)


def test_killing_the_worker_mid_batch_loses_and_duplicates_nothing(client, fake_llm, huey_worker, subprocess_env):
    from batches import tasks

    fake_llm.tokens_per_second = 4
    lines = [request_line(f"k{i}", f"w{i}") for i in range(10)]
    uploaded = client.files.create(file=("in.jsonl", jsonl(lines)), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    assert wait_until(lambda: BatchLine.objects.filter(state="succeeded").count() >= 2, timeout=30)
    huey_worker.process.kill()  # kill -9, mid-line: its running lines name a process that is now dead
    huey_worker.process.wait()
    assert BatchLine.objects.filter(batch_id=batch.id, state="running").exists()
    huey_worker.start()
    tasks.batch_run(batch.id)  # what the reaper does each minute
    done = finished(client, batch.id, timeout=90)
    assert done.status == "completed"
    output, errors = results(client, done.output_file_id), results(client, done.error_file_id)
    assert sorted(line["custom_id"] for line in output) == sorted(f"k{i}" for i in range(10))
    assert errors == []
    assert done.request_counts.completed == 10
    assert BatchLine.objects.filter(batch_id=batch.id, attempts__gt=1).exists(), "the dead worker's lines ran again"


def test_a_batch_may_name_a_preset_as_its_model(client, fake_llm):
    lines = [request_line(f"p-{i}", f"preset question {i}", model="preset/support") for i in range(3)]
    uploaded = client.files.create(file=("in.jsonl", jsonl(lines)), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    done = finished(client, batch.id)
    assert (done.status, done.request_counts.completed, done.request_counts.failed) == ("completed", 3, 0)
    output = results(client, done.output_file_id)
    assert sorted(line["custom_id"] for line in output) == ["p-0", "p-1", "p-2"]
    assert {line["response"]["body"]["model"] for line in output} == {"preset/support"}
    asked = [r for r in fake_llm.requests if r.get("messages") and "preset question" in r["messages"][-1]["content"]]
    assert len(asked) == 3
    assert all(r["messages"][0]["content"].startswith("You are Customer support, a calm") for r in asked)


def test_a_batch_naming_an_unknown_preset_fails_with_a_line_error(client):
    uploaded = client.files.create(
        file=("in.jsonl", jsonl([request_line("x", "hi", model="preset/nope")])), purpose="batch"
    )
    batch = client.batches.create(input_file_id=uploaded.id, endpoint="/v1/chat/completions", completion_window="24h")
    done = finished(client, batch.id)
    assert done.status == "failed"
    assert [(e.code, e.line, e.param) for e in done.errors.data] == [("model_not_found", 1, "body.model")]

"""Batches for people: /api/v1/batches/ with a CSV or JSONL of prompts, live progress on /ws/events/, answers
downloaded as CSV or JSONL joined on the ids. A real Huey worker runs them against the fake model server."""

import csv
import io
import json

import pytest
from channels.db import database_sync_to_async as db
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import PolicyOverride
from batches.models import Batch, BatchLine
from chat.models import Conversation
from tests.conftest import user_events_socket, wait_until
from tests.factories import key_client, make_key, make_user
from tests.presets.builders import make_preset

pytestmark = pytest.mark.django_db(transaction=True)

PROMPTS_CSV = (
    "id,prompt,system,notes\n"
    'q1,"alpha, with a comma",Answer briefly.,ignored\n'
    'q2,"beta ""quoted""",,\n'
    ",gamma without an id,,\n"
    "q4,=formula looking,,\n"
    ",,,\n"
)


def post_batch(client, name: str, content: bytes, **fields):
    upload = SimpleUploadedFile(name, content, content_type="text/csv" if name.endswith(".csv") else "text/plain")
    return client.post("/api/v1/batches/", {"file": upload, "model": "fake-echo", **fields}, format="multipart")


def wait_finished(client, batch_id: str, timeout: float = 60) -> dict:
    # Waits on the row, not by polling the API: polls ten a second would spend the key's API request budget
    # (30 a minute) within seconds on a busy machine, and the test would read a 429 instead of the batch.
    assert wait_until(lambda: Batch.objects.get(id=batch_id).status in Batch.FINAL_STATUSES, timeout=timeout)
    return client.get(f"/api/v1/batches/{batch_id}/").json()


def test_a_csv_of_prompts_runs_and_its_answers_join_back_on_the_ids(fake_llm, huey_worker):
    user = make_user()
    client = key_client(make_key(user))
    created = post_batch(client, "questions.csv", PROMPTS_CSV.encode(), max_tokens="3")
    assert created.status_code == 201, created.json()
    assert created.json()["title"] == "questions.csv"
    assert created.json()["status"] == "validating"
    done = wait_finished(client, created.json()["id"])
    assert (done["status"], done["total"], done["completed"], done["failed"]) == ("completed", 4, 4, 0)
    assert (done["done"], done["progress"], done["model"]) == (4, 100, "fake-echo")

    lines = {line.custom_id: line.body for line in BatchLine.objects.filter(batch_id=done["id"])}
    assert lines["q1"]["messages"][0] == {"role": "system", "content": "Answer briefly."}
    assert lines["q2"]["messages"] == [{"role": "user", "content": 'beta "quoted"'}]
    assert lines["3"]["max_tokens"] == 3  # a row without an id is named by its number

    response = client.get(f"/api/v1/batches/{done['id']}/results/?format=csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [row["id"] for row in rows] == ["q1", "q2", "3", "q4"]
    assert [row["status"] for row in rows] == ["succeeded"] * 4
    assert rows[0]["prompt"] == "alpha, with a comma"
    assert rows[0]["answer"].split() == ["alpha,:0", "alpha,:1", "alpha,:2"]
    assert rows[2]["answer"].startswith("gamma:0")
    # A cell a spreadsheet would run as a formula is kept text; the JSONL keeps it exactly.
    assert rows[3]["prompt"] == "'=formula looking"
    assert rows[3]["answer"].startswith("'=formula:0")
    assert all(int(row["completion_tokens"]) == 3 for row in rows)
    # Nobody watches a line arrive: each is asked for whole, which spares the model server an event per token.
    answered = [request for request in fake_llm.requests if request["messages"][-1]["content"] != "title"]
    assert answered
    assert not any(request.get("stream") for request in fake_llm.requests)

    as_jsonl = client.get(f"/api/v1/batches/{done['id']}/results/?format=jsonl")
    records = [json.loads(line) for line in as_jsonl.content.decode().splitlines()]
    assert [record["id"] for record in records] == ["q1", "q2", "3", "q4"]
    assert records[3]["prompt"] == "=formula looking"
    assert records[3]["answer"].startswith("=formula:0")

    listed = client.get("/api/v1/batches/").json()
    assert [batch["id"] for batch in listed["results"]] == [done["id"]]
    # Each line is kept as a conversation, but the chat's list is for chats: the lines are read here.
    assert Conversation.objects.filter(owner=user, source=Conversation.Source.BATCH).count() == 4
    assert client.get("/api/v1/conversations/").json()["count"] == 0


def test_jsonl_takes_simple_rows_and_openai_request_lines_together(fake_llm, huey_worker):
    client = key_client(make_key(make_user()))
    openai_line = {
        "custom_id": "raw",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"messages": [{"role": "user", "content": "delta here"}], "max_tokens": 2},
    }
    content = json.dumps({"id": "simple", "prompt": "epsilon now"}) + "\n\n" + json.dumps(openai_line) + "\n"
    created = post_batch(client, "mixed.jsonl", content.encode(), max_tokens="2")
    assert created.status_code == 201, created.json()
    done = wait_finished(client, created.json()["id"])
    assert (done["status"], done["completed"]) == ("completed", 2)
    rows = client.get(f"/api/v1/batches/{done['id']}/results/?format=jsonl").content.decode().splitlines()
    answers = {json.loads(row)["id"]: json.loads(row)["answer"].strip() for row in rows}
    assert answers == {"simple": "epsilon:0 epsilon:1", "raw": "delta:0 delta:1"}


@pytest.mark.parametrize(
    ("name", "content", "fields", "status", "fragment"),
    [
        ("a.csv", b"question\nhello\n", {}, 400, "'prompt' column"),
        ("a.csv", b"prompt\nfine\n   \nlast\n", {}, 201, ""),  # a blank row is skipped, not refused
        ("a.csv", b"id,prompt\nx,one\ny,\n", {}, 400, "row 2: the prompt is empty"),
        ("a.csv", b"id,prompt\nx,one\nx,two\n", {}, 400, "also used on row 1"),
        ("a.csv", "prompt\ncaf\u00e9\n".encode("latin-1"), {}, 400, "not UTF-8"),
        ("a.jsonl", b'{"prompt": "ok"}\nnot json\n[1]\n', {}, 400, "line 2: not valid JSON"),
        ("a.csv", b"prompt\nhello\n", {"model": "no-such-model"}, 404, "no-such-model"),
        ("a.csv", b"prompt\nhello\n", {"max_tokens": "0"}, 400, "max_tokens"),
        ("a.csv", b"", {}, 400, "'prompt' column"),
    ],
)
def test_a_table_that_cannot_run_is_refused_at_once_naming_the_rows(fake_llm, name, content, fields, status, fragment):
    user = make_user()
    client = key_client(make_key(user))
    response = post_batch(client, name, content, **fields)
    assert response.status_code == status, response.json()
    if status != 201:
        body = json.dumps(response.json())
        assert fragment in body
        assert not Batch.objects.filter(owner=user).exists()  # nothing half-made


def test_batches_are_private_and_results_answer_only_csv_or_jsonl(fake_llm):
    owner, other = make_user(), make_user()
    created = post_batch(key_client(make_key(owner)), "a.csv", b"prompt\nhello\n")
    batch_id = created.json()["id"]
    stranger = key_client(make_key(other))
    for path in (f"/api/v1/batches/{batch_id}/", f"/api/v1/batches/{batch_id}/results/"):
        assert stranger.get(path).status_code == 404
    assert stranger.post(f"/api/v1/batches/{batch_id}/cancel/").status_code == 404
    assert stranger.get("/api/v1/batches/").json()["results"] == []
    refused = key_client(make_key(owner)).get(f"/api/v1/batches/{batch_id}/results/?format=xml")
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "invalid_format"
    read_only = key_client(make_key(owner, scopes=["read"]))
    assert read_only.get(f"/api/v1/batches/{batch_id}/").status_code == 200
    assert post_batch(read_only, "a.csv", b"prompt\nhello\n").status_code == 403


def test_cancelling_keeps_what_finished_and_names_every_row_once(fake_llm, huey_worker):
    fake_llm.tokens_per_second = 4  # each answer takes about a second
    client = key_client(make_key(make_user()))
    rows = "".join(f"r{i},w{i}\n" for i in range(10))
    created = post_batch(client, "slow.csv", f"id,prompt\n{rows}".encode(), max_tokens="4")
    batch_id = created.json()["id"]
    assert wait_until(lambda: Batch.objects.get(id=batch_id).completed >= 1, timeout=30)  # the row, as wait_finished
    cancelled = client.post(f"/api/v1/batches/{batch_id}/cancel/")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] in ("cancelling", "cancelled")
    done = wait_finished(client, batch_id)
    assert done["status"] == "cancelled"
    results = list(csv.DictReader(io.StringIO(client.get(f"/api/v1/batches/{batch_id}/results/").content.decode())))
    assert [row["id"] for row in results] == [f"r{i}" for i in range(10)]
    assert done["completed"] == sum(row["status"] == "succeeded" for row in results) >= 1
    assert done["failed"] == sum(row["status"] == "cancelled" for row in results) >= 1
    assert all(row["error"] for row in results if row["status"] == "cancelled")
    assert client.post(f"/api/v1/batches/{batch_id}/cancel/").json()["status"] == "cancelled"


async def test_progress_reaches_the_owners_open_pages_live(fake_llm, huey_worker):
    user = await db(make_user)()
    key = await db(make_key)(user)
    socket = user_events_socket(key)
    assert (await socket.connect())[0]
    rows = "".join(f"p{i},word{i}\n" for i in range(5))
    created = await db(lambda: post_batch(key_client(key), "live.csv", f"id,prompt\n{rows}".encode()))()
    assert created.status_code == 201
    seen = []
    while not seen or not seen[-1]["finished"]:
        event = await socket.receive_json_from(timeout=60)
        assert event["type"] == "batch.progress"
        assert event["batch"]["id"] == created.json()["id"]
        seen.append(event["batch"])
    assert seen[0]["status"] == "in_progress"
    assert [batch["done"] for batch in seen if batch["status"] == "in_progress"][-1] == 5
    assert sorted(batch["done"] for batch in seen) == [batch["done"] for batch in seen]  # never backwards
    assert seen[-1]["status"] == "completed"
    assert seen[-1]["progress"] == 100
    await socket.disconnect()


def test_a_batch_is_paced_by_its_cap_not_its_owners_per_minute_limit(fake_llm, huey_worker):
    user = make_user()
    PolicyOverride.objects.create(user=user, requests_per_minute=3)
    client = key_client(make_key(user))
    rows = "".join(f"n{i},word{i}\n" for i in range(8))  # more lines than the owner may send requests a minute
    created = post_batch(client, "many.csv", f"id,prompt\n{rows}".encode(), max_tokens="2")
    done = wait_finished(client, created.json()["id"])
    assert (done["status"], done["completed"], done["failed"]) == ("completed", 8, 0)
    # The batch took none of the owner's interactive budget: they can still chat.
    conversation = client.post("/api/v1/conversations/", {}, format="json").json()
    reply = client.post(f"/api/v1/conversations/{conversation['id']}/messages/", {"content": "hi"}, format="json")
    assert reply.status_code == 201, reply.json()


def test_a_batch_runs_under_a_preset_with_its_instructions(fake_llm, huey_worker):
    user = make_user()
    make_preset(user, "Terse", system_prompt="Answer tersely, {username}.", locked=True)
    client = key_client(make_key(user))
    created = post_batch(client, "q.csv", b"id,prompt,system\na,alpha question,Be verbose.\n", model="preset/terse")
    assert created.status_code == 201, created.json()
    done = wait_finished(client, created.json()["id"])
    assert (done["status"], done["completed"], done["model"]) == ("completed", 1, "preset/terse")
    asked = [r for r in fake_llm.requests if r.get("messages") and r["messages"][-1]["content"] == "alpha question"]
    assert asked[-1]["messages"][0] == {"role": "system", "content": f"Answer tersely, {user.username}."}
    assert "Be verbose." not in json.dumps(asked[-1]), "a locked preset drops the row's own instructions"
    line = BatchLine.objects.get(batch_id=done["id"])
    assert line.response["model"] == "preset/terse"


def test_a_batch_on_a_preset_nobody_shared_is_refused_naming_the_model(fake_llm):
    make_preset(make_user(), "Private one", slug="private-one")
    client = key_client(make_key(make_user()))
    refused = post_batch(client, "q.csv", b"prompt\nhello\n", model="preset/private-one")
    assert refused.status_code == 404
    assert refused.json()["error"]["fields"] == {"model": ["No preset 'preset/private-one' you may use."]}
    assert not Batch.objects.exists()

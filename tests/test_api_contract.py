"""The API keeps its contract: schemathesis reads the live OpenAPI schema from a real Daphne and sends every
operation generated requests, valid and invalid; no answer may be a server error, or have a status, content type,
headers or body that the schema does not describe.

Bounded: a fixed seed and MAX_EXAMPLES per operation (about 1,500 requests; some 20 s of schemathesis, under a
minute with the server's start on two cores). The caller is a member with an API key of every scope and limits raised
so the run never meets them; web access is off, so no generated URL is ever fetched (nor links in messages). Answers
come from the fake model upstream, so sending messages is tested too, as JSON and as an event stream.
"""

import json
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
from django.core.files.base import ContentFile

from accounts.models import ApiKey, PolicyOverride, Role
from chat import services as chat_services
from chat.models import LabelSet, Message
from documents.models import Document
from presets import services as preset_services
from tests.factories import make_batch, make_key, make_user

pytestmark = pytest.mark.timeout(240)

SEED = 20261213
MAX_EXAMPLES = 25
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "unsupported_method",
    "allow_header_conformance",
]


def a_conversation_of(user) -> Message:
    """A conversation with a question and its answer; returns the answer."""
    conversation = chat_services.conversation_create(owner=user, title="contract")
    Message.objects.create(conversation=conversation, role="user", content="hello")
    return Message.objects.create(conversation=conversation, role="assistant", content="an answer")


def a_document_of(user) -> Document:
    content = uuid.uuid4().hex.encode()
    document = Document(
        owner=user, title="doc", filename="doc.txt", kind="txt", size_bytes=len(content), sha256=uuid.uuid4().hex
    )
    document.file.save(f"{user.pk}/{document.pk}.txt", ContentFile(content), save=False)
    document.save()
    return document


def a_key_of(user) -> int:
    make_key(user, scopes=["read"])
    return ApiKey.objects.filter(user=user).latest("created_at").pk


def objects_to_test_on(user) -> tuple[dict, dict]:
    """Real objects for the path parameters, so operations reach their success answers, not only 404s; deletions
    get objects of their own, so what the other operations use stays there for the whole run."""
    answer = a_conversation_of(user)
    shared = {
        "path.conversation_id": str(answer.conversation_id),
        "path.message_id": str(answer.pk),
        "path.document_id": str(a_document_of(user).pk),
        "path.key_id": a_key_of(user),  # not the key the run authenticates with
        "path.batch_id": make_batch(user).id,
        "path.preset": preset_services.preset_create(owner=user, name="contract preset").slug,
    }
    deleted = {
        "DELETE /api/v1/conversations/{conversation_id}/": {
            "path.conversation_id": str(a_conversation_of(user).conversation_id)
        },
        "DELETE /api/v1/documents/{document_id}/": {"path.document_id": str(a_document_of(user).pk)},
        "DELETE /api/v1/keys/{key_id}/": {"path.key_id": a_key_of(user)},
        "DELETE /api/v1/presets/{preset}/": {
            "path.preset": preset_services.preset_create(owner=user, name="contract deleted").slug
        },
        "POST /api/v1/batches/{batch_id}/cancel/": {"path.batch_id": make_batch(user).id},
        "DELETE /api/v1/tasks/label-sets/{label_set_id}/": {
            "path.label_set_id": LabelSet.objects.create(owner=user, name="contract", labels=["a", "b"]).pk
        },
    }
    return shared, deleted


def toml_table(values: dict) -> list[str]:
    return [f"{json.dumps(name)} = {json.dumps(value)}" for name, value in values.items()]


def config(shared: dict, per_operation: dict) -> str:
    lines = [
        f"seed = {SEED}",
        "workers = 1",  # with two, hypothesis's concurrent ast.parse failed at random on Python 3.11
        "request-timeout = 20",
        "max-stream-events = 50",
        'headers = { Authorization = "Bearer ${CONTRACT_API_KEY}" }',
        "[generation]",
        f"max-examples = {MAX_EXAMPLES}",
        'database = "none"',  # each run from the seed alone, nothing remembered between runs
        "[phases.stateful]",
        "enabled = false",
        "[checks]",
        "enabled = false",
        *[f"{check}.enabled = true" for check in CHECKS],
        "[parameters]",
        *toml_table(shared),
    ]
    for name, parameters in per_operation.items():
        lines += ["[[operations]]", f"include-name = {json.dumps(name)}", "[operations.parameters]"]
        lines += toml_table(parameters)
    return "\n".join(lines) + "\n"


def run_schemathesis(base_url: str, config_text: str, secret: str, workdir: Path) -> tuple[dict, str]:
    """The schemathesis CLI against the live schema; its JSON report and its console output."""
    config_file, report_file = workdir / "schemathesis.toml", workdir / "report.json"
    config_file.write_text(config_text)
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "--config-file", str(config_file), "--no-color", "run"),
        *(f"{base_url}/api/v1/schema/", "--report", "json", "--report-json-path", str(report_file)),
    ]
    # The key reaches the config through the environment, so it is never written to a file.
    environment = {"CONTRACT_API_KEY": secret, "PATH": "/usr/bin:/bin", "HOME": str(workdir)}
    run = subprocess.run(command, capture_output=True, text=True, timeout=200, env=environment, cwd=workdir)
    report = json.loads(report_file.read_text()) if report_file.exists() else {}
    return report, run.stdout[-30000:] + run.stderr[-5000:]


def server_log(workdir: Path) -> str:
    return "".join(log.read_text()[-15000:] for log in workdir.glob("daphne-*.log"))


@pytest.mark.django_db(transaction=True)
def test_the_live_api_matches_its_openapi_schema(daphne_server, fake_llm, settings, tmp_path: Path):
    user = make_user(Role.MEMBER, username="contract")
    PolicyOverride.objects.create(
        user=user, requests_per_minute=100_000, daily_token_budget=100_000_000, max_documents=100_000, web_access=False
    )
    secret = make_key(user)
    shared, per_operation = objects_to_test_on(user)
    base_url = daphne_server(settings.LLM_MODELS)

    report, output = run_schemathesis(base_url, config(shared, per_operation), secret, tmp_path)

    explain = f"{output}\n--- the server's log:\n{server_log(tmp_path)}"
    assert report.get("complete"), f"schemathesis did not finish:\n{explain}"
    assert report["failures"] == [], f"answers the schema does not describe (schemathesis says how):\n{explain}"
    assert report["errors"] == [], f"schemathesis could not test everything:\n{explain}"
    operations = report["operations"]
    assert operations["tested"] == operations["total"] > 20, operations
    # A run whose key failed would pass too (401 is documented): every read must have reached a real answer.
    answered = {name for name, rates in report["valid_rates"].items() if any(r["accepted"] for r in rates.values())}
    reads = {name for name in report["valid_rates"] if name.startswith("GET ")}
    assert reads, report["valid_rates"]
    assert reads <= answered, f"reads that never got a success answer: {sorted(reads - answered)}"


@pytest.mark.django_db(transaction=True)
def test_a_multipart_body_with_no_parts_gets_the_api_error_shape(daphne_server, fake_llm, settings):
    """Twisted used to answer such a body itself, with an empty 400, before Django could (see genaisite/asgi.py)."""
    secret = make_key(make_user(Role.MEMBER))
    base_url = daphne_server(settings.LLM_MODELS)
    boundary = "contract"
    request = urllib.request.Request(
        f"{base_url}/api/v1/documents/",
        data=f"--{boundary}--\r\n".encode(),
        headers={"Authorization": f"Bearer {secret}", "Content-Type": f"multipart/form-data; boundary={boundary}"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400
    assert refused.value.headers["Content-Type"] == "application/json"
    assert json.loads(refused.value.read())["error"]["fields"]["file"] == ["No file was submitted."]

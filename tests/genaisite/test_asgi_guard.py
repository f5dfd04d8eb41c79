"""The real ASGI application (genaisite.asgi): bodies over the limit are refused before Django spools them, raw
query bytes that are not UTF-8 get a JSON 400, and /v1's own middleware stack answers errors as JSON under DEBUG."""

import json

import pytest
from asgiref.testing import ApplicationCommunicator
from channels.db import database_sync_to_async as db
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

from genaisite.asgi import application
from genaisite.asgi_guard import ApiRequestGuard
from tests.factories import make_key, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def communicator(method: str, path: str, *, query: bytes = b"", headers: dict[str, str] | None = None, app=application):
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }
    return ApplicationCommunicator(app, scope)


async def response_of(app: ApplicationCommunicator, *chunks: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``chunks`` as the body (none: the app must answer without reading one); the status, headers and body."""
    for index, chunk in enumerate(chunks):
        await app.send_input({"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1})
    start = await app.receive_output(timeout=10)
    assert start["type"] == "http.response.start"
    headers = {name.decode().lower(): value.decode() for name, value in start["headers"]}
    body = b""
    while True:
        message = await app.receive_output(timeout=10)
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await app.wait(timeout=10)  # Django closes the response (and hands its database connection back) after sending
    return start["status"], headers, body


async def a_key() -> str:
    return await db(make_key)(await db(make_user)())


async def still_answers(key: str) -> None:
    app = communicator("GET", "/v1/models", headers={"Authorization": f"Bearer {key}"})
    status, _, body = await response_of(app, b"")
    assert status == 200
    assert json.loads(body)["object"] == "list"
    payload = json.dumps({"title": "after"}).encode()
    app = communicator(
        "POST",
        "/api/v1/conversations/",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    status, _, _ = await response_of(app, payload[:5], payload[5:])  # chunked, no Content-Length
    assert status == 201


@pytest.mark.parametrize("path", ["/api/v1/conversations/", "/v1/chat/completions"])
async def test_a_declared_body_over_the_limit_is_refused_before_it_is_read(path):
    key = await a_key()
    app = communicator(
        "POST", path, headers={"Authorization": f"Bearer {key}", "Content-Length": str(50 * 1024 * 1024)}
    )
    status, headers, body = await response_of(app)  # no body sent: the guard must not wait for it
    assert status == 413
    assert headers["content-type"] == "application/json"
    assert headers["x-content-type-options"] == "nosniff"
    error = json.loads(body)["error"]
    assert error["code"] == "request_too_large"
    if path.startswith("/v1/"):
        assert (error["type"], error["param"]) == ("invalid_request_error", None)
    await still_answers(key)


@pytest.mark.parametrize("path", ["/api/v1/conversations/", "/v1/chat/completions"])
async def test_a_chunked_body_is_cut_off_at_the_limit(path, settings):
    settings.REQUEST_MAX_BODY_BYTES = 64 * 1024
    key = await a_key()
    app = communicator("POST", path, headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    status, _, body = await response_of(app, *[b" " * 16 * 1024] * 5)
    assert status == 413
    assert json.loads(body)["error"]["code"] == "request_too_large"
    await still_answers(key)


async def test_a_big_body_is_checked_off_the_event_loop_all_the_same():
    key = await a_key()
    messages = [{"role": "user", "content": "x" * 300_000}, {"role": "user", "content": "nul \x00"}]
    payload = json.dumps({"model": "fake-echo", "messages": messages}).encode()
    headers = {"Authorization": f"Bearer {key}", "Content-Length": str(len(payload))}
    status, _, body = await response_of(communicator("POST", "/v1/chat/completions", headers=headers), payload)
    assert status == 400
    error = json.loads(body)["error"]
    assert (error["code"], error["param"]) == ("nul_character", "messages[1].content")
    await still_answers(key)


async def test_the_app_behind_the_guard_never_receives_more_than_the_limit(settings):
    settings.REQUEST_MAX_BODY_BYTES = 64 * 1024
    received: list[int] = []

    async def reads_everything(scope, receive, send) -> None:
        while (message := await receive())["type"] == "http.request":
            received.append(len(message["body"]))
            if not message.get("more_body"):
                await send({"type": "http.response.start", "status": 200, "headers": []})
                await send({"type": "http.response.body", "body": b"read it all"})
                return

    app = communicator("POST", "/v1/chat/completions", app=ApiRequestGuard(reads_everything))
    status, _, body = await response_of(app, *[b" " * 16 * 1024] * 8)
    assert status == 413
    assert json.loads(body)["error"]["code"] == "request_too_large"
    assert sum(received) <= 64 * 1024


async def test_a_document_upload_passes_with_its_own_bigger_limit(settings):
    settings.REQUEST_MAX_BODY_BYTES = 64 * 1024
    key = await a_key()
    text = b"An ordinary line of a text document.\n" * 3000  # about 110 KB
    payload = encode_multipart(BOUNDARY, {"file": SimpleUploadedFile("notes.txt", text)})
    headers = {"Authorization": f"Bearer {key}", "Content-Type": MULTIPART_CONTENT, "Content-Length": str(len(payload))}
    status, _, body = await response_of(communicator("POST", "/api/v1/documents/", headers=headers), payload)
    assert status == 201, body
    assert json.loads(body)["size_bytes"] == len(text)


@pytest.mark.parametrize("path", ["/api/v1/conversations/", "/v1/models"])
async def test_a_raw_query_byte_that_is_not_utf8_is_a_json_400(path):
    key = await a_key()
    app = communicator("GET", path, query=b"search=caf\xe9", headers={"Authorization": f"Bearer {key}"})
    status, headers, body = await response_of(app, b"")
    assert status == 400
    assert headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["code"] == "invalid_utf8"
    named = error["param"] if path.startswith("/v1/") else next(iter(error["fields"]))
    assert named == "search"
    await still_answers(key)


async def test_the_openai_stack_answers_404_and_405_as_json_under_debug(settings):
    settings.DEBUG = True
    key = await a_key()
    auth = {"Authorization": f"Bearer {key}"}
    status, _, body = await response_of(communicator("GET", "/v1/no-such-thing", headers=auth), b"")
    assert status == 404
    assert json.loads(body)["error"]["code"] == "not_found"
    status, headers, body = await response_of(communicator("GET", "/v1/chat/completions", headers=auth), b"")
    assert status == 405
    assert headers["allow"] == "POST"
    assert set(json.loads(body)["error"]) == {"message", "type", "param", "code"}
    await still_answers(key)

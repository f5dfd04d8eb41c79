"""Bad input to /api/v1/ and /v1/ is refused before any view reads it, in the entry point's error shape, naming the
field; Django's own errors (404, 405, 413, 500) are JSON there too, under DEBUG as well; the service keeps answering.
"""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.factories import key_client, make_key, make_user, session_client

# /v1 views query from a thread of their own, which sees only committed rows.
pytestmark = pytest.mark.django_db(transaction=True)

REST = "/api/v1/conversations/"
OPENAI = "/v1/chat/completions"


@pytest.fixture
def client():
    return key_client(make_key(make_user()))


@pytest.fixture(params=[False, True], ids=["production", "debug"])
def debug(request, settings) -> bool:
    settings.DEBUG = request.param
    return request.param


def rest_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    return error


def openai_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["code"] == code
    assert error["type"] == ("invalid_request_error" if status < 500 else "api_error")
    assert error["message"]
    return error


def post_raw(client, path: str, body: bytes, content_type: str = "application/json"):
    return client.generic("POST", path, body, content_type=content_type)


def assert_still_answers(client) -> None:
    assert client.get("/api/v1/me").status_code == 200
    assert client.get("/v1/models").status_code == 200
    assert client.post(REST, {"title": "after"}, format="json").status_code == 201


def chat(content: str) -> bytes:
    # json.dumps writes a lone surrogate as the escape "\ud800", which json.loads turns back into one.
    return json.dumps({"model": "fake-echo", "messages": [{"role": "user", "content": content}]}).encode()


@pytest.mark.parametrize(
    ("content", "code"),
    [("nul \x00 here", "nul_character"), ("half a pair \ud800", "lone_surrogate")],
)
def test_it_rejects_nul_and_lone_surrogates_in_json_naming_the_field(client, content, code):
    error = openai_error(post_raw(client, OPENAI, chat(content)), 400, code)
    assert error["param"] == "messages[0].content"
    assert "messages[0].content" in error["message"]
    error = rest_error(post_raw(client, REST, json.dumps({"title": content}).encode()), 400, code)
    assert error["fields"] == {"title": [error["message"]]}
    assert_still_answers(client)


def test_it_rejects_deep_nesting_on_both_apis(client):
    extra: list = []
    for _ in range(40):
        extra = [extra]
    body = json.dumps({"model": "fake-echo", "messages": [{"role": "user", "content": "hi", "extra": extra}]})
    # The body is level 1, the message list 2, a message 3, its "extra" 4: level 33 is 29 lists further in.
    deepest = "messages[0].extra" + "[0]" * 29
    error = openai_error(post_raw(client, OPENAI, body.encode()), 400, "too_deep")
    assert error["param"] == deepest
    error = rest_error(post_raw(client, REST, body.encode()), 400, "too_deep")
    assert list(error["fields"]) == [deepest]
    assert_still_answers(client)


def test_it_survives_nesting_deeper_than_the_json_decoder_can_recurse(client):
    body = b"[" * 100_000 + b"]" * 100_000
    openai_error(post_raw(client, OPENAI, body), 400, "too_deep")
    rest_error(post_raw(client, REST, body), 400, "too_deep")
    assert_still_answers(client)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"title": "caf\xe9"}', "invalid_utf8"),
        (b'{"title": "\xed\xa0\x80"}', "lone_surrogate"),
        (b'{"title": ', "invalid_json"),
        (b'{"title": NaN}', "invalid_json"),
    ],
)
def test_it_rejects_bodies_that_are_not_utf8_json(client, body, code):
    openai_error(post_raw(client, OPENAI, body), 400, code)
    rest_error(post_raw(client, REST, body), 400, code)
    assert_still_answers(client)


def test_it_rejects_nul_in_form_bodies_naming_the_field(client):
    response = post_raw(client, REST, b"title=a%00b", content_type="application/x-www-form-urlencoded")
    assert rest_error(response, 400, "nul_character")["fields"] == {"title": [response.json()["error"]["message"]]}


@pytest.mark.parametrize(
    ("query", "code", "field"),
    [
        ("search=%00", "nul_character", "search"),
        ("q=%ff%fe", "invalid_utf8", "q"),
        ("q=%ED%A0%80", "lone_surrogate", "q"),
        ("limit=10&of%00fset=1", "nul_character", "of\\u0000fset"),
    ],
)
def test_it_rejects_bad_query_strings_naming_the_parameter(client, query, code, field):
    error = rest_error(client.get(f"{REST}?{query}"), 400, code)
    assert list(error["fields"]) == [field]
    error = openai_error(client.get(f"/v1/models?{query}"), 400, code)
    assert error["param"] == field
    assert_still_answers(client)


def test_an_oversize_body_gets_413_in_each_shape(client, settings):
    settings.REQUEST_MAX_BODY_BYTES = 64 * 1024
    body = chat("x" * 70 * 1024)
    error = openai_error(post_raw(client, OPENAI, body), 413, "request_too_large")
    assert error["param"] is None
    assert "0.1 MB" in error["message"]
    rest_error(post_raw(client, REST, body), 413, "request_too_large")
    assert_still_answers(client)


def test_a_document_upload_may_be_bigger_than_a_json_body_up_to_its_own_limit(settings):
    settings.REQUEST_MAX_BODY_BYTES = 64 * 1024
    settings.UPLOAD_MAX_BODY_BYTES = 256 * 1024
    client = key_client(make_key(make_user()))
    text = b"A line of an ordinary text document.\n" * 3000  # about 110 KB
    response = client.post("/api/v1/documents/", {"file": SimpleUploadedFile("notes.txt", text)}, format="multipart")
    assert response.status_code == 201, response.content
    # The same file as a JSON-sized request anywhere else is refused...
    response = client.post(REST, {"file": SimpleUploadedFile("notes.txt", text)}, format="multipart")
    rest_error(response, 413, "request_too_large")
    # ... and an upload over its own limit too.
    response = client.post("/api/v1/documents/", {"file": SimpleUploadedFile("big.txt", text * 3)}, format="multipart")
    rest_error(response, 413, "request_too_large")
    assert_still_answers(client)


def test_djangos_own_refusal_of_a_big_form_field_is_a_413_in_shape(client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024  # the form's fields other than files; the file itself may be bigger
    response = client.post(
        "/api/v1/documents/",
        {"file": SimpleUploadedFile("a.txt", b"hello"), "title": "t" * 5000},
        format="multipart",
    )
    rest_error(response, 413, "request_too_large")
    assert_still_answers(client)


def test_unknown_paths_are_json_404s_on_both_apis(client, debug):
    error = rest_error(client.get("/api/v1/no-such-thing/"), 404, "not_found")
    assert "/api/v1/no-such-thing/" in error["message"]
    rest_error(client.get("/api/v2/conversations/"), 404, "not_found")
    error = openai_error(client.post("/v1/audio/speech", {}, format="json"), 404, "not_found")
    assert "/v1/audio/speech" in error["message"]
    assert_still_answers(client)


def test_wrong_methods_are_json_405s_on_both_apis(client, debug):
    # Signed in: an API key's scope check answers a method it has no scope for with 403 before the 405.
    rest_error(session_client(make_user()).delete("/api/v1/usage"), 405, "method_not_allowed")
    response = client.get(OPENAI)
    error = openai_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "POST"
    assert "use POST" in error["message"]
    openai_error(client.post("/v1/models", {}, format="json"), 405, "method_not_allowed")
    assert_still_answers(client)


def test_a_write_missing_its_trailing_slash_is_redirected_keeping_its_method(client, debug):
    conversation = client.post(REST, {"title": "t"}, format="json").json()
    path = f"/api/v1/conversations/{conversation['id']}"
    response = client.patch(path, {"title": "renamed"}, format="json")
    assert response.status_code == 308
    assert response["Location"] == f"{path}/"
    response = client.patch(path, {"title": "renamed"}, format="json", follow=True)
    assert response.status_code == 200
    assert response.json()["title"] == "renamed"
    assert client.post("/api/v1/conversations", {"title": "x"}, format="json").status_code == 308
    assert client.get("/api/v1/conversations").status_code == 301  # a read keeps Django's redirect
    assert_still_answers(client)


@pytest.mark.urls("tests.genaisite.failing_urls")
def test_a_crash_is_a_json_500_on_both_apis(debug):
    client = key_client(make_key(make_user()))
    client.raise_request_exception = False
    error = rest_error(client.get("/api/v1/crash/"), 500, "server_error")
    assert "Traceback" not in error["message"]
    openai_error(client.get("/v1/crash"), 500, "server_error")
    assert_still_answers(client)


def test_pages_keep_their_html_errors(settings):
    settings.DEBUG = False
    response = key_client("none").get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")

"""The OpenAPI schema describes what the API answers (tests/test_api_contract.py checks it against a live server)."""

import pytest
from drf_spectacular.generators import SchemaGenerator

ERROR = {"$ref": "#/components/schemas/ErrorResponse"}


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema: dict):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


def json_schema(response: dict) -> dict:
    return response["content"]["application/json"]["schema"]


def test_every_operation_documents_the_errors_of_the_gates_it_passes(schema):
    for name, operation in operations(schema):
        responses = operation["responses"]
        expected = {"401", "403", "429"}
        if "{" in name:
            expected.add("404")
        if "requestBody" in operation:
            expected.add("400")
        assert expected <= set(responses), name
        for status in expected:
            assert json_schema(responses[status]) == ERROR, (name, status)
        assert "Retry-After" in responses["429"]["headers"], name


def test_errors_have_one_shape(schema):
    components = schema["components"]["schemas"]
    assert components["ErrorResponse"]["required"] == ["error"]
    assert components["ErrorDetail"]["required"] == ["code", "message"]
    assert set(components["ErrorDetail"]["properties"]) == {"code", "message", "fields", "existing_id"}


@pytest.mark.parametrize(
    ("path", "item"),
    [
        ("/api/v1/conversations/", "Conversation"),
        ("/api/v1/conversations/{conversation_id}/messages/", "Message"),
        ("/api/v1/documents/", "Document"),
        ("/api/v1/keys/", "ApiKey"),
    ],
)
def test_lists_are_described_as_the_pages_they_are(schema, path, item):
    get = schema["paths"][path]["get"]
    assert json_schema(get["responses"]["200"]) == {"$ref": f"#/components/schemas/Paginated{item}List"}
    page = schema["components"]["schemas"][f"Paginated{item}List"]
    assert set(page["properties"]) == {"count", "next", "previous", "results"}
    assert {"limit", "offset"} <= {parameter["name"] for parameter in get["parameters"]}


def test_a_download_is_described_as_the_file_it_is(schema):
    content = schema["paths"]["/api/v1/documents/{document_id}/download/"]["get"]["responses"]["200"]["content"]
    assert {"application/pdf", "text/plain", "text/markdown", "text/html"} <= set(content)
    assert all(media["schema"] == {"type": "string", "format": "binary"} for media in content.values())


def test_an_export_is_described_in_both_its_formats(schema):
    content = schema["paths"]["/api/v1/conversations/{conversation_id}/export/"]["get"]["responses"]["200"]["content"]
    assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/ConversationExport"}
    assert content["text/markdown"]["schema"] == {"type": "string"}


def test_sending_a_message_is_described_as_json_or_an_event_stream(schema):
    responses = schema["paths"]["/api/v1/conversations/{conversation_id}/messages/"]["post"]["responses"]
    assert json_schema(responses["201"]) == {"$ref": "#/components/schemas/Message"}
    stream = responses["200"]["content"]["text/event-stream"]["schema"]
    assert stream == {"$ref": "#/components/schemas/ServerSentEvent"}
    event = schema["components"]["schemas"]["ServerSentEvent"]["properties"]["event"]
    assert event == {"$ref": "#/components/schemas/StreamEventEnum"}
    assert "`delta`" in responses["200"]["description"]
    assert json_schema(responses["502"]) == {"$ref": "#/components/schemas/GenerationFailed"}
    assert {"409", "413", "422"} <= set(responses)

"""/api/v1/documents/ and /api/v1/search/: what they answer."""

import pytest
from django.core.files.base import ContentFile
from drf_spectacular.generators import SchemaGenerator

from tests.documents.test_retrieval import add_document
from tests.factories import make_user, session_client

pytestmark = pytest.mark.django_db

LONG_CHUNK = "Background. " * 40 + "The warranty lasts five years from delivery." + " Other." * 40


def test_search_returns_each_hits_whole_chunk_beside_its_snippet():
    user = make_user()
    add_document(user, [LONG_CHUNK], title="Warranty terms")
    response = session_client(user).post("/api/v1/search/", {"query": "warranty", "k": 3}, format="json")
    assert response.status_code == 200
    [hit] = response.json()["results"]
    assert hit["title"] == "Warranty terms"
    assert hit["document_kind"] == "txt", "a reader can tell a PDF (openable at its page) from other files"
    assert hit["text"] == LONG_CHUNK
    assert "warranty lasts five years" in hit["snippet"]
    assert len(hit["snippet"]) < len(hit["text"])


def test_the_schema_documents_the_hit_text():
    components = SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]
    assert {"snippet", "text"} <= set(components["SearchHit"]["required"])
    assert components["SearchResults"]["properties"]["results"]["items"] == {"$ref": "#/components/schemas/SearchHit"}


@pytest.mark.parametrize("query", ["status=done", "status=re%00ady", "mine=perhaps"])
def test_a_list_query_that_cannot_be_used_is_a_400(query):
    response = session_client(make_user()).get(f"/api/v1/documents/?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]


def test_a_page_holds_at_most_200_whatever_the_limit_asked():
    user = make_user()
    for number in range(3):
        add_document(user, [f"text {number}"])
    # Uncapped, this limit reached Postgres as a LIMIT beyond bigint: a 500.
    response = session_client(user).get(f"/api/v1/documents/?limit={10**20}&offset=1")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 2
    assert "limit=200" in response.json()["previous"]


def test_a_download_may_be_asked_for_in_its_own_type_and_refusals_stay_json():
    owner = make_user()
    document = add_document(owner, ["text"])
    document.file.save("notes.txt", ContentFile(b"the notes"), save=True)
    response = session_client(owner).get(f"/api/v1/documents/{document.pk}/download/", HTTP_ACCEPT="text/plain")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain"
    assert b"".join(response.streaming_content) == b"the notes"
    stranger = session_client(make_user()).get(f"/api/v1/documents/{document.pk}/download/", HTTP_ACCEPT="text/plain")
    assert stranger.status_code == 404
    assert stranger["Content-Type"] == "application/json"

"""The Documents page and API beyond uploading: retrying a failed document, filtering and sorting the library,
and files without an extension."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Role
from documents import ingestion, services
from documents.models import Document
from tests.conftest import wait_until
from tests.factories import make_user, session_client

TEXT = b"Retry me. The harbour opens at six and closes at ten.\n" * 20


def upload(user, name: str, content: bytes = TEXT) -> Document:
    return services.document_upload(owner=user, upload=SimpleUploadedFile(name, content))


def failed(user, name: str = "notes.txt") -> Document:
    document = upload(user, name)
    ingestion.fail(document, "The worker ran out of memory.")
    Document.objects.filter(pk=document.pk).update(attempts=3)
    return document


@pytest.mark.django_db(transaction=True)
def test_a_failed_document_retried_through_the_api_is_read_again_by_the_worker(huey_worker):
    user = make_user()
    document = failed(user)
    response = session_client(user).post(f"/api/v1/documents/{document.pk}/retry/")
    assert response.status_code == 202, response.content
    assert (response.json()["status"], response.json()["error"], response.json()["progress"]) == ("queued", "", 0)
    assert wait_until(lambda: Document.objects.get(pk=document.pk).status == "ready", timeout=90)
    document.refresh_from_db()
    assert document.attempts == 1, "a retry starts a fresh count of attempts"
    assert document.chunk_count > 0


@pytest.mark.django_db
def test_it_rejects_retrying_a_document_that_has_not_failed():
    user = make_user()
    document = upload(user, "queued.txt")
    response = session_client(user).post(f"/api/v1/documents/{document.pk}/retry/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "not_failed"


@pytest.mark.django_db
def test_it_requires_the_owner_and_the_right_to_upload():
    owner = make_user()
    document = failed(owner)
    assert session_client(make_user()).post(f"/api/v1/documents/{document.pk}/retry/").status_code == 404
    Document.objects.filter(pk=document.pk).update(visibility=Document.Visibility.EVERYONE)
    response = session_client(make_user()).post(f"/api/v1/documents/{document.pk}/retry/")
    assert response.status_code == 403, "a shared document is readable, not another reader's to retry"
    owner.role = Role.VIEWER
    owner.save()
    assert session_client(owner).post(f"/api/v1/documents/{document.pk}/retry/").status_code == 403
    assert Document.objects.get(pk=document.pk).status == "failed"


@pytest.mark.django_db
def test_the_page_retries_with_a_plain_form_and_says_so():
    user = make_user()
    document = failed(user)
    page = session_client(user).post(f"/documents/{document.pk}/retry/", follow=True)
    assert "is queued to be read again" in page.content.decode()
    assert Document.objects.get(pk=document.pk).status == "queued"
    again = session_client(user).post(f"/documents/{document.pk}/retry/", follow=True)
    assert "only a failed document is retried" in again.content.decode()


@pytest.mark.django_db
def test_the_page_shows_retry_only_on_failed_documents():
    user = make_user()
    broken, fine = failed(user, "broken.txt"), upload(user, "fine.txt", b"Another text entirely.")
    html = session_client(user).get("/documents/").content.decode()
    assert f'action="/documents/{broken.pk}/retry/" class="inline-form" data-field="retry">' in html
    assert f'action="/documents/{fine.pk}/retry/" class="inline-form" data-field="retry" hidden>' in html


@pytest.fixture
def library():
    user = make_user()
    names = [("beta.txt", b"b" * 30), ("Alpha.md", b"# a\n" * 50), ("gamma.txt", b"g" * 10)]
    documents = {name: upload(user, name, content) for name, content in names}
    ingestion.fail(documents["gamma.txt"], "Could not read it.")
    return user, documents


def titles(user, query: str) -> list[str]:
    response = session_client(user).get(f"/api/v1/documents/?{query}")
    assert response.status_code == 200, response.content
    return [row["title"] for row in response.json()["results"]]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sort=name", ["Alpha.md", "beta.txt", "gamma.txt"]),
        ("sort=name_desc", ["gamma.txt", "beta.txt", "Alpha.md"]),
        ("sort=oldest", ["beta.txt", "Alpha.md", "gamma.txt"]),
        ("", ["gamma.txt", "Alpha.md", "beta.txt"]),
        ("sort=largest", ["Alpha.md", "beta.txt", "gamma.txt"]),
        ("sort=smallest", ["gamma.txt", "beta.txt", "Alpha.md"]),
        ("sort=status", ["gamma.txt", "Alpha.md", "beta.txt"]),
        ("q=ALP", ["Alpha.md"]),
        ("q=.txt&sort=name", ["beta.txt", "gamma.txt"]),
        ("status=failed", ["gamma.txt"]),
    ],
)
def test_the_library_is_filtered_and_sorted_by_query_parameters(library, query, expected):
    user, _ = library
    assert titles(user, query) == expected


@pytest.mark.django_db
def test_the_page_filters_and_sorts_without_javascript(library):
    user, _ = library
    html = session_client(user).get("/documents/?q=a&status=queued&sort=name").content.decode()
    assert html.index("Alpha.md") < html.index("beta.txt")
    assert "gamma.txt" not in html.split("<tbody>")[1].split("</tbody>")[0]
    assert '<option value="name" selected>' in html
    assert "Clear filter" in html
    empty = session_client(user).get("/documents/?q=nothing-like-this").content.decode()
    assert "No documents match this filter." in empty


@pytest.mark.django_db
def test_an_unknown_sort_is_a_400_on_the_api_and_ignored_on_the_page(library):
    user, _ = library
    assert session_client(user).get("/api/v1/documents/?sort=size").status_code == 400
    assert session_client(user).get("/documents/?sort=size").status_code == 200


@pytest.mark.django_db
def test_the_page_uploads_several_files_at_once_without_javascript():
    user = make_user()
    files = [SimpleUploadedFile("one.txt", b"first file"), SimpleUploadedFile("NOTES", b"second, no extension")]
    page = session_client(user).post("/documents/", {"file": files}, follow=True)
    assert page.redirect_chain
    assert set(Document.objects.filter(owner=user).values_list("filename", "kind")) == {
        ("one.txt", "txt"),
        ("NOTES", "txt"),
    }


@pytest.mark.django_db
def test_a_binary_file_without_an_extension_is_refused_with_a_clear_message_on_page_and_api():
    user = make_user()
    binary = b"\x7fELF\x02\x01\x01\x00" + bytes(range(256))
    response = session_client(user).post(
        "/api/v1/documents/", {"file": SimpleUploadedFile("firmware", binary)}, format="multipart"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "unsupported_type"
    assert "“firmware” has no extension and is not plain text" in error["message"]
    files = [SimpleUploadedFile("firmware", binary), SimpleUploadedFile("readme", b"plain words")]
    page = session_client(user).post("/documents/", {"file": files})
    assert page.status_code == 400
    assert "firmware: “firmware” has no extension and is not plain text" in page.content.decode()
    assert list(Document.objects.filter(owner=user).values_list("filename", flat=True)) == ["readme"]

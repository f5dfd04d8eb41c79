"""Uploads: every refusal is a 4xx that says what to fix; accepted files are stored under their id."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import PolicyOverride, Role
from documents.models import Document
from tests.documents.files import docx_bomb, docx_with_many_parts, make_docx, make_pdf
from tests.factories import make_user, session_client

pytestmark = pytest.mark.django_db


def upload(user, name: str, content: bytes, **extra):
    return session_client(user).post(
        "/api/v1/documents/", {"file": SimpleUploadedFile(name, content), **extra}, format="multipart"
    )


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("report.pdf", make_pdf(["Quarterly numbers"])),
        ("notes.docx", make_docx([("Notes", ["First point."])])),
        ("readme.md", b"# Title\n\nSome text."),
        ("plain.txt", b"Just text."),
        ("page.html", b"<html><body><p>Hello</p></body></html>"),
    ],
)
def test_every_supported_format_is_accepted_and_queued(name, content):
    user = make_user()
    response = upload(user, name, content, title="Mine")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["status"], body["title"], body["filename"]) == ("queued", "Mine", name)
    document = Document.objects.get(pk=body["id"])
    assert document.file.name == f"documents/{user.pk}/{document.pk}.{document.kind}"
    assert document.file.read() == content


@pytest.mark.parametrize(
    ("name", "content", "status", "code", "says"),
    [
        ("empty.txt", b"", 400, "empty_file", "empty"),
        ("fake.pdf", b"just some text", 400, "type_mismatch", "does not look like a PDF"),
        ("fake.txt", make_pdf(["x"]), 400, "type_mismatch", "does not look like a TXT"),
        ("fake.docx", b"PK\x03\x04 not really a zip", 400, "corrupt_file", "damaged"),
        ("zip.docx", docx_with_many_parts(3), 400, "type_mismatch", None),
        ("program.exe", b"MZ\x90\x00", 400, "unsupported_type", "not supported"),
        ("firmware", b"\x7fELF\x02\x01\x01\x00\x00\x00", 400, "unsupported_type", "not supported"),
        ("empty-notes", b"", 400, "empty_file", "empty"),
        ("bomb.docx", docx_bomb(40), 400, "suspicious_archive", "zip bombs"),
        ("many.docx", docx_with_many_parts(4000), 400, "suspicious_archive", "parts"),
        ("page.html", b"no markup at all, just words", 400, "type_mismatch", "HTML"),
    ],
)
def test_bad_files_are_refused_with_a_clear_message(name, content, status, code, says):
    if name == "zip.docx":
        content = _zip_without_document()
    response = upload(make_user(), name, content)
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    if says:
        assert says in error["message"]
    assert not Document.objects.exists()


def _zip_without_document() -> bytes:
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "hi")
    return out.getvalue()


def test_an_oversize_file_is_refused_with_the_limit():
    user = make_user()
    PolicyOverride.objects.create(user=user, max_upload_mb=1)
    response = upload(user, "big.txt", b"a" * (2 * 1024 * 1024))
    assert response.status_code == 413
    assert "your limit is 1 MB" in response.json()["error"]["message"]


def test_the_same_file_is_not_ingested_twice():
    user = make_user()
    content = b"identical"
    first = upload(user, "a.txt", content)
    assert first.status_code == 201
    again = upload(user, "b.txt", content)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "duplicate"
    assert again.json()["error"]["existing_id"] == first.json()["id"], "a client can use the one it already has"
    assert upload(make_user(), "a.txt", content).status_code == 201  # someone else may upload it


def test_the_document_count_limit_holds():
    user = make_user()
    PolicyOverride.objects.create(user=user, max_documents=1)
    assert upload(user, "one.txt", b"one").status_code == 201
    response = upload(user, "two.txt", b"two")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "document_limit"


def test_viewers_cannot_upload():
    response = upload(make_user(Role.VIEWER), "a.txt", b"x")
    assert response.status_code == 403


def test_file_names_are_sanitised_and_never_used_for_storage():
    user = make_user()
    response = upload(user, "../../etc/pass\x07wd<1>.txt", b"x")
    body = response.json()
    assert body["filename"] == "passwd_1_.txt"  # control character dropped, <> replaced
    assert ".." not in Document.objects.get(pk=body["id"]).file.name


@pytest.mark.parametrize(
    "name",
    ["LICENSE", "notes", "MPL-2.0", "README"],
)
def test_a_text_file_without_an_extension_is_recognised_by_its_content(name):
    content = "Mozilla Public License Version 2.0\n\n1. Definitions — “Contributor” means…\n".encode() * 40
    response = upload(make_user(), name, content)
    assert response.status_code == 201, response.content
    document = Document.objects.get(pk=response.json()["id"])
    assert (document.kind, document.filename) == ("txt", name)

"""Uploads when storage fails: a full disk or a read-only or forbidden volume answers an error that names the cause
(JSON on the API, a form error on the page) and leaves neither a partial file nor a Document row behind."""

import errno
import os
import subprocess
from pathlib import Path

import pytest
from django.core.files.storage import FileSystemStorage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from documents.models import Document
from tests.factories import make_user, session_client

pytestmark = pytest.mark.django_db

TEXT = b"Quarterly notes on the sample under test.\n\n" * 8000  # ~350 KB: several chunks to write


class FailingDiskStorage(FileSystemStorage):
    """A file system storage whose disk gives out after the first piece of a file: the piece is really written,
    then the write fails with ``fail_with`` (what a full disk, a read-only or a forbidden volume raises)."""

    def __init__(self, *, fail_with: int, **options) -> None:
        super().__init__(**options)
        self.fail_with = fail_with

    def _save(self, name: str, content) -> str:
        path = Path(self.path(name))
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("xb") as out:
            out.write(next(iter(content.chunks())))
            raise OSError(self.fail_with, os.strerror(self.fail_with), str(path))


def files_under(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


def use_failing_storage(settings, root: Path, fail_with: int) -> None:
    settings.STORAGES = settings.STORAGES | {
        "default": {
            "BACKEND": f"{__name__}.FailingDiskStorage",
            "OPTIONS": {"location": str(root), "fail_with": fail_with},
        }
    }


def api_upload(user, content: bytes = TEXT):
    file = SimpleUploadedFile("notes.txt", content)
    return session_client(user).post("/api/v1/documents/", {"file": file}, format="multipart")


@pytest.mark.parametrize(
    ("fail_with", "status", "code", "says"),
    [
        (errno.ENOSPC, 507, "storage_full", "no room left"),
        (errno.EDQUOT, 507, "storage_full", "no room left"),
        (errno.EROFS, 503, "storage_unavailable", "read-only"),
        (errno.EACCES, 503, "storage_unavailable", "may not write"),
        (errno.EIO, 503, "storage_unavailable", "EIO"),
    ],
    ids=["ENOSPC", "EDQUOT", "EROFS", "EACCES", "EIO"],
)
def test_it_answers_a_storage_failure_in_json_naming_the_cause(settings, tmp_path, fail_with, status, code, says):
    use_failing_storage(settings, tmp_path, fail_with)
    response = api_upload(make_user())
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code
    assert says in error["message"]
    assert files_under(tmp_path) == [], "the partial file must be removed"
    assert not Document.objects.exists()


def test_the_upload_page_shows_a_storage_failure_as_a_form_error(settings, tmp_path):
    use_failing_storage(settings, tmp_path, errno.ENOSPC)
    page = session_client(make_user()).post("/documents/", {"file": SimpleUploadedFile("notes.txt", TEXT)})
    assert page.status_code == 507
    assert "The server has no room left to store the file." in page.content.decode()
    assert files_under(tmp_path) == []
    assert not Document.objects.exists()


@pytest.fixture
def small_volume(tmp_path, settings):
    """A real 64 KB tmpfs as MEDIA_ROOT: the kernel itself answers ENOSPC or EROFS. Needs root with mount rights
    (a container without them skips; the tests above cover the same paths with a failing storage)."""
    mountpoint = tmp_path / "media"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs", str(mountpoint)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    settings.MEDIA_ROOT = str(mountpoint)
    yield mountpoint
    subprocess.run(["umount", "--lazy", str(mountpoint)], check=True)


def test_a_really_full_disk_answers_507_and_keeps_nothing(small_volume):
    response = api_upload(make_user())
    assert response.status_code == 507, response.content
    assert response.json()["error"]["code"] == "storage_full"
    assert files_under(small_volume) == []
    assert not Document.objects.exists()
    # The disk is usable again for a file that fits: the failure left no leftovers taking its room.
    assert api_upload(make_user(), b"Small notes.").status_code == 201


def test_a_really_read_only_volume_answers_503_and_keeps_nothing(small_volume):
    subprocess.run(["mount", "-o", "remount,ro", str(small_volume)], check=True)
    response = api_upload(make_user())
    assert response.status_code == 503, response.content
    error = response.json()["error"]
    assert (error["code"], "read-only" in error["message"]) == ("storage_unavailable", True)
    assert files_under(small_volume) == []
    assert not Document.objects.exists()


def test_a_spool_directory_that_is_gone_answers_503_on_the_api_and_the_page(settings, tmp_path):
    # Large uploads are spooled to a temporary file while the request is parsed, before any view runs.
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "removed")
    response = api_upload(make_user())
    assert response.status_code == 503, response.content
    assert response.json()["error"]["code"] == "storage_unavailable"
    assert "ENOENT" in response.json()["error"]["message"]
    browser = Client(enforce_csrf_checks=True)  # the CSRF check parses the form before the view: it must survive
    browser.force_login(make_user())
    token = browser.get("/documents/").cookies["csrftoken"].value
    page = browser.post("/documents/", {"csrfmiddlewaretoken": token, "file": SimpleUploadedFile("notes.txt", TEXT)})
    assert page.status_code == 503
    assert "The server cannot store files right now" in page.content.decode()
    assert not Document.objects.exists()


def test_a_full_spool_directory_answers_507_and_keeps_nothing(small_volume, settings):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024
    settings.FILE_UPLOAD_TEMP_DIR = str(small_volume)
    response = api_upload(make_user())  # ~350 KB into a 64 KB volume
    assert response.status_code == 507, response.content
    assert response.json()["error"]["code"] == "storage_full"
    assert files_under(small_volume) == [], "the partial temporary file is removed"
    assert not Document.objects.exists()

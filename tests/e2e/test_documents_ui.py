"""The Documents page in Chromium with the real worker: one upload control (drop or choose, several files), each
file's progress to Ready or Failed with its reason and a Retry button, and the library filtered and sorted, at
phone (390 px) and wide (1440 px) widths, with axe checks of each state."""

import pytest

from tests.documents.files import make_pdf
from tests.e2e.conftest import PHONE, WIDE, in_orm_thread
from tests.e2e.test_chat_flow import drop_files
from tests.e2e.test_pages import sideways_overflow, sign_in_by_keyboard, tab_to
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)

FILES = [
    ("handbook.pdf", "application/pdf", make_pdf(["The harbour office opens at six.", "Soup on Tuesdays."])),
    ("NOTES", "", b"Meeting notes without an extension: plain UTF-8 text.\n" * 20),
    ("broken.pdf", "application/pdf", b"%PDF-1.7\n" + b"\x00damaged beyond repair" * 50),
]


@pytest.fixture
def live_app(fake_llm, settings, request) -> str:
    request.getfixturevalue("huey_worker")
    return request.getfixturevalue("daphne_server")(settings.LLM_MODELS)


def row(page, name: str):
    return page.locator("#documents tbody tr", has_text=name)


def check(page, axe_violations, screenshot, step: str) -> None:
    assert axe_violations(page) == [], step
    assert sideways_overflow(page) == [], step
    screenshot(page, step)


@pytest.mark.parametrize("viewport", [PHONE, WIDE], ids=["phone", "wide"])
def test_files_upload_with_progress_fail_with_retry_and_the_library_filters_and_sorts(
    live_app, open_page, axe_violations, screenshot, viewport
):
    in_orm_thread(lambda: make_user(username="librarian"))
    page = open_page(live_app, viewport)
    sign_in_by_keyboard(page, "librarian")
    page.goto("/documents/")
    assert page.locator("form.drop-zone").count() == 1, "one upload control"
    assert page.get_by_role("button", name="Upload").is_hidden(), "with JavaScript the files go as they are chosen"
    check(page, axe_violations, screenshot, "empty library")

    if viewport is PHONE:  # the Choose files button (reachable by Tab) opens the file picker
        tab_to(page, "#choose-files")
        with page.expect_file_chooser() as chooser:
            page.get_by_role("button", name="Choose files").click()
        chooser.value.set_files([{"name": n, "mimeType": t or "text/plain", "buffer": b} for n, t, b in FILES])
    else:
        drop_files(page, "#drop-zone", FILES)

    for name in ("handbook.pdf", "NOTES"):
        row(page, name).locator(".doc-status", has_text="Ready").wait_for(timeout=90_000)
        assert row(page, name).locator('[data-field="progress"]').get_attribute("value") == "100"
        assert row(page, name).get_by_role("button", name="Retry").is_hidden()
    broken = row(page, "broken.pdf")
    broken.locator(".doc-status.status-failed").wait_for(timeout=60_000)
    assert broken.locator('[data-field="error"]').inner_text().strip(), "a failed file says why"
    retry = broken.get_by_role("button", name="Retry broken.pdf")
    retry.wait_for()
    check(page, axe_violations, screenshot, "two ready one failed")

    # Retry goes through the API and the row follows the new attempt live (the file is still broken: failed again).
    with page.expect_response(lambda response: response.url.endswith("/retry/")) as answer:
        retry.click()
    assert answer.value.status == 202
    broken.locator(".doc-status.status-failed").wait_for(timeout=60_000)
    retry.wait_for()
    screenshot(page, "failed again after retry")

    # Filter and sort: a plain GET form, so the state is in the address and survives a reload.
    page.get_by_label("Sort by").select_option("name")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**/documents/?*sort=name*")
    names = page.locator('#documents tbody [data-field="title"]').all_inner_texts()
    assert names == ["broken.pdf", "handbook.pdf", "NOTES"], names
    check(page, axe_violations, screenshot, "sorted by name")

    page.get_by_label("Name contains").fill("pdf")
    page.get_by_label("Status").select_option("failed")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**/documents/?*status=failed*")
    assert page.locator('#documents tbody [data-field="title"]').all_inner_texts() == ["broken.pdf"]
    check(page, axe_violations, screenshot, "filtered to failed pdfs")

    page.get_by_label("Name contains").fill("nothing like this")
    page.get_by_role("button", name="Apply").click()
    page.get_by_text("No documents match this filter.").wait_for()
    page.get_by_role("link", name="Clear filter").click()
    assert page.locator("#documents tbody tr").count() == 3

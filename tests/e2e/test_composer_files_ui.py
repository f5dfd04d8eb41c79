"""Files in the composer, in Chromium with the real worker and the local model: a file dropped on a new chat makes
the conversation and answers its question once read (the question waits for it), the Attach button at phone width,
a file over the uploader's limit refused before it is sent, × to detach, and pasted links shown as chips. Each
state is checked with axe and for sideways scroll; the conftest gate fails on console errors and CSP violations."""

import re

import pytest

from accounts.models import PolicyOverride
from chat.models import Conversation
from documents.models import Document
from tests.e2e.conftest import PHONE, WIDE, in_orm_thread, local_model_app
from tests.e2e.test_chat_flow import drop_files
from tests.e2e.test_documents_ui import check  # axe, sideways scroll and a screenshot of each state
from tests.e2e.test_pages import sign_in_by_keyboard
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)

LIGHTHOUSE = (
    b"The Zephyr Point lighthouse keeper is called Marta Quill. "
    b"Marta Quill feeds the gulls at seven every morning and paints the lamp room blue each spring.\n"
)
QUESTION = "Who is the Zephyr Point lighthouse keeper?"
UPLOAD = re.compile(r".*/api/v1/documents/$")
CONFLICT = "Failed to load resource: the server responded with a status of 409 (Conflict)"


@pytest.fixture
def live_app(settings, llm_server_url, request) -> str:
    return local_model_app(settings, llm_server_url, request, max_output_tokens=48)  # short answers


def chip(page, name: str):
    return page.locator("#attached-files .file-chip", has_text=name)


def the_conversation(username: str) -> tuple[str, list[str]]:
    conversation = Conversation.objects.get(owner__username=username)
    return conversation.documents_mode, [str(pk) for pk in conversation.documents.values_list("pk", flat=True)]


def test_a_file_dropped_on_a_new_chat_is_read_before_the_question_waiting_for_it_is_answered(
    live_app, open_page, axe_violations, screenshot
):
    in_orm_thread(lambda: make_user(username="keeper"))
    page = open_page(live_app, WIDE)
    sign_in_by_keyboard(page, "keeper")
    page.wait_for_url("**/chat/")

    # Dragging files over the conversation shows where they can go.
    transfer = page.evaluate_handle(
        "() => { const t = new DataTransfer(); t.items.add(new File(['x'], 'x.txt')); return t; }"
    )
    page.dispatch_event("#conversation", "dragenter", {"dataTransfer": transfer})
    assert page.locator("#drop-hint").is_visible()
    check(page, axe_violations, screenshot, "dragging a file over the conversation")
    page.dispatch_event("#conversation", "dragleave", {"dataTransfer": transfer})
    assert page.locator("#drop-hint").is_hidden()

    # The upload is held back by the test, so the question is certain to be written while the file is on its way.
    held = []
    page.route(UPLOAD, lambda route: held.append(route) if route.request.method == "POST" else route.continue_())
    drop_files(page, "#conversation", [("lighthouse.txt", "text/plain", LIGHTHOUSE)])
    page.wait_for_url(re.compile(r".*/chat/[0-9a-f-]{36}/$"))  # attaching the first file made the conversation
    page.get_by_role("textbox", name="Message").fill(QUESTION)
    page.keyboard.press("Enter")
    note = page.locator("#attach-note")
    note.get_by_text("Your message will be sent once lighthouse.txt is read.", exact=True).wait_for()
    assert page.locator(".message-user").count() == 0, "the question waits for the file"
    assert page.get_by_role("button", name="Send").is_disabled()
    check(page, axe_violations, screenshot, "the question waits for the file")

    for _ in range(50):  # the route's callback runs on Playwright's loop: give it its turn
        if held:
            break
        page.wait_for_timeout(100)
    assert len(held) == 1, "the file went up as soon as it was dropped"
    held[0].continue_()
    chip(page, "lighthouse.txt").locator(".file-chip-status", has_text="Ready").wait_for(timeout=90_000)
    page.locator(".message-user").first.wait_for()
    assert page.get_by_role("textbox", name="Message").input_value() == "", "sent by itself once the file was read"
    assert note.inner_text() == ""
    answer = page.locator(".message-assistant").first
    page.wait_for_selector('.message-assistant[data-status="complete"]', timeout=90_000)
    answer.locator(".message-sources-summary").click()  # the sources panel starts closed
    source = answer.locator(".message-sources li").first
    source.wait_for(timeout=30_000)
    assert "lighthouse.txt" in source.inner_text(), "the answer cites the attached file"
    assert page.locator("#documents-mode").input_value() == "selected"
    check(page, axe_violations, screenshot, "answered from the attached file")

    document_id = in_orm_thread(lambda: str(Document.objects.get(owner__username="keeper").pk))
    assert in_orm_thread(lambda: the_conversation("keeper")) == ("selected", [document_id])

    # Reloaded, the attached file is still there, rendered by the server.
    page.reload()
    assert chip(page, "lighthouse.txt").locator(".file-chip-status").inner_text() == "Ready"
    check(page, axe_violations, screenshot, "the attached file after a reload")


def test_at_phone_width_files_are_attached_with_the_button_refused_over_the_limit_and_detached(
    live_app, open_page, axe_violations, screenshot, browser_problems
):
    def a_small_limit_and_no_web() -> None:
        user = make_user(username="pocket")
        PolicyOverride.objects.create(user=user, max_upload_mb=1, web_access=False)

    in_orm_thread(a_small_limit_and_no_web)
    page = open_page(live_app, PHONE)
    uploads = []
    page.on("request", lambda request: uploads.append(request) if UPLOAD.match(request.url) else None)
    sign_in_by_keyboard(page, "pocket")
    page.wait_for_url("**/chat/")

    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Attach files").click()
    chooser.value.set_files(
        [
            {"name": "big.txt", "mimeType": "text/plain", "buffer": b"far too long a text\n" * 80_000},
            {"name": "lighthouse.txt", "mimeType": "text/plain", "buffer": LIGHTHOUSE},
        ]
    )
    big = chip(page, "big.txt")
    big.locator(".file-chip-status", has_text="Not uploaded").wait_for()
    assert "larger than your limit of 1.0 MB" in big.locator(".file-chip-error").inner_text()
    chip(page, "lighthouse.txt").locator(".file-chip-status", has_text="Ready").wait_for(timeout=90_000)
    assert [request.method for request in uploads] == ["POST"], "the big file was never sent"
    check(page, axe_violations, screenshot, "one file ready one refused")
    page.emulate_media(color_scheme="dark")  # the chips' colours in the dark theme too
    check(page, axe_violations, screenshot, "one file ready one refused dark")

    # Nothing is on its way: a question goes out at once.
    page.get_by_role("textbox", name="Message").fill(QUESTION)
    page.get_by_role("button", name="Send").click()
    page.locator(".message-user").first.wait_for()
    assert page.locator("#attach-note").inner_text() == ""
    page.wait_for_selector('.message-assistant[data-status="complete"]', timeout=90_000)
    document_id = in_orm_thread(lambda: str(Document.objects.get(owner__username="pocket").pk))
    assert in_orm_thread(lambda: the_conversation("pocket")) == ("selected", [document_id])

    # × detaches: the conversation answers from all the user's documents again.
    big.get_by_role("button", name="Detach big.txt").click()
    with page.expect_response(lambda response: response.request.method == "PATCH") as patched:
        chip(page, "lighthouse.txt").get_by_role("button", name="Detach lighthouse.txt").click()
    assert patched.value.status == 200
    assert page.locator("#attached-files .file-chip").count() == 0
    page.wait_for_function("() => document.querySelector('#documents-mode').value === 'all'")
    assert in_orm_thread(lambda: the_conversation("pocket")) == ("all", [])

    # The same file again is already among the user's documents: that document is attached, not a second copy.
    browser_problems.expect(f"console: {CONFLICT} ({live_app}/api/v1/documents/)")  # the upload's answer: 409
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Attach files").click()
    chooser.value.set_files([{"name": "again.txt", "mimeType": "text/plain", "buffer": LIGHTHOUSE}])
    chip(page, "lighthouse.txt").locator(".file-chip-status", has_text="Ready").wait_for(timeout=30_000)
    assert page.locator("#attached-files .file-chip").count() == 1
    page.wait_for_function("() => document.querySelector('#documents-mode').value === 'selected'")
    assert in_orm_thread(lambda: the_conversation("pocket")) == ("selected", [document_id])
    assert in_orm_thread(lambda: Document.objects.filter(owner__username="pocket").count()) == 1
    with page.expect_response(lambda response: response.request.method == "PATCH"):
        chip(page, "lighthouse.txt").get_by_role("button", name="Detach lighthouse.txt").click()
    page.wait_for_function("() => document.querySelector('#documents-mode').value === 'all'")

    # A link in the message shows as a chip, trailing punctuation dropped; this role may not read web pages.
    page.get_by_role("textbox", name="Message").fill("Compare with https://example.org/harbour/page.")
    link = page.locator("#link-chips .link-chip")
    link.wait_for()
    assert link.locator(".link-chip-url").inner_text() == "https://example.org/harbour/page"
    assert "your role cannot read web pages" in link.inner_text()
    check(page, axe_violations, screenshot, "a link chip and no files")

    # A file pasted into the prompt is attached like one chosen; the text in the prompt stays as it was.
    page.locator("#prompt").evaluate(
        """(prompt) => {
          const transfer = new DataTransfer();
          transfer.items.add(new File(["Pasted notes: the ferry leaves at noon."], "pasted.txt", {type: "text/plain"}));
          prompt.dispatchEvent(new ClipboardEvent("paste", {clipboardData: transfer, bubbles: true, cancelable: true}));
        }"""
    )
    chip(page, "pasted.txt").locator(".file-chip-status", has_text="Ready").wait_for(timeout=90_000)
    assert page.get_by_role("textbox", name="Message").input_value() == "Compare with https://example.org/harbour/page."
    page.wait_for_function("() => document.querySelector('#documents-mode').value === 'selected'")

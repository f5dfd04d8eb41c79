"""A new user's first session, in a real Chromium against the running app, the real worker and the local model:
sign up → upload a document → see it reach ready → ask about it → watch tokens stream and a source appear →
stop a second answer midway → reload and find both answers saved."""

import base64
import json

import pytest

from chat.models import Message
from tests.documents.files import make_pdf
from tests.e2e.conftest import in_orm_thread, local_model_app

pytestmark = pytest.mark.django_db(transaction=True)

HANDBOOK = [
    "Harbor Robotics handbook. The Harbor Robotics office is in Rotterdam. "
    "Every new engineer at Harbor Robotics gets a yellow helmet and a red toolbox on the first day.",
    "The Harbor Robotics cafeteria serves soup every Tuesday.",
]
QUESTION = "What does a new engineer at Harbor Robotics get on the first day?"
LONG_REQUEST = "Write a very long story about a dragon who learns to cook, with many chapters."


@pytest.fixture
def live_app(settings, llm_server_url, request) -> str:
    # Room for a long answer, so the second one is still being written when the test stops it.
    return local_model_app(settings, llm_server_url, request, max_output_tokens=400)


def drop_files(page, selector: str, files: list[tuple[str, str, bytes]]) -> None:
    """Drop files on an element the way a user's drag from the desktop does: a drop event carrying a DataTransfer."""
    payload = [{"name": name, "type": kind, "data": base64.b64encode(data).decode()} for name, kind, data in files]
    transfer = page.evaluate_handle(
        """(files) => {
          const transfer = new DataTransfer();
          for (const file of files) {
            const bytes = Uint8Array.from(atob(file.data), (c) => c.charCodeAt(0));
            transfer.items.add(new File([bytes], file.name, {type: file.type}));
          }
          return transfer;
        }""",
        payload,
    )
    page.dispatch_event(selector, "dragenter", {"dataTransfer": transfer})
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def record_deltas(page) -> list[dict]:
    """Every ``delta`` frame the chat socket receives, as the server sent it."""
    deltas: list[dict] = []

    def on_socket(socket):
        def on_frame(payload):
            frame = json.loads(payload)
            if frame.get("type") == "delta":
                deltas.append(frame)

        socket.on("framereceived", on_frame)

    page.on("websocket", on_socket)
    return deltas


def wait_for_answer_text(page, index: int, *, min_length: int) -> None:
    page.wait_for_function(
        """([index, length]) => {
          const answer = document.querySelectorAll(".message-assistant")[index];
          return answer && answer.querySelector(".message-body").innerText.trim().length >= length;
        }""",
        arg=[index, min_length],
    )


def sign_up(page, username: str) -> None:
    page.goto("/")
    page.get_by_role("link", name="Sign up").first.click()
    page.locator("#id_username").fill(username)
    page.locator("#id_email").fill(f"{username}@example.com")
    page.locator("#id_password1").fill("a long and unusual passphrase 42")
    page.locator("#id_password2").fill("a long and unusual passphrase 42")
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url("**/chat/")


def test_a_new_user_uploads_asks_stops_and_finds_both_answers_saved(live_app, open_page, screenshot):
    page = open_page(live_app)
    deltas = record_deltas(page)

    sign_up(page, "newcomer")
    assert page.get_by_text("Welcome, newcomer!").is_visible()
    screenshot(page, "signed up")

    # Upload: a real PDF and a damaged one (it passes the upload checks and fails while being read), together.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Documents").click()
    drop_files(
        page,
        "#drop-zone",
        [
            ("handbook.pdf", "application/pdf", make_pdf(HANDBOOK)),
            ("broken.pdf", "application/pdf", b"%PDF-1.7\n" + b"\x00damaged beyond repair" * 50),
        ],
    )
    handbook = page.locator("#documents tr", has_text="handbook.pdf")
    handbook.locator(".doc-status", has_text="Ready").wait_for(timeout=90_000)
    assert handbook.locator('[data-field="progress"]').get_attribute("value") == "100"
    broken = page.locator("#documents tr", has_text="broken.pdf")
    broken.locator(".doc-status.status-failed").wait_for()
    assert broken.locator('[data-field="error"]').inner_text().strip(), "a failed upload says why"
    screenshot(page, "documents ready and failed", full_page=True)

    # Ask about it: tokens stream in, then a source naming the document appears under the answer.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Chat").click()
    page.wait_for_url("**/chat/")  # a box to type in at once: the conversation is made by the first send
    page.get_by_role("textbox", name="Message").fill(QUESTION)
    page.keyboard.press("Enter")
    page.wait_for_url("**/chat/*/")
    first_answer = page.locator(".message-assistant").nth(0)
    wait_for_answer_text(page, 0, min_length=1)
    screenshot(page, "first answer streaming")
    page.wait_for_selector('.message-assistant[data-status="complete"]', timeout=90_000)
    sources_panel = first_answer.locator(".message-sources-summary")
    sources_panel.wait_for(timeout=30_000)
    sources_panel.click()  # the panel starts closed
    source = first_answer.locator(".message-sources li").first
    source.wait_for()
    assert "handbook" in source.inner_text().lower()
    assert "/read/?chunk=" in source.locator("a.source-title").get_attribute("href")
    first_text = first_answer.locator(".message-body").inner_text()
    assert len(deltas) > 3, "the answer arrived as a stream of pieces"
    screenshot(page, "first answer with its source")

    # A second answer, stopped while it is being written.
    page.get_by_role("textbox", name="Message").fill(LONG_REQUEST)
    page.get_by_role("button", name="Send").click()
    second_answer = page.locator(".message-assistant").nth(1)
    wait_for_answer_text(page, 1, min_length=40)
    page.get_by_role("button", name="Stop").click()
    page.wait_for_selector('.message-assistant[data-status="stopped"]')
    assert page.get_by_role("button", name="Stop").is_hidden()
    stopped_text = second_answer.locator(".message-body").inner_text()
    screenshot(page, "second answer stopped")

    # Reload: both answers come back from the database as they were left.
    page.reload()
    page.locator(".message-assistant").nth(1).wait_for()
    reloaded = page.locator(".message-assistant")
    assert reloaded.count() == 2
    assert reloaded.nth(0).get_attribute("data-status") == "complete"
    assert reloaded.nth(0).locator(".message-body").inner_text() == first_text
    reloaded.nth(0).locator(".message-sources-summary").click()
    assert "handbook" in reloaded.nth(0).locator(".message-sources").inner_text().lower()
    assert reloaded.nth(1).get_attribute("data-status") == "stopped"
    assert reloaded.nth(1).locator(".message-body").inner_text() == stopped_text
    screenshot(page, "reloaded with both answers")

    saved = in_orm_thread(
        lambda: list(
            Message.objects.filter(role="assistant", conversation__owner__username="newcomer")
            .order_by("created_at")
            .values_list("status", "finish_reason")
        )
    )
    assert [status for status, _ in saved] == ["complete", "stopped"]

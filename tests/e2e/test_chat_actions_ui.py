"""The conversation actions as a user meets them, at phone and desktop widths, on the loopback fake model: type at
once on /chat/, copy an answer, regenerate it and step between versions, edit a question and resend, stop with Esc,
and the keyboard shortcuts in their help dialog. Fails on any console error or CSP violation (conftest)."""

import re

import pytest

from chat.models import Conversation, Message
from tests.conftest import use_models
from tests.e2e.conftest import DESKTOP, PHONE, in_orm_thread
from tests.e2e.test_pages import sign_in_by_keyboard
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)
VIEWPORTS = pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])


@pytest.fixture
def fake_app(fake_llm, settings, daphne_server) -> str:
    from tests.fake_llm import MODELS

    use_models(settings, fake_llm.base_url, MODELS, max_output_tokens=30)
    return daphne_server(settings.LLM_MODELS)


def finished_answers(page, count: int) -> None:
    page.wait_for_function(
        """(count) => document.querySelectorAll('.message-assistant[data-status="complete"]').length === count
             && document.querySelector('#stop').hidden""",
        arg=count,
    )


def first_send(page, text: str) -> None:
    page.get_by_role("textbox", name="Message").fill(text)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/chat/[0-9a-f-]{36}/$"))
    finished_answers(page, 1)


@VIEWPORTS
def test_a_first_message_on_chat_creates_the_conversation_and_the_answer_can_be_copied(
    fake_app, open_page, screenshot, viewport
):
    in_orm_thread(lambda: make_user(username="typist"))
    page = open_page(fake_app, viewport)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in_by_keyboard(page, "typist")
    assert page.evaluate("() => document.activeElement.id") == "prompt", "the cursor waits in the composer"
    assert page.get_by_role("button", name="Rename").is_hidden(), "nothing to rename before the first send"
    screenshot(page, "a new conversation to type in")

    first_send(page, "alpha first words")
    conversation = in_orm_thread(lambda: Conversation.objects.get(owner__username="typist"))
    assert page.url.endswith(f"/chat/{conversation.pk}/")
    if page.locator("#sidebar-toggle").is_visible():
        page.locator("#sidebar-toggle").click()
    link = page.locator("#conversation-list a[aria-current='page']")
    assert link.get_attribute("data-id") == str(conversation.pk), "the sidebar lists it, as the current one"
    assert page.get_by_role("button", name="Rename").is_visible()

    answer = page.locator(".message-assistant")
    answer.get_by_role("button", name="Copy").click()
    answer.get_by_role("button", name="Copied").wait_for()
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied.strip() == answer.locator(".message-body").inner_text().strip(), "the answer's text, as written"
    screenshot(page, "answered and copied")

    page.reload()  # the address pushed is the conversation's own page
    page.locator(".message-assistant[data-status='complete']").wait_for()
    assert page.locator(".message-user .message-body").inner_text() == "alpha first words"


@VIEWPORTS
def test_an_answer_is_regenerated_and_both_versions_stay_browsable(fake_app, open_page, screenshot, viewport):
    in_orm_thread(lambda: make_user(username="regen"))
    page = open_page(fake_app, viewport)
    sign_in_by_keyboard(page, "regen")
    first_send(page, "alpha again")
    first_text = page.locator(".message-assistant .message-body").inner_text()

    page.get_by_role("button", name="Regenerate").click()
    page.locator(".message-assistant .version-label", has_text="2/2").wait_for()
    finished_answers(page, 1)
    assert page.locator(".message-user").count() == 1, "the question is not repeated"
    screenshot(page, "second version")

    page.get_by_role("button", name="Previous version of this answer").click()
    page.locator(".message-assistant .version-label", has_text="1/2").wait_for()
    assert page.locator(".message-assistant .message-body").inner_text() == first_text
    assert page.get_by_role("button", name="Next version of this answer").is_enabled()
    screenshot(page, "first version again")
    answers = in_orm_thread(lambda: Message.objects.filter(role="assistant", status="complete").count())
    assert answers == 2


@VIEWPORTS
def test_a_question_is_edited_and_resent_as_a_branch_and_the_old_one_kept(fake_app, open_page, screenshot, viewport):
    in_orm_thread(lambda: make_user(username="editor"))
    page = open_page(fake_app, viewport)
    sign_in_by_keyboard(page, "editor")
    first_send(page, "alpha question")
    question = page.locator(".message-user")
    question.get_by_role("button", name="Edit").click()
    editor = question.get_by_role("textbox", name="Edit your message")
    editor.fill("bravo question")
    screenshot(page, "editing")
    editor.press("Enter")
    page.locator(".message-user .version-label", has_text="2/2").wait_for()
    finished_answers(page, 1)
    assert page.locator(".message-user .message-body").inner_text() == "bravo question"
    assert page.locator(".message-assistant .message-body").inner_text().startswith("bravo:")
    screenshot(page, "the new branch")

    page.get_by_role("button", name="Previous version of this question").click()
    page.locator(".message-user .version-label", has_text="1/2").wait_for()
    assert page.locator(".message-user .message-body").inner_text() == "alpha question"
    assert page.locator(".message-assistant .message-body").inner_text().startswith("alpha:")
    screenshot(page, "the old branch, kept")


@VIEWPORTS
def test_keyboard_shortcuts_stop_search_and_are_listed_in_a_dialog(fake_app, fake_llm, open_page, screenshot, viewport):
    in_orm_thread(lambda: make_user(username="keys"))
    page = open_page(fake_app, viewport)
    sign_in_by_keyboard(page, "keys")
    fake_llm.tokens_per_second = 4  # slow enough to stop midway
    page.get_by_role("textbox", name="Message").fill("slow answer\nsecond line")
    assert page.get_by_role("textbox", name="Message").input_value() == "slow answer\nsecond line"
    page.get_by_role("textbox", name="Message").press("Shift+Enter")
    assert page.get_by_role("textbox", name="Message").input_value().endswith("\n"), "Shift+Enter adds a line"
    page.keyboard.press("Enter")
    page.locator(".message-assistant[data-status='streaming']").wait_for()
    page.keyboard.press("Escape")
    page.locator(".message-assistant[data-status='stopped']").wait_for()
    assert page.get_by_role("button", name="Stop").is_hidden()
    screenshot(page, "stopped with Esc")

    page.keyboard.press("Control+k")
    assert page.evaluate("() => document.activeElement.id") == "conversation-search"
    assert page.get_by_label("Search conversations").is_visible()

    page.locator("#messages").click()  # out of any text field, "?" opens the list
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    dialog.wait_for()
    for key in ("Enter", "Shift", "Esc", "Ctrl"):
        assert dialog.locator("kbd", has_text=key).count() >= 1
    screenshot(page, "shortcuts dialog")
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    page.get_by_role("button", name="Keyboard shortcuts").click()
    dialog.wait_for()
    dialog.get_by_role("button", name="Close").click()
    dialog.wait_for(state="hidden")

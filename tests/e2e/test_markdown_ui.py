"""Answers render as the Markdown chat products show: tables, nested lists, strikethrough, task lists, code blocks
with a working copy button, safe links; and the sanitizer behind the parser stops what the parser would never emit.
The model is the loopback fake (``fake-markdown`` streams ``MARKDOWN_ANSWER`` in small pieces)."""

import pytest

from chat import services
from tests.e2e.conftest import DESKTOP, PHONE, in_orm_thread
from tests.e2e.test_pages import sideways_overflow, sign_in_by_keyboard
from tests.factories import make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fake_app(fake_llm, settings, daphne_server) -> str:
    return daphne_server([m | {"max_output_tokens": 400} for m in settings.LLM_MODELS])


def open_conversation(page, username: str, model: str) -> None:
    user = in_orm_thread(lambda: make_user(username=username))
    sign_in_by_keyboard(page, username)  # before the conversation exists: signing in would open it otherwise
    conversation = in_orm_thread(lambda: services.conversation_create(owner=user, model=model))
    page.goto(f"/chat/{conversation.id}/")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_it_renders_tables_lists_strikethrough_tasks_and_code(fake_app, open_page, screenshot, viewport):
    page = open_page(fake_app, viewport)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_conversation(page, "reader", "fake-markdown")
    page.get_by_role("textbox", name="Message").fill("Plan the launch")
    page.keyboard.press("Enter")
    page.wait_for_selector('.message-assistant[data-status="complete"]')
    body = page.locator(".message-assistant .message-body")

    assert body.locator("h4").inner_text() == "Plan", "an answer's headings sit under the page's own (## → h4)"
    table = body.locator(".table-wrap > table")
    assert table.locator("thead th").all_inner_texts() == ["Step", "Owner", "Days"]
    assert table.locator("tbody tr").count() == 2
    assert table.locator("tbody tr").first.locator("td").all_inner_texts() == ["Draft", "Ana", "2"]
    assert table.locator("td.align-center").count() == 2
    assert table.locator("td.align-right").count() == 2
    assert body.locator("[style]").count() == 0, "alignment is a class: the CSP allows no inline style"

    nested = body.locator("ol > li > ul > li")
    assert nested.count() == 2
    assert nested.locator("s").inner_text() == "book a room"

    tasks = body.locator("li.task-list-item input[type=checkbox]")
    assert tasks.count() == 2
    assert [tasks.nth(n).is_checked() for n in range(2)] == [True, False]
    assert all(tasks.nth(n).is_disabled() for n in range(2)), "a task in an answer is not a control"
    assert body.locator("li.task-list-item").first.inner_text().strip() == "write the tests"

    link = body.get_by_role("link", name="https://example.org/guide")
    assert link.get_attribute("href") == "https://example.org/guide"
    assert link.get_attribute("rel") == "noopener noreferrer nofollow"
    assert link.get_attribute("target") == "_blank"
    assert body.locator("a", has_text="settings.py").count() == 0, "a file name is not taken for a web address"

    assert body.locator(".code-language").inner_text() == "python"
    assert sideways_overflow(page) == [], sideways_overflow(page)
    screenshot(page, "rich answer")
    body.get_by_role("button", name="Copy code to the clipboard").click()
    assert page.evaluate("() => navigator.clipboard.readText()") == "print('a < b')"
    body.get_by_role("button", name="Copy code to the clipboard").filter(has_text="Copied").wait_for()


def test_the_sanitizer_stops_markup_the_parser_would_never_emit(fake_app, open_page):
    page = open_page(fake_app)
    open_conversation(page, "tester", "fake-echo")
    # No style attribute here: parsing one is already refused by the page's CSP (the rendering test checks that
    # answers never carry one).
    cleaned = page.evaluate(
        """() => {
          const holder = document.createElement("div");
          holder.appendChild(SafeMarkdown.sanitize(
            '<script>window.__pwned = 1</script><img src="/x" onerror="window.__pwned = 2">' +
            '<a href="javascript:window.__pwned = 3">js</a><a href="//elsewhere.example/">far</a>' +
            '<a href="https://example.org/">ok</a><p onclick="window.__pwned = 4">clickable</p>' +
            '<iframe src="https://example.org/"></iframe><form action="/"><input type="text" name="q"></form>'
          ));
          return holder.innerHTML;
        }"""
    )
    assert page.evaluate("() => window.__pwned") is None
    for forbidden in ("<script", "<img", "<iframe", "<form", "javascript:", "elsewhere", "onclick", "onerror"):
        assert forbidden not in cleaned, (forbidden, cleaned)
    assert '<a href="https://example.org/" rel="noopener noreferrer nofollow" target="_blank">ok</a>' in cleaned
    assert '<input type="checkbox" disabled="">' in cleaned, "an input that slips through is a read-only checkbox"

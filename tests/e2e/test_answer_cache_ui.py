"""The answer cache as a user meets it in the browser, on the local model: the same question in a new chat comes
back at once, marked "cached", and "regenerate fresh" asks the model again (a new version of the answer)."""

import pytest

from chat.models import Message
from tests.conftest import use_models
from tests.e2e.conftest import in_orm_thread
from tests.e2e.test_chat_flow import sign_up

pytestmark = pytest.mark.django_db(transaction=True)

QUESTION = "What is the capital of France?"


@pytest.fixture
def live_app(settings, llm_server_url, daphne_server) -> str:
    use_models(settings, llm_server_url, [settings.LLM_MODEL], max_output_tokens=60)
    return daphne_server(settings.LLM_MODELS)


def ask_in_a_new_chat(page, question: str):
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Chat").click()
    page.wait_for_url("**/chat/")
    page.get_by_role("textbox", name="Message").fill(question)
    page.keyboard.press("Enter")
    page.wait_for_url("**/chat/*/")
    answer = page.locator(".message-assistant").last
    page.wait_for_selector('.message-assistant[data-status="complete"]', timeout=90_000)
    return answer


def test_the_same_question_in_a_new_chat_is_answered_from_the_cache_and_can_be_asked_fresh(
    live_app, open_page, screenshot
):
    page = open_page(live_app)
    sign_up(page, "cacher")
    first = ask_in_a_new_chat(page, QUESTION)
    assert first.locator(".message-cached").count() == 0, "the first answer comes from the model"
    first_text = first.locator(".message-body").inner_text()

    again = ask_in_a_new_chat(page, QUESTION)
    badge = again.locator(".message-cached")
    badge.wait_for()
    assert badge.inner_text() == "cached"
    assert again.locator(".message-body").inner_text() == first_text
    screenshot(page, "answered from the cache")

    page.reload()  # the mark is saved with the answer, not only in the live frame
    page.locator(".message-assistant .message-cached").wait_for()

    # A fresh answer is another version of this one: the cached one stays, one click back.
    page.get_by_role("button", name="regenerate fresh").click()
    page.locator(".message-assistant .version-label", has_text="2/2").wait_for()
    page.wait_for_selector('.message-assistant[data-status="complete"]')
    assert page.locator(".message-assistant").count() == 1, "the new version takes the old one's place"
    fresh = page.locator(".message-assistant")
    assert fresh.locator(".message-cached").count() == 0, "a fresh answer is the model's"
    screenshot(page, "a fresh answer")
    answers = in_orm_thread(
        lambda: list(
            Message.objects.filter(role="assistant", conversation__owner__username="cacher")
            .order_by("created_at")
            .values_list("cached", "completion_tokens")
        )
    )
    assert [cached for cached, _ in answers] == ["", "exact", ""]
    assert answers[1][1] == 0, "the cached answer used no model tokens"

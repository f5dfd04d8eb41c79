"""The tasks page in Chromium on the local model: a text classified from the form shows its label and a bar per
label's score, with nothing the model wrote rendered as markup."""

import pytest

from chat.models import Conversation
from tests.conftest import use_models
from tests.e2e.conftest import in_orm_thread
from tests.e2e.test_chat_flow import sign_up

pytestmark = pytest.mark.django_db(transaction=True)

LABELS = ["positive", "negative", "neutral"]


@pytest.fixture
def live_app(settings, llm_server_url, daphne_server) -> str:
    use_models(settings, llm_server_url, [settings.LLM_MODEL], max_output_tokens=60)
    return daphne_server(settings.LLM_MODELS)


def test_a_text_is_classified_on_the_tasks_page(live_app, open_page, screenshot):
    page = open_page(live_app)
    sign_up(page, "classifier")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Tasks").click()
    page.wait_for_url("**/tasks/")
    page.get_by_label("Text").first.fill("What a wonderful, delightful day. I loved every minute!")
    page.get_by_label("Labels (comma-separated)").fill(", ".join(LABELS))
    page.get_by_role("button", name="Classify").click()
    page.wait_for_function("() => document.getElementById('classify-result').dataset.state === 'done'", timeout=90_000)
    result = page.locator("#classify-result")
    assert result.locator("[data-field=label]").inner_text() in LABELS
    bars = result.locator("progress")
    assert bars.count() == len(LABELS)
    total = sum(float(bars.nth(index).get_attribute("value") or 0) for index in range(len(LABELS)))
    assert total == pytest.approx(1.0, abs=1e-3)
    assert "model call" in result.locator("[data-field=usage]").inner_text()
    screenshot(page, "classified")
    sources = in_orm_thread(
        lambda: list(Conversation.objects.filter(owner__username="classifier").values_list("source", flat=True))
    )
    assert sources == ["task"]

"""The usage pages in Chromium: an admin follows the nav to the charts, a member finds their own on their account
page; both draw with no console error or CSP violation (the browser_problems fixture fails the test on any)."""

import pytest

from accounts.models import Role
from tests.e2e.conftest import PHONE, in_orm_thread
from tests.e2e.test_pages import sideways_overflow, sign_in_by_keyboard
from tests.factories import make_user
from tests.genaisite.test_usage import CHART_TITLES, answers, spend

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def app(fake_llm, settings, daphne_server) -> str:
    return daphne_server(settings.LLM_MODELS)


def people() -> tuple[str, str]:
    admin, ada = make_user(Role.ADMIN), make_user()
    spend(ada, "fake-echo", 1200, 300)
    spend(ada, "fake-usage", 40, 20, days_ago=2)
    spend(admin, "fake-echo", 90, 10, days_ago=1)
    answers(make_user(), [120, 240, 480], cached=1)  # someone else: signing in opens their last chat
    return admin.username, ada.username


def test_an_admin_opens_the_usage_page_from_the_nav_and_sees_every_chart(app, open_page, screenshot):
    admin, _ = in_orm_thread(people)
    page = open_page(app)
    sign_in_by_keyboard(page, admin)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Usage").click()
    page.wait_for_url("**/usage/")
    charts = page.locator("svg.chart")
    assert charts.count() == len(CHART_TITLES)
    for title in CHART_TITLES:
        chart = page.get_by_role("img", name=title)
        assert chart.is_visible()
        assert chart.bounding_box()["height"] > 50, f"{title} is drawn at its size"
    by_model = page.get_by_role("img", name="Tokens by model")
    assert by_model.locator("rect.mark").count() == 2, "one bar per model"
    assert "fake-echo: 1.6k" in by_model.locator("rect.mark title").all_text_contents()
    ttft = page.get_by_role("img", name="Time to first token by day")
    assert "p50: 240 ms" in " ".join(ttft.locator("circle.mark title").all_text_contents())
    screenshot(page, "usage page", full_page=True)

    page.set_viewport_size(PHONE)
    assert sideways_overflow(page) == [], "the charts shrink to a phone's width"
    screenshot(page, "usage page on a phone")


def test_a_member_sees_their_own_usage_charts_on_their_account_page(app, open_page, screenshot):
    _, ada = in_orm_thread(people)
    page = open_page(app)
    sign_in_by_keyboard(page, ada)
    assert page.get_by_role("link", name="Usage").count() == 0, "not for members"
    page.goto("/accounts/")
    for name in ["Your prompt and completion tokens", "Your tokens of the last 30 days by model"]:
        image = page.get_by_role("img", name=name)
        image.wait_for()
        assert page.evaluate("(img) => img.complete && img.naturalWidth > 0", image.element_handle()), name
    screenshot(page, "account page with usage")

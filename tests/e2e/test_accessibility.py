"""Every main page passes axe-core with no serious or critical violation, at phone (390 px) and wide (1440 px)
widths, in the light and the dark theme, without sideways scrolling; and the theme follows the system until the
user picks one with the header's toggle, which the next page load keeps from its very first paint."""

import pytest
from django.urls import reverse

from chat import services
from tests.e2e.conftest import PHONE, WIDE, in_orm_thread
from tests.e2e.test_pages import sideways_overflow, sign_in_by_keyboard
from tests.factories import make_user
from tests.ml.builders import house_version

pytestmark = pytest.mark.django_db(transaction=True)

SIGNED_IN_PAGES = [
    "chat:home",
    "documents:list",
    "presets:list",
    "presets:new",
    "batches",
    "ml:models",
    "tasks",
    "accounts:account",
    "accounts:api-keys",
]
SIGNED_OUT_PAGES = ["accounts:login", "accounts:signup"]
THEMES = ["light", "dark"]


@pytest.fixture
def fake_app(fake_llm, settings, daphne_server) -> str:
    in_orm_thread(lambda: house_version(alias="production"))  # the ML page with a model and its form
    return daphne_server([m | {"max_output_tokens": 400} for m in settings.LLM_MODELS])


def check_pages(page, names: list[str], axe_violations, screenshot) -> list[str]:
    """Every page in every theme and width: the problems found, each naming where."""
    problems = []
    for theme in THEMES:
        page.emulate_media(color_scheme=theme)  # no choice stored: the page follows the system
        for viewport in (PHONE, WIDE):
            page.set_viewport_size(viewport)
            for name in names:
                page.goto(reverse(name))
                where = f"{name} {theme} {viewport['width']}px"
                assert page.evaluate("() => document.documentElement.dataset.theme") == theme, where
                problems += [f"{where}: {violation}" for violation in axe_violations(page)]
                problems += [f"{where}: sticks out: {node}" for node in sideways_overflow(page)]
                screenshot(page, where)
    return problems


def test_the_main_pages_pass_axe_at_both_widths_in_both_themes(fake_app, open_page, axe_violations, screenshot):
    visitor = open_page(fake_app)
    problems = check_pages(visitor, SIGNED_OUT_PAGES, axe_violations, screenshot)

    page = open_page(fake_app)
    user = in_orm_thread(lambda: make_user(username="inspector"))
    sign_in_by_keyboard(page, "inspector")
    # The chat page as people see it most: a conversation with a rich answer in it (table, code, task list…).
    conversation = in_orm_thread(lambda: services.conversation_create(owner=user, model="fake-markdown"))
    page.goto(reverse("chat:conversation", args=[conversation.id]))
    page.get_by_role("textbox", name="Message").fill("Plan the launch")
    page.keyboard.press("Enter")
    page.wait_for_selector('.message-assistant[data-status="complete"]')
    problems += check_pages(page, SIGNED_IN_PAGES, axe_violations, screenshot)
    assert problems == [], "\n".join(problems)


def test_the_theme_toggle_overrides_the_system_and_is_remembered(fake_app, open_page, screenshot):
    page = open_page(fake_app, PHONE)
    page.emulate_media(color_scheme="light")
    page.goto(reverse("accounts:login"))
    toggle = page.get_by_role("button", name="Dark theme")
    assert toggle.get_attribute("aria-pressed") == "false"

    toggle.focus()
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.documentElement.dataset.theme") == "dark"
    assert toggle.get_attribute("aria-pressed") == "true"
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(15, 18, 22)", background
    screenshot(page, "dark by choice")

    # The choice outlives the page, and is applied before the body is drawn (no white flash): theme.js is a
    # blocking script in <head>, ahead of the stylesheet.
    page.reload()
    assert page.evaluate("() => document.documentElement.dataset.theme") == "dark"
    theme_script = page.locator("head script[src*='theme.js']")
    assert theme_script.evaluate("(script) => !script.defer && !script.async")
    assert page.evaluate(
        """() => [...document.head.children].findIndex((node) => node.matches("script[src*='theme.js']"))
                 < [...document.head.children].findIndex((node) => node.matches("link[rel=stylesheet]"))"""
    )

    # A user who picked light keeps it on a system in dark mode.
    page.get_by_role("button", name="Dark theme").click()
    page.emulate_media(color_scheme="dark")
    page.reload()
    assert page.evaluate("() => document.documentElement.dataset.theme") == "light"

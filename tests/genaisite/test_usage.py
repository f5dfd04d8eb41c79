"""The usage pages, on the real database: what admins see, what each person sees of their own, who may look."""

import re

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Role
from chat.models import Conversation, DailyUsage, Message
from genaisite import usage
from tests.factories import make_user

pytestmark = pytest.mark.django_db


CHART_TITLES = [
    "Tokens by day",
    "Tokens by model",
    "Tokens by user",
    "Time to first token by day",
    "Answer-cache hit rate by day",
    "Documents ingested by day",
    "Batch lines finished by day",
]


def spend(user, model: str, prompt: int, completion: int, days_ago: int = 0) -> None:
    day = usage.window()[-1 - days_ago]
    DailyUsage.objects.create(
        user=user, day=day, model=model, prompt_tokens=prompt, completion_tokens=completion, requests=1
    )


def answers(user, ttfts: list[float], cached: int = 0) -> None:
    conversation = Conversation.objects.create(owner=user, model="m")
    for ttft in ttfts:
        Message.objects.create(conversation=conversation, role="assistant", content="a", time_to_first_token_ms=ttft)
    for _ in range(cached):
        Message.objects.create(conversation=conversation, role="assistant", content="a", cached="exact")


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_admins_see_every_chart_drawn_from_the_database():
    admin, ada = make_user(Role.ADMIN), make_user(username="ada")
    spend(ada, "model-alpha", 1200, 300)
    spend(ada, "model-beta", 10, 5, days_ago=3)
    answers(ada, [100, 200, 300], cached=1)
    response = signed_in(admin).get("/usage/")
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart"') == 7
    for title in CHART_TITLES:
        assert f'aria-label="{title}' in page
    assert "model-alpha: 1.5k" in page, "a bar per model, with its total"
    assert "ada: 1.5k" in page
    assert "p50: 200 ms" in page, "the median of 100, 200 and 300 ms"
    assert "hit rate: 25%" in page, "one answer of four came from the cache"
    assert "Served from the answer cache</dt><dd>1 (25.0%)" in page


def test_the_page_is_csp_clean_no_inline_style_or_script():
    response = signed_in(make_user(Role.ADMIN)).get("/usage/")
    page = response.content.decode()
    assert "style=" not in page
    assert "<style" not in page
    assert re.findall(r"<script(?![^>]*\ssrc=)", page) == [], "every script is a file"
    assert "script-src 'self'" in response["Content-Security-Policy"]


@pytest.mark.parametrize("role", [Role.MEMBER, Role.MODERATOR, Role.VIEWER])
def test_it_refuses_everyone_but_admins(role):
    assert signed_in(make_user(role)).get("/usage/").status_code == 403
    assert Client().get("/usage/").status_code == 302, "to the sign-in page"


def test_the_nav_links_the_page_for_admins_only():
    assert 'href="/usage/"' in signed_in(make_user(Role.ADMIN)).get("/accounts/").content.decode()
    assert 'href="/usage/"' not in signed_in(make_user()).get("/accounts/").content.decode()


def test_each_person_sees_only_their_own_usage_on_their_account_page():
    ada, bob = make_user(), make_user()
    spend(ada, "model-alpha", 700, 70)
    spend(bob, "model-secret", 5, 5)
    client = signed_in(ada)
    account = client.get("/accounts/").content.decode()
    assert 'src="/usage/mine/days.svg"' in account
    assert 'src="/usage/mine/models.svg"' in account
    models = client.get("/usage/mine/models.svg")
    assert models["Content-Type"].startswith("image/svg+xml")
    assert "model-alpha: 770" in models.content.decode()
    assert "model-secret" not in models.content.decode()
    days = client.get("/usage/mine/days.svg").content.decode()
    today = timezone.now().strftime("%m-%d")
    assert f"{today} prompt: 700" in days
    assert f"{today} completion: 70" in days


def test_a_day_without_answers_breaks_the_line_rather_than_reading_zero():
    days = usage.window(3)
    answers(make_user(), [50])
    lines = usage.ttft_percentiles(days)
    assert lines["p50"] == [None, None, 50.0]

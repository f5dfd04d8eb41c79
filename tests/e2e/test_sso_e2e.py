"""Single sign-on in Chromium: the button on the sign-in page, through the fake provider on loopback, back signed in.

The app runs under Daphne configured by OIDC_* variables exactly as an operator would; the page's strict CSP must let
the button's redirect to the provider through (a violation fails the test)."""

import pytest

from accounts.models import AuditAction, AuditEvent, User
from tests.accounts.conftest import PROVIDER_NAME, provider_environment
from tests.accounts.fake_oidc import FakeOIDCProvider
from tests.e2e.conftest import in_orm_thread

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def idp():
    with FakeOIDCProvider() as provider:
        yield provider


@pytest.fixture
def sso_app(idp, fake_llm, settings, daphne_server) -> str:
    return daphne_server(settings.LLM_MODELS, **provider_environment(idp.issuer), PASSWORD_LOGIN_ENABLED="false")


def test_the_sign_in_button_leads_through_the_provider_to_the_chat_signed_in(sso_app, idp, open_page, screenshot):
    page = open_page(sso_app)
    page.goto("/accounts/login/")
    assert page.locator("input[name=password]").count() == 0, "password sign-in is off: single sign-on only"
    screenshot(page, "sign-in page")

    page.get_by_role("button", name=f"Sign in with {PROVIDER_NAME}").click()
    page.wait_for_url("**/chat/")
    assert page.get_by_role("link", name="ada", exact=True).is_visible()
    screenshot(page, "signed in")

    assert [request["nonce"] for request in idp.authorize_requests], "the browser went through the provider"
    user = in_orm_thread(lambda: User.objects.get(username="ada"))
    assert in_orm_thread(lambda: AuditEvent.objects.filter(target_user=user, action=AuditAction.SSO_SIGNED_IN).count())

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/accounts/login/")
    page.get_by_role("button", name=f"Sign in with {PROVIDER_NAME}").click()
    page.wait_for_url("**/chat/")
    assert in_orm_thread(lambda: User.objects.count()) == 1, "the same identity, the same account"

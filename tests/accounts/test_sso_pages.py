"""Single sign-on as the pages show it: sign-in buttons, password sign-in turned off, the admin, and API keys of
people who came through a provider."""

import pytest
from bs4 import BeautifulSoup
from django.core.cache import cache

from accounts.models import AuditAction, Role, User
from tests.accounts.conftest import PROVIDER_ID, PROVIDER_NAME, signed_in_user_id, sso_sign_in
from tests.factories import PASSWORD, key_client, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_counters():
    cache.clear()


def sign_in_with_password(client, username: str):
    return client.post("/accounts/login/", {"username": username, "password": PASSWORD})


def test_the_sign_in_page_has_a_button_per_provider_that_posts(client, idp):
    response = client.get("/accounts/login/")
    page = BeautifulSoup(response.content, "html.parser")
    button = page.find("button", string=f"Sign in with {PROVIDER_NAME}")
    form = button.find_parent("form")
    assert (form["method"], form["action"]) == ("post", f"/accounts/oidc/{PROVIDER_ID}/login/")
    assert form.find("input", attrs={"name": "csrfmiddlewaretoken"})
    assert page.find("input", attrs={"name": "password"})  # password sign-in stays on by default
    # The button's POST is answered by a redirect to the provider, which form-action must allow (on this page only).
    assert f"form-action 'self' {idp.issuer}" in response["Content-Security-Policy"]
    assert "form-action 'self';" in client.get("/accounts/signup/")["Content-Security-Policy"]


def test_without_providers_the_page_is_as_before(client, settings):
    settings.SOCIALACCOUNT_PROVIDERS = {"openid_connect": {"APPS": []}}
    response = client.get("/accounts/login/")
    assert b"Sign in with" not in response.content
    assert "form-action 'self';" in response["Content-Security-Policy"]


def test_with_password_sign_in_off_the_page_offers_single_sign_on_only(client, idp, settings):
    settings.PASSWORD_LOGIN_ENABLED = False
    page = BeautifulSoup(client.get("/accounts/login/").content, "html.parser")
    assert page.find("button", string=f"Sign in with {PROVIDER_NAME}")
    assert not page.find("input", attrs={"name": "password"})
    assert not page.find("a", string="Create an account")


def test_with_password_sign_in_off_a_password_is_refused_even_when_right(client, idp, settings):
    settings.PASSWORD_LOGIN_ENABLED = False
    user = make_user()
    response = sign_in_with_password(client, user.username)
    assert response.status_code == 200
    assert "Signing in with a password is turned off here" in response.content.decode()
    assert signed_in_user_id(client) is None
    signup = {"username": "late", "email": "late@example.org", "password1": PASSWORD, "password2": PASSWORD}
    response = client.post("/accounts/signup/", signup)
    assert response.status_code == 403
    assert "Accounts here come from single sign-on" in response.content.decode()
    assert not User.objects.filter(username="late").exists()


def test_break_glass_accounts_keep_a_password_path(client, idp, settings):
    settings.PASSWORD_LOGIN_ENABLED = False
    admin = make_user(Role.ADMIN, username="root")
    settings.PASSWORD_LOGIN_BREAK_GLASS_USERS = ["root"]
    page = BeautifulSoup(client.get("/accounts/login/").content, "html.parser")
    assert page.find("a", string="Administrator sign-in with a password")["href"] == "?password=1"
    page = BeautifulSoup(client.get("/accounts/login/?password=1").content, "html.parser")
    assert page.find("input", attrs={"name": "password"})
    assert sign_in_with_password(client, "root").status_code == 302
    assert signed_in_user_id(client) == admin.pk
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db(transaction=True)  # /v1 reads the key on a connection of its own
def test_an_sso_user_makes_api_keys_that_work_on_both_apis(client, idp, fake_llm):
    sso_sign_in(client, idp)
    response = client.post("/accounts/keys/", {"name": "laptop", "scopes": ["read", "chat"]})
    secret = response.context["secret"]
    client.post("/accounts/logout/")
    api = key_client(secret)
    me = api.get("/api/v1/me/")
    assert (me.status_code, me.json()["username"]) == (200, "ada")
    models = api.get("/v1/models")
    assert models.status_code == 200
    assert {model["id"] for model in models.json()["data"]} >= {"fake-echo"}


def test_the_admin_shows_linked_identities_and_sso_events(client, idp):
    sso_sign_in(client, idp)
    user = User.objects.get()
    client.post("/accounts/logout/")
    client.force_login(make_user(Role.ADMIN))
    page = client.get(f"/admin/accounts/user/{user.pk}/change/").content.decode()
    assert "Single sign-on identities" in page
    assert idp.person.sub in page
    assert PROVIDER_ID in page
    assert AuditAction.SSO_SIGNED_IN.label in page
    listing = client.get("/admin/socialaccount/socialaccount/").content.decode()
    assert idp.person.sub in listing
    assert client.get("/admin/socialaccount/socialapp/").status_code == 404  # providers come from the environment


def test_moderators_see_identities_but_not_the_audit_trail(client, idp):
    sso_sign_in(client, idp)
    user = User.objects.get()
    client.post("/accounts/logout/")
    client.force_login(make_user(Role.MODERATOR))
    page = client.get(f"/admin/accounts/user/{user.pk}/change/").content.decode()
    assert idp.person.sub in page
    assert "recent single sign-on events" not in page.lower()


def test_the_account_page_of_an_sso_user_offers_no_password_change(client, idp):
    sso_sign_in(client, idp)
    page = client.get("/accounts/").content.decode()
    assert "You sign in with single sign-on." in page
    assert "Change password" not in page

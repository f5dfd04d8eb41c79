"""Single sign-on fixtures: the fake provider on loopback, configured the way an operator would (environment
variables, parsed by genaisite.env), and the browser's part of the flow."""

import pytest
from django.test import Client

from genaisite.env import env_oidc_providers, oidc_socialaccount_apps
from tests.accounts.fake_oidc import CLIENT_ID, CLIENT_SECRET, FakeOIDCProvider

PROVIDER_ID = "fake"
PROVIDER_NAME = "Fake IdP"


def provider_environment(issuer: str, provider_id: str = PROVIDER_ID, name: str = PROVIDER_NAME) -> dict[str, str]:
    prefix = f"OIDC_{provider_id.upper().replace('-', '_')}_"
    return {
        "OIDC_PROVIDERS": provider_id,
        prefix + "NAME": name,
        prefix + "DISCOVERY_URL": issuer,
        prefix + "CLIENT_ID": CLIENT_ID,
        prefix + "CLIENT_SECRET": CLIENT_SECRET,
    }


@pytest.fixture
def idp(settings, monkeypatch):
    """The fake provider, running, and configured as the one provider through OIDC_* variables."""
    with FakeOIDCProvider() as provider:
        for name, value in provider_environment(provider.issuer).items():
            monkeypatch.setenv(name, value)
        apps = oidc_socialaccount_apps(env_oidc_providers("OIDC_PROVIDERS"))
        settings.SOCIALACCOUNT_PROVIDERS = {"openid_connect": {"OAUTH_PKCE_ENABLED": True, "APPS": apps}}
        yield provider


def start_sign_in(client: Client, provider_id: str = PROVIDER_ID, **data: str):
    return client.post(f"/accounts/oidc/{provider_id}/login/", {"process": "login", **data})


def sso_sign_in(client: Client, idp: FakeOIDCProvider, **data: str):
    """Press the button, let the provider approve, come back: the callback's response."""
    start = start_sign_in(client, **data)
    assert start.status_code == 302, start.content
    return client.get(idp.approve(start["Location"]))


def signed_in_user_id(client: Client) -> int | None:
    value = client.session.get("_auth_user_id")
    return int(value) if value is not None else None

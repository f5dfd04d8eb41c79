"""Single sign-on configuration from the environment, and the ID-token checks on tokens made by hand."""

import time

import jwt
import pytest

from accounts.models import Role
from accounts.sso import tokens
from accounts.sso.refusals import SSORefused
from genaisite.env import EnvError, env_oidc_providers, env_role_map
from tests.accounts.conftest import provider_environment
from tests.accounts.fake_oidc import CLIENT_ID, KEY_ID, FakeOIDCProvider, rsa_key
from tests.genaisite.test_startup import run_manage

ISSUER = "https://id.example.org/realms/staff"


def set_env(monkeypatch, variables: dict[str, str]) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)


def test_it_reads_providers_from_their_variables(monkeypatch):
    set_env(monkeypatch, provider_environment(ISSUER, provider_id="key-cloak", name="Staff"))
    monkeypatch.setenv("OIDC_KEY_CLOAK_SCOPES", "openid email groups")
    [provider] = env_oidc_providers("OIDC_PROVIDERS")
    assert provider["id"] == "key-cloak"
    assert provider["name"] == "Staff"
    assert provider["discovery_url"] == f"{ISSUER}/.well-known/openid-configuration"
    assert provider["scopes"] == ["openid", "email", "groups"]
    assert provider["client_secret"]


def test_no_providers_is_the_default(monkeypatch):
    monkeypatch.delenv("OIDC_PROVIDERS", raising=False)
    assert env_oidc_providers("OIDC_PROVIDERS") == []


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("OIDC_PROVIDERS", "Key Cloak", "OIDC_PROVIDERS: 'Key Cloak' is not a provider id"),
        ("OIDC_PROVIDERS", "kc,kc", "OIDC_PROVIDERS: names a provider twice"),
        ("OIDC_KC_DISCOVERY_URL", "http://id.example.org", "OIDC_KC_DISCOVERY_URL: expected an https:// issuer"),
        ("OIDC_KC_SCOPES", "email profile", "OIDC_KC_SCOPES: must include 'openid'"),
        ("OIDC_KC_TOKEN_AUTH_METHOD", "private_key_jwt", "OIDC_KC_TOKEN_AUTH_METHOD: expected one of"),
        ("OIDC_KC_CLIENT_SECRET", "", "OIDC_KC_CLIENT_SECRET: is required but not set"),
    ],
)
def test_it_rejects_bad_provider_settings_naming_the_variable(monkeypatch, variable, value, message):
    set_env(monkeypatch, provider_environment(ISSUER, provider_id="kc"))
    monkeypatch.setenv(variable, value)
    with pytest.raises(EnvError) as caught:
        env_oidc_providers("OIDC_PROVIDERS")
    assert str(caught.value).startswith(message)


def test_a_bad_provider_stops_start_up_with_one_line():
    result = run_manage("check", OIDC_PROVIDERS="kc", OIDC_KC_DISCOVERY_URL=ISSUER)
    assert result.returncode == 2
    assert result.stderr.strip() == "configuration error: OIDC_KC_CLIENT_ID: is required but not set"


def test_the_role_map_names_our_roles(monkeypatch):
    monkeypatch.setenv("SSO_ROLE_MAP", "genai-admins=admin, /staff/mods = moderator")
    assert env_role_map("SSO_ROLE_MAP", list(Role.values)) == {"genai-admins": "admin", "/staff/mods": "moderator"}
    monkeypatch.setenv("SSO_ROLE_MAP", "genai-admins=root")
    with pytest.raises(EnvError, match="'root' is not a role"):
        env_role_map("SSO_ROLE_MAP", list(Role.values))


def test_the_settings_know_every_role_and_only_those(settings):
    # genaisite/settings/base.py lists the roles (it cannot import the models): the list must stay Role's.
    assert sorted(settings.SSO_ROLE_NAMES) == sorted(Role.values)


def signed(claims: dict, *, key_name: str = "provider", algorithm: str = "RS256", **headers) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": CLIENT_ID, "sub": "s-1", "iat": now, "exp": now + 60} | claims
    return jwt.encode(claims, rsa_key(key_name), algorithm=algorithm, headers={"kid": KEY_ID} | headers)


def verify(token: str) -> dict:
    return tokens.verify_id_token(token, jwks=FakeOIDCProvider().jwks(), issuer=ISSUER, client_id=CLIENT_ID)


def reason_of(token: str) -> str:
    with pytest.raises(SSORefused) as caught:
        verify(token)
    return caught.value.reason


def test_a_good_token_verifies():
    assert verify(signed({"nonce": "n"}))["sub"] == "s-1"


def test_it_accepts_several_audiences_when_azp_names_us():
    assert verify(signed({"aud": [CLIENT_ID, "api"], "azp": CLIENT_ID}))["azp"] == CLIENT_ID


def test_it_refuses_other_algorithms_even_keyed_with_the_public_key():
    public_pem = FakeOIDCProvider().jwks()["keys"][0]["n"].encode()
    unsigned = jwt.encode({"iss": ISSUER, "aud": CLIENT_ID, "sub": "s"}, key="", algorithm="none")
    assert reason_of(unsigned) == "bad_algorithm"
    assert reason_of(jwt.encode({"sub": "s"}, public_pem, algorithm="HS256", headers={"kid": KEY_ID})) == (
        "bad_algorithm"
    )


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (lambda: signed({}, kid="another-key"), "unknown_key"),
        (lambda: signed({"iat": int(time.time()) + 3600}), "not_yet_valid"),
        (lambda: signed({"exp": None}), "missing_claim"),
        (lambda: "not.a.token", "malformed_token"),
    ],
)
def test_it_names_what_is_wrong_with_a_token(token, reason):
    assert reason_of(token()) == reason


def test_a_nonce_is_good_for_one_token():
    claims = verify(signed({"nonce": "abc"}))
    tokens.nonce_consume(claims, expected="abc")
    with pytest.raises(SSORefused, match="nonce_reused"):
        tokens.nonce_consume(claims, expected="abc")
    with pytest.raises(SSORefused, match="nonce_mismatch"):
        tokens.nonce_consume(verify(signed({"nonce": "other"})), expected="abc")

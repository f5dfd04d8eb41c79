"""Single sign-on end to end against the fake provider on loopback: the full flow, and the provider's answer refused
for each way it can be wrong (no session, a page that says so, an audit row with the reason)."""

from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.socialaccount.models import SocialAccount

from accounts.models import AuditAction, AuditEvent, Role, User
from tests.accounts.conftest import PROVIDER_ID, signed_in_user_id, sso_sign_in, start_sign_in
from tests.accounts.fake_oidc import CLIENT_ID

pytestmark = pytest.mark.django_db


def last_refusal() -> AuditEvent:
    return AuditEvent.objects.filter(action=AuditAction.SSO_REFUSED).latest("created_at")


def assert_refused(client, response, reason: str, status: int = 401) -> AuditEvent:
    assert response.status_code == status, response.content
    assert "Not signed in" in response.content.decode()
    assert signed_in_user_id(client) is None
    assert client.get("/accounts/").status_code == 302  # to the sign-in page
    event = last_refusal()
    assert event.details["reason"] == reason
    assert event.details["provider"] == PROVIDER_ID
    return event


def test_it_signs_a_new_person_in_and_creates_their_account(client, idp):
    response = sso_sign_in(client, idp)
    assert response.status_code == 302, response.content
    user = User.objects.get(socialaccount__provider=PROVIDER_ID, socialaccount__uid=idp.person.sub)
    assert signed_in_user_id(client) == user.pk
    assert (user.username, user.email, user.role, user.first_name) == ("ada", "ada@example.org", Role.MEMBER, "Ada")
    assert not user.has_usable_password()
    assert client.get("/accounts/").status_code == 200
    me = client.get("/api/v1/me/")
    assert me.status_code == 200
    assert me.json()["username"] == "ada"
    actions = list(AuditEvent.objects.filter(target_user=user).values_list("action", flat=True))
    assert AuditAction.SSO_SIGNED_UP in actions
    assert AuditAction.SSO_SIGNED_IN in actions


def test_it_sends_pkce_nonce_and_state_to_the_provider(client, idp):
    start = start_sign_in(client)
    query = {name: values[0] for name, values in parse_qs(urlsplit(start["Location"]).query).items()}
    assert start["Location"].startswith(f"{idp.issuer}/authorize?")
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) >= 43
    assert len(query["nonce"]) >= 32
    assert query["state"]
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == f"http://testserver/accounts/oidc/{PROVIDER_ID}/login/callback/"
    assert set(query["scope"].split()) == {"openid", "profile", "email"}
    client.get(idp.approve(start["Location"]))
    # The fake provider answered the token request only because the verifier matched the challenge.
    assert idp.token_requests[-1]["code_verifier"]
    assert signed_in_user_id(client) is not None


def test_it_goes_where_the_sign_in_was_asked_for(client, idp):
    response = sso_sign_in(client, idp, next="/documents/")
    assert response["Location"] == "/documents/"


def test_it_links_identities_by_provider_and_subject_not_by_email(client, idp):
    sso_sign_in(client, idp)
    first = signed_in_user_id(client)
    client.post("/accounts/logout/")
    idp.person.email = "ada.lovelace@example.org"
    idp.person.preferred_username = "lovelace"
    sso_sign_in(client, idp)
    assert signed_in_user_id(client) == first
    assert User.objects.count() == 1
    assert SocialAccount.objects.get().extra_data["userinfo"]["email"] == "ada.lovelace@example.org"


def test_a_different_subject_with_another_email_is_another_person(client, idp):
    sso_sign_in(client, idp)
    client.post("/accounts/logout/")
    idp.person.sub, idp.person.email = "user-0002", "grace@example.org"
    sso_sign_in(client, idp)
    assert User.objects.count() == 2


@pytest.mark.parametrize(
    ("knob", "value", "reason"),
    [
        ("sign_with_other_key", True, "bad_signature"),
        ("audience", "another-client", "wrong_audience"),
        ("audience", [CLIENT_ID, "another-client"], "wrong_audience"),  # several audiences, and no azp naming us
        ("issuer", "https://impostor.example.net", "wrong_issuer"),
        ("expires_in", -300, "expired"),
        ("omit_nonce", True, "nonce_missing"),
        ("userinfo_sub", "someone-else", "subject_mismatch"),
    ],
)
def test_it_refuses_a_token_that_fails_a_check(client, idp, knob, value, reason):
    setattr(idp.knobs, knob, value)
    response = sso_sign_in(client, idp)
    assert_refused(client, response, reason)
    assert not User.objects.exists()
    assert not SocialAccount.objects.exists()


def test_it_refuses_a_replayed_id_token_and_its_nonce(client, idp):
    sso_sign_in(client, idp)
    user_id = signed_in_user_id(client)
    client.post("/accounts/logout/")
    idp.knobs.replay_last_id_token = True  # the provider answers the first sign-in's token again
    response = sso_sign_in(client, idp)
    assert_refused(client, response, "nonce_reused")
    assert AuditEvent.objects.filter(target_user_id=user_id, action=AuditAction.SSO_SIGNED_IN).count() == 1


def test_it_refuses_a_callback_whose_state_it_did_not_issue(client, idp):
    callback = idp.approve(start_sign_in(client)["Location"])
    tampered = callback.replace("state=", "state=x")
    assert_refused(client, client.get(tampered), "invalid_state")


def test_a_callback_is_good_once(client, idp):
    callback = idp.approve(start_sign_in(client)["Location"])
    assert client.get(callback).status_code == 302
    client.post("/accounts/logout/")
    assert_refused(client, client.get(callback), "invalid_state")


def test_it_refuses_a_discovery_document_naming_another_issuer(client, idp):
    idp.knobs.discovery_issuer = "https://elsewhere.example.net"
    response = start_sign_in(client)
    assert_refused(client, response, "issuer_mismatch")


def test_it_explains_an_unreachable_provider(client, idp):
    idp.__exit__()
    response = start_sign_in(client)
    assert_refused(client, response, "provider_unreachable")


def test_it_explains_a_provider_gone_before_the_callback(client, idp):
    callback = idp.approve(start_sign_in(client)["Location"])
    idp.__exit__()
    assert_refused(client, client.get(callback), "provider_unreachable")


def test_it_refuses_a_discovery_document_without_its_endpoints(client, idp, monkeypatch):
    monkeypatch.setattr(idp, "discovery", lambda: {"issuer": idp.issuer})
    event = assert_refused(client, start_sign_in(client), "provider_error")
    assert "jwks_uri" in event.details["detail"]


@pytest.mark.parametrize(("error", "reason"), [("server_error", "provider_error"), ("access_denied", "cancelled")])
def test_it_explains_an_error_the_provider_sends_back(client, idp, error, reason):
    state = parse_qs(urlsplit(start_sign_in(client)["Location"]).query)["state"][0]
    response = client.get(f"/accounts/oidc/{PROVIDER_ID}/login/callback/", {"state": state, "error": error})
    assert_refused(client, response, reason)


def test_a_sign_in_starts_only_with_a_post(client, idp):
    assert client.get(f"/accounts/oidc/{PROVIDER_ID}/login/").status_code == 405
    assert not idp.authorize_requests


def test_an_unknown_provider_is_not_found(client, idp):
    assert client.post("/accounts/oidc/nobody/login/", {"process": "login"}).status_code == 404


def test_only_signing_in_is_offered_not_connecting(client, idp):
    response = sso_sign_in(client, idp, process="connect")
    assert_refused(client, response, "unsupported_process")

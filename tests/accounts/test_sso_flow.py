"""Single sign-on end to end against the fake provider on loopback: the full flow, and the provider's answer refused
for each way it can be wrong."""

from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.socialaccount.models import SocialAccount

from accounts.models import AuditAction, AuditEvent, Role, User
from tests.accounts.conftest import PROVIDER_ID, signed_in_user_id, sso_sign_in, start_sign_in

pytestmark = pytest.mark.django_db


def test_it_signs_a_new_person_in_and_creates_their_account(client, idp):
    response = sso_sign_in(client, idp)
    assert response.status_code == 302, response.content
    user = User.objects.get(socialaccount__provider=PROVIDER_ID, socialaccount__uid=idp.person.sub)
    assert signed_in_user_id(client) == user.pk
    assert (user.username, user.email, user.role) == ("ada", "ada@example.org", Role.MEMBER)
    assert not user.has_usable_password()
    assert client.get("/accounts/").status_code == 200
    me = client.get("/api/v1/me/")
    assert me.status_code == 200
    assert me.json()["username"] == "ada"
    actions = set(AuditEvent.objects.filter(target_user=user).values_list("action", flat=True))
    assert {AuditAction.SSO_SIGNED_UP, AuditAction.SSO_SIGNED_IN} <= actions

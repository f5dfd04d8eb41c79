"""Which account a single sign-on lands in: linking to existing accounts, sign-up rules, roles from claims."""

import pytest
from allauth.socialaccount.models import SocialAccount

from accounts import services
from accounts.models import AuditAction, AuditEvent, Role, User
from tests.accounts.conftest import PROVIDER_ID, signed_in_user_id, sso_sign_in
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db


def refusal_reason() -> str:
    return AuditEvent.objects.filter(action=AuditAction.SSO_REFUSED).latest("created_at").details["reason"]


def local_user(email: str = "ada@example.org", username: str = "ada-local") -> User:
    user = make_user(username=username)
    user.email = email
    user.save(update_fields=["email"])
    return user


def test_it_does_not_link_an_existing_account_by_email_unless_enabled(client, idp):
    user = local_user()
    response = sso_sign_in(client, idp)
    assert response.status_code == 403
    assert "already exists" in response.content.decode()
    assert refusal_reason() == "email_taken"
    assert signed_in_user_id(client) is None
    assert not SocialAccount.objects.exists()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)  # untouched


def test_it_links_an_existing_account_when_enabled_and_the_provider_verified_the_email(client, idp, settings):
    settings.SSO_LINK_VERIFIED_EMAIL = True
    user = local_user(email="Ada@Example.org")  # addresses compare without case
    response = sso_sign_in(client, idp)
    assert response.status_code == 302
    assert signed_in_user_id(client) == user.pk
    assert SocialAccount.objects.get(provider=PROVIDER_ID, uid=idp.person.sub).user == user
    linked = AuditEvent.objects.get(action=AuditAction.SSO_LINKED)
    assert (linked.target_user_id, linked.details["subject"]) == (user.pk, idp.person.sub)
    user.refresh_from_db()
    # Nobody verified the address here, so the password of whoever made the account stops working.
    assert not user.has_usable_password()
    assert User.objects.count() == 1


def test_a_break_glass_account_keeps_its_password_when_linked(client, idp, settings):
    settings.SSO_LINK_VERIFIED_EMAIL = True
    user = local_user(username="root")
    settings.PASSWORD_LOGIN_BREAK_GLASS_USERS = ["root"]
    sso_sign_in(client, idp)
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


@pytest.mark.parametrize("verified", [False, "false", None])
def test_it_never_links_on_an_unverified_email(client, idp, settings, verified):
    settings.SSO_LINK_VERIFIED_EMAIL = True
    local_user()
    idp.person.email_verified = verified
    response = sso_sign_in(client, idp)
    assert response.status_code == 403
    assert "does not confirm" in response.content.decode()
    assert refusal_reason() == "email_unverified"
    assert not SocialAccount.objects.exists()


def test_it_accepts_the_string_true_some_providers_send(client, idp, settings):
    settings.SSO_LINK_VERIFIED_EMAIL = True
    user = local_user()
    idp.person.email_verified = "true"
    sso_sign_in(client, idp)
    assert signed_in_user_id(client) == user.pk


def test_it_refuses_to_guess_between_two_accounts_with_the_email(client, idp, settings):
    settings.SSO_LINK_VERIFIED_EMAIL = True
    local_user(username="one")
    local_user(username="two")
    assert sso_sign_in(client, idp).status_code == 403
    assert refusal_reason() == "email_taken"


def test_a_new_account_needs_a_verified_email_by_default(client, idp, settings):
    idp.person.email_verified = False
    response = sso_sign_in(client, idp)
    assert response.status_code == 403
    assert refusal_reason() == "email_unverified"
    assert not User.objects.exists()
    settings.SSO_REQUIRE_VERIFIED_EMAIL = False
    assert sso_sign_in(client, idp).status_code == 302
    assert User.objects.get().email == "ada@example.org"


def test_sign_up_can_be_limited_to_email_domains(client, idp, settings):
    settings.SSO_ALLOWED_EMAIL_DOMAINS = ["example.org"]
    for sub, email in (("u-1", "eve@elsewhere.net"), ("u-2", "eve@mail.example.org")):
        idp.person.sub, idp.person.email = sub, email
        response = sso_sign_in(client, idp)
        assert response.status_code == 403
        assert "your domain" in response.content.decode()
        assert refusal_reason() == "domain_not_allowed"
    assert not User.objects.exists()
    idp.person.sub, idp.person.email = "u-3", "ada@EXAMPLE.org"
    assert sso_sign_in(client, idp).status_code == 302
    assert User.objects.count() == 1


def test_the_domain_rule_needs_a_verified_email_even_when_sign_up_does_not(client, idp, settings):
    settings.SSO_ALLOWED_EMAIL_DOMAINS = ["example.org"]
    settings.SSO_REQUIRE_VERIFIED_EMAIL = False
    idp.person.email_verified = False
    assert sso_sign_in(client, idp).status_code == 403
    assert refusal_reason() == "email_unverified"


def test_sign_up_through_sso_can_be_closed_while_linked_people_still_sign_in(client, idp, settings):
    sso_sign_in(client, idp)
    client.post("/accounts/logout/")
    settings.SSO_SIGNUP_ENABLED = False
    assert sso_sign_in(client, idp).status_code == 302  # already has an account
    client.post("/accounts/logout/")
    idp.person.sub, idp.person.email = "newcomer", "new@example.org"
    assert sso_sign_in(client, idp).status_code == 403
    assert refusal_reason() == "signup_closed"


def test_a_taken_username_is_never_a_link(client, idp):
    existing = make_user(username="ada")  # ada@example.com: another person
    sso_sign_in(client, idp)
    user = User.objects.get(pk=signed_in_user_id(client))
    assert user != existing
    assert user.username.startswith("ada")
    assert user.username != "ada"


def test_groups_map_to_the_strongest_role_and_follow_the_provider(client, idp, settings):
    settings.SSO_ROLE_CLAIM = "groups"
    settings.SSO_ROLE_MAP = {"genai-admins": Role.ADMIN, "genai-moderators": Role.MODERATOR}
    idp.person.groups = ["staff", "genai-moderators", "genai-admins"]
    sso_sign_in(client, idp)
    user = User.objects.get()
    assert (user.role, user.is_staff, user.is_superuser) == (Role.ADMIN, True, True)
    client.post("/accounts/logout/")
    idp.person.groups = None  # removed from every group: the claim is gone
    sso_sign_in(client, idp)
    user.refresh_from_db()
    assert (user.role, user.is_staff, user.is_superuser) == (Role.MEMBER, False, False)
    change = AuditEvent.objects.filter(action=AuditAction.ROLE_CHANGED, target_user=user).latest("created_at")
    assert change.details == {"from": Role.ADMIN, "to": Role.MEMBER}


def test_a_single_string_claim_maps_too(client, idp, settings):
    settings.SSO_ROLE_CLAIM = "groups"
    settings.SSO_ROLE_MAP = {"readers": Role.VIEWER}
    idp.person.groups = "readers"
    sso_sign_in(client, idp)
    assert User.objects.get().role == Role.VIEWER


def test_without_a_role_claim_roles_set_here_are_kept(client, idp):
    sso_sign_in(client, idp)
    user = User.objects.get()
    services.user_role_change(actor=None, user=user, role=Role.MODERATOR)
    client.post("/accounts/logout/")
    idp.person.groups = ["anything"]
    sso_sign_in(client, idp)
    user.refresh_from_db()
    assert user.role == Role.MODERATOR


def test_a_suspended_person_is_refused_and_the_refusal_names_the_account(client, idp):
    sso_sign_in(client, idp)
    user = User.objects.get()
    client.post("/accounts/logout/")
    services.user_suspend(actor=make_user(Role.ADMIN), user=user, reason="abuse")
    response = sso_sign_in(client, idp)
    assert response.status_code == 403
    assert "suspended" in response.content.decode()
    assert signed_in_user_id(client) is None
    refusal = AuditEvent.objects.filter(action=AuditAction.SSO_REFUSED).latest("created_at")
    assert (refusal.details["reason"], refusal.target_user_id) == ("suspended", user.pk)


def test_a_deactivated_person_is_refused(client, idp):
    sso_sign_in(client, idp)
    User.objects.update(is_active=False)
    client.post("/accounts/logout/")
    assert sso_sign_in(client, idp).status_code == 403
    assert refusal_reason() == "inactive"

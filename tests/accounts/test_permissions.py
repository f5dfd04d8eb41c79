import pytest

from accounts import permissions, services
from accounts.models import ApiKey, PolicyOverride, Role
from tests.factories import make_key, make_user

pytestmark = pytest.mark.django_db

EXPECTED = {
    # role: (chat, upload, web, api keys, moderate, manage users)
    Role.ADMIN: (True, True, True, True, True, True),
    Role.MODERATOR: (True, True, True, True, True, False),
    Role.MEMBER: (True, True, True, True, False, False),
    Role.VIEWER: (True, False, False, False, False, False),
}


@pytest.mark.parametrize("role", list(EXPECTED))
def test_each_role_has_exactly_its_capabilities(role):
    user = make_user(role)
    actual = (
        permissions.can_chat(user),
        permissions.can_upload_documents(user),
        permissions.can_fetch_web(user),
        permissions.can_manage_api_keys(user),
        permissions.can_moderate(user),
        permissions.can_manage_users(user),
    )
    assert actual == EXPECTED[role]


def test_a_suspended_user_can_do_nothing():
    user = make_user(Role.ADMIN)
    services.user_suspend(actor=None, user=user, reason="test")
    assert permissions.capabilities_of(user) == frozenset()


def test_web_access_also_needs_the_policy_switch():
    user = make_user(Role.MEMBER)
    PolicyOverride.objects.create(user=user, web_access=False)
    assert permissions.can_fetch_web(user) is False


def test_anonymous_users_have_no_capabilities():
    from django.contrib.auth.models import AnonymousUser

    assert permissions.capabilities_of(AnonymousUser()) == frozenset()


def test_another_users_object_is_not_found_not_forbidden():
    owner, stranger = make_user(), make_user()
    make_key(owner)
    key = ApiKey.objects.get(user=owner)
    assert permissions.access_api_key(owner, key.pk) == key
    with pytest.raises(permissions.NotFound):
        permissions.access_api_key(stranger, key.pk)
    with pytest.raises(permissions.NotFound):
        permissions.access_api_key(owner, "not-a-number")

import pytest

from accounts.models import PolicyOverride, Role, RolePolicy
from accounts.policies import MB, policy_for
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def test_every_role_gets_a_policy_from_the_migration():
    assert set(RolePolicy.objects.values_list("role", flat=True)) == set(Role.values)


def test_the_viewer_policy_forbids_uploads_and_web_access():
    policy = policy_for(make_user(Role.VIEWER))
    assert policy.max_upload_bytes == 0
    assert policy.web_access is False


def test_a_policy_change_in_the_role_applies_to_its_users():
    user = make_user(Role.MEMBER)
    RolePolicy.objects.filter(role=Role.MEMBER).update(daily_token_budget=1234, allowed_models=["a", "b"])
    policy = policy_for(user)
    assert policy.daily_token_budget == 1234
    assert policy.allows_model("a")
    assert not policy.allows_model("c")


def test_per_user_overrides_win_field_by_field():
    user = make_user(Role.MEMBER)
    role_policy = RolePolicy.objects.get(role=Role.MEMBER)
    PolicyOverride.objects.create(user=user, max_upload_mb=3, web_access=False)
    policy = policy_for(user)
    assert policy.max_upload_bytes == 3 * MB
    assert policy.web_access is False
    assert policy.requests_per_minute == role_policy.requests_per_minute  # not overridden


def test_an_empty_model_list_allows_every_model():
    assert policy_for(make_user(Role.MEMBER)).allows_model("anything")

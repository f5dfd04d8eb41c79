import pytest
from django.db import DatabaseError, transaction

from accounts import services
from accounts.models import AuditAction, AuditEvent, Role, RolePolicy, User
from tests.factories import make_user

pytestmark = pytest.mark.django_db


def signed_in(client, role: str):
    user = make_user(role)
    client.force_login(user)
    return user


def test_an_admin_changes_a_role_and_the_audit_log_shows_it(client):
    admin = signed_in(client, Role.ADMIN)
    member = make_user(Role.MEMBER)
    page = client.get(f"/admin/accounts/user/{member.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {key: value for key, value in form.initial.items() if value is not None and key != "password"}
    data |= {"role": Role.MODERATOR, "is_active": "on", "date_joined_0": "2026-01-01", "date_joined_1": "00:00:00"}
    data |= {"policy_override-TOTAL_FORMS": 0, "policy_override-INITIAL_FORMS": 0}
    data |= {"socialaccount_set-TOTAL_FORMS": 0, "socialaccount_set-INITIAL_FORMS": 0}  # the read-only SSO identities
    response = client.post(f"/admin/accounts/user/{member.pk}/change/", data)
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    member.refresh_from_db()
    assert member.role == Role.MODERATOR
    assert member.is_staff
    assert not member.is_superuser
    event = AuditEvent.objects.get(action=AuditAction.ROLE_CHANGED, target_user=member)
    assert event.actor == admin
    assert event.details == {"from": "member", "to": "moderator"}


def test_a_moderator_can_suspend_from_the_admin_but_not_edit_users(client):
    moderator = signed_in(client, Role.MODERATOR)
    member = make_user(Role.MEMBER)
    assert client.get("/admin/accounts/user/").status_code == 200
    response = client.post("/admin/accounts/user/", {"action": "suspend_users", "_selected_action": [member.pk]})
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.is_suspended
    assert AuditEvent.objects.filter(action=AuditAction.USER_SUSPENDED, actor=moderator).exists()
    assert client.get(f"/admin/accounts/user/{member.pk}/change/").status_code == 200  # view only
    assert client.post(f"/admin/accounts/user/{member.pk}/change/", {"role": "admin"}).status_code == 403


def test_a_moderator_cannot_suspend_an_admin(client):
    signed_in(client, Role.MODERATOR)
    admin = make_user(Role.ADMIN)
    client.post("/admin/accounts/user/", {"action": "suspend_users", "_selected_action": [admin.pk]})
    admin.refresh_from_db()
    assert not admin.is_suspended


def test_members_and_viewers_cannot_enter_the_admin(client):
    for role in (Role.MEMBER, Role.VIEWER):
        signed_in(client, role)
        assert client.get("/admin/").status_code == 302


def test_an_admin_edits_a_role_policy_and_it_is_audited(client):
    signed_in(client, Role.ADMIN)
    policy = RolePolicy.objects.get(role=Role.MEMBER)
    data = {
        "allowed_models": '["smollm2-135m-instruct"]',
        "daily_token_budget": 777,
        "requests_per_minute": policy.requests_per_minute,
        "max_upload_mb": policy.max_upload_mb,
        "max_documents": policy.max_documents,
        "web_access": "on",
    }
    response = client.post(f"/admin/accounts/rolepolicy/{policy.pk}/change/", data)
    assert response.status_code == 302
    event = AuditEvent.objects.get(action=AuditAction.POLICY_CHANGED)
    assert event.details["daily_token_budget"] == {"from": policy.daily_token_budget, "to": 777}
    assert event.details["allowed_models"] == {"from": [], "to": ["smollm2-135m-instruct"]}


def test_moderators_cannot_see_policies_and_read_only_moderation_in_the_audit_log(client):
    signed_in(client, Role.MODERATOR)
    assert client.get("/admin/accounts/rolepolicy/").status_code == 403
    member = make_user(Role.MEMBER, username="moderated")
    services.user_suspend(actor=None, user=member, reason="spam")
    services.user_role_change(actor=None, user=make_user(Role.MEMBER, username="promoted"), role=Role.ADMIN)
    log = client.get("/admin/accounts/auditevent/")
    assert log.status_code == 200
    assert "moderated" in log.content.decode()
    assert "promoted" not in log.content.decode(), "role changes are for admins' eyes"


def test_the_audit_log_is_readable_by_admins_and_editable_by_nobody(client):
    signed_in(client, Role.ADMIN)
    target = make_user(Role.MEMBER, username="audited")
    services.user_suspend(actor=None, user=target, reason="test")
    event = AuditEvent.objects.get(target_user=target)
    assert client.get("/admin/accounts/auditevent/").status_code == 200
    assert "audited" in client.get("/admin/accounts/auditevent/").content.decode()
    assert client.post(f"/admin/accounts/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    for attempt in (lambda: AuditEvent.objects.filter(pk=event.pk).update(action="x"), event.delete):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            attempt()
    assert AuditEvent.objects.filter(pk=event.pk, action=AuditAction.USER_SUSPENDED).exists()


def test_deleting_a_user_keeps_their_audit_trail(client):
    user = make_user(Role.MEMBER, username="leaver")
    services.user_suspend(actor=None, user=user, reason="left")
    user.delete()
    assert AuditEvent.objects.filter(target_label="leaver").exists()
    assert not User.objects.filter(username="leaver").exists()

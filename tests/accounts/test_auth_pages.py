import pytest
from django.core.cache import cache

from accounts import services
from accounts.models import AuditAction, AuditEvent, Role, User
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_counters():
    cache.clear()


def sign_in(client, username: str, password: str, ip: str = "10.0.0.1"):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_a_new_user_signs_up_and_is_signed_in_as_a_member(client):
    response = client.post(
        "/accounts/signup/",
        {"username": "newcomer", "email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302
    user = User.objects.get(username="newcomer")
    assert user.role == Role.MEMBER
    assert client.get("/accounts/").context["user"] == user


def test_sign_up_shows_form_errors_for_bad_input(client):
    response = client.post(
        "/accounts/signup/", {"username": "x", "email": "not-an-email", "password1": "1", "password2": "2"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors.keys() >= {"email", "password2"}


def test_sign_up_can_be_turned_off(client, settings):
    settings.SIGNUP_ENABLED = False
    response = client.post(
        "/accounts/signup/",
        {"username": "late", "email": "late@example.com", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 403
    assert not User.objects.filter(username="late").exists()
    assert b"Sign-up is closed" in response.content


def test_sign_in_and_sign_out(client):
    user = make_user()
    assert sign_in(client, user.username, PASSWORD).status_code == 302
    assert client.get("/accounts/").status_code == 200
    client.post("/accounts/logout/")
    assert client.get("/accounts/").status_code == 302


def test_failed_sign_ins_are_throttled_per_username(client):
    user = make_user()
    for attempt in range(5):
        response = sign_in(client, user.username, "wrong", ip=f"10.0.1.{attempt}")
        assert "correct username and password" in response.content.decode()
    # Even the right password is not checked now, from any address.
    response = sign_in(client, user.username, PASSWORD, ip="10.9.9.9")
    assert response.status_code == 200
    assert "Too many failed sign-in attempts" in response.content.decode()


def test_failed_sign_ins_are_throttled_per_address(client):
    for attempt in range(30):
        sign_in(client, f"nobody-{attempt}", "wrong", ip="10.0.2.1")
    user = make_user()
    response = sign_in(client, user.username, PASSWORD, ip="10.0.2.1")
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert sign_in(client, user.username, PASSWORD, ip="10.0.2.2").status_code == 302


def test_a_suspended_user_is_signed_out_everywhere(client):
    user = make_user()
    sign_in(client, user.username, PASSWORD)
    assert client.get("/accounts/").status_code == 200
    services.user_suspend(actor=make_user(Role.ADMIN), user=user, reason="spam")
    assert client.get("/accounts/").status_code == 302  # back to the sign-in page
    response = sign_in(client, user.username, PASSWORD)
    assert "This account is suspended" in response.content.decode()


def test_changing_the_password_is_audited(client):
    user = make_user()
    client.force_login(user)
    new = "another long passphrase 42"
    response = client.post(
        "/accounts/password/", {"old_password": PASSWORD, "new_password1": new, "new_password2": new}
    )
    assert response.status_code == 302
    assert AuditEvent.objects.filter(target_user=user, action=AuditAction.PASSWORD_CHANGED).exists()


def test_the_keys_page_shows_a_new_secret_once_and_revokes(client):
    user = make_user()
    client.force_login(user)
    response = client.post("/accounts/keys/", {"name": "laptop", "scopes": ["read", "chat"]})
    secret = response.context["secret"]
    assert secret in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    listing = client.get("/accounts/keys/").content.decode()
    assert secret not in listing
    assert "laptop" in listing
    key = user.api_keys.get()
    client.post(f"/accounts/keys/{key.pk}/revoke/")
    key.refresh_from_db()
    assert key.status == "revoked"


def test_viewers_cannot_open_the_keys_page(client):
    client.force_login(make_user(Role.VIEWER))
    assert client.get("/accounts/keys/").status_code == 403


def test_another_users_key_cannot_be_revoked(client):
    owner = make_user()
    services.api_key_create(user=owner, name="mine", scopes=["read"])
    client.force_login(make_user())
    assert client.post(f"/accounts/keys/{owner.api_keys.get().pk}/revoke/").status_code == 404
    assert owner.api_keys.get().status == "active"


def test_the_admin_sign_in_goes_through_the_throttled_page(client):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_signed_in_member_opening_the_admin_is_told_no_instead_of_bounced_round(client):
    # The admin sends people it refuses to its login; the sign-in page forwards signed-in people to ?next=.
    member = make_user(Role.MEMBER)
    client.force_login(member)
    response = client.get("/admin/ml/registeredmodel/", follow=True)
    assert response.status_code == 403
    assert len(response.redirect_chain) == 1
    assert f"signed in as {member.username}" in response.content.decode()
    assert "no access to the admin" in response.content.decode()

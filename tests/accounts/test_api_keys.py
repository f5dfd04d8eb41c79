import logging
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts import services
from accounts.models import ApiKey, AuditAction, AuditEvent, Role
from tests.factories import key_client, make_key, make_user, session_client

pytestmark = pytest.mark.django_db


def test_it_creates_a_key_whose_secret_is_shown_once():
    user = make_user()
    response = session_client(user).post(
        "/api/v1/keys/", {"name": "ci", "scopes": ["read", "chat"], "expires_in_days": 30}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["secret"].startswith(body["prefix"] + ".")
    assert body["scopes"] == ["chat", "read"]
    assert body["status"] == "active"
    listing = session_client(user).get("/api/v1/keys/").json()
    assert listing["count"] == 1
    assert "secret" not in listing["results"][0]
    assert "hashed_key" not in listing["results"][0]


def test_a_key_authenticates_as_its_owner_and_records_use():
    user = make_user(Role.MEMBER, username="keyholder")
    secret = make_key(user)
    response = key_client(secret).get("/api/v1/me/")
    assert response.status_code == 200
    assert response.json()["username"] == "keyholder"
    assert response.json()["policy"]["role"] == "member"
    assert ApiKey.objects.get(user=user).last_used_at is not None


@pytest.mark.parametrize(
    "header",
    ["Bearer nonsense", "Bearer gsk_abcdefgh.wrongsecret", "Basic dXNlcjpwYXNz", "Bearer "],
)
def test_it_rejects_bad_credentials_with_401_and_a_message(client, header):
    response = client.get("/api/v1/me/", HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json()["error"]["message"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_key_is_refused_on_the_very_next_request():
    user = make_user()
    secret = make_key(user)
    client = key_client(secret)
    assert client.get("/api/v1/me/").status_code == 200
    key = ApiKey.objects.get(user=user)
    assert client.delete(f"/api/v1/keys/{key.pk}/").status_code == 204
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]["message"]


def test_an_expired_key_is_refused():
    user = make_user()
    secret = make_key(user, expires_in_days=1)
    ApiKey.objects.filter(user=user).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = key_client(secret).get("/api/v1/me/")
    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]


def test_a_suspended_users_key_is_refused_on_the_very_next_request():
    user = make_user()
    client = key_client(make_key(user))
    assert client.get("/api/v1/me/").status_code == 200
    services.user_suspend(actor=make_user(Role.ADMIN), user=user, reason="abuse")
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert "suspended" in response.json()["error"]["message"]


def test_a_key_stops_working_when_its_owner_is_demoted_to_viewer():
    user = make_user()
    client = key_client(make_key(user))
    services.user_role_change(actor=None, user=user, role=Role.VIEWER)
    assert client.get("/api/v1/me/").status_code == 401


def test_a_key_without_the_read_scope_cannot_list():
    user = make_user()
    response = key_client(make_key(user, scopes=["chat"])).get("/api/v1/keys/")
    assert response.status_code == 403
    assert "'read' scope" in response.json()["error"]["message"]


@pytest.mark.parametrize("path", ["/api/v1/me/", "/api/v1/usage/", "/api/v1/keys/"])
def test_a_method_the_endpoint_lacks_is_405_with_allow_for_a_key_too(path):
    response = key_client(make_key(make_user())).delete(path)
    assert response.status_code == 405
    assert "GET" in response["Allow"]
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_a_key_cannot_mint_a_key_with_wider_scopes():
    user = make_user()
    client = key_client(make_key(user, scopes=["read"]))
    wider = client.post("/api/v1/keys/", {"name": "escalate", "scopes": ["documents"]}, format="json")
    assert wider.status_code == 403
    same = client.post("/api/v1/keys/", {"name": "rotate", "scopes": ["read"]}, format="json")
    assert same.status_code == 201


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scopes": ["read"]}, "name"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "x", "scopes": ["admin"]}, "scopes"),
        ({"name": "x", "scopes": ["read"], "expires_in_days": 0}, "expires_in_days"),
    ],
)
def test_it_explains_invalid_key_requests(body, field):
    response = session_client(make_user()).post("/api/v1/keys/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert response.json()["error"]["message"].startswith(field)


def test_creating_and_revoking_keys_is_audited():
    user = make_user()
    secret = make_key(user)
    key = ApiKey.objects.get(user=user)
    key_client(secret).delete(f"/api/v1/keys/{key.pk}/")
    actions = list(AuditEvent.objects.filter(target_user=user).values_list("action", flat=True))
    assert AuditAction.KEY_CREATED in actions
    assert AuditAction.KEY_REVOKED in actions


def _all_database_text() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [row[0] for row in cursor.fetchall()]
        dump = []
        for table in tables:
            cursor.execute(f'SELECT t::text FROM "{table}" t')  # noqa: S608 - table names come from pg_tables
            dump.extend(row[0] for row in cursor.fetchall())
    return "\n".join(dump)


def test_no_secret_appears_in_the_database_logs_or_admin(caplog, admin_client):
    caplog.set_level(logging.DEBUG)
    user = make_user()
    created = session_client(user).post("/api/v1/keys/", {"name": "leak check", "scopes": ["read"]}, format="json")
    secret = created.json()["secret"]
    key_secret_part = secret.split(".", 1)[1]
    assert key_client(secret).get("/api/v1/me/").status_code == 200
    key = ApiKey.objects.get(user=user)
    admin_pages = (
        admin_client.get("/admin/accounts/apikey/").content.decode()
        + admin_client.get(f"/admin/accounts/apikey/{key.pk}/change/").content.decode()
    )
    assert key.prefix in admin_pages
    for haystack in (_all_database_text(), caplog.text, admin_pages):
        assert key_secret_part not in haystack
    assert key.hashed_key not in admin_pages

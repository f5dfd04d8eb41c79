import subprocess

import pytest

from accounts.models import ApiKey
from tests.conftest import BASE_DIR, manage_py
from tests.factories import key_client, make_user

pytestmark = pytest.mark.django_db(transaction=True)


def test_create_api_key_prints_a_working_key_on_the_last_line(subprocess_env):
    user = make_user(username="operator")
    result = subprocess.run(
        manage_py("create_api_key", "operator", "--scopes", "read", "chat", "--expires", "7"),
        env=subprocess_env,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    secret = result.stdout.strip().splitlines()[-1]
    key = ApiKey.objects.get(user=user)
    assert secret.startswith(key.prefix + ".")
    assert key.scopes == ["chat", "read"]
    assert key.expires_at is not None
    assert key_client(secret).get("/api/v1/me/").json()["username"] == "operator"


def test_create_api_key_explains_an_unknown_user(subprocess_env):
    result = subprocess.run(
        manage_py("create_api_key", "ghost"), env=subprocess_env, cwd=BASE_DIR, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "No user named 'ghost'" in result.stderr

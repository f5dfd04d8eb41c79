"""Start-up behaviour seen from outside: bad configuration stops the process with one clear line."""

import os
import subprocess

import pytest

from tests.conftest import BASE_DIR, manage_py


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"} | env
    return subprocess.run(manage_py(*args), env=full_env, cwd=BASE_DIR, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("DATABASE_URL", "postgres://nohost"), ("DATABASE_URL", "mysql://u@h/db"), ("LLM_BASE_URL", "llm:8080")],
)
def test_it_exits_with_one_line_naming_the_bad_variable(variable, value):
    result = run_manage("check", **{variable: value})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"configuration error: {variable}: ")


def test_it_requires_a_secret_key_in_production():
    result = run_manage("check", DJANGO_SETTINGS_MODULE="genaisite.settings.production", SECRET_KEY="")
    assert result.returncode == 2
    assert result.stderr.strip() == "configuration error: SECRET_KEY: is required but not set"


def test_production_settings_pass_the_deploy_checklist():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_SETTINGS_MODULE="genaisite.settings.production",
        SECRET_KEY="a-production-secret-that-is-long-and-random-enough-0123456789-abcdefgh",
        ALLOWED_HOSTS="genai.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout

"""Project-wide rules: migrations match the models, and the apps import only downwards."""

import subprocess
from io import StringIO

import pytest
from django.core.management import call_command

from tests.conftest import BASE_DIR


@pytest.mark.django_db
def test_migrations_are_in_step_with_the_models():
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def test_imports_keep_to_the_layers():
    """The contracts in pyproject.toml (between apps and inside them), checked by import-linter as `make lint` does;
    here too so CI enforces them. It sees imports inside functions, which hid cycles before."""
    result = subprocess.run(
        [str(BASE_DIR / ".venv/bin/lint-imports"), "--no-cache"], cwd=BASE_DIR, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "BROKEN" not in result.stdout
    assert result.stdout.count("KEPT") >= 4, "every app's contract ran"


def test_the_openapi_schema_validates_without_warnings():
    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    assert "openapi: 3" in out.getvalue()

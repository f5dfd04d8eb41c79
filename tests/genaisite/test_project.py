"""Project-wide rules: migrations match the models, and the apps import only downwards."""

import ast
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.conftest import BASE_DIR

# Each app may import the apps listed for it, and nothing above it.
ALLOWED_IMPORTS = {
    "accounts": set(),
    "documents": {"accounts"},
    "chat": {"accounts", "documents"},
}
PROJECT_PACKAGES = {"accounts", "documents", "chat", "genaisite"}


@pytest.mark.django_db
def test_migrations_are_in_step_with_the_models():
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & PROJECT_PACKAGES


@pytest.mark.parametrize("app", sorted(ALLOWED_IMPORTS))
def test_an_app_never_imports_a_layer_above_it(app):
    offending = {}
    for path in (BASE_DIR / app).rglob("*.py"):
        upward = imported_packages(path) - ALLOWED_IMPORTS[app] - {app}
        if upward:
            offending[str(path.relative_to(BASE_DIR))] = sorted(upward)
    assert not offending, f"upward imports: {offending}"


def test_the_openapi_schema_validates_without_warnings():
    out = StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    assert "openapi: 3" in out.getvalue()

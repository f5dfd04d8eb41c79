"""/api/v1 paths end with a slash; the ones first published without it still answer there, for every method."""

import uuid

import pytest
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator

from accounts.models import Role
from tests.factories import make_user
from tests.test_api_matrix import CASES, Case, api_routes, build_world, client_for, legacy_aliases

METHODS = ("get", "post", "put", "patch", "delete")


def test_every_api_v1_route_ends_with_a_slash():
    slashless = sorted(route for route in api_routes() if route.startswith("api/v1/") and not route.endswith("/"))
    assert not slashless


def test_url_names_reverse_to_the_slashed_paths():
    some_id = uuid.uuid4()
    assert reverse("api-me") == "/api/v1/me/"
    assert reverse("api-keys") == "/api/v1/keys/"
    assert reverse("api-key-detail", args=[7]) == "/api/v1/keys/7/"
    assert reverse("api-conversation-export", args=[some_id]) == f"/api/v1/conversations/{some_id}/export/"
    assert reverse("api-message-rating", args=[some_id]) == f"/api/v1/messages/{some_id}/rating/"
    assert reverse("api-usage") == "/api/v1/usage/"
    assert reverse("api-document", args=[some_id]) == f"/api/v1/documents/{some_id}/"
    assert reverse("api-document-download", args=[some_id]) == f"/api/v1/documents/{some_id}/download/"
    assert reverse("api-web-fetch") == "/api/v1/web/fetch/"
    assert reverse("api-presets") == "/api/v1/presets/"
    assert reverse("api-preset", args=["general"]) == "/api/v1/presets/general/"
    assert reverse("api-preset-duplicate", args=["general"]) == "/api/v1/presets/general/duplicate/"


def test_the_schema_documents_only_the_slashed_paths():
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    assert "/api/v1/me/" in paths
    assert [path for path in paths if not path.endswith("/")] == []


def slashless(path: str) -> str:
    path, _, query = path.partition("?")
    return path.removesuffix("/") + (f"?{query}" if query else "")


def call(case: Case, old_path: bool):
    """The case's request by a member on their own objects, at the new path or at its old slashless alias."""
    user = make_user(Role.MEMBER)
    world = build_world(user)
    path = case.path(world)
    request = getattr(client_for(case, user), case.method)
    body = {name: value() if callable(value) else value for name, value in (case.body or {}).items()}
    target = slashless(path) if old_path else path
    return request(target, data=body, format=case.format) if body else request(target)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("route", sorted(legacy_aliases()))
def test_an_old_slashless_path_answers_every_method_as_the_new_one_does(route: str, fake_llm):
    cases = [case for case in CASES if case.route == route and case.ownership != "foreign"]
    assert cases, f"{route} has an old alias but no matrix row"
    for method in METHODS:
        case = next((case for case in cases if case.method == method), None)
        probe = case or Case(route, method, cases[0].path, {})
        new, old = call(probe, old_path=False), call(probe, old_path=True)
        assert old.status_code == new.status_code, (method, old.content[:300])
        assert old.headers.get("Content-Type") == new.headers.get("Content-Type"), method
        if case is not None:  # a method the endpoint has: it really answered, not 404 or 405
            assert old.status_code == case.expected[Role.MEMBER], (method, old.content[:300])


def test_each_path_first_published_without_a_slash_keeps_its_alias():
    assert set(legacy_aliases()) == {
        "api/v1/me/",
        "api/v1/keys/",
        "api/v1/keys/<int:key_id>/",
        "api/v1/conversations/<uuid:conversation_id>/export/",
        "api/v1/messages/<uuid:message_id>/rating/",
        "api/v1/usage/",
        "api/v1/documents/<uuid:document_id>/",
        "api/v1/documents/<uuid:document_id>/download/",
        "api/v1/web/fetch/",
    }

"""Role × endpoint × ownership: every API endpoint, called by every role, on its own and on someone else's object.

Each case names the route it covers; a completeness test fails when an API route exists that no case covers, so a
new endpoint cannot ship without its row here.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from accounts.models import ApiKey, Role
from tests.factories import make_key, make_user, session_client

ROLES = [Role.ADMIN, Role.MODERATOR, Role.MEMBER, Role.VIEWER]
ANONYMOUS = "anonymous"


@dataclass
class World:
    """What a case may point at: objects owned by the caller, and the same kind owned by someone else."""

    caller: object
    own: dict = field(default_factory=dict)
    foreign: dict = field(default_factory=dict)


def _a_key_of(user) -> int:
    make_key(user)
    return ApiKey.objects.filter(user=user).latest("created_at").pk


def build_world(caller) -> World:
    world = World(caller=caller)
    stranger = make_user(Role.MEMBER)
    world.foreign["key"] = _a_key_of(stranger)
    if caller is None:
        world.own = dict(world.foreign)  # anonymous callers own nothing; any id will do, the answer is 401
    else:
        # A viewer cannot create keys, but may hold one from before a demotion: create it as a member.
        role = caller.role
        caller.role = Role.MEMBER
        world.own["key"] = _a_key_of(caller)
        caller.role = role
    return world


@dataclass
class Case:
    route: str
    method: str
    path: Callable[[World], str]
    expected: dict[str, int]
    body: dict | None = None
    ownership: str | None = None  # "own" or "foreign": which object the path points at

    @property
    def id(self) -> str:
        return f"{self.method} {self.route}" + (f" [{self.ownership}]" if self.ownership else "")


def everyone(status: int, *, anonymous: int = 401, **per_role: int) -> dict[str, int]:
    return {role: per_role.get(role, status) for role in ROLES} | {ANONYMOUS: anonymous}


KEY_BODY = {"name": "matrix", "scopes": ["read"]}

CASES = [
    Case("api/v1/me", "get", lambda w: "/api/v1/me", everyone(200)),
    Case("api/v1/keys", "get", lambda w: "/api/v1/keys", everyone(200, viewer=403)),
    Case("api/v1/keys", "post", lambda w: "/api/v1/keys", everyone(201, viewer=403), body=KEY_BODY),
    Case(
        "api/v1/keys/<int:key_id>",
        "get",
        lambda w: f"/api/v1/keys/{w.own['key']}",
        everyone(200, viewer=403),
        ownership="own",
    ),
    Case(
        "api/v1/keys/<int:key_id>",
        "get",
        lambda w: f"/api/v1/keys/{w.foreign['key']}",
        everyone(404, viewer=403),
        ownership="foreign",
    ),
    Case(
        "api/v1/keys/<int:key_id>",
        "delete",
        lambda w: f"/api/v1/keys/{w.own['key']}",
        everyone(204, viewer=403),
        ownership="own",
    ),
    Case(
        "api/v1/keys/<int:key_id>",
        "delete",
        lambda w: f"/api/v1/keys/{w.foreign['key']}",
        everyone(404, viewer=403),
        ownership="foreign",
    ),
    # The schema and its docs page are public, like any API reference.
    Case("api/v1/schema/", "get", lambda w: "/api/v1/schema/", everyone(200, anonymous=200)),
    Case("api/v1/docs/", "get", lambda w: "/api/v1/docs/", everyone(200, anonymous=200)),
]


def matrix():
    for case in CASES:
        for caller in [*ROLES, ANONYMOUS]:
            yield pytest.param(case, caller, id=f"{case.id} as {caller}")


@pytest.mark.django_db
@pytest.mark.parametrize(("case", "caller"), list(matrix()))
def test_endpoint_answers_each_role_as_specified(case: Case, caller: str):
    user = None if caller == ANONYMOUS else make_user(caller)
    world = build_world(user)
    client = APIClient() if user is None else session_client(user)
    request = getattr(client, case.method)
    response = request(case.path(world), data=case.body, format="json") if case.body else request(case.path(world))
    assert response.status_code == case.expected[caller], response.content[:300]
    if response.status_code >= 400:
        assert response.json()["error"]["message"], "errors must carry a human-readable message"


def api_routes() -> set[str]:
    routes = set()

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and route.startswith(("api/", "v1/")):
                routes.add(route)

    walk(get_resolver().url_patterns, "")
    return routes


def test_every_api_route_is_in_the_matrix():
    covered = {case.route for case in CASES}
    missing = api_routes() - covered
    assert not missing, f"API routes without matrix rows: {sorted(missing)}"

"""Role × endpoint × ownership: every API endpoint, called by every role, on its own and on someone else's object.

Each case names the route it covers; a completeness test fails when an API route exists that no case covers, so a
new endpoint cannot ship without its row here.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from accounts.api.routes import is_legacy
from accounts.models import ApiKey, Role
from chat import services as chat_services
from chat.models import Conversation, LabelSet, Message
from documents.models import Document
from presets import services as preset_services
from tests.factories import key_client, make_batch, make_key, make_user, session_client

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


def _a_document_of(user, status: str = Document.Status.QUEUED) -> str:
    document = Document(
        owner=user, title="doc", filename="doc.txt", kind="txt", size_bytes=5, sha256=uuid.uuid4().hex, status=status
    )
    document.file.save(f"{user.pk}/{document.pk}.txt", ContentFile(b"hello"), save=False)
    document.save()
    return str(document.pk)


def _batch_objects_of(user) -> dict:
    batch = make_batch(user)
    return {"batch_file": batch.input_file_id, "batch": batch.id}


def _exchange_in(conversation) -> dict:
    """A question and its answer, on the conversation's branch (what regenerate, edit and branch act on)."""
    question = Message.objects.create(conversation=conversation, role="user", content="a question")
    answer = Message.objects.create(conversation=conversation, role="assistant", content="an answer", parent=question)
    Conversation.objects.filter(pk=conversation.pk).update(current_leaf=answer)
    return {"question": question.pk, "answer": answer.pk}


def _objects_of(user) -> dict:
    # A viewer cannot create keys or upload, but may hold both from before a demotion: create them as a member.
    role, user.role = user.role, Role.MEMBER
    conversation = chat_services.conversation_create(owner=user)
    objects = {
        "key": _a_key_of(user),
        "conversation": conversation.pk,
        **_exchange_in(conversation),
        "document": _a_document_of(user),
        "failed_document": _a_document_of(user, Document.Status.FAILED),
        "label_set": LabelSet.objects.create(owner=user, name=f"set-{uuid.uuid4().hex[:8]}", labels=["a", "b"]).pk,
        "preset": preset_services.preset_create(owner=user, name=f"preset {uuid.uuid4().hex[:8]}").slug,
        **_batch_objects_of(user),
    }
    user.role = role
    return objects


def build_world(caller) -> World:
    world = World(caller=caller)
    world.foreign = _objects_of(make_user(Role.MEMBER))
    # Anonymous callers own nothing; any id will do, the answer is 401.
    world.own = dict(world.foreign) if caller is None else _objects_of(caller)
    return world


@dataclass(frozen=True)
class FromWorld:
    """A body value that depends on the objects made for the test (an id of the caller's own message)."""

    get: Callable[[World], object]


def _value(value, world: World):
    if isinstance(value, FromWorld):
        return value.get(world)
    return value() if callable(value) else value


@dataclass
class Case:
    route: str
    method: str
    path: Callable[[World], str]
    expected: dict[str, int]
    body: dict | None = None
    ownership: str | None = None  # "own" or "foreign": which object the path points at
    auth: str = "session"  # or "key": the caller presents an API key of theirs instead of a session
    format: str = "json"  # or "multipart"
    # Calls that start a generation write from worker threads, which only see committed data.
    transactional: bool = False

    @property
    def id(self) -> str:
        return f"{self.method} {self.route}" + (f" [{self.ownership}]" if self.ownership else "")


def everyone(status: int, *, anonymous: int = 401, **per_role: int) -> dict[str, int]:
    return {role: per_role.get(role, status) for role in ROLES} | {ANONYMOUS: anonymous}


KEY_BODY = {"name": "matrix", "scopes": ["read"]}
CONVERSATION = "api/v1/conversations/<uuid:conversation_id>/"
EXPORT = "api/v1/conversations/<uuid:conversation_id>/export/"
MESSAGES = "api/v1/conversations/<uuid:conversation_id>/messages/"


DOCUMENT = "api/v1/documents/<uuid:document_id>/"
DOWNLOAD = "api/v1/documents/<uuid:document_id>/download/"


def document_path(which: str, suffix: str = "") -> Callable[[World], str]:
    return lambda world: f"/api/v1/documents/{getattr(world, which)['document']}/{suffix}"


PRESET = "api/v1/presets/<str:preset>/"


def preset_path(which: str, suffix: str = "") -> Callable[[World], str]:
    return lambda world: f"/api/v1/presets/{getattr(world, which)['preset']}/{suffix}"


def conversation_path(which: str, suffix: str = "") -> Callable[[World], str]:
    return lambda world: f"/api/v1/conversations/{getattr(world, which)['conversation']}/{suffix}"


CASES = [
    Case("api/v1/me/", "get", lambda w: "/api/v1/me/", everyone(200)),
    Case("api/v1/keys/", "get", lambda w: "/api/v1/keys/", everyone(200, viewer=403)),
    Case("api/v1/keys/", "post", lambda w: "/api/v1/keys/", everyone(201, viewer=403), body=KEY_BODY),
    Case(
        "api/v1/keys/<int:key_id>/",
        "get",
        lambda w: f"/api/v1/keys/{w.own['key']}/",
        everyone(200, viewer=403),
        ownership="own",
    ),
    Case(
        "api/v1/keys/<int:key_id>/",
        "get",
        lambda w: f"/api/v1/keys/{w.foreign['key']}/",
        everyone(404, viewer=403),
        ownership="foreign",
    ),
    Case(
        "api/v1/keys/<int:key_id>/",
        "delete",
        lambda w: f"/api/v1/keys/{w.own['key']}/",
        everyone(204, viewer=403),
        ownership="own",
    ),
    Case(
        "api/v1/keys/<int:key_id>/",
        "delete",
        lambda w: f"/api/v1/keys/{w.foreign['key']}/",
        everyone(404, viewer=403),
        ownership="foreign",
    ),
    # The schema and its docs page are public, like any API reference.
    Case("api/v1/schema/", "get", lambda w: "/api/v1/schema/", everyone(200, anonymous=200)),
    Case("api/v1/docs/", "get", lambda w: "/api/v1/docs/", everyone(200, anonymous=200)),
    # Chat. Viewers may chat, so they may use all of it.
    Case("api/v1/conversations/", "get", lambda w: "/api/v1/conversations/", everyone(200)),
    Case("api/v1/conversations/", "post", lambda w: "/api/v1/conversations/", everyone(201), body={"title": "t"}),
    *[
        Case(CONVERSATION, method, conversation_path(which), everyone(ok if which == "own" else 404), body, which)
        for method, ok, body in (("get", 200, None), ("patch", 200, {"title": "renamed"}), ("delete", 204, None))
        for which in ("own", "foreign")
    ],
    *[
        Case(EXPORT, "get", conversation_path(which, "export/?format=markdown"), everyone(ok), ownership=which)
        for which, ok in (("own", 200), ("foreign", 404))
    ],
    *[
        # An async view: it reads on a pool thread's own connection, which sees only committed rows.
        Case(MESSAGES, "get", conversation_path(which, "messages/"), everyone(ok), ownership=which, transactional=True)
        for which, ok in (("own", 200), ("foreign", 404))
    ],
    *[
        Case(
            MESSAGES,
            "post",
            conversation_path(which, "messages/"),
            everyone(ok),
            {"content": "hi"},
            which,
            transactional=True,
        )
        for which, ok in (("own", 201), ("foreign", 404))
    ],
    *[
        Case(
            MESSAGES + "<uuid:message_id>/" + action + "/",
            "post",
            lambda w, which=which, action=action: (
                f"/api/v1/conversations/{getattr(w, which)['conversation']}/messages/"
                f"{getattr(w, which)['answer' if action == 'regenerate' else 'question']}/{action}/"
            ),
            everyone(ok),
            {"content": "again"} if action == "edit" else None,
            which,
            transactional=True,
        )
        for action in ("regenerate", "edit")
        for which, ok in (("own", 201), ("foreign", 404))
    ],
    *[
        Case(
            CONVERSATION + "branch/",
            "put",
            conversation_path(which, "branch/"),
            everyone(ok),
            {"message_id": FromWorld(lambda w, which=which: str(getattr(w, which)["question"]))},
            which,
        )
        for which, ok in (("own", 200), ("foreign", 404))
    ],
    Case("api/v1/usage/", "get", lambda w: "/api/v1/usage/", everyone(200)),
    *[
        Case(
            "api/v1/messages/<uuid:message_id>/rating/",
            "put",
            lambda w, which=which: f"/api/v1/messages/{getattr(w, which)['answer']}/rating/",
            everyone(ok),
            {"rating": "down", "reason": "matrix"},
            which,
        )
        for which, ok in (("own", 200), ("foreign", 404))
    ],
    # Presets: every role that may chat has its own (sharing them needs the documents' sharing right); another's
    # private preset is a 404 like a missing one.
    Case("api/v1/presets/", "get", lambda w: "/api/v1/presets/", everyone(200)),
    Case("api/v1/presets/", "post", lambda w: "/api/v1/presets/", everyone(201), body={"name": "matrix"}),
    *[
        Case(PRESET, method, preset_path(which), everyone(ok if which == "own" else 404), body, which)
        for method, ok, body in (("get", 200, None), ("patch", 200, {"temperature": 0.5}), ("delete", 204, None))
        for which in ("own", "foreign")
    ],
    *[
        Case(
            "api/v1/presets/<str:preset>/duplicate/",
            "post",
            preset_path(which, "duplicate/"),
            everyone(ok),
            {"name": "copy"},
            which,
        )
        for which, ok in (("own", 201), ("foreign", 404))
    ],
    # ML models: every role may list and predict, viewers included (no tokens spent); a built-in model with no
    # version yet answers 503 "not loaded", after admission.
    Case("api/v1/ml/models/", "get", lambda w: "/api/v1/ml/models/", everyone(200)),
    Case("api/v1/ml/models/<str:name>/", "get", lambda w: "/api/v1/ml/models/house-price/", everyone(200)),
    Case(
        "api/v1/ml/<str:ref>/predict/",
        "post",
        lambda w: "/api/v1/ml/house-price/predict/",
        everyone(503),
        body={"inputs": {"area_m2": 80}},
    ),
    # The OpenAI-compatible API takes API keys only; a viewer has none that work.
    Case("v1/models", "get", lambda w: "/v1/models", everyone(200, viewer=401), auth="key", transactional=True),
    # Documents: everyone reads what is theirs or shared; viewers cannot upload. Owners manage their own documents.
    Case("api/v1/documents/", "get", lambda w: "/api/v1/documents/", everyone(200)),
    Case(
        "api/v1/documents/",
        "post",
        lambda w: "/api/v1/documents/",
        everyone(201, viewer=403),
        body={"file": lambda: SimpleUploadedFile("notes.txt", uuid.uuid4().hex.encode())},
        format="multipart",
    ),
    *[
        Case(DOCUMENT, method, document_path(which), everyone(ok if which == "own" else 404), body, which)
        for method, ok, body in (("get", 200, None), ("patch", 200, {"title": "renamed"}), ("delete", 204, None))
        for which in ("own", "foreign")
    ],
    *[
        Case(DOWNLOAD, "get", document_path(which, "download/"), everyone(ok), ownership=which)
        for which, ok in (("own", 200), ("foreign", 404))
    ],
    # Retrying a failed document is the owner's, and needs the right to upload (a demoted viewer's is refused).
    *[
        Case(
            "api/v1/documents/<uuid:document_id>/retry/",
            "post",
            lambda w, which=which: f"/api/v1/documents/{getattr(w, which)['failed_document']}/retry/",
            everyone(202, viewer=403) if which == "own" else everyone(404),
            ownership=which,
        )
        for which in ("own", "foreign")
    ],
    Case("api/v1/search/", "post", lambda w: "/api/v1/search/", everyone(200), body={"query": "hello", "k": 3}),
    # The web guard answers members (here: refuses a private address); viewers have no web access at all.
    Case(
        "api/v1/web/fetch/",
        "post",
        lambda w: "/api/v1/web/fetch/",
        everyone(400, viewer=403),
        body={"url": "http://10.0.0.1/"},
        transactional=True,
    ),
    # Task endpoints: every role that may chat may use them. The fake model writes no JSON, so a task under a schema
    # (classify, extract) is refused after its retry (422); summarize answers.
    *[
        Case(
            f"api/v1/tasks/{task}/",
            "post",
            lambda w, task=task: f"/api/v1/tasks/{task}/",
            everyone(ok),
            body,
            transactional=True,
        )
        for task, ok, body in (
            ("classify", 422, {"text": "hello", "labels": ["greeting", "question"]}),
            ("summarize", 200, {"text": "hello there"}),
            ("extract", 422, {"text": "hello", "schema": {"type": "object"}}),
        )
    ],
    Case("api/v1/tasks/label-sets/", "get", lambda w: "/api/v1/tasks/label-sets/", everyone(200)),
    Case(
        "api/v1/tasks/label-sets/",
        "post",
        lambda w: "/api/v1/tasks/label-sets/",
        everyone(201),
        body={"name": "moods", "labels": ["happy", "sad"]},
    ),
    *[
        Case(
            "api/v1/tasks/label-sets/<int:label_set_id>/",
            "delete",
            lambda w, which=which: f"/api/v1/tasks/label-sets/{getattr(w, which)['label_set']}/",
            everyone(ok),
            ownership=which,
        )
        for which, ok in (("own", 204), ("foreign", 404))
    ],
    Case(
        "v1/chat/completions",
        "post",
        lambda w: "/v1/chat/completions",
        everyone(200, viewer=401),
        body={"model": "fake-echo", "messages": [{"role": "user", "content": "hi"}]},
        auth="key",
        transactional=True,
    ),
    # Batches for people: each person's own; another's is a 404 like a missing one.
    Case("api/v1/batches/", "get", lambda w: "/api/v1/batches/", everyone(200)),
    Case(
        "api/v1/batches/",
        "post",
        lambda w: "/api/v1/batches/",
        everyone(201),
        body={"file": lambda: SimpleUploadedFile("p.csv", b"prompt\nhello\n", content_type="text/csv")},
        format="multipart",
    ),
    *[
        Case(
            route,
            method,
            lambda w, which=which, suffix=suffix: f"/api/v1/batches/{getattr(w, which)['batch']}/{suffix}",
            everyone(200 if which == "own" else 404),
            ownership=which,
        )
        for route, method, suffix in (
            ("api/v1/batches/<str:batch_id>/", "get", ""),
            ("api/v1/batches/<str:batch_id>/cancel/", "post", "cancel/"),
            ("api/v1/batches/<str:batch_id>/results/", "get", "results/"),
        )
        for which in ("own", "foreign")
    ],
    # Files and batches (OpenAI's shapes): keys only, each person's own; another's is a 404 like a missing one.
    Case("v1/files", "get", lambda w: "/v1/files", everyone(200, viewer=401), auth="key", transactional=True),
    Case(
        "v1/files",
        "post",
        lambda w: "/v1/files",
        everyone(200, viewer=401),
        body={"file": lambda: SimpleUploadedFile("in.jsonl", b'{"custom_id": "a"}\n'), "purpose": "batch"},
        auth="key",
        transactional=True,
        format="multipart",
    ),
    *[
        Case(
            route,
            method,
            lambda w, which=which, suffix=suffix: f"/v1/files/{getattr(w, which)['batch_file']}{suffix}",
            everyone(ok if which == "own" else 404, viewer=401),
            ownership=which,
            auth="key",
            transactional=True,
        )
        for route, method, suffix, ok in (
            ("v1/files/<str:file_id>", "get", "", 200),
            ("v1/files/<str:file_id>", "delete", "", 200),
            ("v1/files/<str:file_id>/content", "get", "/content", 200),
        )
        for which in ("own", "foreign")
    ],
    Case("v1/batches", "get", lambda w: "/v1/batches", everyone(200, viewer=401), auth="key", transactional=True),
    Case(
        "v1/batches",
        "post",
        lambda w: "/v1/batches",
        everyone(200, viewer=401),
        body={"input_file_id": "file-none", "endpoint": "/v1/chat/completions", "completion_window": "24h"},
        auth="key",
        transactional=True,
    ),
    *[
        Case(
            route,
            method,
            lambda w, which=which, suffix=suffix: f"/v1/batches/{getattr(w, which)['batch']}{suffix}",
            everyone(200 if which == "own" else 404, viewer=401),
            ownership=which,
            auth="key",
            transactional=True,
        )
        for route, method, suffix in (
            ("v1/batches/<str:batch_id>", "get", ""),
            ("v1/batches/<str:batch_id>/cancel", "post", "/cancel"),
        )
        for which in ("own", "foreign")
    ],
    Case(
        "v1/embeddings",
        "post",
        lambda w: "/v1/embeddings",
        everyone(200, viewer=401),
        body={"model": "all-MiniLM-L6-v2", "input": "hi"},
        auth="key",
        transactional=True,
    ),
]


def matrix(*, transactional: bool):
    for case in CASES:
        if case.transactional == transactional:
            for caller in [*ROLES, ANONYMOUS]:
                yield pytest.param(case, caller, id=f"{case.id} as {caller}")


def client_for(case: Case, user) -> APIClient:
    if user is None:
        return APIClient()
    if case.auth == "key":
        role, user.role = user.role, Role.MEMBER  # the key is minted while allowed, then used as the real role
        secret = make_key(user)
        user.role = role
        return key_client(secret)
    return session_client(user)


def check(case: Case, caller: str) -> None:
    user = None if caller == ANONYMOUS else make_user(caller)
    world = build_world(user)
    request = getattr(client_for(case, user), case.method)
    body = {name: _value(value, world) for name, value in (case.body or {}).items()}
    response = request(case.path(world), data=body, format=case.format) if body else request(case.path(world))
    assert response.status_code == case.expected[caller], response.content[:300]
    if response.status_code >= 400:
        assert response.json()["error"]["message"], "errors must carry a human-readable message"


@pytest.mark.django_db
@pytest.mark.parametrize(("case", "caller"), list(matrix(transactional=False)))
def test_endpoint_answers_each_role_as_specified(case: Case, caller: str, fake_llm):
    check(case, caller)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("case", "caller"), list(matrix(transactional=True)))
def test_generating_endpoint_answers_each_role_as_specified(case: Case, caller: str, fake_llm):
    check(case, caller)


def api_patterns() -> dict[str, URLPattern]:
    """Every API route (as its full route string) and its pattern."""
    routes = {}

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and route.startswith(("api/", "v1/")):
                routes[route] = pattern

    walk(get_resolver().url_patterns, "")
    return routes


def api_routes() -> set[str]:
    """The API's routes, without the old slashless aliases (tests/test_api_paths.py covers those)."""
    return {route for route, pattern in api_patterns().items() if not is_legacy(pattern)}


def legacy_aliases() -> dict[str, str]:
    """Each route that was first published without its trailing slash → that old route."""
    return {route + "/": route for route, pattern in api_patterns().items() if is_legacy(pattern)}


def test_every_api_route_is_in_the_matrix():
    covered = {case.route for case in CASES}
    missing = api_routes() - covered
    assert not missing, f"API routes without matrix rows: {sorted(missing)}"
